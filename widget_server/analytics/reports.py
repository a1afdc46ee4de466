"""`GET /v1/stats/overview|timeseries|breakdown|funnel|realtime` (secret key): the
traffic figures of `traffic.py` for local dates, as JSON or (`format=csv`) CSV."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response

from widget_server.analytics import campaigns, counters, customers, traffic
from widget_server.analytics.periods import (
    PeriodError,
    day_range,
    parse_date,
    parse_interval,
    today,
)
from widget_server.analytics.tables import csv_response
from widget_server.auth import store_from_secret
from widget_server.popups.rulebook import Rulebook
from widget_server.popups.schema import StoreSettings
from widget_server.responses import STORAGE_ERRORS, error, json_response, storage_unavailable
from widget_server.storage import keys
from widget_server.storage.clock import now_ms
from widget_server.storage.connect import AsyncRedis
from widget_server.storage.stores import Store

DEFAULT_DAYS = 7
MAX_LIMIT = 1000
FORMATS = ("json", "csv")


class _Ask:
    """The request's parameters, checked; each error names its parameter."""

    def __init__(self, params: QueryParams, settings: StoreSettings) -> None:
        self.params = params
        self.settings = settings
        self.zone = ZoneInfo(settings.timezone)
        self.currency = settings.currency
        self.format = params.get("format", "json")
        if self.format not in FORMATS:
            raise PeriodError(f"format: must be json or csv, got {self.format!r}")
        last = parse_date("to", params["to"]) if "to" in params else today(self.zone, now_ms())
        self.last = last
        self.first = (
            parse_date("from", params["from"])
            if "from" in params
            else last - timedelta(days=DEFAULT_DAYS - 1)
        )

    def limit(self) -> int:
        raw = self.params.get("limit", "10")
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
            raise PeriodError(f"limit: must be a whole number from 1 to {MAX_LIMIT}, got {raw!r}")
        return int(raw)

    def by(self) -> str:
        raw = self.params.get("by")
        if raw not in keys.DIMENSION_CODES:
            names = ", ".join(keys.DIMENSION_CODES)
            raise PeriodError(f"by: must be one of {names}, got {raw!r}")
        return raw


Report = Callable[[AsyncRedis, Store, _Ask], Awaitable[dict[str, Any]]]


async def _respond(request: Request, name: str, report: Report) -> Response:
    redis = request.app.state.storage.client
    try:
        store = await store_from_secret(request, redis)
        if isinstance(store, Response):
            return store
        settings = await Rulebook(redis, store.id).settings()
        try:
            ask = _Ask(request.query_params, settings)
            answer = await report(redis, store, ask)
        except PeriodError as exc:
            return error(400, str(exc))
    except STORAGE_ERRORS:
        request.app.state.metrics.redis_errors.inc()
        return storage_unavailable()
    if ask.format == "csv":
        return csv_response(_csv_rows(answer), f"{name}-{answer.get('from', 'now')}")
    return json_response({"store_id": store.id, **answer})


def _csv_rows(answer: dict[str, Any]) -> list[dict[str, Any]]:
    if "figures" in answer:  # a row per figure
        return [
            {"figure": k, **(v if isinstance(v, dict) else {"value": v})}
            for k, v in answer["figures"].items()
        ]
    rows: list[dict[str, Any]] = answer["rows"]
    if rows and "returned" in rows[0]:  # cohorts: a column per later week or month
        return [
            {"cohort": r["cohort"], "size": r["size"]}
            | {f"+{n}": share for n, share in enumerate(r["returned"], 1)}
            for r in rows
        ]
    return rows


async def _overview(redis: AsyncRedis, store: Store, ask: _Ask) -> dict[str, Any]:
    return await traffic.overview(redis, store.id, ask.first, ask.last, ask.zone, ask.currency)


async def _timeseries(redis: AsyncRedis, store: Store, ask: _Ask) -> dict[str, Any]:
    interval = parse_interval(ask.params.get("interval", "day"))
    return await traffic.timeseries(
        redis, store.id, ask.first, ask.last, ask.zone, ask.currency, interval
    )


