"""WooCommerce order exports with one row per order and the items in cells.

The common order exporters for WooCommerce write an order per row and put its line
items into cells of `key:value` pairs joined by `|`:

- the Customer/Order/Coupon Export extension: one `line_items` column, items joined
  by `;` (`id:38|name:Hoodie|product_id:40|sku:woo-hoodie|quantity:2|subtotal:90.00|
  total:81.00|...`);
- the Order Export & Import suite: one column per item, `line_item_1`,
  `line_item_2`... (`name:Hoodie|product_id:40|sku:woo-hoodie|quantity:2|total:81.00|
  sub_total:90.00|...`).

Exports with one row per line item (`item_sku`, `item_quantity`...) read as the
generic `orders` format instead. Columns are found by name in any case and order.

What counts: the order's `order_total` (less `refunded_total` where the file has
it), at `order_date` (or `date_created`, read in the import's zone when it carries
no offset), for `billing_email` (or `customer_email`, or the `customer_id` of a
registered customer). An order that was never paid or was given back (status
`pending`, `failed`, `cancelled`, `refunded`, a draft) is skipped. The order's id is
its `order_number` (what the shopper saw), else `order_id`. An item is its `sku`,
else its `product_id`, else its name; its price is per unit before coupons
(`subtotal` over `quantity`, else `total` over `quantity`). A bad item is reported
and the order kept without it; a bad order field leaves the whole order out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import tzinfo
from typing import TypeVar

from widget_server.imports.formats.baskets import Basket, purchase
from widget_server.imports.formats.rows import FormatError, Row
from widget_server.imports.formats.table import Header, Table, width_error, with_date_order
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

# Each order field's column names, the likeliest first.
COLUMNS: dict[str, tuple[str, ...]] = {
    "order_id": ("order_number", "order_id", "order_number_formatted", "id"),
    "time": ("order_date", "date_created", "date", "created_at", "paid_date"),
    "total": ("order_total", "total"),
    "refunded": ("refunded_total", "order_refund", "total_refunded", "refund_total"),
    "status": ("status", "order_status", "post_status"),
    "currency": ("order_currency", "currency"),
    "email": ("billing_email", "customer_email", "email"),
    "customer_id": ("customer_id", "customer_user"),
}
REQUIRED = ("order_id", "time", "total")
# The columns holding items: one cell of items, or one per item.
ITEMS_COLUMN = "line_items"
ITEM_COLUMN = "line_item_"
# Statuses of an order that is not revenue (WooCommerce writes them with `wc-` in
# its database, and some exports keep it).
NOT_REVENUE = {
    "pending": "unpaid order (pending payment)",
    "failed": "failed order",
    "cancelled": "cancelled order",
    "refunded": "refunded order",
    "draft": "draft order",
    "checkout-draft": "draft order",
    "trash": "deleted order",
}
_ITEM_KEYS = frozenset(
    {"id", "item_id", "name", "product_id", "variation_id", "sku", "quantity", "qty"}
    | {"subtotal", "sub_total", "subtotal_tax", "total", "total_tax", "tax", "tax_data"}
    | {"refunded", "refunded_qty", "meta", "type", "tax_class", "price"}
)


def _item_columns(header: Header) -> list[int]:
    """Indexes of the columns that hold items, in the file's order."""
    found = []
    for index, name in enumerate(header.columns):
        lowered = name.strip().lower()
        if lowered == ITEMS_COLUMN or (
            lowered.startswith(ITEM_COLUMN) and lowered[len(ITEM_COLUMN) :].isdigit()
        ):
            found.append(index)
    return found


def looks_like(columns: list[str]) -> bool:
    header = Header(columns)
    return bool(_item_columns(header)) and all(
        header.find(*COLUMNS[field]) is not None for field in REQUIRED
    )


def read(stream: Iterable[bytes], *, currency: str | None, zone: tzinfo) -> Iterator[Row]:
    table = Table(stream)
    index: dict[str, int | None] = {
        field: table.require(field, *COLUMNS[field]) for field in REQUIRED
    }
    index.update({f: table.find(*names) for f, names in COLUMNS.items() if f not in index})
    items = _item_columns(table)
    if not items:
        raise FormatError(
            f"missing column for items: {ITEMS_COLUMN} or {ITEM_COLUMN}1, {ITEM_COLUMN}2...; "
            f"{table.found()} (an export with a row per item reads as the orders format)"
        )
    return _rows(table, index, items, currency, zone)


def _rows(
    table: Table,
    index: dict[str, int | None],
    items: list[int],
    currency: str | None,
    zone: tzinfo,
) -> Iterator[Row]:
    names = {field: table.columns[i] for field, i in index.items() if i is not None}
    width = len(table.columns)
    time = index["time"]
    assert time is not None
    day_first, records = with_date_order(table.records(), time)
    # A file separated by `;` or tabs is one from a spreadsheet that writes `10,50`.
    comma = table.delimiter != ","
    for line, cells in records:
        if len(cells) != width:
            error = width_error(cells, width)
            if error is not None:
                yield Row(line, error=error)
                continue
            cells = cells + [""] * (width - len(cells))
        yield from _order(
            line, cells, index, names, items, table.columns, currency, zone, day_first, comma
        )
    if table.broken is not None:
        yield table.broken


