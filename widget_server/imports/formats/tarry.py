"""Tarry's own event CSV: the file `tarry eval --events` reads.

Columns (recommender/interactions.py, `read_csv`): `timestamp` (milliseconds,
seconds or ISO 8601), `visitor_id`, `event`, `item_id`, and optionally
`session_id`; a few other usual names are taken for each (`user_id` for
`visitor_id`, `session` for `session_id`...). Event names are GA4's or a common
alias (`view`, `click`, `cart`, `addtocart`, `transaction`, `order`...), as `tarry
eval` maps them. Each row is one event of the visitor touching the item; names for
events without an item (`page_view`, `engagement`) or that Tarry does not know are
skipped. Without a session column, sessions are cut after 30 idle minutes per
visitor (sessions.py says what that assumes of the file's order).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import tzinfo
from typing import Any

from recommender.event_names import EVENT_ALIASES
from widget_server.imports.formats.rows import Row
from widget_server.imports.formats.sessions import Sessions
from widget_server.imports.formats.table import Header, Table, width_error
from widget_server.imports.formats.values import MAX_ITEM_ID, as_id, digest, parse_time

COLUMNS: dict[str, tuple[str, ...]] = {
    "timestamp": ("timestamp", "ts", "time"),
    "visitor_id": ("visitor_id", "visitor", "user_id", "user", "vid"),
    "event": ("event", "event_type", "event_name"),
    "item_id": ("item_id", "item", "product_id", "sku"),
}
SESSION_COLUMNS = ("session_id", "session", "sid")

# The events of a visitor and an item that stand alone (showcase clicks need the
# recommendation they came from; popup events their popup).
ITEM_EVENTS = frozenset(
    {
        "view_item",
        "view_item_list",
        "add_to_cart",
        "remove_from_cart",
        "view_cart",
        "begin_checkout",
        "purchase",
    }
)


def looks_like(columns: list[str]) -> bool:
    header = Header(columns)
    return all(header.find(*names) is not None for names in COLUMNS.values())


def read(stream: Iterable[bytes], *, zone: tzinfo) -> Iterator[Row]:
    table = Table(stream)
    index = {field: table.require(field, *names) for field, names in COLUMNS.items()}
    return _rows(table, _Events(table, index, table.find(*SESSION_COLUMNS), zone))


def _rows(table: Table, events: _Events) -> Iterator[Row]:
    width = len(table.columns)
    for line, cells in table.records():
        if len(cells) != width and (error := width_error(cells, width)):
            yield Row(line, error=error)
            continue
        try:
            event = events.event_of(cells)
        except _Skipped as skip:
            yield Row(line, skipped=str(skip))
            continue
        except ValueError as exc:
            yield Row(line, error=str(exc))
            continue
        yield Row(line, event=event)
    if table.broken is not None:
        yield table.broken


class _Skipped(Exception):
    pass


class _Events:
    """Rows of one file into events; sessions carry over from row to row."""

    def __init__(
        self, table: Table, index: dict[str, int], i_session: int | None, zone: tzinfo
    ) -> None:
        self.names = {field: table.columns[i] for field, i in index.items()}
        self.index = index
        self.i_session = i_session
        self.zone = zone
        self.sessions = Sessions()

    def event_of(self, cells: list[str]) -> dict[str, Any]:
        """The row's event; ValueError naming the column, or _Skipped."""
        given = {field: cells[i].strip() for field, i in self.index.items()}
        for field, text in given.items():
            if not text:
                raise ValueError(f"{self.names[field]}: empty")
        kind = EVENT_ALIASES.get(given["event"].lower(), given["event"])
        if kind not in ITEM_EVENTS:
            raise _Skipped(f"event not used: {given['event']}")
        try:
            ts = parse_time(given["timestamp"], self.zone)
        except ValueError as exc:
            raise ValueError(f"{self.names['timestamp']}: {exc}") from None
        item_id = given["item_id"]
        if len(item_id) > MAX_ITEM_ID:
            raise ValueError(f"{self.names['item_id']}: longer than {MAX_ITEM_ID} characters")
        visitor = as_id("", given["visitor_id"])
        session = cells[self.i_session].strip() if self.i_session is not None else ""
        return {
            "id": "t:" + digest(str(ts), visitor, session, kind, item_id),
            "type": kind,
            "ts": ts,
            "vid": visitor,
            "sid": as_id("", session) if session else self.sessions.session_of(visitor, ts),
            "items": [{"item_id": item_id}],
        }