async def _breakdown(redis: AsyncRedis, store: Store, ask: _Ask) -> dict[str, Any]:
    by, limit = ask.by(), ask.limit()
    return await traffic.breakdown(
        redis, store.id, ask.first, ask.last, ask.zone, ask.currency, by, limit
    )


async def _funnel(redis: AsyncRedis, store: Store, ask: _Ask) -> dict[str, Any]:
    return await traffic.funnel(redis, store.id, ask.first, ask.last, ask.zone)


async def _realtime(redis: AsyncRedis, store: Store, ask: _Ask) -> dict[str, Any]:
    return await traffic.realtime(redis, store.id, now_ms())


async def _retention(redis: AsyncRedis, store: Store, ask: _Ask) -> dict[str, Any]:
    period = day_range(ask.first, ask.last, ask.zone)
    figures = await customers.retention_of(
        redis,
        store.id,
        period.start_ms,
        period.end_ms,
        ask.currency,
        ask.settings.activity_window_days,
        ask.settings.customer_lifetime_years,
    )
    return {
        "from": ask.first.isoformat(),
        "to": ask.last.isoformat(),
        "timezone": ask.zone.key,
        "currency": ask.currency,
        "activity_window_days": ask.settings.activity_window_days,
        "figures": figures,
    }


COHORT_KINDS = ("orders", "visitors")
COHORT_SIZES = ("month", "week")


async def _cohorts(redis: AsyncRedis, store: Store, ask: _Ask) -> dict[str, Any]:
    of = ask.params.get("of", "orders")
    if of not in COHORT_KINDS:
        raise PeriodError(f"of: must be orders or visitors, got {of!r}")
    by = ask.params.get("by", "month")
    if by not in COHORT_SIZES:
        raise PeriodError(f"by: must be month or week, got {by!r}")
    first = ask.first
    if "from" not in ask.params:
        first = ask.last - timedelta(days=365 if by == "month" else 7 * 12)
    end = day_range(first, ask.last, ask.zone).end_ms
    rows = await customers.cohorts_of(redis, store.id, of, ask.zone, by, first, ask.last, end)
    return {
        "from": first.isoformat(),
        "to": ask.last.isoformat(),
        "of": of,
        "by": by,
        "timezone": ask.zone.key,
        "rows": rows,
    }


def _campaign_range(ask: _Ask) -> None:
    if (ask.last - ask.first).days + 1 > campaigns.MAX_DAYS:
        raise PeriodError(
            f"to: popups and showcases read raw events, {campaigns.MAX_DAYS} days at most"
        )


async def _popups(redis: AsyncRedis, store: Store, ask: _Ask) -> dict[str, Any]:
    _campaign_range(ask)
    return await campaigns.popups(redis, store.id, ask.first, ask.last, ask.zone, ask.settings)


async def _showcases(redis: AsyncRedis, store: Store, ask: _Ask) -> dict[str, Any]:
    _campaign_range(ask)
    (sums,) = await counters.sums(redis, store.id, [day_range(ask.first, ask.last, ask.zone)])
    revenue = traffic.figures(sums, None, ask.currency)["revenue"]
    return await campaigns.showcases(
        redis, store.id, ask.first, ask.last, ask.zone, ask.settings, revenue
    )


async def popups(request: Request) -> Response:
    return await _respond(request, "popups", _popups)


async def showcases(request: Request) -> Response:
    return await _respond(request, "showcases", _showcases)


async def retention(request: Request) -> Response:
    return await _respond(request, "retention", _retention)


async def cohorts(request: Request) -> Response:
    return await _respond(request, "cohorts", _cohorts)


async def overview(request: Request) -> Response:
    return await _respond(request, "overview", _overview)


async def timeseries(request: Request) -> Response:
    return await _respond(request, "timeseries", _timeseries)


async def breakdown(request: Request) -> Response:
    return await _respond(request, "breakdown", _breakdown)


async def funnel(request: Request) -> Response:
    return await _respond(request, "funnel", _funnel)


async def realtime(request: Request) -> Response:
    return await _respond(request, "realtime", _realtime)
