"""The analyst's API (`/v1/stats/...`, secret key)."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

import msgspec
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response

from widget_server.analytics import aggregates
from widget_server.analytics.attribution import (
    RELEVANT_TYPES,
    SHOWCASE_WINDOW_MS,
    PopupAttribution,
    ShowcasesReport,
    StoredEvent,
    report,
)
from widget_server.auth import store_from_secret
from widget_server.popups.rulebook import Rulebook
from widget_server.responses import STORAGE_ERRORS, error, json_response, storage_unavailable
from widget_server.storage import keys
from widget_server.storage.clock import MAX_EVENT_AGE_MS
from widget_server.storage.connect import AsyncRedis

# Attribution reads raw events into memory: a quarter is plenty for a question
# about popups, and the stream keeps 90 days by default anyway.
MAX_ATTRIBUTION_DAYS = 92
STREAM_PAGE = 5_000
DAY_MS = 86_400_000


def _day_range(params: QueryParams) -> tuple[date, date]:
    """`from`..`to` (UTC days, inclusive; default: the last 7)."""
    last = aggregates.parse_day("to", params["to"]) if "to" in params else datetime.now(UTC).date()
    first = (
        aggregates.parse_day("from", params["from"])
        if "from" in params
        else last - timedelta(days=6)
    )
    return first, last


async def summary(request: Request) -> Response:
    """Totals and rates for `from`..`to` (UTC days, inclusive; default: the last 7)."""
    redis = request.app.state.storage.client
    try:
        store = await store_from_secret(request, redis)
        if isinstance(store, Response):
            return store
        try:
            first, last = _day_range(request.query_params)
            currency = (await Rulebook(redis, store.id).settings()).currency
            figures = await aggregates.summary(redis, store.id, first, last, currency)
        except aggregates.RangeError as exc:
            return error(400, str(exc))
    except STORAGE_ERRORS:
        request.app.state.metrics.redis_errors.inc()
        return storage_unavailable()
    return json_response(figures)


class Attribution(msgspec.Struct):
    """What popups and showcases led to over a range of UTC days (by the events' `ts`)."""

    store_id: str
    first_day: Annotated[str, msgspec.Meta(description="the first UTC day")] = msgspec.field(
        name="from"
    )
    last_day: Annotated[str, msgspec.Meta(description="the last UTC day")] = msgspec.field(
        name="to"
    )
    popups: Annotated[dict[str, PopupAttribution], msgspec.Meta(description="by popup id")]
    showcases: ShowcasesReport


_decode_events = msgspec.json.Decoder(list[StoredEvent]).decode
_decode_loose = msgspec.json.Decoder(list[dict[str, Any]]).decode
HOUR_MS = 3_600_000


def _decode(raw: bytes) -> list[StoredEvent]:
    """One hour's (or one old entry's) events. One that does not have the fields
    attribution reads (none is written so, but a report must not fail on it) is
    left out, not the whole hour."""
    try:
        return _decode_events(raw)
    except msgspec.ValidationError:
        kept = []
        for loose in _decode_loose(raw):
            try:
                kept.append(msgspec.convert(loose, StoredEvent))
            except msgspec.ValidationError:
                continue
        return kept


async def read_events(
    redis: AsyncRedis,
    store_id: str,
    first_id_ms: int,
    last_id_ms: int,
    since_ms: int,
    types: frozenset[str] = RELEVANT_TYPES,
    until_ms: int | None = None,
) -> list[StoredEvent]:
    """The events attribution needs (popups, showcases, carts, purchases; or only
    `types`) that arrived between the two times, with `ts` from `since_ms` on (and
    before `until_ms`): a string an hour (`keys.attribution_hour`), and the stream
    older versions wrote."""
    until = until_ms if until_ms is not None else 2**63
    hours = range(first_id_ms // HOUR_MS, last_id_ms // HOUR_MS + 1)
    log, start = keys.attribution_log(store_id), f"{first_id_ms}-0"
    async with redis.pipeline(transaction=False) as pipe:
        for hour in hours:
            pipe.get(keys.attribution_hour(store_id, hour))
        # The old stream's first page in the same round trip: empty on a new store.
        pipe.xrange(log, min=start, max=str(last_id_ms), count=STREAM_PAGE)
        *blobs, entries = await pipe.execute()
    kept: list[StoredEvent] = []
    for blob in blobs:
        if blob:
            # Each event follows a comma: the first one makes the array's start.
            for event in _decode(b"[" + blob[1:] + b"]"):
                if since_ms <= event.ts < until and event.type in types:
                    kept.append(event)
    while True:
        for _, fields in entries:
            for event in _decode(fields[b"events"]):
                if since_ms <= event.ts < until and event.type in types:
                    kept.append(event)
        if len(entries) < STREAM_PAGE:
            return kept
        start = "(" + entries[-1][0].decode()
        entries = await redis.xrange(log, min=start, max=str(last_id_ms), count=STREAM_PAGE)


async def attribution(request: Request) -> Response:
    """What popups and showcases led to, and their lift, for events whose `ts` falls
    on the UTC days `from`..`to` (default: the last 7).

    The stream is ordered by arrival, not by `ts`: it is read from 24 hours before
    the range (a showcase click may earn credit for a day later) to 47 hours after
    it (events arrive up to 47 hours late)."""
    redis = request.app.state.storage.client
    try:
        store = await store_from_secret(request, redis)
        if isinstance(store, Response):
            return store
        try:
            first, last = _day_range(request.query_params)
            days = aggregates.days_between(first, last)
        except aggregates.RangeError as exc:
            return error(400, str(exc))
        if len(days) > MAX_ATTRIBUTION_DAYS:
            return error(
                400, f"to: an attribution range covers at most {MAX_ATTRIBUTION_DAYS} days"
            )
        start_ms = (first - date(1970, 1, 1)).days * DAY_MS
        end_ms = (last - date(1970, 1, 1)).days * DAY_MS + DAY_MS - 1
        lookback_ms = start_ms - SHOWCASE_WINDOW_MS
        events = await read_events(
            redis, store.id, lookback_ms, end_ms + MAX_EVENT_AGE_MS, lookback_ms
        )
    except STORAGE_ERRORS:
        request.app.state.metrics.redis_errors.inc()
        return storage_unavailable()
    # Sorting and counting a range's events is CPU work: off the event loop.
    figures = await asyncio.to_thread(report, events, start_ms=start_ms, end_ms=end_ms)
    return json_response(
        Attribution(store.id, days[0], days[-1], figures["popups"], figures["showcases"])
    )
