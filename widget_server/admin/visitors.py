"""`DELETE /v1/admin/visitors/{vid}` (secret key): erase what Tarry keeps of one
visitor, on request (the right to erasure).

Removed: their events from the event stream, its archived hours and the
attribution log (a stream entry holds one ingest call, and an hour every call of
the hour, which may hold other visitors' events: those are written back, a
stream's as a new entry keeping their times, an archived hour's in their own
entries), their session starts from the session log, their orders from the order
log (and their order ids' markers), their visitor record, item history, session
states and rate-limit counters, the customer history of their `uid`, their e-mail
subscriptions, the coupon codes given to them and their spin-to-win prizes
(counted with the codes). Kept: the counters (sums of many visitors, with no id in
them), the HyperLogLogs (hashed registers, from which no id can be read back), and
for 48 hours the digests of their events' random ids in the duplicate check, so
that a retry of one cannot bring them back. Every key is the store's, on its one
Cluster slot; the streams are read in pages and the hours one at a time, so a
large store is erased without blocking Redis.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from widget_server.auth import store_from_secret
from widget_server.responses import STORAGE_ERRORS, error, json_response, storage_unavailable
from widget_server.storage import event_archive, event_entries, keys
from widget_server.storage.connect import AsyncRedis
from widget_server.storage.scripts import REPLACE_IF_UNCHANGED, register

PAGE = 2_000
_VISITOR_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}\Z")


@dataclasses.dataclass
class _Dropped:
    """What a stream gave up of the visitor: how many items, and what they named."""

    items: int = 0
    sessions: set[str] = dataclasses.field(default_factory=set)
    uids: set[str] = dataclasses.field(default_factory=set)
    transactions: set[str] = dataclasses.field(default_factory=set)


_ReadItems = Callable[[dict[bytes, bytes]], list[Any] | None]
_WriteEntry = Callable[[list[Any]], dict[str, Any]]


def _events_of(fields: dict[bytes, bytes]) -> list[dict[str, Any]] | None:
    return event_entries.events(fields) if b"events" in fields else None


def _attributed_of(fields: dict[bytes, bytes]) -> list[Any] | None:
    # Older versions' attribution log: a JSON array an entry, read as is (stats.py).
    raw = fields.get(b"events")
    return json.loads(raw) if raw is not None else None


def _attributed_entry(kept: list[Any]) -> dict[str, Any]:
    return {"events": json.dumps(kept, separators=(",", ":"))}


def _starts_of(fields: dict[bytes, bytes]) -> list[str] | None:
    raw = fields.get(b"s")
    return raw.decode().split(";") if raw is not None else None


def _starts_entry(kept: list[str]) -> dict[str, Any]:
    return {"s": ";".join(kept)}


async def _rewrite_stream(
    redis: AsyncRedis, key: str, read: _ReadItems, write: _WriteEntry, keeps: Any
) -> _Dropped:
    """Drop what `keeps(item)` refuses from every entry of a stream, whose items
    `read` gives (events, or session starts) and `write` writes back."""
    dropped = _Dropped()
    start = "-"
    while True:
        entries = await redis.xrange(key, min=start, count=PAGE)
        for entry_id, fields in entries:
            items = read(fields)
            if items is None:
                continue
            left = [item for item in items if keeps(item)]
            if len(left) == len(items):
                continue
            _note_dropped(dropped, [i for i in items if isinstance(i, dict) and not keeps(i)])
            dropped.items += len(items) - len(left)
            async with redis.pipeline(transaction=True) as pipe:
                pipe.xdel(key, entry_id)
                if left:
                    pipe.xadd(key, write(left))
                await pipe.execute()
        if len(entries) < PAGE:
            return dropped
        start = "(" + entries[-1][0].decode()


async def _rewrite_hours(redis: AsyncRedis, store_id: str, keeps: Any) -> _Dropped:
    """Drop what `keeps(event)` refuses from every attribution hour of the store.
    An hour may get new events while it is rewritten: the write is refused then,
    and the hour read again."""
    dropped = _Dropped()
    replace = register(redis, REPLACE_IF_UNCHANGED)
    async for key in redis.scan_iter(match=keys.attribution_hour(store_id, 0)[:-1] + "*"):
        while True:
            raw = await redis.get(key)
            if not raw:
                break
            events: list[Any] = json.loads(b"[" + raw[1:] + b"]")
            left = [event for event in events if keeps(event)]
            if len(left) == len(events):
                break
            kept = "".join("," + json.dumps(e, separators=(",", ":")) for e in left)
            if await replace(keys=[key], args=[raw, kept]):
                for event in events:
                    if isinstance(event, dict) and not keeps(event):
                        dropped.sessions.add(str(event.get("sid")))
                        if event.get("transaction_id"):
                            dropped.transactions.add(str(event["transaction_id"]))
                dropped.items += len(events) - len(left)
                break
    return dropped


def _drop_archived(blob: bytes, keeps: Any) -> tuple[bytes, list[Any], str] | None:
    """An archived hour less the events `keeps(event)` refuses: the new archive (b""
    when nothing is left), the events dropped and the hour's new index value; None
    when it drops nothing."""
    kept: list[tuple[bytes, Mapping[Any, Any]]] = []
    dropped: list[Any] = []
    for entry_id, fields in event_archive.unpack(blob):
        found = event_entries.events(fields)
        left = [event for event in found if keeps(event)]
        if len(left) == len(found):
            kept.append((entry_id, fields))
            continue
        dropped += [event for event in found if not keeps(event)]
        if left:
            kept.append((entry_id, event_entries.entry(left)))
    if not dropped:
        return None
    if not kept:
        return b"", dropped, ""
    return event_archive.pack(kept), dropped, event_archive.index_value(kept)


async def _rewrite_archive(redis: AsyncRedis, store_id: str, keeps: Any) -> _Dropped:
    """Drop what `keeps(event)` refuses from every archived hour of the store's
    events, each entry keeping its id; an hour is decoded off the event loop. An
    hour that changes while it is rewritten (another erasure) is read again."""
    dropped = _Dropped()
    replace = register(redis, REPLACE_IF_UNCHANGED)
    index = keys.events_archive_index(store_id)
    for hour in await redis.hkeys(index):
        key = keys.events_archive(store_id, int(hour))
        while blob := await redis.get(key):
            rewritten = await asyncio.to_thread(_drop_archived, blob, keeps)
            if rewritten is None:
                break
            packed, gone, value = rewritten
            if await replace(keys=[key], args=[blob, packed]):
                _note_dropped(dropped, gone)
                dropped.items += len(gone)
                await (redis.hset(index, hour, value) if packed else redis.hdel(index, hour))
                break
    return dropped


def _note_dropped(dropped: _Dropped, events: list[dict[str, Any]]) -> None:
    for item in events:
        dropped.sessions.add(str(item.get("sid")))
        if item.get("uid"):
            dropped.uids.add(str(item["uid"]))
        if item.get("transaction_id"):
            dropped.transactions.add(str(item["transaction_id"]))


async def erase_visitor(redis: AsyncRedis, store_id: str, vid: str) -> dict[str, int]:
    """Erase the visitor; what was removed, by kind."""
    record = await redis.hgetall(keys.visitor(store_id, vid))
    uids = {record[b"u"].decode()} if b"u" in record else set()

    def other_event(event: dict[str, Any]) -> bool:
        return bool(event.get("vid") != vid)

    events = await _rewrite_stream(
        redis, keys.events(store_id), _events_of, event_entries.entry, other_event
    )
    # After the stream: an hour archived while the stream was read is found there.
    archived = await _rewrite_archive(redis, store_id, other_event)
    events.items += archived.items
    events.sessions |= archived.sessions
    events.uids |= archived.uids
    events.transactions |= archived.transactions
    attributed = await _rewrite_stream(
        redis, keys.attribution_log(store_id), _attributed_of, _attributed_entry, other_event
    )
    hourly = await _rewrite_hours(redis, store_id, other_event)
    await redis.incr(keys.report_generation(store_id))
    attributed.items += hourly.items
    attributed.sessions |= hourly.sessions
    attributed.transactions |= hourly.transactions
    starts = await _rewrite_stream(
        redis,
        keys.session_log(store_id),
        _starts_of,
        _starts_entry,
        lambda pair: pair.rpartition(" ")[0] != vid,
    )
    uids |= events.uids
    sessions = events.sessions | attributed.sessions
    transactions = events.transactions | attributed.transactions
    customers = {vid, *uids}
    orders = 0
    order_log = keys.order_log(store_id)
    for member in await redis.zrange(order_log, 0, -1):
        transaction, customer = member.decode().split("\t")[:2]
        if customer in customers:
            orders += int(await redis.zrem(order_log, member))
            transactions.add(transaction)
    subscriptions = 0
    for email, raw in (await redis.hgetall(keys.subscribers(store_id))).items():
        if json.loads(raw).get("vid") == vid:
            subscriptions += int(await redis.hdel(keys.subscribers(store_id), email))
    codes = 0
    async for pool_key in redis.scan_iter(match=keys.coupons_given(store_id, "*")):
        codes += int(await redis.hdel(pool_key, vid))
    async for wheel_key in redis.scan_iter(match=keys.wheel_prizes(store_id, "*")):
        codes += int(await redis.hdel(wheel_key, vid))  # a spin-to-win prize, won or not
    limits = [
        k async for k in redis.scan_iter(match=keys.rate_visitor(store_id, vid, 0)[:-1] + "*")
    ]
    doomed = [
        keys.visitor(store_id, vid),
        keys.visitor_items(store_id, vid),
        *(keys.customer_items(store_id, uid) for uid in uids),
        *(keys.session(store_id, sid) for sid in sessions),
        *(keys.transaction(store_id, tx) for tx in transactions),
        *limits,
    ]
    records = int(await redis.delete(*doomed)) if doomed else 0
    return {
        "events": events.items,
        "attribution_events": attributed.items,
        "session_starts": starts.items,
        "orders": orders,
        "subscriptions": subscriptions,
        "coupon_codes": codes,
        "records": records,
    }


async def delete_visitor(request: Request) -> Response:
    redis = request.app.state.storage.client
    vid = request.path_params["vid"]
    try:
        store = await store_from_secret(request, redis)
        if isinstance(store, Response):
            return store
        if not _VISITOR_ID.match(vid):
            return error(
                400, "vid: 1 to 64 letters, digits or _.:- (a visitor id as events send it)"
            )
        erased = await erase_visitor(redis, store.id, vid)
    except STORAGE_ERRORS:
        request.app.state.metrics.redis_errors.inc()
        return storage_unavailable()
    if not any(erased.values()):
        return error(404, f"vid: nothing is kept of visitor {vid!r}")
    return json_response({"store_id": store.id, "vid": vid, "erased": erased})
