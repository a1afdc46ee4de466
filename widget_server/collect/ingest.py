"""From a collect request's events to Redis: check each event, then append and count
the good ones with the ingest script, coalescing concurrent requests of a store
into one script call."""

from __future__ import annotations

import asyncio
import collections
import dataclasses
from typing import Any

import msgspec

from widget_server.collect.events import Event, Item, event_encoder
from widget_server.storage import keys
from widget_server.storage.clock import MAX_EVENT_AGE_MS, now_ms, utc_day
from widget_server.storage.connect import AsyncRedis
from widget_server.storage.scripts import (
    INGEST,
    KIND_ADD_TO_CART,
    KIND_ENGAGED,
    KIND_PAGE_VIEW,
    KIND_POPUP_CLICK,
    KIND_POPUP_SEEN,
    KIND_PURCHASE,
    KIND_VIEW_ITEM,
)

# An event as it arrived (its JSON, decoded), or why it could not be decoded.
DecodedEvent = tuple[bytes, Event] | str

DUPLICATE_WINDOW_S = 48 * 3600
MAX_EVENT_FUTURE_MS = 10 * 60 * 1000
SESSION_IDLE_S = 30 * 60
ENGAGED_MS = 10_000
RATE_WINDOW_S = 60
VISITOR_TTL_S = 400 * 86400

_KINDS = {
    "page_view": KIND_PAGE_VIEW,
    "view_item": KIND_VIEW_ITEM,
    "add_to_cart": KIND_ADD_TO_CART,
    "purchase": KIND_PURCHASE,
    "popup_shown": KIND_POPUP_SEEN,
    "popup_suppressed": KIND_POPUP_SEEN,
    "popup_click": KIND_POPUP_CLICK,
}
_NEEDS_POPUP = frozenset({"popup_shown", "popup_click", "popup_close", "popup_suppressed"})


@dataclasses.dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    retry_after: int = 0  # > 0: rate-limited, nothing was stored


@dataclasses.dataclass(frozen=True, slots=True)
class Context:
    """Facts about the request that go with every event of it."""

    store_id: str
    now_ms: int
    skew_ms: int  # server clock minus sender clock
    device: str
    ip_hash: str


# Only a skew larger than this is corrected: smaller ones are mostly network delay,
# and an event whose `ts` is kept can be stored exactly as it was sent.
SKEW_TOLERANCE_MS = 5_000


def check_event(event: Event, ctx: Context) -> Event | str:
    """The event with `ts` corrected for clock skew, or why it is refused (rules the
    schema cannot say)."""
    ts = event.ts + ctx.skew_ms if abs(ctx.skew_ms) > SKEW_TOLERANCE_MS else event.ts
    if ts < ctx.now_ms - MAX_EVENT_AGE_MS:
        return "ts: older than 47 hours; events are accepted for 47 hours"
    if ts > ctx.now_ms + MAX_EVENT_FUTURE_MS:
        return "ts: more than 10 minutes in the future"
    if event.type == "engagement" and event.engaged_ms is None:
        return "engaged_ms: required for engagement events"
    if event.type in _NEEDS_POPUP and event.popup_id is None:
        return f"popup_id: required for {event.type} events"
    if event.type == "showcase_click" and (event.rec_id is None or not event.items):
        return "rec_id: showcase_click needs rec_id and the clicked item in items"
    if ts != event.ts:
        event = msgspec.structs.replace(event, ts=ts)
    return event


def session_category(category: str | None) -> str:
    """A category as kept in the session state, whose separator is `|`."""
    if not category:
        return ""
    return category.replace("|", "/")[:64]


def _web_url(url: str | None) -> str | None:
    # Cards end up as links and images on the store's pages: http(s) only.
    if url and (url.startswith("https://") or url.startswith("http://")):
        return url
    return None


class CardsSeen:
    """The product data each store's `view_item` events last sent, per item, so that
    only a change reaches the catalog: nearly every view repeats the same data."""

    MAX_ITEMS = 50_000

    def __init__(self) -> None:
        self._last: dict[tuple[str, str], bytes] = {}

    def changed(self, store_id: str, item: Item, currency: str | None) -> bytes | None:
        card: dict[str, Any] = {"item_id": item.item_id}
        for name, value in (
            ("name", item.item_name),
            ("url", _web_url(item.url)),
            ("image", _web_url(item.image)),
            ("price", item.price),
            ("currency", currency),
            ("category", item.item_category),
            ("brand", item.item_brand),
            ("availability", item.availability),
        ):
            if value is not None:
                card[name] = value
        if len(card) == 1:
            return None
        encoded = _json(card)
        key = (store_id, item.item_id)
        if self._last.get(key) == encoded:
            return None
        if len(self._last) >= self.MAX_ITEMS:
            self._last.clear()
        self._last[key] = encoded
        return encoded


@dataclasses.dataclass
class _Job:
    """One request's share of a coalesced script call."""

    plan: dict[str, Any]
    events: int
    done: asyncio.Future[tuple[int, int]]


class _StoreQueue:
    def __init__(self) -> None:
        self.jobs: collections.deque[_Job] = collections.deque()
        self.drainers = 0


