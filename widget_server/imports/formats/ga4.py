"""GA4's BigQuery export as JSON lines: one row of an `events_YYYYMMDD` table a line.

The schema (Google's "[GA4] BigQuery Export schema"): `event_name`,
`event_timestamp` (microseconds, UTC; BigQuery writes INT64 values in JSON as
strings, so a number or a string of digits), `user_pseudo_id` (the browser),
`user_id` (the shop's customer, when the site sets it), `event_params` (a list of
`{"key", "value": {"string_value" | "int_value" | "float_value" |
"double_value"}}`), `items`, `ecommerce` (`transaction_id`, `purchase_revenue`)
and `collected_traffic_source` (the event's own `manual_source`, `manual_medium`,
`manual_campaign_name`, `manual_term`, `manual_content`). `traffic_source` is not
read: it is the user's first acquisition, not this session's.

Mapped: page_view, view_item, view_item_list, add_to_cart, remove_from_cart,
view_cart, begin_checkout and purchase as themselves, user_engagement (with
`engagement_time_msec`) as `engagement`. Other events (session_start, scroll,
first_visit...) are skipped with their name. The session is
`<user_pseudo_id>.<ga_session_id>`; events without a `user_pseudo_id` (consent
mode's cookieless pings) belong to no visitor and are skipped. A purchase's id is
`o:<transaction_id>`, as an order of the shop's own export is, so the same order
imported from both is counted once.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import msgspec

from widget_server.collect.events import MAX_ITEMS
from widget_server.imports.formats.json_lines import first_record
from widget_server.imports.formats.rows import FormatError, Row
from widget_server.imports.formats.sessions import Sessions
from widget_server.imports.formats.values import (
    MAX_ITEM_ID,
    MAX_MONEY,
    MAX_QUANTITY,
    MAX_UID,
    as_id,
    clip,
    digest,
    shown,
)
from widget_server.responses import too_deep

EVENTS = {
    "page_view": "page_view",
    "view_item": "view_item",
    "view_item_list": "view_item_list",
    "add_to_cart": "add_to_cart",
    "remove_from_cart": "remove_from_cart",
    "view_cart": "view_cart",
    "begin_checkout": "begin_checkout",
    "purchase": "purchase",
    "user_engagement": "engagement",
}
MAX_URL = 2048
MAX_ENGAGED_MS = 86_400_000
# collected_traffic_source's fields, then the event parameters GA4 fills from the
# page's utm_ parameters on the events that carried them.
UTM = {
    "utm_source": ("manual_source", "source"),
    "utm_medium": ("manual_medium", "medium"),
    "utm_campaign": ("manual_campaign_name", "campaign"),
    "utm_term": ("manual_term", "term"),
    "utm_content": ("manual_content", "content"),
}
NOT_SET = "(not set)"
# The fields that tell one event from another of the same user at the same time.
_IDENTITY = ("batch_page_id", "batch_ordering_id", "batch_event_index")

_decode = msgspec.json.decode


def looks_like(first_line: str) -> bool:
    return '"event_name"' in first_line and '"event_timestamp"' in first_line


def read(stream: Iterable[bytes]) -> Iterator[Row]:
    number, record, lines = first_record(stream)
    _check_first(number, record)
    return _rows(lines)


def _check_first(number: int, record: Any) -> None:
    if not isinstance(record, dict):
        raise FormatError(f"line {number}: not a JSON object, so not a GA4 export row")
    missing = [f for f in ("event_name", "event_timestamp") if f not in record]
    if missing:
        found = ", ".join(list(record)[:40])
        raise FormatError(
            f"line {number}: missing field {missing[0]} (not a GA4 BigQuery export row); "
            f"fields found: {found}"
        )


def _rows(lines: Iterator[tuple[int, bytes]]) -> Iterator[Row]:
    sessions = Sessions()
    for number, line in lines:
        yield _row(number, line, sessions)


class _Skipped(Exception):
    pass


def _row(number: int, line: bytes, sessions: Sessions) -> Row:
    try:
        record = _decode(line)
    except msgspec.DecodeError as exc:
        return Row(number, error=f"not JSON: {exc}")
    except RecursionError:
        return Row(number, error=too_deep("json"))
    if not isinstance(record, dict):
        return Row(number, error="not a JSON object")
    try:
        return Row(number, event=_event(record, sessions))
    except _Skipped as skip:
        return Row(number, skipped=str(skip))
    except ValueError as exc:
        return Row(number, error=str(exc))


def _text(value: Any) -> str | None:
    """A string field's value; GA4 writes `(not set)` where it had none."""
    if isinstance(value, str):
        value = value.strip()
        return value if value and value != NOT_SET else None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _params(record: dict[str, Any]) -> dict[str, Any]:
    """event_params as {key: value}, each value its one filled `*_value`."""
    given = record.get("event_params")
    if isinstance(given, dict):  # some exporters flatten the list already
        return given
    params: dict[str, Any] = {}
    if not isinstance(given, list):
        return params
    for param in given:
        if not isinstance(param, dict) or not isinstance(param.get("key"), str):
            continue
        value = param.get("value")
        if not isinstance(value, dict):
            continue
        for kind in ("string_value", "int_value", "double_value", "float_value"):
            if value.get(kind) is not None:
                params[param["key"]] = value[kind]
                break
    return params


