"""What every traffic figure means, written once.

The README's statistics section and the OpenAPI description of each stats endpoint
quote these texts (a test checks the README), and `traffic.figures` computes each
figure under the same name.
"""

from __future__ import annotations

SESSION_DAY = (
    "A session belongs to the local day (and hour, week, month) of its first event, "
    "in the store's time zone: a session that runs past midnight is one session of the "
    "day it began, and its engagement and conversion count there."
)
ORDER_DAY = (
    "Orders and revenue count at the local time of the order itself, as the shop's own "
    "order reports do (each transaction_id once)."
)

FIGURES: dict[str, str] = {
    "sessions": "Sessions that began in the period.",
    "visitors": (
        "Distinct visitor ids with a session that began in the period (a HyperLogLog: "
        "exact for small numbers, within about 1% for large ones)."
    ),
    "page_views": "page_view events of the period.",
    "engaged_sessions": (
        "Sessions with 2 or more page views, an engagement event of 10 s or more, an "
        "add_to_cart or a purchase."
    ),
    "bounce_rate": "1 - engaged_sessions / sessions (GA4's bounce rate).",
    "single_page_rate": (
        "Sessions with at most one page view / sessions (Universal Analytics' bounce rate)."
    ),
    "average_engaged_seconds": "The engaged_ms of engagement events, summed, / sessions / 1000.",
    "conversion_rate": "Sessions with a purchase / sessions.",
    "orders": "Orders in the store's currency (or with none given).",
    "revenue": "The value of those orders, in the store's currency.",
    "average_order_value": "revenue / orders.",
    "other_currencies": (
        "Orders in any other currency, with their revenue in that currency: never "
        "converted, never added to revenue."
    ),
}

CHANGE = (
    "`previous` is the same figure for the period of equal length just before; "
    "`change` is (current - previous) / previous for counts and money, and "
    "current - previous for rates (null when there is nothing to compare)."
)

FUNNEL = (
    "Sessions that began in the period, then those that viewed a product, added to "
    "cart, began checkout and purchased, each in that order: a session counts at a "
    "step once it reached it after every step before it (a closed funnel). "
    "drop_off is the previous step's count minus this one's."
)

BREAKDOWN = (
    "Sessions by one property of their first page (page_type, device, channel, "
    "referrer, utm_source, utm_medium, utm_campaign, landing_page): sessions, bounce "
    "rate, conversion rate, orders and revenue of those sessions; the top `limit` "
    "values by sessions, and the rest summed as `(rest)`. A day keeps 1000 values per "
    "property; later new ones that day count as `(other)`."
)

REALTIME = (
    "From the server's clock: distinct visitors with an event in the last 5 minutes, "
    "events in each of the last 30 minutes, and the pages viewed most in the last 5."
)


def describe(*names: str) -> str:
    """The definitions of these figures, one per line, for an endpoint's description."""
    return "\n".join(f"- `{name}`: {FIGURES[name]}" for name in names)
