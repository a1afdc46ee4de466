"""Generic order lines: any CSV with an order id, item, quantity, price and time per
line (and a customer, a name, a currency, a category where it has them).

Columns are found by common names, in any case and spacing, or named by `mapping`
(`{"order_id": "Order Ref"}`), so the UCI Online Retail file (`InvoiceNo`,
`StockCode`, `Description`, `Quantity`, `InvoiceDate`, `UnitPrice`, `CustomerID`,
`Country`) imports as it is. An order is its consecutive lines with the same id
(see baskets.py); its time and customer are its first line's. A file of purchases
without order ids (a transaction log: customer, item, price, day, as many public
retail data sets are) has an order per customer and time: the lines of one
customer at one time; a line without a quantity is one of its item.

Not revenue: a cancellation (an id of `C` and digits, UCI's convention) or an
order of returns only (negative quantities at a price) is skipped as
"cancellation". A line with a price or quantity of 0 or less is left out of its
order (UCI's stock adjustments: damaged, lost, written off, at a price of 0), and
an order left with no line at all is skipped as "nothing sold".
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import tzinfo

from widget_server.imports.formats.baskets import Basket, Lines, grouped, late_error, purchase
from widget_server.imports.formats.rows import FormatError, Row
from widget_server.imports.formats.table import Header, Table, mapped, with_date_order
from widget_server.imports.formats.values import (
    MAX_ITEM_ID,
    MAX_MONEY,
    MAX_QUANTITY,
    MAX_TEXT,
    comma_decimal,
    parse_currency,
    parse_quantity,
    parse_time,
    shown,
)

# Each field's usual column names, the likeliest first: UCI's, the plain ones, and
# those of exports with a row per line item (WooCommerce's exporters: `item_sku`,
# `Item Cost`, `Email (Billing)`; Magento's `Qty Ordered`).
COLUMNS: dict[str, tuple[str, ...]] = {
    "order_id": (
        "InvoiceNo",
        "order_id",
        "order",
        "Order ID",
        "order_number",
        "invoice",
        "Order #",
        "increment_id",
    ),
    "customer": (
        "CustomerID",
        "customer_id",
        "customer",
        "email",
        "customer_email",
        "billing_email",
        "Email (Billing)",
        "customer_user",
    ),
    "item_id": (
        "StockCode",
        "sku",
        "item_id",
        "product_id",
        "item",
        "product",
        "item_sku",
        "Product SKU",
        "item_product_id",
    ),
    "item_name": ("Description", "name", "item_name", "product_name", "title"),
    "quantity": ("Quantity", "qty", "item_quantity", "Qty Ordered", "Quantity (- Refund)"),
    "price": ("UnitPrice", "price", "unit_price", "item_price", "Item Cost", "Price per unit"),
    # A line's amount, where the file has no unit price: the price is it over the
    # quantity (before coupons where the file says: a subtotal).
    "line_total": (
        "item_subtotal",
        "line_subtotal",
        "line_total",
        "item_total",
        "Line Total",
        "Row Total",
    ),
    "time": (
        "InvoiceDate",
        "date",
        "time",
        "created_at",
        "timestamp",
        "order_date",
        "date_created",
        "Purchase Date",
    ),
    "currency": ("currency", "order_currency"),
    "category": ("category", "item_category"),
}
REQUIRED = ("order_id", "item_id", "quantity", "price", "time")


def _columns(header: Header, mapping: Mapping[str, str] | None) -> dict[str, int | None]:
    indexes = mapped(header, COLUMNS, mapping)
    for field in REQUIRED:
        if field == "price" and indexes["line_total"] is not None:
            continue
        if field == "quantity" and indexes["order_id"] is None:
            continue  # a transaction log: a line is one of its item
        if field == "order_id" and indexes["customer"] is not None:
            continue  # an order per customer and time
        if indexes[field] is None:
            hint = f" (or map one: {field}=COLUMN)"
            if field == "order_id":  # the other way to tell orders apart
                hint = " (or map one: order_id=COLUMN, or customer=COLUMN for an order per time)"
            header.require(field, *COLUMNS[field], hint=hint)
    return indexes


def looks_like(columns: list[str]) -> bool:
    try:
        _columns(Header(columns), None)
    except FormatError:
        return False
    return True


def read(
    stream: Iterable[bytes],
    *,
    mapping: Mapping[str, str] | None,
    currency: str | None,
    zone: tzinfo,
) -> Iterator[Row]:
    table = Table(stream)
    return _rows(table, _columns(table, mapping), currency, zone)


def _is_cancellation(order_id: str) -> bool:
    return order_id[0] in "Cc" and order_id[1:].isdigit()


def _rows(
    table: Table, index: dict[str, int | None], currency: str | None, zone: tzinfo
) -> Iterator[Row]:
    names = {field: table.columns[i] for field, i in index.items() if i is not None}
    key, time = index["order_id"], index["time"]
    assert time is not None
    day_first, records = with_date_order(table.records(), time)
    width = len(table.columns)
    if key is None:  # no order ids: a customer's lines at one time are an order
        customer = index["customer"]
        assert customer is not None
        names["order_id"] = f"{names['customer']} (with {names['time']})"
        records = _keyed_by_customer_and_time(records, customer, time, width)
        key, width = width, width + 1
    # A file separated by `;` or tabs is one from a spreadsheet set to write `2,55`.
    decimal_comma = table.delimiter != ","
    for order in grouped(records, key, width, names["order_id"]):
        if isinstance(order, Row):
            yield order
        elif order.late:
            yield late_error(order, names["order_id"])
        elif _is_cancellation(order.key):
            yield Row(order.line, skipped="cancellation")
        else:
            yield from _order(order, index, names, currency, zone, day_first, decimal_comma)
    if table.broken is not None:
        yield table.broken


def _keyed_by_customer_and_time(
    records: Iterable[tuple[int, list[str]]], customer: int, time: int, width: int
) -> Iterator[tuple[int, list[str]]]:
    """Each record with a last cell of its own, its order's key: customer and time
    (none where the customer is missing: that line is in no order). A record of the
    wrong width is left as it is, for `grouped` to report."""
    for line, cells in records:
        if len(cells) == width:
            who = cells[customer].strip()
            cells = [*cells, f"{who} {cells[time].strip()}" if who else ""]
        yield line, cells


def _order(
    order: Lines,
    index: dict[str, int | None],
    names: dict[str, str],
    default_currency: str | None,
    zone: tzinfo,
    day_first: bool,
    decimal_comma: bool,
) -> Iterator[Row]:
    """The order's purchase (or why it is skipped), then its bad lines."""
    i_item, i_quantity, i_time = (index[f] for f in ("item_id", "quantity", "time"))
    assert i_item is not None and i_time is not None
    # The line's amount over its quantity, where the file has no unit price.
    per_line = index["price"] is None
    price_field = "line_total" if per_line else "price"
    i_price = index[price_field]
    assert i_price is not None
    i_name, i_customer, i_currency, i_category = (
        index[f] for f in ("item_name", "customer", "currency", "category")
    )
    currency = default_currency
    if i_currency is not None and order.lines[0][1][i_currency].strip():
        try:
            currency = parse_currency(order.lines[0][1][i_currency])
        except ValueError as exc:
            yield Row(order.line, error=f"{names['currency']}: {exc}")
            return
    basket = Basket(currency)
    errors: list[Row] = []
    ts: int | None = None
    customer = ""
    returns = False
    for line, cells in order.lines:
        # int() and float() inline, the checks only when they fail: this loop runs
        # once per line of the file.
        quantity_text = cells[i_quantity] if i_quantity is not None else "1"
        price_text = cells[i_price]
        try:
            quantity = int(quantity_text)
            price = float(price_text)
        except ValueError:
            try:
                quantity = _quantity(quantity_text)
                price = _price(price_text, price_field, decimal_comma)
            except _BadCell as bad:
                errors.append(Row(line, error=f"{names[bad.field]}: {bad}"))
                continue
        if per_line and quantity:
            price = round(price / quantity, 6)  # a return's negative amount: a price > 0
        if quantity <= 0 or not price > 0:
            if price != price:  # NaN is no price, and not below 0 either
                errors.append(
                    Row(line, error=f"{names[price_field]}: not a price: {shown(price_text)}")
                )
            returns = returns or (quantity < 0 and price > 0)  # not a stock write-off
            continue
        if quantity > MAX_QUANTITY:
            error = f"more than {MAX_QUANTITY:,}: {shown(quantity_text)}"
            errors.append(Row(line, error=f"{names['quantity']}: {error}"))
            continue
        if price > MAX_MONEY:
            errors.append(
                Row(line, error=f"{names[price_field]}: not a price: {shown(price_text)}")
            )
            continue
        item_id = cells[i_item].strip()
        if not item_id or len(item_id) > MAX_ITEM_ID:
            reason = "empty" if not item_id else f"longer than {MAX_ITEM_ID} characters"
            errors.append(Row(line, error=f"{names['item_id']}: {reason}"))
            continue
        if ts is None:
            try:
                ts = parse_time(cells[i_time], zone, day_first=day_first)
            except ValueError as exc:
                errors.append(Row(line, error=f"{names['time']}: {exc}"))
                continue
        if not customer and i_customer is not None:
            customer = _customer(cells[i_customer])
        basket.add(
            item_id,
            cells[i_name].strip()[:MAX_TEXT] if i_name is not None else None,
            price,
            quantity,
            cells[i_category].strip()[:MAX_TEXT] if i_category is not None else None,
        )
    if basket and ts is not None:
        event = purchase(order.key, ts, customer, basket.items, basket.value, currency)
        yield Row(order.line, event=event)
    elif not errors:
        yield Row(order.line, skipped="cancellation" if returns else _NOTHING_SOLD)
    yield from errors


_NOTHING_SOLD = "nothing sold: no line with a positive quantity and price"


class _BadCell(ValueError):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field


def _quantity(text: str) -> int:
    try:
        return parse_quantity(text)
    except ValueError as exc:
        raise _BadCell("quantity", str(exc)) from None


def _price(text: str, field: str, decimal_comma: bool) -> float:
    """A unit price (or a line's amount); a negative one is returned as it is (an
    adjustment line). With `decimal_comma`, `2,55` and `1.234,56` as well."""
    try:
        return float(comma_decimal(text) if decimal_comma else text)
    except ValueError:
        raise _BadCell(field, f"not a number: {shown(text)}") from None


def _customer(text: str) -> str:
    """A customer id as the shop wrote it; spreadsheets turn ids into floats
    (`17850.0`), which are the ids without the `.0`."""
    text = text.strip()
    if text.endswith(".0") and text[:-2].isdigit():
        return text[:-2]
    return text
