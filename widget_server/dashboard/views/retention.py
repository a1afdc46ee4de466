"""Retention: the customer figures of the range, and cohorts as a heat map.

Context of `retention.html`: `figures` (customers.retention), `cards`, `cohorts`
(rows: cohort, size, cells of (share, count, level)), `horizon` (columns),
`of` and `by` (which cohorts), `definitions`.
"""

from __future__ import annotations

import math
from datetime import date, timedelta
from typing import Any

from starlette.responses import Response

from widget_server.analytics import customers
from widget_server.analytics.periods import day_range
from widget_server.dashboard.web import Page, signed_in

CARDS = (
    ("customers", "Customers", "count"),
    ("new_customers", "New customers", "count"),
    ("returning_customers", "Returning customers", "count"),
    ("repeat_customer_rate", "Repeat customer rate", "rate"),
    ("purchase_frequency", "Orders per customer", "decimal"),
    ("average_order_value", "Average order", "money"),
    ("median_days_between_orders", "Days between orders (median)", "decimal"),
    ("customer_retention_rate", "Customer retention rate", "percent_number"),
    ("customer_lifetime_value", "Customer lifetime value", "money"),
)
DEFINITIONS = {
    "customers": "Customers with an order in the period.",
    "new_customers": "Their first order ever is in the period.",
    "returning_customers": "They had ordered before the period.",
    "repeat_customer_rate": "Customers of the period with 2 or more orders (up to its end), "
    "of all its customers.",
    "purchase_frequency": "Orders of the period per customer of the period.",
    "median_days_between_orders": "Over the orders of the period that follow an earlier order "
    "of the same customer: the median of the days since that earlier order.",
    "customer_retention_rate": "((E - N) / S) x 100: S and E are the customers active at the "
    "period's start and end (an order within the activity window before), N the new ones.",
    "customer_lifetime_value": "Average order x yearly orders per customer x expected "
    "lifetime in years, over the year up to the period's end.",
}
MAX_COLUMNS = 12
LEVELS = 10


def heat_level(share: float, highest: float) -> int:
    """0..9: how dark a cell is, against the table's highest share."""
    if highest <= 0 or share <= 0:
        return 0
    return min(LEVELS - 1, max(1, math.ceil(share / highest * (LEVELS - 1))))


async def retention_figures(page: Page) -> dict[str, Any]:
    r = page.range
    period = day_range(r.first, r.last, page.zone)
    return await customers.retention_of(
        page.redis,
        page.store.id,
        period.start_ms,
        period.end_ms,
        page.settings.currency,
        page.settings.activity_window_days,
        page.settings.customer_lifetime_years,
    )


async def cohort_rows(page: Page, of: str, by: str) -> list[dict[str, Any]]:
    """Cohorts of the last 12 months (or weeks) up to the range's end, as
    `GET /v1/stats/cohorts` reads them."""
    last: date = page.range.last
    first = last - timedelta(days=365 if by == "month" else 7 * MAX_COLUMNS)
    end = day_range(first, last, page.zone).end_ms
    return await customers.cohorts_of(
        page.redis, page.store.id, of, page.zone, by, first, last, end
    )


def cohort_choice(page: Page) -> tuple[str, str]:
    """(of, by): orders or visitors, by month or week, as the URL asks."""
    query = page.request.query_params
    of, by = query.get("of", "orders"), query.get("by", "month")
    return (
        of if of in ("orders", "visitors") else "orders",
        by if by in ("month", "week") else "month",
    )


@signed_in
async def retention_page(page: Page) -> Response:
    of, by = cohort_choice(page)
    figures = await retention_figures(page)
    rows = await cohort_rows(page, of, by)
    horizon = min(MAX_COLUMNS, max((len(r["returned"]) for r in rows), default=0))
    highest = max((s for r in rows for s in r["returned"][:horizon]), default=0.0)
    table = [
        {
            "cohort": row["cohort"],
            "size": row["size"],
            "cells": [
                (share, count, heat_level(share, highest))
                for share, count in zip(
                    row["returned"][:horizon], row["returned_count"][:horizon], strict=True
                )
            ],
        }
        for row in rows
    ]
    return page.render(
        "retention.html",
        "retention",
        figures=figures,
        cards=CARDS,
        definitions=DEFINITIONS,
        cohorts=table,
        horizon=horizon,
        of=of,
        by=by,
        extra={"of": of, "by": by},
    )
