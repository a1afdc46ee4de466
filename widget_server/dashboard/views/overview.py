"""The overview: the top-line figures with their change, the main chart (current
against previous period), breakdown panels, the funnel, and visitors now.

Context (besides web.py's): `figures` (overview's figures, by name), `cards` (the
top-line figures in order), `metric` (the one charted), `chart` (SVG),
`chart_rows` (the table behind it), `panels` (each with its tabs and rows),
`funnel` (rows), `realtime` (visitors, columns, pages), `definitions`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from starlette.responses import JSONResponse, Response

from widget_server.analytics import traffic
from widget_server.analytics.definitions import FIGURES as DEFINITIONS
from widget_server.analytics.periods import Interval, previous
from widget_server.dashboard import charts
from widget_server.dashboard.web import Page, secure, signed_in, signed_in_api
from widget_server.storage.clock import now_ms

# The top-line figures, in order: (name, label, kind). Kind says how it is written
# and how its change reads: a count, money, a rate, or seconds.
CARDS = (
    ("visitors", "Visitors", "count"),
    ("sessions", "Sessions", "count"),
    ("page_views", "Page views", "count"),
    ("bounce_rate", "Bounce rate", "rate"),
    ("conversion_rate", "Conversion rate", "rate"),
    ("average_engaged_seconds", "Engaged time", "seconds"),
    ("orders", "Orders", "count"),
    ("revenue", "Revenue", "money"),
    ("average_order_value", "Average order", "money"),
)
CHARTED = ("visitors", "sessions", "page_views", "bounce_rate", "conversion_rate", "orders",
           "revenue")  # fmt: skip
LOWER_IS_BETTER = frozenset({"bounce_rate"})
DEFAULT_METRIC = "sessions"


@dataclasses.dataclass(frozen=True)
class Panel:
    """A breakdown panel: tabs (one dimension each), the one shown chosen by `param`."""

    param: str
    title: str
    tabs: tuple[tuple[str, str], ...]  # (dimension, label)


PANELS = (
    Panel(
        "sources",
        "Sources",
        (
            ("channel", "Channels"),
            ("referrer", "Referrers"),
            ("utm_source", "UTM source"),
            ("utm_medium", "UTM medium"),
            ("utm_campaign", "UTM campaign"),
        ),
    ),
    Panel("pages", "Pages", (("landing_page", "Landing pages"), ("page_type", "Page types"))),
    Panel("devices", "Devices", (("device", "Devices"),)),
)
BREAKDOWN_LIMIT = 10
# Breakdowns whose values are codes with words of their own (the others are names).
CODED = frozenset({"channel", "device", "page_type"})
FUNNEL_LABELS = {
    "sessions": "Sessions",
    "viewed_product": "Viewed a product",
    "added_to_cart": "Added to cart",
    "began_checkout": "Began checkout",
    "purchased": "Purchased",
}


def interval_for(days: int) -> Interval:
    if days <= 2:
        return "hour"
    return "day" if days <= 120 else "week"


async def series(page: Page, metric: str) -> dict[str, Any]:
    """The charted metric per period, this range against the one before."""
    r = page.range
    zone, currency = page.zone, page.settings.currency
    interval = interval_for(r.days)
    now = await traffic.timeseries(
        page.redis, page.store.id, r.first, r.last, zone, currency, interval
    )
    first, last = previous(r.first, r.last)
    before = await traffic.timeseries(
        page.redis, page.store.id, first, last, zone, currency, interval
    )
    rows = []
    for index, row in enumerate(now["rows"]):
        earlier = before["rows"][index] if index < len(before["rows"]) else None
        rows.append(
            {
                "period": row["period"],
                "value": row[metric],
                "previous_period": earlier["period"] if earlier else None,
                "previous": earlier[metric] if earlier else None,
            }
        )
    return {"interval": interval, "rows": rows}


def chart_svg(
    page: Page, metric: str, label: str, rows: list[dict[str, Any]], interval: str
) -> Any:
    _ = page.language.translate
    fmt: charts.Format = "percent" if metric in traffic.RATES else "number"
    return charts.line_chart(
        "main-chart",
        str(label),
        str(
            _("{metric}: this period (solid line) against the previous one (dashed).", metric=label)
        ),
        [row["period"] for row in rows],
        [
            charts.Series(str(_("Previous period")), [r["previous"] for r in rows], "previous"),
            charts.Series(str(_("This period")), [r["value"] for r in rows], "current"),
        ],
        fmt,
        "hour" if interval == "hour" else "date",
    )


async def breakdown(page: Page, by: str) -> dict[str, Any]:
    r = page.range
    return await traffic.breakdown(
        page.redis, page.store.id, r.first, r.last, page.zone, page.settings.currency, by,
        BREAKDOWN_LIMIT,
    )  # fmt: skip


async def funnel(page: Page) -> dict[str, Any]:
    r = page.range
    return await traffic.funnel(page.redis, page.store.id, r.first, r.last, page.zone)


async def realtime(page: Page) -> dict[str, Any]:
    return await traffic.realtime(page.redis, page.store.id, now_ms())


def _choice(page: Page, name: str, allowed: tuple[str, ...], default: str) -> str:
    value = page.request.query_params.get(name, default)
    return value if value in allowed else default


@signed_in
async def overview(page: Page) -> Response:
    _ = page.language.translate
    r = page.range
    top = await traffic.overview(
        page.redis, page.store.id, r.first, r.last, page.zone, page.settings.currency
    )
    metric = _choice(page, "metric", CHARTED, DEFAULT_METRIC)
    labels = {name: label for name, label, _kind in CARDS}
    charted = await series(page, metric)
    panels = []
    chosen: dict[str, str] = {}
    for panel in PANELS:
        dims = tuple(d for d, _label in panel.tabs)
        by = _choice(page, panel.param, dims, dims[0])
        chosen[panel.param] = by
        result = await breakdown(page, by)
        biggest = max((row["sessions"] for row in result["rows"]), default=0) or 1
        panels.append({"panel": panel, "by": by, "rows": result["rows"], "biggest": biggest})
    live = await realtime(page)
    steps = await funnel(page)
    extra = {"metric": metric, **chosen}
    return page.render(
        "overview.html",
        "overview",
        top=top,
        figures=top["figures"],
        cards=CARDS,
        lower_is_better=LOWER_IS_BETTER,
        charted=CHARTED,
        metric=metric,
        metric_label=labels[metric],
        chart=chart_svg(page, metric, str(_(labels[metric])), charted["rows"], charted["interval"]),
        chart_rows=charted["rows"],
        interval=charted["interval"],
        panels=panels,
        funnel=steps["rows"],
        funnel_labels=FUNNEL_LABELS,
        realtime=live,
        realtime_chart=charts.columns(
            "realtime-chart",
            str(_("Events per minute")),
            str(_("Events in each of the last 30 minutes.")),
            [row["minute"][11:16] for row in live["rows"]],
            [row["events"] for row in live["rows"]],
        ),
        definitions=DEFINITIONS,
        extra=extra,
        rates=traffic.RATES,
        coded=CODED,
    )


@signed_in_api
async def realtime_json(page: Page) -> Response:
    """Visitors now, for the overview's live count and the install page's check."""
    live = await realtime(page)
    events = sum(row["events"] for row in live["rows"])
    return secure(JSONResponse({"visitors": live["visitors"], "events_30_minutes": events}))
