"""Every table of the dashboard as CSV, `/dashboard/csv/<table>?from=&to=...`: the
rows the page shows, from the same functions, written as the stats API writes
its CSV (`analytics/tables.py`: UTF-8 with a byte-order mark, a header row)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.responses import Response

from widget_server.analytics import campaigns, traffic
from widget_server.analytics.tables import csv_response
from widget_server.dashboard.views import catalog, overview, retention, showcases
from widget_server.dashboard.web import Page, error_page, secure, signed_in
from widget_server.storage import keys

Rows = list[dict[str, Any]]


def flatten(row: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested objects as columns (`lift.ci95` as lift_ci95_low, lift_ci95_high)."""
    flat: dict[str, Any] = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, name + "_"))
        elif isinstance(value, list) and len(value) == 2 and key == "ci95":
            flat[name + "_low"], flat[name + "_high"] = value
        elif not isinstance(value, list):
            flat[name] = value
    return flat


async def _figures(page: Page) -> Rows:
    r = page.range
    top = await traffic.overview(
        page.redis, page.store.id, r.first, r.last, page.zone, page.settings.currency
    )
    return [{"figure": name, **values} for name, values in top["figures"].items()]


async def _timeseries(page: Page) -> Rows:
    r = page.range
    result = await traffic.timeseries(
        page.redis, page.store.id, r.first, r.last, page.zone, page.settings.currency,
        overview.interval_for(r.days),
    )  # fmt: skip
    rows: Rows = result["rows"]
    return rows


async def _breakdown(page: Page) -> Rows:
    by = page.request.query_params.get("by", "channel")
    if by not in keys.DIMENSION_CODES:
        by = "channel"
    rows: Rows = (await overview.breakdown(page, by))["rows"]
    return [{"by": by, **row} for row in rows]


async def _funnel(page: Page) -> Rows:
    rows: Rows = (await overview.funnel(page))["rows"]
    return rows


async def _realtime(page: Page) -> Rows:
    rows: Rows = (await overview.realtime(page))["rows"]
    return rows


async def _popups(page: Page) -> Rows:
    span = page.range.last_days(campaigns.MAX_DAYS)
    report = await campaigns.popups(
        page.redis, page.store.id, span.first, span.last, page.zone, page.settings
    )
    rows: Rows = []
    for row in report["rows"]:
        variants = row.get("variants") or []
        rows.append(flatten({"variant": "(all)", **row}))
        for variant in variants:
            rows.append(flatten({"rule_id": row["rule_id"], "name": row["name"], **variant}))
    return rows


async def _showcases(page: Page) -> Rows:
    report = await showcases.showcase_report(page)
    return [flatten(row) for row in report["rows"]]


async def _models(page: Page) -> Rows:
    return [flatten(v) for v in await showcases.model_versions(page)]


async def _retention(page: Page) -> Rows:
    figures = await retention.retention_figures(page)
    return [{"figure": name, "value": value} for name, value in figures.items()]


async def _cohorts(page: Page) -> Rows:
    of, by = retention.cohort_choice(page)
    return [
        {"cohort": r["cohort"], "size": r["size"]}
        | {f"+{n}": share for n, share in enumerate(r["returned"], 1)}
        for r in await retention.cohort_rows(page, of, by)
    ]


async def _catalog(page: Page) -> Rows:
    found, _complete = await catalog.search(
        page.redis, page.store.id, page.request.query_params.get("q", ""), limit=10_000
    )
    return found


TABLES: dict[str, Callable[[Page], Awaitable[Rows]]] = {
    "figures": _figures,
    "timeseries": _timeseries,
    "breakdown": _breakdown,
    "funnel": _funnel,
    "realtime": _realtime,
    "popups": _popups,
    "showcases": _showcases,
    "models": _models,
    "retention": _retention,
    "cohorts": _cohorts,
    "catalog": _catalog,
}


@signed_in
async def download(page: Page) -> Response:
    table = page.request.path_params["table"]
    make = TABLES.get(table)
    if make is None:
        return error_page(page.request, 404, language=page.language)
    rows = await make(page)
    r = page.range
    return secure(csv_response(rows, f"{table}-{r.first.isoformat()}-{r.last.isoformat()}"))
