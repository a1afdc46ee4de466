"""From a decoded batch to Redis: check each event, then append and count the good
ones with one script call (one round trip per request)."""

from __future__ import annotations

import dataclasses
import json
import time
from datetime import UTC, datetime
from typing import Any

import msgspec

from widget_server import keys
from widget_server.events import Event, describe_error, event_decoder, event_encoder
from widget_server.redis_scripts import (
    INGEST,
    KIND_ADD_TO_CART,
    KIND_ENGAGED,
    KIND_PAGE_VIEW,
    KIND_PURCHASE,
    KIND_VIEW_ITEM,
)
from widget_server.storage import AsyncRedis

DUPLICATE_WINDOW_S = 48 * 3600
# Older events are refused: past the duplicate window a retry could count twice.
MAX_EVENT_AGE_MS = 47 * 3600 * 1000
MAX_EVENT_FUTURE_MS = 10 * 60 * 1000
SESSION_IDLE_S = 30 * 60
ENGAGED_MS = 10_000
RATE_WINDOW_S = 60

_KINDS = {
    "page_view": KIND_PAGE_VIEW,
    "view_item": KIND_VIEW_ITEM,
    "add_to_cart": KIND_ADD_TO_CART,
    "purchase": KIND_PURCHASE,
}
_NEEDS_POPUP = frozenset({"popup_shown", "popup_click", "popup_close", "popup_suppressed"})


@dataclasses.dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    retry_after: int = 0  # > 0: rate-limited, nothing was stored


@dataclasses.dataclass(frozen=True)
class Context:
    """Facts about the request that go with every event of it."""

    store_id: str
    now_ms: int
    skew_ms: int  # server clock minus sender clock, added to each `ts`
    device: str
    ip_hash: str


def utc_day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def check_event(raw: msgspec.Raw, ctx: Context) -> Event | str:
    """The event, with `ts` corrected for clock skew, or the reason it is refused."""
    try:
        event = event_decoder.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError) as error:
        return describe_error(error)
    ts = event.ts + ctx.skew_ms
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


class _KeyList:
    """KEYS for the script, each name once; the script refers to them by 1-based index."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self._index: dict[str, int] = {}

    def add(self, name: str) -> int:
        index = self._index.get(name)
        if index is None:
            self.names.append(name)
            index = self._index[name] = len(self.names)
        return index


class Ingestor:
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

    async def ingest(self, raw_events: list[msgspec.Raw], ctx: Context) -> IngestResult:
        result = IngestResult()
        store = ctx.store_id
        key_list = _KeyList()
        key_list.add(keys.events(store))
        plan_events: list[list[Any]] = []
        payloads: list[bytes] = []
        per_visitor: dict[str, int] = {}
        server_fields = (
            f',"rt":{ctx.now_ms},"dev":"{ctx.device}","ih":"{ctx.ip_hash}"}}'.encode()
        )

        for index, raw in enumerate(raw_events):
            checked = check_event(raw, ctx)
            if isinstance(checked, str):
                result.rejected.append({"index": index, "error": checked})
                continue
            event = checked
            day = utc_day(event.ts)
            kind = _KINDS.get(event.type, 0)
            if event.type == "engagement" and (event.engaged_ms or 0) >= ENGAGED_MS:
                kind = KIND_ENGAGED
            tx = 0
            revenue_minor = 0
            if kind == KIND_PURCHASE:
                revenue_minor = round((event.value or 0) * 100)
                if event.transaction_id is not None:
                    tx = key_list.add(keys.transaction(store, event.transaction_id))
            plan_events.append(
                [
                    key_list.add(keys.seen_event(store, event.id)),
                    key_list.add(keys.session(store, event.sid)),
                    key_list.add(keys.day(store, day)),
                    key_list.add(keys.day_visitors(store, day)),
                    tx,
                    kind,
                    revenue_minor,
                    event.vid,
                ]
            )
            payloads.append(event_encoder.encode(event)[:-1] + server_fields)
            per_visitor[event.vid] = per_visitor.get(event.vid, 0) + 1

        if not plan_events:
            return result

        window = ctx.now_ms // 1000 // RATE_WINDOW_S
        plan: dict[str, Any] = {
            "now": ctx.now_ms,
            "minid": f"{ctx.now_ms - self._retention_ms}-0",
            "seen_ttl": DUPLICATE_WINDOW_S,
            "sess_ttl": SESSION_IDLE_S,
            "tx_ttl": self._retention_ms // 1000,
            "win": RATE_WINDOW_S,
            "vis": [],
            "ev": plan_events,
        }
        if self._rate_limit_ip:
            ip_key = key_list.add(keys.rate_ip(store, ctx.ip_hash, window))
            plan["ip"] = [ip_key, self._rate_limit_ip]
        if self._rate_limit_visitor:
            plan["vis"] = [
                [key_list.add(keys.rate_visitor(store, vid, window)), n, self._rate_limit_visitor]
                for vid, n in per_visitor.items()
            ]
        # cjson decodes an empty JSON array as an empty table; fine for ipairs.
        first, second = await self._script(
            keys=key_list.names, args=[json.dumps(plan, separators=(",", ":")), *payloads]
        )
        if first == -1:
            result.retry_after = int(second)
        else:
            result.accepted, result.duplicates = int(first), int(second)
        return result
