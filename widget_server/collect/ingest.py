"""From a collect request's events to Redis: check each event, then append and count
the good ones with the ingest script, coalescing concurrent requests of a store
into one script call."""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import functools
import hashlib
from typing import Any

import msgspec
from redis.exceptions import NoScriptError, ResponseError

from widget_server.collect.events import Event, Item, event_encoder
from widget_server.collect.money import to_minor
from widget_server.collect.sources import NOT_SET, classify
from widget_server.storage import keys
from widget_server.storage.clock import MAX_EVENT_AGE_MS, now_ms, utc_day
from widget_server.storage.connect import AsyncRedis
from widget_server.storage.scripts import (
    INGEST,
    KIND_ADD_TO_CART,
    KIND_CHECKOUT,
    KIND_ENGAGED,
    KIND_PAGE_VIEW,
    KIND_POPUP_CLICK,
    KIND_POPUP_SEEN,
    KIND_PURCHASE,
    KIND_VIEW_ITEM,
    register,
    script_error,
)
from widget_server.storage.stores import customer_id

# An event as it arrived (its JSON, decoded), or why it could not be decoded.
DecodedEvent = tuple[bytes, Event] | str

DUPLICATE_WINDOW_S = 48 * 3600
MAX_EVENT_FUTURE_MS = 10 * 60 * 1000
SESSION_IDLE_S = 30 * 60
QUARTER_MS = 15 * 60 * 1000
LIVE_TTL_S = 2 * 3600
SESSION_LOG_DAYS = 400
# Distinct values a UTC day keeps per breakdown dimension (landing pages, referrers,
# campaigns); later new values of that day count as `(other)`.
DIMENSION_VALUES_PER_DAY = 1000
ENGAGED_MS = 10_000
RATE_WINDOW_S = 60
VISITOR_TTL_S = 400 * 86400

_KINDS = {
    "page_view": KIND_PAGE_VIEW,
    "view_item": KIND_VIEW_ITEM,
    "add_to_cart": KIND_ADD_TO_CART,
    "purchase": KIND_PURCHASE,
    "begin_checkout": KIND_CHECKOUT,
    "popup_shown": KIND_POPUP_SEEN,
    "popup_suppressed": KIND_POPUP_SEEN,
    "popup_click": KIND_POPUP_CLICK,
}
# The events popup and showcase statistics read: also kept in a stream of their own
# (keys.attribution_log), so that a report does not read every page view.
ATTRIBUTED_TYPES = frozenset(
    {
        "add_to_cart",
        "purchase",
        "popup_shown",
        "popup_click",
        "popup_close",
        "popup_suppressed",
        "showcase_view",
        "showcase_click",
        "showcase_suppressed",
    }
)


class _AttributedItem(msgspec.Struct, omit_defaults=True):
    item_id: str
    price: float | None = None
    quantity: int | None = None


class _Attributed(msgspec.Struct, omit_defaults=True):
    """What popup and showcase statistics read of an event: a fraction of what is
    stored of it, so that a month of reports decodes fast."""

    id: str
    type: str
    ts: int
    vid: str
    sid: str
    popup_id: str | None = None
    variant: str | None = None
    placement: str | None = None
    rec_id: str | None = None
    value: float | None = None
    transaction_id: str | None = None
    items: list[_AttributedItem] | None = None
    coupon: str | None = None


# The events whose items attribution reads (what a click, a cart addition or an
# order credits); a carousel's view lists every item it showed, which nothing reads.
_ITEMS_READ = frozenset({"showcase_click", "add_to_cart", "purchase"})


def _attributed(event: Event) -> str:
    items = (
        [_AttributedItem(i.item_id, i.price, i.quantity) for i in event.items]
        if event.items and event.type in _ITEMS_READ
        else None
    )
    return _json(
        _Attributed(
            event.id,
            event.type,
            event.ts,
            event.vid,
            event.sid,
            event.popup_id,
            event.variant,
            event.placement,
            event.rec_id,
            event.value,
            event.transaction_id,
            items,
            event.coupon,
        )
    ).decode()


_NEEDS_POPUP = frozenset({"popup_shown", "popup_click", "popup_close", "popup_suppressed"})


