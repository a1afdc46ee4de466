"""What every reader of an export gives: one `Row` per record, and the way in.

`read` checks the file's header (or first line) at once, so a file that is not of
the format fails with `FormatError` before any row; then it returns an iterator
that reads the stream as it goes. Each row is an event in the shape
`POST /v1/collect` takes, a bad record (its line and why, naming the column as
the file names it), or a record deliberately left out (and why). Ids are derived
from the file's content, so reading a file twice gives the same ids: orders are
`o:<the shop's order id>`, other events a digest of their identifying fields.

Orders become one `purchase` event each: `transaction_id` the shop's order id,
`sid` `o:<order id>` (an order has no web session), `vid` `c:<customer>` (`c:-`
without one), `uid` the customer id or e-mail address when known.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Iterable, Iterator
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

FORMATS = ("shopify", "woocommerce", "orders", "tarry", "ga4", "otto")


@dataclasses.dataclass(frozen=True, slots=True)
class Row:
    line: int  # 1-based line number in the file where the record starts
    event: dict[str, Any] | None = None  # one Tarry event, the shape POST /v1/collect takes
    error: str | None = None  # a bad row: why, naming the column
    skipped: str | None = None  # deliberately not imported, e.g. "refunded order"


class FormatError(ValueError):
    """The whole file cannot be read as this format (or the options are wrong); the
    message says why, naming the column or option. Raised before any Row."""


def read(
    fmt: str,
    stream: Iterable[bytes],
    *,
    mapping: dict[str, str] | None = None,
    currency: str | None = None,
    zone: str | None = None,
) -> Iterator[Row]:
    """The rows of `stream` (bytes: the file as exported) read as `fmt`.

    `mapping` names the columns of the `orders` format (`{"order_id": "InvoiceNo"}`);
    `currency` is the orders' currency where the file has none; `zone` the IANA time
    zone of times written without an offset (default UTC).
    """
    # The readers import Row and FormatError from here, so they are imported late.
    from widget_server.imports.formats import ga4, orders, otto, shopify, tarry, woocommerce
    from widget_server.imports.formats.values import parse_currency

    if fmt not in FORMATS:
        raise FormatError(f"format: {fmt!r} is not one of {', '.join(FORMATS)}")
    if mapping and fmt != "orders":
        raise FormatError(f"mapping: only the orders format is mapped, not {fmt}")
    if currency is not None:
        try:
            currency = parse_currency(currency)
        except ValueError as exc:
            raise FormatError(f"currency: {exc}") from None
    try:
        tz = ZoneInfo(zone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise FormatError(f"zone: not a time zone such as Europe/Paris: {zone!r}") from None
    if fmt == "shopify":
        return shopify.read(stream, currency=currency, zone=tz)
    if fmt == "woocommerce":
        return woocommerce.read(stream, currency=currency, zone=tz)
    if fmt == "orders":
        return orders.read(stream, mapping=mapping, currency=currency, zone=tz)
    if fmt == "tarry":
        return tarry.read(stream, zone=tz)
    if fmt == "otto":
        return otto.read(stream)
    return ga4.read(stream)


def sniff(head: bytes) -> str | None:
    """The format of a file from its first bytes (its header row, or its first JSON
    line), or None when none fits. Order formats win over the looser ones: a Shopify
    export would also pass for order lines."""
    from widget_server.imports.formats import ga4, orders, otto, shopify, tarry, woocommerce
    from widget_server.imports.formats.table import delimiter_of

    text = head.decode("utf-8", "ignore").removeprefix("\ufeff").lstrip()
    first = text.split("\n", 1)[0]
    if not first.strip():
        return None
    if first.startswith("{"):
        return "ga4" if ga4.looks_like(first) else "otto" if otto.looks_like(first) else None
    try:
        columns = next(csv.reader(io.StringIO(first), delimiter=delimiter_of(first)), [])
    except csv.Error:
        return None
    readers = (
        ("shopify", shopify),
        ("woocommerce", woocommerce),
        ("tarry", tarry),
        ("orders", orders),
    )
    for name, module in readers:
        if module.looks_like(columns):
            return name
    return None
