"""OTTO's sessions as JSON lines: the format of the OTTO RecSys data set
(otto-de/recsys-dataset), one shopper's month a line:

    {"session": 12899779, "events": [{"aid": 59625, "ts": 1661724000278, "type": "clicks"}]}

`session` is an anonymous shopper (OTTO's "session" spans the whole month), so it is
the visitor, and Tarry's sessions are cut after 30 idle minutes as for any import.
`aid` is the item; `ts` milliseconds (the data set's JSON files) or seconds (copies
converted from its parquet files); `type` clicks, carts or orders, read as
view_item, add_to_cart and purchase. A shopper's orders at one moment are one
purchase of all those items; the data set has no prices, so it has no value.
Events are kept in the line's order; a bad event is reported on its line and the
line's other events kept.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import msgspec

from widget_server.collect.events import MAX_ITEMS
from widget_server.imports.formats.json_lines import decode, first_record
from widget_server.imports.formats.rows import FormatError, Row
from widget_server.imports.formats.sessions import Sessions
from widget_server.imports.formats.values import MAX_ITEM_ID, as_id, digest
from widget_server.responses import too_deep

TYPES = {"clicks": "view_item", "carts": "add_to_cart", "orders": "purchase"}
# Below this a timestamp is in seconds: 10^11 ms is 1973, 10^11 s the year 5138.
SECONDS_BELOW = 10**11


def looks_like(first_line: str) -> bool:
    return '"session"' in first_line and '"events"' in first_line and '"aid"' in first_line


def read(stream: Iterable[bytes]) -> Iterator[Row]:
    number, record, lines = first_record(stream)
    _check_first(number, record)
    return _rows(lines)


def _check_first(number: int, record: Any) -> None:
    if not isinstance(record, dict) or "session" not in record or "events" not in record:
        fields = ", ".join(list(record)[:40]) if isinstance(record, dict) else type(record).__name__
        raise FormatError(
            f"line {number}: not an OTTO session (needs session and events); found: {fields}"
        )


def _rows(lines: Iterator[tuple[int, bytes]]) -> Iterator[Row]:
    sessions = Sessions()
    for number, line in lines:
        yield from _line(number, line, sessions)


def _line(number: int, line: bytes, sessions: Sessions) -> Iterator[Row]:
    try:
        record = decode(line)
    except msgspec.DecodeError as exc:
        yield Row(number, error=f"not JSON: {exc}")
        return
    except RecursionError:
        yield Row(number, error=too_deep("json"))
        return
    if not isinstance(record, dict):
        yield Row(number, error="not a JSON object")
        return
    shopper = record.get("session")
    if isinstance(shopper, bool) or not isinstance(shopper, int | str) or shopper == "":
        yield Row(number, error="session: not a session id")
        return
    events = record.get("events")
    if not isinstance(events, list):
        yield Row(number, error="events: not a list")
        return
    visitor = as_id("", f"otto-{shopper}")
    order: list[tuple[int, str]] = []  # the (ts, item) of orders at one moment
    for at, given in enumerate(events):
        try:
            kind, ts, item = _event(given)
        except ValueError as exc:
            yield Row(number, error=f"events[{at}]: {exc}")
            continue
        if order and (kind != "purchase" or ts != order[0][0]):
            yield _purchase(number, visitor, order, sessions)
            order = []
        if kind == "purchase":
            order.append((ts, item))
            continue
        yield Row(
            number,
            event={
                "id": "t:" + digest(str(ts), visitor, kind, item),
                "type": kind,
                "ts": ts,
                "vid": visitor,
                "sid": sessions.session_of(visitor, ts),
                "items": [{"item_id": item}],
            },
        )
    if order:
        yield _purchase(number, visitor, order, sessions)


def _event(given: Any) -> tuple[str, int, str]:
    """(Tarry's event type, ms, item) of one of a line's events; ValueError naming
    the field."""
    if not isinstance(given, dict):
        raise ValueError("not an object")
    kind = TYPES.get(given.get("type"))  # type: ignore[arg-type]
    if kind is None:
        raise ValueError(f"type: not clicks, carts or orders ({given.get('type')!r:.40})")
    ts = given.get("ts")
    if isinstance(ts, bool) or not isinstance(ts, int) or ts <= 0:
        raise ValueError(f"ts: not a Unix time ({ts!r:.40})")
    aid = given.get("aid")
    if isinstance(aid, bool) or not isinstance(aid, int | str) or aid == "":
        raise ValueError(f"aid: not an item id ({aid!r:.40})")
    item = str(aid)
    if len(item) > MAX_ITEM_ID:
        raise ValueError(f"aid: longer than {MAX_ITEM_ID} characters")
    return kind, ts * 1000 if ts < SECONDS_BELOW else ts, item


def _purchase(number: int, visitor: str, order: list[tuple[int, str]], sessions: Sessions) -> Row:
    ts = order[0][0]
    quantities: dict[str, int] = {}
    for _, item in order:
        quantities[item] = quantities.get(item, 0) + 1
    transaction = as_id("", f"{visitor}.{ts}")
    return Row(
        number,
        event={
            "id": "o:" + transaction,
            "type": "purchase",
            "ts": ts,
            "vid": visitor,
            "sid": sessions.session_of(visitor, ts),
            "transaction_id": transaction,
            "items": [
                {"item_id": item, "quantity": n} for item, n in list(quantities.items())[:MAX_ITEMS]
            ],
        },
    )