@dataclasses.dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    retry_after: int = 0  # > 0: rate-limited, nothing was stored
    orders: int = 0  # an import's orders counted now (not known before)


@dataclasses.dataclass(frozen=True, slots=True)
class Context:
    """Facts about the request that go with every event of it."""

    store_id: str
    now_ms: int
    skew_ms: int  # server clock minus sender clock
    device: str
    ip_hash: str
    salt: str = ""  # the store's, for customer ids made from e-mail addresses
    history: bool = False  # an import of the shop's past: no 47-hour window


# Only a skew larger than this is corrected: smaller ones are mostly network delay,
# and an event whose `ts` is kept can be stored exactly as it was sent.
SKEW_TOLERANCE_MS = 5_000


def check_event(event: Event, ctx: Context) -> Event | str:
    """The event with `ts` corrected for clock skew, or why it is refused (rules the
    schema cannot say)."""
    ts = event.ts + ctx.skew_ms if abs(ctx.skew_ms) > SKEW_TOLERANCE_MS else event.ts
    if ts < ctx.now_ms - MAX_EVENT_AGE_MS and not ctx.history:
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


def _without(sent: bytes, name: bytes, value: str) -> bytes | None:
    """The JSON object less its member `name` (a string), or None where it is not
    written plainly. The pair can only be a member of the object itself: inside a
    string every quote is escaped, and items have no such member."""
    pair = b'"' + name + b'":"' + value.encode() + b'"'
    for written in (b"," + pair, pair + b","):
        at = sent.find(written)
        if at >= 0:
            return sent[:at] + sent[at + len(written) :]
    return None


def _stored_form(sent: bytes, event: Event) -> str:
    """The event as sent (checked against the schema, so one JSON object), without
    the spaces some JSON libraries put after every `:` and `,` (Python's json.dumps
    does; the snippet's JSON.stringify does not), and without `vid` and `sid`, which
    the stream entry holds once per run of events (storage/event_entries.py): a
    stream keeps it for months."""
    if b'": ' in sent or b', "' in sent:
        sent = msgspec.json.format(sent, indent=-1)
    stored = _without_ids(sent, event.vid, event.sid)
    if stored is None:  # an id written with escapes, or spaces elsewhere: as decoded
        stored = _without_ids(event_encoder.encode(event), event.vid, event.sid)
        assert stored is not None, "msgspec writes every member plainly"
    return stored.decode()


def _without_ids(sent: bytes, vid: str, sid: str) -> bytes | None:
    # The snippet (and msgspec) write the two side by side: one search, not two.
    both = b',"vid":"' + vid.encode() + b'","sid":"' + sid.encode() + b'"'
    at = sent.find(both)
    if at >= 0:
        return sent[:at] + sent[at + len(both) :]
    stored = _without(sent, b"vid", vid)
    return stored and _without(stored, b"sid", sid)


def seen_digest(event_id: str) -> bytes:
    """What the duplicate check keeps of a live event's id: 8 bytes of its BLAKE2b
    hash, a third of the snippet's 22-character ids. The same id gives the same
    digest, so a retry is still caught; two ids of one quarter-hour's hash share a
    digest with a chance of n^2 / 2^65 for n ids in it (3e-8 for a million)."""
    return hashlib.blake2b(event_id.encode(), digest_size=8).digest()


# The MessagePack head of a str of 8 bytes. Redis 6's cmsgpack refuses the bin type
# that bytes encode to, and a Lua string is bytes anyway: the digest goes as a str.
_STR8 = b"\xa8"


def _digest_for_lua(event_id: str) -> msgspec.Raw:
    return msgspec.Raw(_STR8 + seen_digest(event_id))


def _clean(value: str) -> str:
    # Dimension values travel tab-separated and sit before the session's `|` list.
    return value.replace("\t", " ").replace("|", "/").replace("\n", " ")


def _dims(event: Event, device: str) -> str:
    """The values a session starting with this page view is broken down by, in the
    order of keys.DIMENSIONS."""
    return _dims_of(
        event.url, event.ref, event.utm_source, event.utm_medium, event.utm_campaign,
        event.page_type, device,
    )  # fmt: skip


