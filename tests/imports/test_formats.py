"""The readers of exports (widget_server/imports/formats): hand-written files in
tests/data/imports/, each event expected as computed by hand; errors and skips by
line; stable ids; sniffing; streaming."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tracemalloc
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import msgspec
import pytest

from recommender import interactions
from widget_server.collect.events import decode_event
from widget_server.imports.formats import sessions, table, tarry
from widget_server.imports.formats.rows import FORMATS, FormatError, Row, read, sniff
from widget_server.imports.formats.values import parse_time

DATA = Path(__file__).resolve().parents[1] / "data"
FILES = DATA / "imports"
FILE_FORMATS = {
    "shopify-orders.csv": "shopify",
    "shopify-reordered.csv": "shopify",
    "orders-uci-layout.csv": "orders",
    "tarry-events.csv": "tarry",
    "ga4-events.jsonl": "ga4",
    "woocommerce-line-items.csv": "woocommerce",
    "woocommerce-line-item-columns.csv": "woocommerce",
    "otto-20-sessions.jsonl": "otto",  # real sessions of the OTTO data set, in DATA
}


def path_of(name: str) -> Path:
    """A sample's file: the hand-written ones in FILES, the real ones beside them."""
    return FILES / name if (FILES / name).exists() else DATA / name


def rows_of(name: str, **options: Any) -> list[Row]:
    with open(path_of(name), "rb") as stream:
        return list(read(FILE_FORMATS[name], stream, **options))


def rows_from(fmt: str, text: str, **options: Any) -> list[Row]:
    return list(read(fmt, io.BytesIO(text.encode()), **options))