def _timestamp_ms(value: Any) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"event_timestamp: not microseconds since the epoch: {shown(str(value))}")
    return value // 1000


def _event(record: dict[str, Any], sessions: Sessions) -> dict[str, Any]:
    name = record.get("event_name")
    if not isinstance(name, str) or not name:
        raise ValueError("event_name: missing")
    kind = EVENTS.get(name)
    if kind is None:
        raise _Skipped(f"event not used: {name}")
    ts = _timestamp_ms(record.get("event_timestamp"))
    pseudo_id = _text(record.get("user_pseudo_id"))
    if pseudo_id is None:
        raise _Skipped("event without user_pseudo_id")
    params = _params(record)
    event: dict[str, Any] = {"type": kind, "ts": ts, "vid": as_id("", pseudo_id)}
    session = _text(params.get("ga_session_id"))
    event["sid"] = (
        as_id("", f"{pseudo_id}.{session}") if session else sessions.session_of(pseudo_id, ts)
    )
    uid = _text(record.get("user_id"))
    if uid:
        event["uid"] = uid if len(uid) <= MAX_UID else digest(uid)
    if kind == "engagement":
        engaged = _number(params.get("engagement_time_msec"))
        if not engaged or engaged <= 0:
            raise _Skipped("event not used: user_engagement without engagement_time_msec")
        event["engaged_ms"] = min(int(engaged), MAX_ENGAGED_MS)
    _add_page(event, params)
    _add_traffic(event, record, params)
    _add_commerce(event, record, params)
    transaction = event.get("transaction_id")
    if kind == "purchase" and transaction:
        event_id = as_id("o:", transaction)
    else:
        identity = [str(record.get(field, "")) for field in _IDENTITY]
        event_id = "g:" + digest(pseudo_id, str(record["event_timestamp"]), name, *identity)
    return {"id": event_id, **event}


def _add_page(event: dict[str, Any], params: dict[str, Any]) -> None:
    for field, key, limit in (
        ("url", "page_location", MAX_URL),
        ("ref", "page_referrer", MAX_URL),
        ("title", "page_title", 512),
    ):
        text = _text(params.get(key))
        if text and (field == "title" or len(text) <= limit):  # a cut URL is no URL
            event[field] = clip(text)


def _add_traffic(event: dict[str, Any], record: dict[str, Any], params: dict[str, Any]) -> None:
    collected = record.get("collected_traffic_source")
    collected = collected if isinstance(collected, dict) else {}
    for field, (collected_key, param_key) in UTM.items():
        text = _text(collected.get(collected_key)) or _text(params.get(param_key))
        if text:
            event[field] = clip(text)


def _add_commerce(event: dict[str, Any], record: dict[str, Any], params: dict[str, Any]) -> None:
    ecommerce = record.get("ecommerce")
    ecommerce = ecommerce if isinstance(ecommerce, dict) else {}
    currency = _text(params.get("currency"))
    if currency and len(currency) == 3 and currency.isalpha():
        event["currency"] = currency.upper()
    value = _number(params.get("value"))
    if value is None and event["type"] == "purchase":
        value = _number(ecommerce.get("purchase_revenue"))
    if value is not None and 0 <= value <= MAX_MONEY:
        event["value"] = value
    if event["type"] == "purchase":
        transaction = _text(ecommerce.get("transaction_id")) or _text(params.get("transaction_id"))
        if transaction:
            event["transaction_id"] = as_id("", transaction)
    items = [item for item in map(_item, record.get("items") or ()) if item is not None]
    if items:
        event["items"] = items[:MAX_ITEMS]


def _item(given: Any) -> dict[str, Any] | None:
    """An item as Tarry keeps it; one without an id or a name is no item."""
    if not isinstance(given, dict):
        return None
    name = _text(given.get("item_name"))
    item_id = _text(given.get("item_id")) or name
    if item_id is None:
        return None
    item: dict[str, Any] = {"item_id": item_id[:MAX_ITEM_ID]}
    if name:
        item["item_name"] = clip(name)
    for field in ("item_category", "item_brand"):
        text = _text(given.get(field))
        if text:
            item[field] = clip(text)
    price = _number(given.get("price"))
    if price is not None and 0 <= price <= MAX_MONEY:
        item["price"] = price
    quantity = _number(given.get("quantity"))
    if quantity is not None and quantity.is_integer() and 0 <= quantity <= MAX_QUANTITY:
        item["quantity"] = int(quantity)
    return item