# Most page views are of a store's few landing pages, from a few sources: classifying
# one (URLs parsed, hosts matched) costs more than the rest of its event's checks.
# At most 1,024 kept: a few MB even were every URL and referrer as long as allowed.
@functools.lru_cache(maxsize=1024)
def _dims_of(
    url: str | None,
    ref: str | None,
    utm_source: str | None,
    utm_medium: str | None,
    utm_campaign: str | None,
    page_type: str | None,
    device: str,
) -> str:
    source = classify(url, ref, utm_source, utm_medium, utm_campaign)
    return "\t".join(
        _clean(v)
        for v in (
            page_type or NOT_SET,
            device,
            source.channel,
            source.referrer,
            source.utm_source,
            source.utm_medium,
            source.utm_campaign,
            source.landing_page,
        )
    )


@functools.lru_cache(maxsize=8)
def _no_dims(device: str) -> str:
    """The dimension values of a session whose first event is not a page view."""
    return "\t".join([NOT_SET, device, "direct", "(direct)", NOT_SET, NOT_SET, NOT_SET, NOT_SET])


# At most this many items of one cart addition or purchase join the visitor's list.
ITEMS_REMEMBERED_PER_EVENT = 10


def _item_ids(event: Event, kind: int) -> str:
    """The items a view, cart addition or purchase adds to the visitor's history."""
    if not event.items or kind not in (KIND_VIEW_ITEM, KIND_ADD_TO_CART, KIND_PURCHASE):
        return ""
    chosen = event.items[:1] if kind == KIND_VIEW_ITEM else event.items
    # Item ids may hold spaces, which separate an entry's parts: not those.
    return "\t".join(
        i.item_id.replace(" ", "_").replace("\t", "_") for i in chosen[:ITEMS_REMEMBERED_PER_EVENT]
    )


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


