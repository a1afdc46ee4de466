"""Orders from order lines: lines grouped by order id, and one purchase event each.

An export lists an order's lines together, so only the orders being read are kept
in memory. A few are kept open at once rather than one, because real files are not
always perfectly grouped: the UCI Online Retail file has invoice 542806 split by
another invoice's lines. An order that comes back after more than `OPEN_ORDERS`
others has already been given out; its late lines are reported as an error (with
the order id) rather than silently counted as a second order with the same id.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Iterable, Iterator
from typing import Any

from widget_server.collect.events import MAX_ITEMS
from widget_server.collect.money import exponent, from_minor
from widget_server.imports.formats.rows import Row
from widget_server.imports.formats.table import width_error
from widget_server.imports.formats.values import as_id, customer_uid, visitor_of

OPEN_ORDERS = 16
# Orders given out that are remembered, to tell a late line from a new order.
CLOSED_REMEMBERED = 10_000


@dataclasses.dataclass(slots=True)
class Lines:
    """The lines of one order as read: (line number, cells)."""

    key: str
    line: int
    lines: list[tuple[int, list[str]]]
    late: bool = False  # its order was given out already: these lines came too late


def grouped(
    records: Iterable[tuple[int, list[str]]], key_index: int, width: int, key_name: str
) -> Iterator[Lines | Row]:
    """Each order's lines (in the order orders are completed), and an error Row for
    each record that fits no order (cells missing, no order id)."""
    open_orders: dict[str, Lines] = {}
    closed: collections.deque[str] = collections.deque()
    closed_keys: set[str] = set()
    current_key: str | None = None
    current: list[tuple[int, list[str]]] = []
    for record in records:
        cells = record[1]
        if len(cells) != width:
            error = width_error(cells, width)
            if error is not None:
                yield Row(record[0], error=error)
                continue
        key = cells[key_index]
        if key == current_key:  # the usual case: the next line of the same order
            current.append(record)
            continue
        key = key.strip()
        if not key:
            yield Row(record[0], error=f"{key_name}: empty")
            continue
        order = open_orders.pop(key, None)
        if order is None:
            order = Lines(key, record[0], [], late=key in closed_keys)
            if len(open_orders) >= OPEN_ORDERS:
                oldest = next(iter(open_orders))
                done = open_orders.pop(oldest)
                if not done.late:
                    closed.append(oldest)
                    closed_keys.add(oldest)
                    if len(closed) > CLOSED_REMEMBERED:
                        closed_keys.discard(closed.popleft())
                yield done
        open_orders[key] = order  # last: the least recently read order is first
        order.lines.append(record)
        current_key, current = cells[key_index], order.lines
    yield from open_orders.values()


def late_error(order: Lines, key_name: str) -> Row:
    count = len(order.lines)
    return Row(
        order.line,
        error=f"{key_name}: order {order.key!r} continues here after other orders "
        f"({count} line{'s' if count > 1 else ''} left out); an order's lines must be together",
    )


class Basket:
    """An order's items: a line of the same item at the same price as an earlier one
    adds to its quantity. At most MAX_ITEMS items are kept (the collect schema's
    limit, which wholesale orders exceed); the value counts every line."""

    __slots__ = ("_items", "_minor", "_scale", "currency")

    def __init__(self, currency: str | None) -> None:
        self._items: dict[tuple[str, float], dict[str, Any]] = {}
        self._minor = 0
        self._scale = 10 ** exponent(currency)
        self.currency = currency

    def add(
        self,
        item_id: str,
        name: str | None,
        price: float,
        quantity: int,
        category: str | None = None,
        brand: str | None = None,
    ) -> None:
        # Each line is rounded to the minor unit on its own, as the shop invoiced it:
        # 6 x 2.55 is 15.30, whatever binary floating point makes of the product.
        self._minor += round(price * quantity * self._scale)
        item = self._items.get((item_id, price))
        if item is not None:
            item["quantity"] += quantity
            return
        if len(self._items) >= MAX_ITEMS:
            return
        item = {"item_id": item_id, "price": price, "quantity": quantity}
        if name:
            item["item_name"] = name
        if category:
            item["item_category"] = category
        if brand:
            item["item_brand"] = brand
        self._items[(item_id, price)] = item

    def __bool__(self) -> bool:
        return bool(self._items)

    @property
    def items(self) -> list[dict[str, Any]]:
        return list(self._items.values())

    @property
    def value(self) -> float:
        return from_minor(self._minor, self.currency)


def purchase(
    order_id: str,
    ts: int,
    customer: str | None,
    items: list[dict[str, Any]],
    value: float,
    currency: str | None,
) -> dict[str, Any]:
    """The one event of an order, as the module docstring of rows.py says."""
    event_id = as_id("o:", order_id)
    event: dict[str, Any] = {
        "id": event_id,
        "type": "purchase",
        "ts": ts,
        "vid": visitor_of(customer),
        "sid": event_id,
        "transaction_id": as_id("", order_id),
        "value": round(value, exponent(currency)),
    }
    if items:
        event["items"] = items
    if currency:
        event["currency"] = currency
    uid = customer_uid(customer)
    if uid:
        event["uid"] = uid
    return event