def ms(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> int:
    """Milliseconds of a UTC time (the offsets are converted by hand in each test)."""
    return int(datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp()) * 1000


def blake(*fields: str) -> str:
    """The ids' digest: blake2b, 8 bytes, of the fields joined by the unit separator."""
    return hashlib.blake2b("\x1f".join(fields).encode(), digest_size=8).hexdigest()


def by_line(rows: list[Row]) -> list[Row]:
    return sorted(rows, key=lambda row: (row.line, row.event is None))


# -- shopify ----------------------------------------------------------------------


def test_shopify_export_is_one_purchase_per_order_with_refunds_voids_and_bad_rows() -> None:
    """shopify-orders.csv: Shopify's 79 columns, a BOM and CRLF; the order fields on
    each order's first row only; a multi-line order in INR at +0530; a refunded
    and a voided order; a partly refunded one at -0500 whose Notes cell spans two
    lines; an unparseable `Created at`; a bad quantity on an order's second line;
    a point-of-sale order without e-mail."""
    assert rows_of("shopify-orders.csv") == [
        Row(
            2,
            event={
                "id": "o:1001",
                "type": "purchase",
                "ts": ms(2024, 3, 5, 8, 37, 33),  # 14:07:33 +0530
                "vid": "c:" + blake("asha.rao@example.com"),
                "sid": "o:1001",
                "transaction_id": "1001",
                "value": 2448.0,  # Total: 2 x 499 + 1000 + 350 + 100 shipping
                "currency": "INR",
                "uid": "Asha.Rao@Example.com",  # as written: the ingest hashes it
                "items": [
                    {
                        "item_id": "TEE-RED-M",
                        "item_name": "Red tee - M",
                        "price": 499.0,
                        "quantity": 2,
                        "item_brand": "Acme Apparel",
                    },
                    {  # no SKU: the name is the id
                        "item_id": "Gift card",
                        "item_name": "Gift card",
                        "price": 1000.0,
                        "quantity": 1,
                        "item_brand": "Tarry Test Shop",
                    },
                    {
                        "item_id": "MUG-L",
                        "item_name": "Mug, large",
                        "price": 350.0,
                        "quantity": 1,
                        "item_brand": "Clay & Co",
                    },
                ],
            },
        ),
        Row(5, skipped="refunded order"),
        Row(6, skipped="voided order"),
        Row(
            7,
            event={
                "id": "o:1004",
                "type": "purchase",
                "ts": ms(2024, 3, 7, 2, 15),  # 2024-03-06 21:15 -0500
                "vid": "c:" + blake("dan@example.com"),
                "sid": "o:1004",
                "transaction_id": "1004",
                "value": 54.5,  # 80.00 less 25.50 refunded
                "currency": "USD",
                "uid": "dan@example.com",
                "items": [
                    {
                        "item_id": "HOOD-BLU-L",
                        "item_name": "Blue hoodie - L",
                        "price": 50.0,
                        "quantity": 1,
                        "item_brand": "Acme Apparel",
                    },
                    {
                        "item_id": "BEANIE",
                        "item_name": "Beanie",
                        "price": 25.0,
                        "quantity": 1,
                        "item_brand": "Acme Apparel",
                    },
                ],
            },
        ),
        # Line 8 is the second line of order #1004's Notes; #1005 starts on line 10.
        Row(10, error="Created at: not a date: 'yesterday'"),
        Row(
            12,
            event={
                "id": "o:1006",
                "type": "purchase",
                "ts": ms(2024, 3, 7, 13, 0),  # 08:00 -0500
                "vid": "c:" + blake("finn@example.com"),
                "sid": "o:1006",
                "transaction_id": "1006",
                "value": 40.0,  # the order's Total, though a line of it is bad
                "currency": "USD",
                "uid": "finn@example.com",
                "items": [
                    {
                        "item_id": "PIN-1",
                        "item_name": "Pin badge",
                        "price": 5.0,
                        "quantity": 2,
                        "item_brand": "Tarry Test Shop",
                    }
                ],
            },
        ),
        Row(13, error="Lineitem quantity: not a whole number: 'two'"),
        Row(
            14,
            event={
                "id": "o:1007",
                "type": "purchase",
                "ts": ms(2024, 3, 8, 11, 0),  # 12:00 +0100
                "vid": "c:-",
                "sid": "o:1007",
                "transaction_id": "1007",
                "value": 18.0,
                "currency": "EUR",
                "items": [
                    {
                        "item_id": "CARD-1",
                        "item_name": "Postcard",
                        "price": 6.0,
                        "quantity": 3,
                        "item_brand": "Tarry Test Shop",
                    }
                ],
            },
        ),
    ]


def test_shopify_columns_in_any_order_with_extra_ones() -> None:
    """shopify-reordered.csv: a few of the columns, shuffled, one Shopify does not
    have, LF line ends, no BOM; a quoted name holding quotes and a comma."""
    assert rows_of("shopify-reordered.csv") == [
        Row(
            2,
            event={
                "id": "o:2001",
                "type": "purchase",
                "ts": ms(2024, 3, 9, 10, 0),
                "vid": "c:" + blake("gus@example.com"),
                "sid": "o:2001",
                "transaction_id": "2001",
                "value": 29.97,
                "currency": "GBP",
                "uid": "gus@example.com",
                "items": [
                    {"item_id": "KEY-1", "item_name": "Keyring", "price": 9.99, "quantity": 3}
                ],
            },
        ),
        Row(
            3,
            event={
                "id": "o:2002",
                "type": "purchase",
                "ts": ms(2024, 3, 9, 18, 30),
                "vid": "c:" + blake("hana@example.com"),
                "sid": "o:2002",
                "transaction_id": "2002",
                "value": 15.0,
                "currency": "GBP",
                "uid": "hana@example.com",
                "items": [
                    {
                        "item_id": 'Notebook "A5", dotted',
                        "item_name": 'Notebook "A5", dotted',
                        "price": 15.0,
                        "quantity": 1,
                    }
                ],
            },
        ),
    ]


SHOPIFY_MINIMAL = "Name,Email,Financial Status,Currency,Total,Created at,Lineitem quantity,Lineitem name,Lineitem price,Lineitem sku\n"  # noqa: E501


def test_shopify_semicolons_and_one_customer_in_any_case() -> None:
    """A spreadsheet's `;`-separated save reads the same, its decimal commas too;
    `Ann@Shop.com` and `ann@shop.com` are one visitor (their uid stays as written)."""
    text = SHOPIFY_MINIMAL.replace(",", ";") + (
        "#1;Ann@Shop.com;paid;EUR;1.010,5;2024-03-05 10:00:00 +0000;1;Cup;1.010,5;CUP\n"
        "#2;ann@shop.com;paid;EUR;4.00;2024-03-06 10:00:00 +0000;1;Lid;4.00;LID\n"
    )
    rows = rows_from("shopify", text)
    assert rows[0].event is not None and rows[1].event is not None
    assert rows[0].event["value"] == 1010.5  # `1.010,5`: a dot groups thousands
    assert rows[0].event["items"][0]["price"] == 1010.5
    assert rows[1].event["value"] == 4.0
    assert rows[1].event["vid"] == rows[0].event["vid"] == "c:" + blake("ann@shop.com")
    assert rows[1].event["uid"] == "ann@shop.com"
    text = SHOPIFY_MINIMAL + (
        "#1,Ann@Shop.com,paid,EUR,10.50,2024-03-05 10:00:00 +0000,1,Cup,10.50,CUP\n"
        '#2,ann@shop.com,paid,EUR,"10,5",2024-03-05 10:00:00 +0000,1,Cup,10.50,CUP\n'
    )
    first, second = rows_from("shopify", text)
    assert first.event is not None and first.event["vid"] == "c:" + blake("ann@shop.com")
    assert second == Row(3, error="Total: not a number: '10,5'")  # in a `,` file: refused


def test_shopify_order_ids_that_are_not_ids_are_hashed() -> None:
    """`Name` is the merchant's to choose: one outside the id alphabet becomes a
    digest, the same each time, in the event id and the transaction id alike."""
    text = SHOPIFY_MINIMAL + "#EU 1/7,,paid,EUR,5,2024-03-05 10:00:00 +0000,1,Cup,5,CUP\n"
    (row,) = rows_from("shopify", text)
    assert row.event is not None
    assert row.event["id"] == row.event["sid"] == "o:" + blake("EU 1/7")
    assert row.event["transaction_id"] == blake("EU 1/7")


def test_shopify_missing_column_names_it_and_the_columns_found() -> None:
    header = "Name,Email,Total,Lineitem quantity,Lineitem name,Lineitem price\n"
    with pytest.raises(FormatError) as raised:
        read("shopify", io.BytesIO(header.encode()))  # at once, before any row is asked for
    message = str(raised.value)
    assert "missing column for Created at" in message
    assert (
        "columns found: 'Name', 'Email', 'Total', 'Lineitem quantity', 'Lineitem name', "
        "'Lineitem price'" in message
    )


# -- generic order lines ------------------------------------------------------------


def test_uci_layout_order_lines_become_orders() -> None:
    """orders-uci-layout.csv: UCI Online Retail's own columns; an invoice of three
    lines; a cancellation (`C` invoice); a line without CustomerID; an invoice whose
    lines are split by another's, one item twice and a line at price 0; an invoice
    of a return only; a quantity that is not a number."""
    rows = rows_of("orders-uci-layout.csv", currency="GBP")
    assert by_line(rows) == [
        Row(
            2,
            event={
                "id": "o:536365",
                "type": "purchase",
                "ts": ms(2010, 12, 1, 8, 26),
                "vid": "c:17850",  # CustomerID 17850.0
                "sid": "o:536365",
                "transaction_id": "536365",
                "value": 50.94,  # 6 x 2.55 + 6 x 3.39 + 2 x 7.65 = 15.30 + 20.34 + 15.30
                "currency": "GBP",
                "uid": "17850",
                "items": [
                    {
                        "item_id": "85123A",
                        "item_name": "WHITE HANGING HEART T-LIGHT HOLDER",
                        "price": 2.55,
                        "quantity": 6,
                    },
                    {
                        "item_id": "71053",
                        "item_name": "WHITE METAL LANTERN",
                        "price": 3.39,
                        "quantity": 6,
                    },
                    {
                        "item_id": "22752",
                        "item_name": "SET 7 BABUSHKA NESTING BOXES",
                        "price": 7.65,
                        "quantity": 2,
                    },
                ],
            },
        ),
        Row(5, skipped="cancellation"),
        Row(
            6,
            event={
                "id": "o:536380",
                "type": "purchase",
                "ts": ms(2010, 12, 1, 9, 41),
                "vid": "c:-",  # no CustomerID: no uid either
                "sid": "o:536380",
                "transaction_id": "536380",
                "value": 34.8,  # 24 x 1.45
                "currency": "GBP",
                "items": [
                    {
                        "item_id": "22961",
                        "item_name": "JAM MAKING SET PRINTED",
                        "price": 1.45,
                        "quantity": 24,
                    }
                ],
            },
        ),
        Row(
            7,
            event={
                "id": "o:536381",
                "type": "purchase",
                "ts": ms(2010, 12, 1, 9, 41),
                "vid": "c:15311",
                "sid": "o:536381",
                "transaction_id": "536381",
                "value": 40.35,  # 1 x 4.95 + 2 x 12.75 + 2 x 4.95 (line 10); line 11 is free
                "currency": "GBP",
                "uid": "15311",
                "items": [
                    {
                        "item_id": "22139",
                        "item_name": "RETROSPOT TEA SET, CERAMIC 11 PC",
                        "price": 4.95,
                        "quantity": 3,  # lines 7 and 10
                    },
                    {
                        "item_id": "21258",
                        "item_name": 'VICTORIAN SEWING BOX "LARGE"',
                        "price": 12.75,
                        "quantity": 2,
                    },
                ],
            },
        ),
        Row(
            9,
            event={
                "id": "o:536382",
                "type": "purchase",
                "ts": ms(2010, 12, 1, 9, 45),
                "vid": "c:12583",
                "sid": "o:536382",
                "transaction_id": "536382",
                "value": 18.0,
                "currency": "GBP",
                "uid": "12583",
                "items": [
                    {"item_id": "POST", "item_name": "POSTAGE", "price": 18.0, "quantity": 1}
                ],
            },
        ),
        Row(12, skipped="cancellation"),  # a return (-2) and nothing else
        Row(
            13,
            event={
                "id": "o:536384",
                "type": "purchase",
                "ts": ms(2010, 12, 1, 9, 53),
                "vid": "c:18074",
                "sid": "o:536384",
                "transaction_id": "536384",
                "value": 7.8,  # 12 x 0.65; line 13 is bad
                "currency": "GBP",
                "uid": "18074",
                "items": [
                    {
                        "item_id": "84755",
                        "item_name": "COLOUR GLASS T-LIGHT HOLDER HANGING",
                        "price": 0.65,
                        "quantity": 12,
                    }
                ],
            },
        ),
        Row(13, error="Quantity: not a whole number: 'six'"),
    ]


def test_uci_sample_imports_as_it_is() -> None:
    """The real sample in tests/data (188 invoices, 21 of them cancellations, and
    stock write-offs at price 0): one row per invoice, none bad; the file's first
    invoice as summed by hand."""
    with gzip.open(DATA / "online-retail-sample.csv.gz") as stream:
        rows = list(read("orders", stream, currency="GBP"))
    kinds = Counter("event" if r.event else r.skipped or f"error {r.error}" for r in rows)
    assert kinds == {
        "event": 158,
        "cancellation": 21,
        "nothing sold: no line with a positive quantity and price": 9,
    }
    first = next(r.event for r in rows if r.event and r.event["id"] == "o:536365")
    # 6 x 2.55 + 6 x 3.39 + 8 x 2.75 + 6 x 3.39 + 6 x 3.39 + 2 x 7.65 + 6 x 4.25
    assert first["value"] == 139.12
    assert len(first["items"]) == 7
    assert first["vid"] == "c:17850"


def test_order_lines_mapped_by_name_with_their_currency_and_zone() -> None:
    """Columns of any name, mapped; the file's own currency column; naive times in
    the shop's zone (Asia/Kolkata, +0530)."""
    text = (
        "Order Ref,Client,Product,Units,Each,When,Money,Kind\n"
        "A-1,ann@shop.com,CUP,2,3.10,2024-03-05 10:00:00,inr,Kitchen\n"
        "A-1,ann@shop.com,LID,1,0.80,2024-03-05 10:00:00,inr,Kitchen\n"
    )
    mapping = {
        "order_id": "order ref",  # names match in any case
        "customer": "Client",
        "item_id": "Product",
        "quantity": "Units",
        "price": "Each",
        "time": "When",
        "currency": "Money",
        "category": "Kind",
    }
    rows = rows_from("orders", text, mapping=mapping, zone="Asia/Kolkata", currency="USD")
    assert rows == [
        Row(
            2,
            event={
                "id": "o:A-1",
                "type": "purchase",
                "ts": ms(2024, 3, 5, 4, 30),  # 10:00 in Kolkata
                "vid": "c:" + blake("ann@shop.com"),
                "sid": "o:A-1",
                "transaction_id": "A-1",
                "value": 7.0,  # 2 x 3.10 + 0.80
                "currency": "INR",  # the file's, over the option
                "uid": "ann@shop.com",
                "items": [
                    {"item_id": "CUP", "price": 3.1, "quantity": 2, "item_category": "Kitchen"},
                    {"item_id": "LID", "price": 0.8, "quantity": 1, "item_category": "Kitchen"},
                ],
            },
        )
    ]


@pytest.mark.parametrize(
    ("text", "day_first", "expected"),
    [
        ("12/1/2010 8:26", False, ms(2010, 12, 1, 8, 26)),  # UCI's CSV as widely shared
        ("12/1/2010 8:26", True, ms(2010, 1, 12, 8, 26)),
        ("01/12/2010 08:26:59", True, ms(2010, 12, 1, 8, 26, 59)),
        ("12/13/2010", False, ms(2010, 12, 13)),
        ("01.12.2010 08:26", False, ms(2010, 12, 1, 8, 26)),  # dots: the day first, always
        ("2010/12/01", False, ms(2010, 12, 1)),
        ("2010-12-01 8:26", False, ms(2010, 12, 1, 8, 26)),  # an hour of one digit
        ("12/1/10 2:05 PM", False, ms(2010, 12, 1, 14, 5)),
        ("12/1/10 12:05 AM", False, ms(2010, 12, 1, 0, 5)),
        ("3/5/2024, 2:07:33 pm", False, ms(2024, 3, 5, 14, 7, 33)),
        ("1/1/99", False, ms(1999, 1, 1)),
        ("Mon, 23 Sep 2024 14:21:24 +0000", False, ms(2024, 9, 23, 14, 21, 24)),  # BigCommerce
        ("23 Sep 2024 14:21:24 -0500", False, ms(2024, 9, 23, 19, 21, 24)),
    ],
)
def test_dates_as_spreadsheets_write_them(text: str, day_first: bool, expected: int) -> None:
    assert parse_time(text, day_first=day_first) == expected


@pytest.mark.parametrize(
    "text",
    ["13/12/2010", "31/02/2010", "13/13/2010", "12/1/2010 13:00 PM", "12/1/2010 8", "Mon, 23 Sep"],
)
def test_dates_that_are_no_date_month_first(text: str) -> None:
    with pytest.raises(ValueError, match="not a date"):
        parse_time(text)


def uci_as_shared(first_dates: list[str]) -> str:
    """Order lines in UCI's layout, one invoice a date, with dates as given."""
    lines = ["InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID"]
    for n, date in enumerate(first_dates):
        lines.append(f"{536365 + n},85123A,HEART,6,{date},2.55,17850.0")
    return "\n".join(lines) + "\n"


def test_a_file_of_dates_month_first_is_read_month_first() -> None:
    """The widely shared CSV of UCI Online Retail writes `12/1/2010 8:26`: the first
    lines tell neither way; `12/13/2010` settles it, and the lines before it are read
    as it says."""
    text = uci_as_shared(["12/1/2010 8:26", "12/2/2010 9:01", "12/13/2010 10:00"])
    times = [r.event["ts"] for r in rows_from("orders", text) if r.event]
    assert times == [ms(2010, 12, 1, 8, 26), ms(2010, 12, 2, 9, 1), ms(2010, 12, 13, 10)]


def test_a_file_of_dates_day_first_is_read_day_first() -> None:
    """The same file re-saved by a spreadsheet set to the UK: the day first."""
    text = uci_as_shared(["01/12/2010 08:26", "02/12/2010 09:01", "13/12/2010 10:00"])
    times = [r.event["ts"] for r in rows_from("orders", text) if r.event]
    assert times == [ms(2010, 12, 1, 8, 26), ms(2010, 12, 2, 9, 1), ms(2010, 12, 13, 10)]
    woo = (
        "order_id,order_date,order_total,line_items\n"
        "1,02/03/2024 10:00,5.00,sku:A|quantity:1|total:5.00\n"
        "2,23/03/2024 10:00,5.00,sku:A|quantity:1|total:5.00\n"
    )
    assert [r.event["ts"] for r in rows_from("woocommerce", woo) if r.event] == [
        ms(2024, 3, 2, 10),
        ms(2024, 3, 23, 10),
    ]


def test_dates_read_ahead_past_blank_cells() -> None:
    """A Shopify export's later rows of an order leave the date blank (or a space)."""
    records = [(2, ["01/12/2010"]), (3, [" "]), (4, []), (5, ["13/12/2010"])]
    day_first, again = table.with_date_order(iter(records), 0)
    assert day_first is True and list(again) == records
    day_first, again = table.with_date_order(iter(records[:3]), 0)
    assert day_first is False and list(again) == records[:3]


def test_dates_read_ahead_at_most_so_far(monkeypatch: pytest.MonkeyPatch) -> None:
    """A file whose first lines never tell is read month first, and a date that is
    not one month first is a bad line, not a guess."""
    monkeypatch.setattr(table, "DATE_LOOKAHEAD", 2)
    text = uci_as_shared(["01/12/2010 08:26", "02/12/2010 09:01", "13/12/2010 10:00"])
    rows = rows_from("orders", text)
    assert [r.event["ts"] for r in rows if r.event] == [
        ms(2010, 1, 12, 8, 26),
        ms(2010, 2, 12, 9, 1),
    ]
    assert [r for r in rows if r.error] == [
        Row(4, error="InvoiceDate: not a date: '13/12/2010 10:00'")
    ]


def test_an_export_in_windows_1252_keeps_its_accents() -> None:
    """Excel's plain "CSV" in Western Europe writes Windows-1252: `é` is the byte E9,
    `€` the byte 80; a UTF-8 line beside them stays UTF-8."""
    text = (
        b"order_id,sku,name,qty,price,date\n"
        + "1,CAFE,Café crème €,1,2.50,2024-01-01\n".encode("cp1252")
        + "2,TEA,Thé vert,1,1.50,2024-01-01\n".encode()
        + b"3,ODD,Odd \x81 byte,1,1.00,2024-01-01\n"
    )
    rows = list(read("orders", io.BytesIO(text)))
    names = [r.event["items"][0]["item_name"] for r in rows if r.event]
    assert names == ["Café crème €", "Thé vert", "Odd \ufffd byte"]


def test_order_lines_of_a_spreadsheet_that_writes_decimal_commas() -> None:
    """`;` between cells (a spreadsheet set to a European locale) and `2,55`,
    `1.234,50` as amounts; the same amounts in a `,` file are bad lines."""
    text = (
        "InvoiceNo;StockCode;Quantity;InvoiceDate;UnitPrice\n"
        "7;CUP;2;01.12.2010 08:26;2,55\n"
        "7;SOFA;1;01.12.2010 08:26;1.234,50\n"
        "8;LID;1;02.12.2010 09:00;0.80\n"
        "9;BAD;1;02.12.2010 09:00;2,5,5\n"
    )
    rows = rows_from("orders", text)
    values = {r.event["id"]: r.event["value"] for r in rows if r.event}
    assert values == {"o:7": 1239.6, "o:8": 0.8}  # 2 x 2.55 + 1,234.50; 0.80
    assert [r for r in rows if r.error] == [Row(5, error="UnitPrice: not a number: '2,5,5'")]
    commas = rows_from("orders", 'order_id,sku,qty,price,date\n1,A,1,"2,55",2024-01-01\n')
    assert commas == [Row(2, error="price: not a number: '2,55'")]


def test_order_lines_missing_or_wrongly_mapped_columns() -> None:
    header = "Invoice Number,Item,Amount\nX,1,2\n"
    with pytest.raises(FormatError) as raised:
        read("orders", io.BytesIO(header.encode()))
    message = str(raised.value)
    assert message.startswith("missing column for order_id: InvoiceNo, order_id, order,")
    assert "(or map one: order_id=COLUMN, or customer=COLUMN for an order per time)" in message
    assert "columns found: 'Invoice Number', 'Item', 'Amount'" in message
    with pytest.raises(FormatError, match=r"mapping: order_id=Ref: no such column; columns found"):
        read("orders", io.BytesIO(header.encode()), mapping={"order_id": "Ref"})
    with pytest.raises(FormatError, match=r"mapping: unknown field 'colour'; the fields are"):
        read("orders", io.BytesIO(header.encode()), mapping={"colour": "Item"})


def test_a_transaction_log_without_order_ids_has_an_order_per_customer_and_time() -> None:
    """Customer, item, price, day: as public retail data sets ship purchases."""
    text = (
        "customer_id,sku,price,date\n"
        "ann,A,2.50,2024-03-01\n"
        "ann,B,1.00,2024-03-01\n"  # the same day: the same order
        "bob,A,2.50,2024-03-01\n"
        "ann,A,2.50,2024-03-02\n"  # another day: another order
        ",C,9.00,2024-03-02\n"
        "ann,A,2.50,2024-03-02\n"  # one more of the same item in that order
    )
    rows = rows_from("orders", text)
    orders = [r.event for r in rows if r.event]
    assert [(o["value"], [(i["item_id"], i["quantity"]) for i in o["items"]]) for o in orders] == [
        (3.5, [("A", 1), ("B", 1)]),
        (2.5, [("A", 1)]),
        (5.0, [("A", 2)]),
    ]
    assert len({o["vid"] for o in orders}) == 2 and orders[0]["vid"] == orders[2]["vid"]
    assert len({o["id"] for o in orders}) == 3  # and the same again on a re-import
    again = [r.event["id"] for r in rows_from("orders", text) if r.event]
    assert again == [o["id"] for o in orders]
    assert [r for r in rows if r.error] == [Row(6, error="customer_id (with date): empty")]
    # With an order id the quantity is required, as before.
    with pytest.raises(FormatError, match="missing column for quantity"):
        read("orders", io.BytesIO(b"order_id,sku,price,date\n1,A,2,2024-03-01\n"))


def test_an_order_that_comes_back_after_others_is_an_error_not_a_second_order() -> None:
    """Lines of an order split by a few others still make one order (UCI's invoice
    542806 is); lines that come back after more than the orders kept open are
    reported, since the order was given out already."""
    lines = ["order_id,sku,qty,price,date", "1,A,1,2.00,2024-01-01"]
    lines += [f"{n},B,1,1.00,2024-01-01" for n in range(2, 40)]
    lines += ["1,C,1,5.00,2024-01-01", "1,D,1,5.00,2024-01-01"]
    rows = rows_from("orders", "\n".join(lines) + "\n")
    first = [r for r in rows if r.event and r.event["id"] == "o:1"]
    assert len(first) == 1 and first[0].event is not None and first[0].event["value"] == 2.0
    assert [r for r in rows if r.error] == [
        Row(
            41,
            error="order_id: order '1' continues here after other orders (2 lines left out); "
            "an order's lines must be together",
        )
    ]


def test_order_lines_with_blank_lines_and_rows_of_the_wrong_width() -> None:
    """Line numbers count every line of the file, blank ones before the header
    too; a row with cells missing, or more than the header, is bad on its own."""
    text = (
        "\n\norder_id,sku,qty,price,date\n"
        "1,A,1,2.00,2024-01-01\n"
        "\n"
        "2,B,1,2024-01-01\n"
        "3,C,1,1.00,2024-01-01,,\n"
        "4,D,1,1.00,2024-01-01,oops\n"
    )
    rows = by_line(rows_from("orders", text))
    assert [(r.line, r.error or (r.event and r.event["id"])) for r in rows] == [
        (4, "o:1"),
        (6, "row: 4 cells, the header has 5"),
        (7, "o:3"),  # empty cells past the header's are what spreadsheets add
        (8, "row: 6 cells, the header has 5"),
    ]


def test_a_huge_order_keeps_its_value_and_the_first_200_items() -> None:
    lines = ["order_id,sku,qty,price,date"] + [
        f"W1,SKU{n},1,1.25,2024-01-01T09:00:00Z" for n in range(250)
    ]
    (row,) = rows_from("orders", "\n".join(lines))
    assert row.event is not None
    assert row.event["value"] == 312.5
    assert [item["item_id"] for item in row.event["items"]] == [f"SKU{n}" for n in range(200)]


# -- Tarry's event CSV ----------------------------------------------------------------


def test_woocommerce_line_items_cell_is_one_purchase_per_paid_order() -> None:
    """The Customer/Order/Coupon Export layout: one row per order, its items in one
    `line_items` cell (joined by `;`, fields by `|`). Figures by hand from the file."""
    rows = rows_of("woocommerce-line-items.csv")
    assert rows == [
        Row(
            2,
            event={
                "id": "o:4101",
                "type": "purchase",
                "ts": ms(2024, 3, 5, 14, 7, 33),
                "vid": "c:" + blake("ann@shop.example"),  # the address in any case
                "sid": "o:4101",
                "transaction_id": "4101",
                "value": 102.2,  # order_total: after the coupon, with shipping
                "currency": "EUR",
                "uid": "Ann@Shop.example",
                "items": [
                    # unit prices before the coupon: subtotal 90.00 over 2
                    {
                        "item_id": "hoodie-blue-l",
                        "price": 45.0,
                        "quantity": 2,
                        "item_name": "Hoodie - Blue, L",
                    },
                    # no sku: the product id
                    {"item_id": "15", "price": 18.0, "quantity": 1, "item_name": "Beanie"},
                ],
            },
        ),
        Row(3, skipped="cancelled order"),
        Row(
            4,  # the row's note holds a line break: the next order starts on line 6
            event={
                "id": "o:4103",
                "type": "purchase",
                "ts": ms(2024, 3, 6, 9, 30),
                "vid": "c:-",  # a guest: customer id 0, no address
                "sid": "o:4103",
                "transaction_id": "4103",
                "value": 20.0,  # 30.00 less 10.00 refunded
                "currency": "EUR",
                "items": [
                    {"item_id": "MUG-L", "price": 10.0, "quantity": 3, "item_name": "Mug | large"}
                ],
            },
        ),
        Row(6, skipped="refunded order"),  # `wc-refunded`, as the database writes it
        Row(7, error="order_date: not a date: 'yesterday'"),
        Row(
            8,  # on hold (a bank transfer on its way) is kept; the bad item is not
            event={
                "id": "o:4106",
                "type": "purchase",
                "ts": ms(2024, 3, 7, 18, 45),
                "vid": "c:" + blake("ed@shop.example"),
                "sid": "o:4106",
                "transaction_id": "4106",
                "value": 42.0,
                "currency": "EUR",
                "uid": "ed@shop.example",
                "items": [
                    {"item_id": "GLOVES", "price": 21.0, "quantity": 2, "item_name": "Gloves"}
                ],
            },
        ),
        Row(8, error="line_items: quantity: not a whole number: 'two'"),
        Row(9, skipped="unpaid order (pending payment)"),
    ]


def test_woocommerce_one_column_per_item_with_the_order_number_and_zone() -> None:
    """The Order Export & Import layout: `line_item_1`, `line_item_2`... one item
    each; the order number as the id; naive times in the shop's zone."""
    rows = rows_of("woocommerce-line-item-columns.csv", zone="Europe/London")
    assert rows == [
        Row(
            2,
            event={
                "id": "o:A-880",
                "type": "purchase",
                "ts": ms(2024, 4, 1, 11),  # noon in London, summer time (+0100)
                "vid": "c:" + blake("kim@shop.example"),
                "sid": "o:A-880",
                "transaction_id": "A-880",
                "value": 56.0,
                "currency": "GBP",
                "uid": "kim@shop.example",
                "items": [
                    {"item_id": "TOTE", "price": 30.0, "quantity": 1, "item_name": "Tote bag"},
                    {"item_id": "NB-A5", "price": 5.0, "quantity": 5, "item_name": "Notebook"},
                ],
            },
        ),
        Row(
            3,
            event={
                "id": "o:A-881",
                "type": "purchase",
                "ts": ms(2024, 4, 2, 8, 15),
                "vid": "c:12",  # a registered customer without an address in the file
                "sid": "o:A-881",
                "transaction_id": "A-881",
                "value": 8.0,
                "currency": "GBP",
                "uid": "12",
                "items": [{"item_id": "52", "price": 2.0, "quantity": 4, "item_name": "Pen"}],
            },
        ),
    ]


def test_woocommerce_from_a_spreadsheet_that_writes_decimal_commas() -> None:
    text = (
        "order_id;order_date;status;order_total;line_items\n"
        '5;2024-03-05 10:00:00;completed;1.250,40;"sku:A|quantity:2|subtotal:1.200,00;'
        'sku:B|quantity:1|subtotal:50,40"\n'
    )
    (row,) = rows_from("woocommerce", text)
    assert row.event is not None and row.event["value"] == 1250.4
    assert [(i["item_id"], i["price"], i["quantity"]) for i in row.event["items"]] == [
        ("A", 600.0, 2),
        ("B", 50.4, 1),
    ]


def test_woocommerce_without_item_columns_says_where_a_row_per_item_file_goes() -> None:
    header = "order_id,order_date,order_total,item_sku\n1,2024-01-01,5,A\n"
    with pytest.raises(FormatError) as raised:
        read("woocommerce", io.BytesIO(header.encode()))
    message = str(raised.value)
    assert message.startswith("missing column for items: line_items or line_item_1,")
    assert "reads as the orders format" in message
    with pytest.raises(FormatError, match=r"missing column for total: order_total or total"):
        read("woocommerce", io.BytesIO(b"order_id,order_date,line_items\n"))


def test_woocommerce_rows_per_item_read_as_order_lines_priced_by_line_amount() -> None:
    """The exporters' "one row per line item" layout: `item_sku`, `item_quantity`,
    and a line amount (`item_subtotal`) instead of a unit price."""
    text = (
        "order_id,order_number,order_date,status,billing_email,item_name,item_sku,"
        "item_quantity,item_subtotal,item_total\n"
        "90,90,2024-05-01 10:00:00,completed,lu@shop.example,Cup,CUP,3,7.50,6.00\n"
        "90,90,2024-05-01 10:00:00,completed,lu@shop.example,Lid,LID,1,0.80,0.80\n"
    )
    assert sniff(text.encode()) == "orders"
    rows = rows_from("orders", text)
    assert rows == [
        Row(
            2,
            event={
                "id": "o:90",
                "type": "purchase",
                "ts": ms(2024, 5, 1, 10),
                "vid": "c:" + blake("lu@shop.example"),
                "sid": "o:90",
                "transaction_id": "90",
                "value": 8.3,  # 7.50 + 0.80, the line amounts
                "uid": "lu@shop.example",
                "items": [
                    {"item_id": "CUP", "price": 2.5, "quantity": 3, "item_name": "Cup"},
                    {"item_id": "LID", "price": 0.8, "quantity": 1, "item_name": "Lid"},
                ],
            },
        )
    ]
    bad = rows_from("orders", text.replace("7.50", "lots"))
    assert Row(2, error="item_subtotal: not a number: 'lots'") in bad


def tarry_event(
    kind: str, ts: int, vid: str, sid: str, item: str, session: str = ""
) -> dict[str, Any]:
    return {
        "id": "t:" + blake(str(ts), vid, session, kind, item),
        "type": kind,
        "ts": ts,
        "vid": vid,
        "sid": sid,
        "items": [{"item_id": item}],
    }


def test_tarry_csv_with_aliases_and_sessions_cut_after_30_idle_minutes() -> None:
    """tarry-events.csv: times in ms, s and ISO 8601; `view`, `addtocart`,
    `transaction` and `click` as `tarry eval` reads them; a visitor back after two
    hours starts a new session; a page_view names no item event; bad times."""
    start_v1, later_v1, start_v2 = ms(2024, 3, 5, 8, 0), ms(2024, 3, 5, 10, 0), ms(2024, 3, 5, 8, 5)
    session_v1, session_v2 = f"v1.{start_v1}", f"v2.{start_v2}"
    assert rows_of("tarry-events.csv") == [
        Row(2, event=tarry_event("view_item", start_v1, "v1", session_v1, "SKU-1")),
        Row(3, event=tarry_event("add_to_cart", ms(2024, 3, 5, 8, 1), "v1", session_v1, "SKU-1")),
        Row(4, event=tarry_event("purchase", ms(2024, 3, 5, 8, 5), "v1", session_v1, "SKU-1")),
        Row(5, event=tarry_event("view_item", later_v1, "v1", f"v1.{later_v1}", "SKU-2")),
        Row(6, skipped="event not used: page_view"),
        Row(7, error="timestamp: empty"),
        Row(8, error="timestamp: not a date: 'soon'"),
        Row(9, event=tarry_event("view_item", start_v2, "v2", session_v2, "SKU-3")),
    ]


def test_tarry_csv_with_its_own_sessions_and_other_column_names() -> None:
    text = (
        "user_id,session,event_type,product_id,ts\n"
        "u 1,s-9,cart,P1,2024-03-05 09:00:00\n"  # naive: in the zone given
        "u 1,s-9,view,P2,1709629200000\n"
    )
    rows = rows_from("tarry", text, zone="America/New_York")
    vid = blake("u 1")  # a space is not in the id alphabet
    assert rows == [
        Row(2, event=tarry_event("add_to_cart", ms(2024, 3, 5, 14, 0), vid, "s-9", "P1", "s-9")),
        Row(3, event=tarry_event("view_item", 1709629200000, vid, "s-9", "P2", "s-9")),
    ]


def test_tarry_reads_events_as_tarry_eval_does() -> None:
    """The alias table and the session gap are copies of the recommender's (which
    is not imported, for numpy's sake): they must stay the same."""
    assert dict(interactions.EVENT_ALIASES) == tarry.EVENT_ALIASES
    assert sessions.SESSION_GAP_MS == interactions.SESSION_GAP_MS


def test_sessions_forget_idle_visitors_without_changing_any_session() -> None:
    """More visitors than are remembered (60,000 seen once), in time order, while 5
    others stay active throughout: the sessions are the ones a reader remembering
    every visitor would cut, the active visitors' one long session each."""
    events = [
        (f"active{n % 10}" if n % 2 == 0 else f"once{n}", 1709625600000 + n * 1000)
        for n in range(120_000)
    ]
    cut = sessions.Sessions()
    remembered: dict[str, tuple[str, int]] = {}
    for visitor, ts in events:
        last = remembered.get(visitor)
        if last is None or ts - last[1] > sessions.SESSION_GAP_MS:
            last = (f"{visitor}.{ts}", ts)
        remembered[visitor] = (last[0], ts)
        assert cut.session_of(visitor, ts) == last[0]
    assert cut.session_of("active0", events[-1][1]) == "active0.1709625600000"


# -- GA4's BigQuery export ------------------------------------------------------------

GA4_VISITOR = "1197596843.1709625599"
GA4_SESSION = "1197596843.1709625599.1709625599"


def ga4_id(timestamp_us: str, name: str, *batch: str) -> str:
    return "g:" + blake(GA4_VISITOR, timestamp_us, name, *(batch or ("", "", "")))


def test_ga4_export_session_maps_onto_tarry_events() -> None:
    """ga4-events.jsonl: a session of session_start, page_view (from a newsletter
    link), view_item, add_to_cart, purchase, user_engagement and scroll; INT64
    values as strings, as BigQuery writes them, and as numbers; a truncated line;
    a cookieless ping without user_pseudo_id."""
    mug = {"item_id": "SKU-1", "item_name": "Blue mug", "item_category": "Mugs", "price": 12.5}
    assert rows_of("ga4-events.jsonl") == [
        Row(1, skipped="event not used: session_start"),
        Row(
            2,
            event={
                "id": ga4_id("1709625600123456", "page_view", "1709625600100", "1", "0"),
                "type": "page_view",
                "ts": ms(2024, 3, 5, 8, 0) + 123,  # microseconds 1709625600123456
                "vid": GA4_VISITOR,
                "sid": GA4_SESSION,
                "url": "https://shop.example/?utm_source=news&utm_medium=email&utm_campaign=spring",
                "ref": "https://mail.example/",
                "title": "Tarry Test Shop",
                "utm_source": "news",
                "utm_medium": "email",
                "utm_campaign": "spring",
            },
        ),
        Row(
            3,
            event={
                "id": ga4_id("1709625630000000", "view_item"),
                "type": "view_item",
                "ts": ms(2024, 3, 5, 8, 0, 30),
                "vid": GA4_VISITOR,
                "sid": GA4_SESSION,
                "url": "https://shop.example/products/blue-mug",
                "currency": "EUR",
                "value": 12.5,
                "items": [{**mug, "item_brand": "Acme", "quantity": 1}],
            },
        ),
        Row(
            4,
            event={
                "id": ga4_id("1709625640000000", "add_to_cart"),
                "type": "add_to_cart",
                "ts": ms(2024, 3, 5, 8, 0, 40),
                "vid": GA4_VISITOR,
                "sid": GA4_SESSION,
                "url": "https://shop.example/products/blue-mug",
                "currency": "EUR",
                "value": 25.0,
                "items": [{**mug, "quantity": 2}],
            },
        ),
        Row(
            5,
            event={
                "id": "o:T-1001",  # as the shop's own export names the order
                "type": "purchase",
                "ts": ms(2024, 3, 5, 8, 1, 40),
                "vid": GA4_VISITOR,
                "sid": GA4_SESSION,
                "uid": "cust-42",
                "url": "https://shop.example/checkout/thank-you",
                "currency": "EUR",
                "value": 25.0,  # ecommerce.purchase_revenue
                "transaction_id": "T-1001",
                "items": [{**mug, "quantity": 2}],
            },
        ),
        Row(
            6,
            event={
                "id": ga4_id("1709625710000000", "user_engagement"),
                "type": "engagement",
                "ts": ms(2024, 3, 5, 8, 1, 50),
                "vid": GA4_VISITOR,
                "sid": GA4_SESSION,
                "uid": "cust-42",
                "engaged_ms": 15000,
                "url": "https://shop.example/checkout/thank-you",
            },
        ),
        Row(7, skipped="event not used: scroll"),
        Row(8, error="not JSON: Input data was truncated"),
        Row(9, skipped="event without user_pseudo_id"),
    ]


def test_ga4_file_that_is_not_an_export() -> None:
    with pytest.raises(FormatError, match=r"^line 1: not JSON lines"):
        read("ga4", io.BytesIO(b"event_name,event_timestamp\n"))
    with pytest.raises(FormatError) as raised:
        read("ga4", io.BytesIO(b'\n{"name": "page_view", "time": 1}\n'))
    assert str(raised.value) == (
        "line 2: missing field event_name (not a GA4 BigQuery export row); fields found: name, time"
    )


def test_ga4_file_with_a_byte_order_mark() -> None:
    line = b'{"event_name":"page_view","event_timestamp":"1709625600000000","user_pseudo_id":"u"}'
    (row,) = list(read("ga4", io.BytesIO(b"\xef\xbb\xbf" + line + b"\n")))
    assert row.event is not None and row.event["ts"] == ms(2024, 3, 5, 8, 0)
    assert row.event["sid"] == f"u.{ms(2024, 3, 5, 8, 0)}"  # no ga_session_id: cut by time


# -- OTTO ------------------------------------------------------------------------------


def test_otto_sessions_are_views_carts_and_purchases() -> None:
    """The 20 real sessions in tests/data: counted from the file itself."""
    lines = (DATA / "otto-20-sessions.jsonl").read_text().splitlines()
    sessions = [json.loads(line) for line in lines]
    kinds = Counter(e["type"] for s in sessions for e in s["events"])
    moments = {
        (s["session"], e["ts"]) for s in sessions for e in s["events"] if e["type"] == "orders"
    }
    rows = rows_of("otto-20-sessions.jsonl")
    events = [r.event for r in rows if r.event]
    assert not [r for r in rows if r.error or r.skipped]
    got = Counter(e["type"] for e in events)
    assert got["view_item"] == kinds["clicks"] and got["add_to_cart"] == kinds["carts"]
    purchases = [e for e in events if e["type"] == "purchase"]
    assert len(purchases) == len(moments)  # a shopper's orders at one moment: one
    assert sum(i["quantity"] for p in purchases for i in p["items"]) == kinds["orders"]
    assert {e["vid"] for e in events} == {f"otto-{s['session']}" for s in sessions}
    first = sessions[0]["events"][0]
    assert events[0]["ts"] == first["ts"] and events[0]["items"] == [{"item_id": str(first["aid"])}]
    # Sessions are cut after 30 idle minutes: a month of one shopper is many visits.
    visits = {e["sid"] for e in events if e["vid"] == f"otto-{sessions[0]['session']}"}
    gaps = sorted(e["ts"] for e in sessions[0]["events"])
    assert len(visits) == 1 + sum(b - a > 30 * 60_000 for a, b in pairwise(gaps))


def test_otto_bad_events_are_named_and_the_line_kept() -> None:
    line = {
        "session": 7,
        "events": [
            {"aid": 1, "ts": 1661724000, "type": "clicks"},  # seconds
            {"aid": 2, "ts": "soon", "type": "clicks"},
            {"aid": 3, "ts": 1661724001000, "type": "wishes"},
            {"aid": True, "ts": 1661724002000, "type": "carts"},
            {"aid": 4, "ts": 1661724003000, "type": "orders"},
            {"aid": 5, "ts": 1661724003000, "type": "orders"},
            {"aid": 4, "ts": 1661724003000, "type": "orders"},
        ],
    }
    text = json.dumps(line) + "\n" + json.dumps({"session": 8, "events": "none"}) + "\n[1]\n"
    rows = rows_from("otto", text)
    assert [r.error for r in rows if r.error] == [
        "events[1]: ts: not a Unix time ('soon')",
        "events[2]: type: not clicks, carts or orders ('wishes')",
        "events[3]: aid: not an item id (True)",
        "events: not a list",
        "not a JSON object",
    ]
    view, order = [r.event for r in rows if r.event]
    assert view["ts"] == 1661724000000
    assert order["items"] == [{"item_id": "4", "quantity": 2}, {"item_id": "5", "quantity": 1}]
    with pytest.raises(FormatError, match="not an OTTO session"):
        read("otto", io.BytesIO(b'{"user": 1}\n'))


# -- all formats ----------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(FILE_FORMATS))
def test_ids_are_the_same_on_every_read(name: str) -> None:
    first, second = rows_of(name, currency="GBP"), rows_of(name, currency="GBP")
    assert first == second
    ids = [row.event["id"] for row in first if row.event]
    assert ids and len(ids) == len(set(ids))


@pytest.mark.parametrize("name", sorted(FILE_FORMATS))
def test_sniff_tells_each_file_by_its_first_bytes(name: str) -> None:
    assert sniff(path_of(name).read_bytes()[:4096]) == FILE_FORMATS[name]


def test_sniff_knows_no_other_file() -> None:
    with gzip.open(DATA / "online-retail-sample.csv.gz") as stream:
        assert sniff(stream.read(300)) == "orders"
    assert sniff(b"id,title,price\nSKU-1,Mug,3\n") is None
    assert sniff(b'{"session": 1, "events": []}\n') is None
    assert sniff(b"") is None
    assert sniff(b"\xff\xfe\x00garbage") is None


@pytest.mark.parametrize("name", sorted(FILE_FORMATS))
def test_events_are_what_collect_accepts(name: str) -> None:
    """Every event decodes under the collect schema with nothing dropped. The UCI
    layout's 2010 times are before the schema's floor for live events (2020); they
    are checked at a 2024 time, the rest of each event as read."""
    for row in rows_of(name, currency="GBP"):
        if row.event is None:
            continue
        event = {**row.event, "ts": max(row.event["ts"], ms(2024, 1, 1))}
        sent = json.dumps(event).encode()
        try:
            stored, _ = decode_event(sent)
        except msgspec.ValidationError as exc:
            pytest.fail(f"{name}:{row.line}: {exc}")
        assert json.loads(stored) == event


@pytest.mark.parametrize(
    ("fmt", "options", "message"),
    [
        ("csv", {}, "format: 'csv' is not one of shopify, woocommerce, orders, tarry, ga4, otto"),
        ("orders", {"currency": "euro"}, "currency: not a three-letter currency code"),
        ("orders", {"zone": "Mars/Olympus"}, "zone: not a time zone such as Europe/Paris"),
        ("tarry", {"mapping": {"item_id": "sku"}}, "mapping: only the orders format"),
    ],
)
def test_wrong_options_are_format_errors(fmt: str, options: dict[str, Any], message: str) -> None:
    with pytest.raises(FormatError, match="^" + message):
        read(fmt, io.BytesIO(b"order_id,sku,qty,price,date\n"), **options)


def test_an_empty_file_is_a_format_error() -> None:
    for fmt in FORMATS:
        with pytest.raises(FormatError, match="the file is empty"):
            read(fmt, io.BytesIO(b"\n\n"))


def test_broken_quoting_ends_the_file_with_one_error() -> None:
    """A stray quote swallows the rest of the file into one cell: the csv module's
    size limit stops it, as one error from its line on, and memory stays bounded."""
    text = 'order_id,sku,qty,price,date\n1,A,1,2.00,2024-01-01\n2,"B,1,1.00,2024-01-01\n'
    text += "x" * 200_000 + "\n"
    rows = rows_from("orders", text)
    assert rows[-1].line == 3 and rows[-1].error is not None
    assert rows[-1].error.startswith("not CSV from this line on (field larger than field limit")
    assert [r.event["id"] for r in rows if r.event] == ["o:1"]


# -- streaming ------------------------------------------------------------------------


class GeneratedFile(io.RawIOBase):
    """A file whose lines are made as they are read, counting how many were."""

    def __init__(self, lines: Iterator[bytes]) -> None:
        self._lines = lines
        self._pending = b""
        self.lines_made = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            line = next(self._lines, None)
            if line is None:
                return 0
            self._pending, self.lines_made = line, self.lines_made + 1
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


def uci_lines(orders: int) -> Iterator[bytes]:
    yield b"InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
    for order in range(orders):
        for line in range(3):
            yield (
                f"{500000 + order},SKU{line},THING {line},2,2011-01-01 10:00:00,1.25,"
                f"{12000 + order % 997}.0,United Kingdom\n"
            ).encode()


def shopify_lines(orders: int) -> Iterator[bytes]:
    yield SHOPIFY_MINIMAL.encode()
    for n in range(orders):
        yield f"#{n},c{n}@x.example,paid,EUR,5,2024-03-05 10:00:00 +0000,1,Cup,5,CUP\n".encode()


def tarry_lines(events: int) -> Iterator[bytes]:
    yield b"timestamp,visitor_id,event,item_id\n"
    for n in range(events):
        yield f"{1709625600000 + n * 1000},v{n % 50},view,SKU{n % 7}\n".encode()


def ga4_lines(events: int) -> Iterator[bytes]:
    for n in range(events):
        record = {
            "event_name": "page_view",
            "event_timestamp": str(1709625600000000 + n * 1_000_000),
            "user_pseudo_id": f"u{n % 50}",
        }
        yield json.dumps(record).encode() + b"\n"


def otto_lines(shoppers: int) -> Iterator[bytes]:
    for n in range(shoppers):
        events = [{"aid": n % 7, "ts": 1661724000000 + n * 1000, "type": "clicks"}]
        yield json.dumps({"session": n, "events": events}).encode() + b"\n"


def woocommerce_lines(orders: int) -> Iterator[bytes]:
    yield b"order_id,order_date,status,order_total,billing_email,line_items\n"
    for n in range(orders):
        item = "name:Cup|product_id:7|sku:CUP|quantity:1|subtotal:5.00|total:5.00"
        yield f"{n},2024-03-05 10:00:00,completed,5.00,c{n}@x.example,{item}\n".encode()


GENERATED = {
    "orders": uci_lines,
    "shopify": shopify_lines,
    "woocommerce": woocommerce_lines,
    "tarry": tarry_lines,
    "ga4": ga4_lines,
    "otto": otto_lines,
}


@pytest.mark.parametrize("fmt", FORMATS)
def test_rows_come_before_the_file_is_read(fmt: str) -> None:
    generated = GeneratedFile(GENERATED[fmt](100_000))
    rows = read(fmt, io.BufferedReader(generated))
    first = next(rows)
    assert first.event is not None
    assert generated.lines_made < 1_000  # of 100,000 and more


def test_memory_stays_flat_on_a_large_file() -> None:
    """60,000 order lines (4.2 MB) read in under 3 MB, most of it the order ids kept
    to tell a late line from a new order (10,000 at most); the file alone, or the
    20,000 events kept, would take more."""
    stream = io.BufferedReader(GeneratedFile(uci_lines(20_000)))
    tracemalloc.start()
    try:
        rows = read("orders", stream)
        count = sum(1 for _ in rows)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 20_000
    assert peak < 3_000_000