class Ingestor:
    """Checks events and hands the good ones to the ingest script.

    Requests for a store that arrive while a script call for it is in flight wait
    and go together in the next call (group commit): at low load each request is
    sent at once; under load one round trip and one pass through redis-py serve
    many requests, which is where a Python server would otherwise spend its time.
    """

    MAX_EVENTS_PER_CALL = 1000
    # One call in flight per store: measured best on two cores (0.34-0.36 of bare
    # against 0.32 with two, 0.29 with four): fewer, larger calls cost Redis and redis-py
    # less, and Python still prepares the next batch while Redis runs this one.
    MAX_CALLS_IN_FLIGHT = 1

    def __init__(
        self,
        redis: AsyncRedis,
        *,
        retention_days: int,
        rate_limit_ip: int,
        rate_limit_visitor: int,
    ) -> None:
        self._script = redis.register_script(INGEST)
        self._retention_ms = retention_days * 86400 * 1000
        self._rate_limit_ip = rate_limit_ip
        self._rate_limit_visitor = rate_limit_visitor
        self._queues: dict[str, _StoreQueue] = {}
        self._cards = CardsSeen()
        self._tasks: set[asyncio.Task[None]] = set()

    async def ingest(self, events: list[DecodedEvent], ctx: Context) -> IngestResult:
        """Store the events: each is (its JSON as sent, the decoded event), or the
        reason it could not be decoded."""
        result = IngestResult()
        rows: list[tuple[str, str, str, str, int, str, int, str, int, int, str, str]] = []
        cards: list[tuple[str, str]] = []
        server_fields = f',"rt":{ctx.now_ms},"dev":"{ctx.device}","ih":"{ctx.ip_hash}"}}'
        for index, decoded in enumerate(events):
            if isinstance(decoded, str):
                result.rejected.append({"index": index, "error": decoded})
                continue
            sent, event = decoded
            # Duplicates are looked up by the hour of `ts` as sent, which a retry repeats.
            hour = event.ts // 3_600_000
            checked = check_event(event, ctx)
            if isinstance(checked, str):
                result.rejected.append({"index": index, "error": checked})
                continue
            if checked is not event:  # ts corrected: store the corrected event
                event, sent = checked, event_encoder.encode(checked)
            # The stored form is the event as sent (checked against the schema, so
            # it is one JSON object) with the server's fields added.
            stored = sent[:-1].decode() + server_fields
            kind = _KINDS.get(event.type, 0)
            revenue_minor = 0
            if kind == KIND_PURCHASE:
                revenue_minor = round((event.value or 0) * 100)
            elif event.type == "engagement" and (event.engaged_ms or 0) >= ENGAGED_MS:
                kind = KIND_ENGAGED
            category = ""
            if kind == KIND_VIEW_ITEM and event.items:
                item = event.items[0]
                category = session_category(item.item_category)
                card = self._cards.changed(ctx.store_id, item, event.currency)
                if card is not None:
                    cards.append((item.item_id, card.decode()))
            rows.append(
                (
                    event.id,
                    event.sid,
                    utc_day(event.ts),
                    event.vid,
                    kind,
                    event.transaction_id or "",
                    revenue_minor,
                    stored,
                    hour,
                    event.ts,
                    event.popup_id or "",
                    category,
                )
            )
        if not rows:
            return result

        plan: dict[str, Any] = {"ev": rows, "vl": self._rate_limit_visitor}
        if cards:
            plan["cat"] = cards
        if self._rate_limit_ip:
            plan["ih"] = ctx.ip_hash
            plan["ipl"] = self._rate_limit_ip
        job = _Job(plan, len(rows), asyncio.get_running_loop().create_future())
        first, second = await self._submit(ctx.store_id, job)
        if first == -1:
            result.retry_after = second
        else:
            result.accepted, result.duplicates = first, second
        return result

    async def _submit(self, store: str, job: _Job) -> tuple[int, int]:
        queue = self._queues.get(store)
        if queue is None:
            queue = self._queues[store] = _StoreQueue()
        queue.jobs.append(job)
        if queue.drainers < self.MAX_CALLS_IN_FLIGHT:
            queue.drainers += 1
            task = asyncio.get_running_loop().create_task(self._drain(store, queue))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await job.done

    async def _drain(self, store: str, queue: _StoreQueue) -> None:
        pending = queue.jobs
        try:
            while pending:
                jobs: list[_Job] = []
                events = 0
                while pending and (not jobs or events < self.MAX_EVENTS_PER_CALL):
                    job = pending.popleft()
                    jobs.append(job)
                    events += job.events
                try:
                    counts = await self._call(store, jobs)
                except Exception as exc:
                    for job in jobs:
                        if not job.done.done():
                            job.done.set_exception(exc)
                    continue
                for n, job in enumerate(jobs):
                    if not job.done.done():
                        job.done.set_result((int(counts[2 * n]), int(counts[2 * n + 1])))
        finally:
            queue.drainers -= 1
            if queue.drainers == 0:
                del self._queues[store]
                for job in pending:  # only when cancelled at shutdown
                    job.done.cancel()

    async def _call(self, store: str, jobs: list[_Job]) -> list[int]:
        now = now_ms()
        # MessagePack: Redis' Lua reads it faster than JSON, and the events' stored
        # forms travel inside it as plain strings, with no escaping and no splitting.
        plan = _encode(
            {
                "prefix": keys.store_prefix(store),
                "minid": f"{now - self._retention_ms}-0",
                "seen_ttl": DUPLICATE_WINDOW_S,
                "sess_ttl": SESSION_IDLE_S,
                "tx_ttl": self._retention_ms // 1000,
                "vis_ttl": VISITOR_TTL_S,
                "win": RATE_WINDOW_S,
                "w": now // 1000 // RATE_WINDOW_S,
                "reqs": [job.plan for job in jobs],
            }
        )
        counts: list[int] = await self._script(keys=[keys.events(store)], args=[plan])
        return counts


_encode = msgspec.msgpack.Encoder().encode
_json = msgspec.json.Encoder().encode