class Ingestor:
    """Checks events and hands the good ones to the ingest script.

    Requests that arrive while a round of script calls is in flight wait and go in
    the next round (group commit): a store's requests together in one call, and the
    calls of every store waiting in one pipeline. At low load each request is sent
    at once; under load one round trip and one pass through redis-py serve many
    requests, which is where a Python server would otherwise spend its time, and a
    server of many stores, each with a request now and then, pays for a round, not
    for a call per request.
    """

    MAX_EVENTS_PER_CALL = 1000
    MAX_CALLS_PER_ROUND = 64
    # One call in flight per store: measured best on two cores for one store (0.34-0.36
    # of bare against 0.32 with two, 0.29 with four): fewer, larger calls cost Redis
    # and redis-py less, and Python still prepares the next while Redis runs this one.
    # Two rounds in flight, of different stores: while Redis runs one, the server
    # reads the answers of the other (with one, each waited for the other).
    MAX_ROUNDS_IN_FLIGHT = 2

    def __init__(
        self,
        redis: AsyncRedis,
        *,
        retention_days: int,
        rate_limit_ip: int,
        rate_limit_visitor: int,
    ) -> None:
        self._redis = redis
        self._script = register(redis, INGEST)
        self._sha = hashlib.sha1(INGEST.encode()).hexdigest()
        self._retention_ms = retention_days * 86400 * 1000
        self._rate_limit_ip = rate_limit_ip
        self._rate_limit_visitor = rate_limit_visitor
        # Each store's waiting requests, the stores in the order they came.
        self._pending: dict[str, collections.deque[_Job]] = {}
        self._busy: set[str] = set()  # stores with a call in flight
        self._drainers = 0
        self._cards = CardsSeen()
        self._tasks: set[asyncio.Task[None]] = set()

    async def ingest(self, events: list[DecodedEvent], ctx: Context) -> IngestResult:
        """Store the events: each is (its JSON as sent, the decoded event), or the
        reason it could not be decoded."""
        result, plan, count = self._prepare(events, ctx)
        if plan is None:
            return result
        job = _Job(plan, count, asyncio.get_running_loop().create_future())
        first, second = await self._submit(ctx.store_id, job)
        if first == -1:
            result.retry_after = second
        else:
            result.accepted, result.duplicates = first, second
        return result

    async def ingest_history(
        self, events: list[DecodedEvent], ctx: Context, *, orders_only: bool
    ) -> IngestResult:
        """Store events of the shop's past (an import): counted on their own days,
        deduplicated for good, never as realtime traffic, in one script call of
        their own (not coalesced with live requests). `orders_only`: past orders,
        which had no web session."""
        result, plan, _ = self._prepare(events, ctx)
        if plan is None:
            return result
        plan["vl"] = 0
        plan.pop("ipl", None)
        flags = {"hist": 1, "orders": 1} if orders_only else {"hist": 1}
        counts = await self._call(ctx.store_id, [plan], flags)
        result.accepted, result.duplicates = int(counts[0]), int(counts[1])
        result.orders = int(counts[2])
        return result

    def _prepare(
        self, events: list[DecodedEvent], ctx: Context
    ) -> tuple[IngestResult, dict[str, Any] | None, int]:
        """The checked events as a request's part of the ingest script's plan (None
        when no event is left), and how many events it holds."""
        result = IngestResult()
        rows: list[tuple[Any, ...]] = []
        cards: list[tuple[str, str]] = []
        for index, decoded in enumerate(events):
            if isinstance(decoded, str):
                result.rejected.append({"index": index, "error": decoded})
                continue
            sent, event = decoded
            # Duplicates are looked up by the quarter-hour of `ts` as sent, which a
            # retry repeats.
            sent_quarter = event.ts // QUARTER_MS
            checked = check_event(event, ctx)
            if isinstance(checked, str):
                result.rejected.append({"index": index, "error": checked})
                continue
            if checked.uid is not None and "@" in checked.uid:
                # An e-mail address is never stored: only its salted hash.
                checked = msgspec.structs.replace(checked, uid=customer_id(ctx.salt, checked.uid))
            quarter = sent_quarter
            if checked is not event:  # ts corrected or uid hashed: store the new event
                event, sent = checked, event_encoder.encode(checked)
                quarter = event.ts // QUARTER_MS
            stored = _stored_form(sent, event)
            kind = _KINDS.get(event.type, 0)
            revenue_minor = engaged_ms = 0
            if kind == KIND_PURCHASE:
                revenue_minor = to_minor(event.value or 0, event.currency)
            elif event.type == "engagement":
                engaged_ms = event.engaged_ms or 0
                if engaged_ms >= ENGAGED_MS:
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
                    sent_quarter,
                    event.ts,
                    event.popup_id or "",
                    category,
                    quarter,
                    _dims(event, ctx.device) if kind == KIND_PAGE_VIEW else _no_dims(ctx.device),
                    event.currency or "",
                    engaged_ms,
                    event.uid or "",
                    _item_ids(event, kind),
                    _attributed(event) if event.type in ATTRIBUTED_TYPES else "",
                    _digest_for_lua(event.id),
                )
            )
        if not rows:
            return result, None, 0

        plan: dict[str, Any] = {"ev": rows, "vl": self._rate_limit_visitor, "dev": ctx.device}
        if cards:
            plan["cat"] = cards
        if self._rate_limit_ip:
            plan["ih"] = ctx.ip_hash
            plan["ipl"] = self._rate_limit_ip
        return result, plan, len(rows)

    async def _submit(self, store: str, job: _Job) -> tuple[int, int]:
        jobs = self._pending.get(store)
        if jobs is None:
            jobs = self._pending[store] = collections.deque()
        jobs.append(job)
        # A store with a call in flight is taken by the round after it, at once.
        if store not in self._busy and self._drainers < self.MAX_ROUNDS_IN_FLIGHT:
            self._drainers += 1
            task = asyncio.get_running_loop().create_task(self._drain())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await job.done

    def _next_round(self) -> list[tuple[str, list[_Job]]]:
        """A call's worth of the waiting requests of each store with none in flight,
        the stores in the order they came."""
        calls: list[tuple[str, list[_Job]]] = []
        pending = self._pending
        for store in list(pending):
            if len(calls) == self.MAX_CALLS_PER_ROUND:
                break
            if store in self._busy:
                continue
            waiting = pending.pop(store)
            jobs: list[_Job] = []
            events = 0
            while waiting and (not jobs or events < self.MAX_EVENTS_PER_CALL):
                job = waiting.popleft()
                jobs.append(job)
                events += job.events
            if waiting:  # more than a call holds: the rest after the other stores
                pending[store] = waiting
            self._busy.add(store)
            calls.append((store, jobs))
        return calls

    async def _drain(self) -> None:
        try:
            while calls := self._next_round():
                try:
                    results = await self._round(calls)
                except Exception as exc:
                    results = [exc] * len(calls)
                finally:
                    self._busy.difference_update(store for store, _ in calls)
                for (_, jobs), counts in zip(calls, results, strict=True):
                    if isinstance(counts, BaseException):
                        for job in jobs:
                            if not job.done.done():
                                job.done.set_exception(counts)
                        continue
                    for n, job in enumerate(jobs):
                        if not job.done.done():
                            job.done.set_result((int(counts[2 * n]), int(counts[2 * n + 1])))
        finally:
            self._drainers -= 1
            if self._drainers == 0:
                for waiting in self._pending.values():  # only when cancelled at shutdown
                    for job in waiting:
                        job.done.cancel()
                self._pending.clear()
                self._busy.clear()

    async def _round(self, calls: list[tuple[str, list[_Job]]]) -> list[Any]:
        """Each call's counts, or the exception it ended with: a call on its own as
        a plain script call, several in one pipeline (one round trip; on a Cluster,
        one per node)."""
        plans = [self._plan(store, [job.plan for job in jobs]) for store, jobs in calls]
        if len(calls) == 1:
            return [await self._script(keys=[keys.events(calls[0][0])], args=[plans[0]])]
        pipe = self._redis.pipeline(transaction=False)
        for (store, _), plan in zip(calls, plans, strict=True):
            # Not pipe.evalsha, which redis-py refuses in a Cluster's pipeline; the
            # command itself is routed by its key like any other.
            pipe.execute_command("EVALSHA", self._sha, 1, keys.events(store), plan)
        results = await pipe.execute(raise_on_error=False)
        for at, result in enumerate(results):
            if isinstance(result, NoScriptError):
                # Redis does not have the script yet (started, or flushed, since):
                # that call did nothing, so it is made again, loading the script.
                store = calls[at][0]
                try:
                    results[at] = await self._script(keys=[keys.events(store)], args=[plans[at]])
                except Exception as exc:
                    results[at] = exc
            elif isinstance(result, ResponseError):
                results[at] = script_error(result)
        return list(results)

    async def _call(
        self, store: str, requests: list[dict[str, Any]], flags: dict[str, int] | None = None
    ) -> list[int]:
        plan = self._plan(store, requests, flags)
        counts: list[int] = await self._script(keys=[keys.events(store)], args=[plan])
        return counts

    def _plan(
        self, store: str, requests: list[dict[str, Any]], flags: dict[str, int] | None = None
    ) -> bytes:
        """The ingest script's argument for these requests of the store."""
        now = now_ms()
        # MessagePack: Redis' Lua reads it faster than JSON, and the events' stored
        # forms travel inside it as plain strings, with no escaping and no splitting.
        return _encode(
            {
                "prefix": keys.store_prefix(store),
                "minid": f"{now - self._retention_ms}-0",
                "seen_ttl": DUPLICATE_WINDOW_S,
                "sess_ttl": SESSION_IDLE_S,
                "tx_ttl": self._retention_ms // 1000,
                "vis_ttl": VISITOR_TTL_S,
                "win": RATE_WINDOW_S,
                "w": now // 1000 // RATE_WINDOW_S,
                "reqs": requests,
                **(flags or {}),
                "minute": now // 60_000,
                "live_ttl": LIVE_TTL_S,
                "cap": DIMENSION_VALUES_PER_DAY,
                "slog_minid": f"{now - SESSION_LOG_DAYS * 86_400_000}-0",
            }
        )


_encode = msgspec.msgpack.Encoder().encode
_json = msgspec.json.Encoder().encode
