"""Shopify's orders export (Admin > Orders > Export, CSV).

The export has one row per line item. `Name` (`#1001`) is on every row; the
order's own fields (`Email`, `Financial Status`, `Currency`, `Total`, `Created at`,
`Refunded Amount`...) are filled on its first row only. Columns are found by name,
in any order, extra ones ignored; an export re-saved by a spreadsheet (a byte order
mark, CRLF, `;` separators) reads the same. Where cells are separated by `;` or
tabs, amounts may have a decimal comma (`10,50`, `1.234,50`, as the spreadsheet's
locale writes them); in a `,` file `10,50` is refused, not read as 1050 or 10.

What counts: `Total` less `Refunded Amount` (a partly refunded order counts what was
kept), at `Created at` with its own UTC offset (`2024-03-05 14:07:33 +0530`), for
the customer's `Email`. A refunded, voided or expired (authorised, never captured)
order is no revenue and is skipped. Items are `Lineitem sku` (the name where the
product has no SKU), `Lineitem name`, `Lineitem price`, `Lineitem quantity` and
`Vendor` as the brand. A bad line item is reported on its own line and the order
kept without it (its total is the order's, not the sum of its lines); a bad order
field is reported on the order's first line and the whole order left out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import tzinfo
from typing import TypeVar

from widget_server.imports.formats.baskets import Basket, Lines, grouped, late_error, purchase
from widget_server.imports.formats.rows import Row
from widget_server.imports.formats.table import Header, Table, with_date_order
from widget_server.imports.formats.values import (
    MAX_ITEM_ID,
    MAX_QUANTITY,
    clip,
    parse_currency,
    parse_money,
    parse_quantity,
    parse_time,
    shown,
)

REQUIRED = (
    "Name",
    "Created at",
    "Total",
    "Lineitem quantity",
    "Lineitem name",
    "Lineitem price",
)
OPTIONAL = ("Email", "Financial Status", "Currency", "Refunded Amount", "Lineitem sku", "Vendor")
NOT_REVENUE = {
    "refunded": "refunded order",
    "voided": "voided order",
    "expired": "expired order",
}


def looks_like(columns: list[str]) -> bool:
    header = Header(columns)
    return all(header.find(name) is not None for name in REQUIRED)


def read(stream: Iterable[bytes], *, currency: str | None, zone: tzinfo) -> Iterator[Row]:
    table = Table(stream)
    index: dict[str, int | None] = {name: table.require(name, name) for name in REQUIRED}
    index.update({name: table.find(name) for name in OPTIONAL})
    return _rows(table, index, currency, zone)


def _rows(
    table: Table, index: dict[str, int | None], currency: str | None, zone: tzinfo
) -> Iterator[Row]:
    names = {field: table.columns[i] for field, i in index.items() if i is not None}
    key, time = index["Name"], index["Created at"]
    assert key is not None and time is not None
    day_first, records = with_date_order(table.records(), time)
    # A file separated by `;` or tabs is one from a spreadsheet that writes `10,50`.
    money = _comma_money if table.delimiter != "," else parse_money
    for order in grouped(records, key, len(table.columns), names["Name"]):
        if isinstance(order, Row):
            yield order
        elif order.late:
            yield late_error(order, names["Name"])
        else:
            yield from _order(order, index, names, currency, zone, day_first, money)
    if table.broken is not None:
        yield table.broken


class _BadField(ValueError):
    """`<column>: <reason>`, for the order's first line or an item's line."""


T = TypeVar("T")


class _Cells:
    """One row's cells by column name, stripped; "" for a column the file lacks."""

    __slots__ = ("cells", "index", "names")

    def __init__(self, cells: list[str], index: dict[str, int | None], names: dict[str, str]):
        self.cells, self.index, self.names = cells, index, names

    def __getitem__(self, field: str) -> str:
        i = self.index[field]
        return self.cells[i].strip() if i is not None else ""

    def parsed(self, field: str, parse: Callable[[str], T]) -> T:
        try:
            return parse(self[field])
        except ValueError as exc:
            raise _BadField(f"{self.names[field]}: {exc}") from None


def _order(
    order: Lines,
    index: dict[str, int | None],
    names: dict[str, str],
    default_currency: str | None,
    zone: tzinfo,
    day_first: bool,
    money: Callable[[str], float],
) -> Iterator[Row]:
    first = _Cells(order.lines[0][1], index, names)
    status = first["Financial Status"].lower()
    if status in NOT_REVENUE:
        yield Row(order.line, skipped=NOT_REVENUE[status])
        return
    try:
        if not first["Created at"]:
            # The order's fields are on its first row; a file sorted by another column
            # in a spreadsheet has lost that.
            raise _BadField(f"{names['Created at']}: empty on the order's first row")
        ts = first.parsed("Created at", lambda text: parse_time(text, zone, day_first=day_first))
        total = first.parsed("Total", money)
        refunded = first.parsed("Refunded Amount", money) if first["Refunded Amount"] else 0.0
        currency = (
            first.parsed("Currency", parse_currency) if first["Currency"] else default_currency
        )
    except _BadField as exc:
        yield Row(order.line, error=str(exc))
        return
    basket = Basket(currency)
    errors: list[Row] = []
    for line, cells in order.lines:
        try:
            _add_item(basket, _Cells(cells, index, names), money)
        except _BadField as exc:
            errors.append(Row(line, error=str(exc)))
    order_id = order.key.removeprefix("#")  # "#1001": the order's number, as GA4 has it
    value = max(total - refunded, 0.0)
    event = purchase(order_id, ts, first["Email"], basket.items, value, currency)
    yield Row(order.line, event=event)
    yield from errors


def _add_item(basket: Basket, line: _Cells, money: Callable[[str], float]) -> None:
    """Adds the line's item to the basket; _BadField says why it cannot."""
    quantity = line.parsed("Lineitem quantity", _quantity)
    price = line.parsed("Lineitem price", money)
    name = clip(line["Lineitem name"])
    sku = line["Lineitem sku"]
    if len(sku) > MAX_ITEM_ID:
        raise _BadField(f"{line.names['Lineitem sku']}: longer than {MAX_ITEM_ID} characters")
    item_id = sku or clip(name, MAX_ITEM_ID)
    if not item_id:
        raise _BadField(f"{line.names['Lineitem name']}: empty, and no Lineitem sku")
    if quantity > 0:  # a line edited down to nothing is no purchase of it
        basket.add(item_id, name or None, price, quantity, brand=clip(line["Vendor"]) or None)


def _comma_money(text: str) -> float:
    return parse_money(text, decimal_comma=True)


def _quantity(text: str) -> int:
    quantity = parse_quantity(text)
    if quantity < 0:
        raise ValueError(f"negative: {shown(text)}")
    if quantity > MAX_QUANTITY:
        raise ValueError(f"more than {MAX_QUANTITY:,}: {shown(text)}")
    return quantity