class _BadField(ValueError):
    """`<column>: <reason>`."""


def _order(
    line: int,
    cells: list[str],
    index: dict[str, int | None],
    names: dict[str, str],
    item_columns: list[int],
    columns: list[str],
    default_currency: str | None,
    zone: tzinfo,
    day_first: bool,
    comma: bool,
) -> Iterator[Row]:
    def money(text: str) -> float:
        return parse_money(text, decimal_comma=comma)

    def cell(field: str) -> str:
        i = index[field]
        return cells[i].strip() if i is not None else ""

    order_id = cell("order_id").removeprefix("#")
    if not order_id:
        yield Row(line, error=f"{names['order_id']}: empty")
        return
    status = cell("status").lower().removeprefix("wc-")
    if status in NOT_REVENUE:
        yield Row(line, skipped=NOT_REVENUE[status])
        return
    try:
        ts = _parsed(
            names, "time", cell("time"), lambda text: parse_time(text, zone, day_first=day_first)
        )
        total = _parsed(names, "total", cell("total"), money)
        refunded_text = cell("refunded")
        refunded = _parsed(names, "refunded", refunded_text, money) if refunded_text else 0.0
        currency_text = cell("currency")
        currency = (
            _parsed(names, "currency", currency_text, parse_currency)
            if currency_text
            else default_currency
        )
    except _BadField as exc:
        yield Row(line, error=str(exc))
        return
    basket = Basket(currency)
    errors: list[str] = []
    for i in item_columns:
        text = cells[i].strip()
        parts = text.split(";") if columns[i].strip().lower() == ITEMS_COLUMN else [text]
        for part in parts:
            if part.strip():
                try:
                    _add_item(basket, _fields(part), columns[i], comma)
                except _BadField as exc:
                    errors.append(str(exc))
    # A guest's customer id is 0.
    customer = cell("email") or cell("customer_id").lstrip("0")
    value = max(total - refunded, 0.0)
    yield Row(line, event=purchase(order_id, ts, customer, basket.items, value, currency))
    # A bad item's error is on the order's line: the items share it.
    for error in errors:
        yield Row(line, error=error)


T = TypeVar("T")


def _parsed(names: dict[str, str], field: str, text: str, parse: Callable[[str], T]) -> T:
    try:
        return parse(text)
    except ValueError as exc:
        raise _BadField(f"{names[field]}: {exc}") from None


def _fields(item: str) -> dict[str, str]:
    """`name:Hoodie|sku:H-1|quantity:2` as a dict. A piece that does not start with a
    known key belongs to the value before it: a name may hold `|` or `:`."""
    fields: dict[str, str] = {}
    last: str | None = None
    for piece in item.split("|"):
        key, colon, value = piece.partition(":")
        key = key.strip().lower()
        if colon and key in _ITEM_KEYS and key not in fields:
            fields[key] = value
            last = key
        elif last is not None:
            fields[last] += "|" + piece
    return {key: value.strip() for key, value in fields.items()}


def _add_item(basket: Basket, item: dict[str, str], column: str, comma: bool) -> None:
    """Adds one item to the basket; _BadField says why it cannot."""
    quantity_text = item.get("quantity") or item.get("qty") or ""
    try:
        quantity = parse_quantity(quantity_text)
    except ValueError as exc:
        raise _BadField(f"{column}: quantity: {exc}") from None
    if quantity < 0 or quantity > MAX_QUANTITY:
        raise _BadField(
            f"{column}: quantity: not from 0 to {MAX_QUANTITY:,}: {shown(quantity_text)}"
        )
    if quantity == 0:
        return  # an item refunded or edited down to nothing is no purchase of it
    amount_key = next((k for k in ("subtotal", "sub_total", "total") if item.get(k)), None)
    if amount_key is None:
        price_text = item.get("price", "")
        if not price_text:
            raise _BadField(f"{column}: no subtotal, total or price for the item")
        amount_key, divide = "price", False
    else:
        price_text, divide = item[amount_key], True
    try:
        amount = parse_money(price_text, decimal_comma=comma)
    except ValueError as exc:
        raise _BadField(f"{column}: {amount_key}: {exc}") from None
    price = round(amount / quantity, 6) if divide else amount
    name = clip(item.get("name", ""))
    item_id = item.get("sku") or _product_id(item) or clip(name, MAX_ITEM_ID)
    if not item_id:
        raise _BadField(f"{column}: the item has no sku, product_id or name")
    if len(item_id) > MAX_ITEM_ID:
        raise _BadField(f"{column}: sku: longer than {MAX_ITEM_ID} characters")
    if price > 0:
        basket.add(item_id, name or None, price, quantity)


def _product_id(item: dict[str, str]) -> str:
    """The product (what its page shows), else the variation bought."""
    for key in ("product_id", "variation_id"):
        value = item.get(key, "")
        if value and value != "0":
            return value
    return ""
