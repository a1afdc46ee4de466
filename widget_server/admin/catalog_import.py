"""Reading a product feed into catalog cards: CSV, JSON lines, or a Google Merchant
Center feed (RSS 2.0 or Atom with `g:` fields). A CSV that is a platform's own
product export (Shopify's, WooCommerce's, Magento's) is read by `product_exports`.

A feed is a merchant's export, so bad rows are normal: each is reported with its
line number and the rest are imported. Only a feed that cannot be read as a whole
(not text, broken XML, no id column) is refused.

XML is parsed with expat (the parser under ElementTree) driven here, which gives the
line of each `<item>` and lets any DOCTYPE be refused outright: with no DOCTYPE
there can be no entity declarations, so neither entity expansion ("billion laughs")
nor external entities can happen. defusedxml is therefore not needed.

Categories: a `product_type` such as "Home > Kitchen > Mugs" is kept as the full
path (spacing normalized to " > "). The path loses nothing (the leaf can always be
taken from it, not the other way round), and leaf names repeat across branches
("Accessories" for men and for women). `google_product_category` is Google's
taxonomy, not the store's, and is ignored.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import json
import math
import re
from collections.abc import Iterator, Mapping
from pathlib import PurePath
from typing import Any
from urllib.parse import urlsplit
from xml.parsers import expat

from widget_server.admin import product_exports
from widget_server.responses import too_deep

FORMATS = ("csv", "jsonl", "gmc")
GMC_NS = "http://base.google.com/ns/1.0"

MAX_ID = 128
MAX_TEXT = 512
MAX_URL = 2048

# Column and key names, ours first: the first one present and non-empty wins. A
# name is compared as `key` writes it, so `Product Name`, `product-name` and
# `product_name` are one name.
ALIASES: dict[str, tuple[str, ...]] = {
    "item_id": ("item_id", "id", "sku", "product_id", "offer_id", "product_code", "item_code"),
    "name": ("name", "title", "item_name", "product_name", "product_title"),
    "url": ("url", "link", "product_url", "product_link", "permalink"),
    "image": ("image", "image_link", "image_url", "image_src", "main_image", "picture_url"),
    "price": ("price", "unit_price", "regular_price", "retail_price"),
    "currency": ("currency", "currency_code"),
    "category": ("category", "product_type", "item_category", "category_path"),
    "brand": ("brand", "item_brand", "manufacturer", "vendor"),
    "availability": ("availability", "stock_status"),
}


def key(name: str) -> str:
    """A column or key name as the aliases spell it: lower case, `_` for runs of
    spaces, hyphens and underscores, without Google's `g:`."""
    return re.sub(r"[\s_-]+", "_", name.strip().lower()).removeprefix("g:")


SALE_DATES = "2024-02-24T00:00+0100/2024-02-29T23:59+0100"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


_PRICE = re.compile(r"^\s*(?P<amount>\S+?)(?:\s+(?P<currency>[A-Za-z]{3}))?\s*$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")


class FeedError(ValueError):
    """The feed as a whole cannot be read; the message names the problem."""


class RowError(ValueError):
    """One row is bad; the message is `field: reason`."""


@dataclasses.dataclass
class ImportResult:
    """Cards of the good rows, and `{"line": n, "error": "field: reason"}` per bad one."""

    cards: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    errors: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    @property
    def rows(self) -> int:
        return len(self.cards) + len(self.errors)

    @property
    def accepted(self) -> int:
        return len(self.cards)

    @property
    def rejected(self) -> int:
        return len(self.errors)


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _text(field: str, value: object, limit: int = MAX_TEXT) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise RowError(f"{field}: not text ({_shown(value)})")
    text = " ".join(str(value).split())
    if len(text) > limit:
        raise RowError(f"{field}: longer than {limit} characters")
    return text or None


def _url(field: str, value: object, site: str | None = None) -> str | None:
    """An http(s) URL; a path (`/products/mug`, as exports of a shop's own pages
    write them) on the shop's `site`, or none without one; `//cdn.example/a.jpg`
    over https."""
    text = _text(field, value, MAX_URL)
    if text is None:
        return None
    if text.startswith("//"):
        text = "https:" + text
    elif text.startswith("/"):
        return site + text if site else None
    parts = urlsplit(text)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise RowError(f"{field}: not an http(s) URL ({_shown(text)})")
    return text


def _price(value: object, field: str = "price") -> tuple[float | None, str | None]:
    """A price and the currency written with it ("19.99 USD"), if any."""
    if value is None or value == "":
        return None, None
    if isinstance(value, bool):
        raise RowError(f"{field}: not a number ({_shown(value)})")
    currency = None
    if isinstance(value, int | float):
        amount = float(value)
    elif isinstance(value, str):
        match = _PRICE.match(value)
        if match is None:
            raise RowError(f"{field}: not a number ({_shown(value)})")
        currency = match["currency"]
        try:
            amount = float(match["amount"])
        except ValueError:
            raise RowError(f"{field}: not a number ({_shown(value)})") from None
    else:
        raise RowError(f"{field}: not a number ({_shown(value)})")
    if not math.isfinite(amount):
        raise RowError(f"{field}: not a number ({_shown(value)})")
    if amount < 0:
        raise RowError(f"{field}: negative ({_shown(value)})")
    return amount, currency.upper() if currency else None


def _sale_runs(value: object, now: dt.datetime) -> bool:
    """Whether a `sale_price_effective_date` holds now: Google's and Meta's ISO 8601
    interval (`2024-02-24T11:07+0100/2024-02-29T23:07+0100`; a bound without an
    offset is UTC). A sale without one runs."""
    field = "sale_price_effective_date"
    text = _text(field, value)
    if text is None:
        return True
    start, slash, end = text.partition("/")
    bounds = []
    for bound in (start, end) if slash else ():
        try:
            moment = dt.datetime.fromisoformat(bound.strip())
        except ValueError:
            break
        bounds.append(moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC))
    if len(bounds) != 2:
        raise RowError(f"{field}: not a start/end interval such as {SALE_DATES} ({_shown(text)})")
    return bounds[0] <= now <= bounds[1]


def _category(value: object) -> str | None:
    text = _text("category", value)
    if text is None or ">" not in text:
        return text
    return " > ".join(part.strip() for part in text.split(">") if part.strip()) or None


def to_card(record: Mapping[str, Any], site: str | None = None) -> dict[str, Any]:
    """A card from one record (keys in any case, ours or an alias); raises RowError.
    `site` (`https://shop.example`) is where a link or image given as a path is."""
    fields = {key(k): v for k, v in record.items() if k}
    given: dict[str, Any] = {}
    for name, aliases in ALIASES.items():
        for alias in aliases:
            value = fields.get(alias)
            if value is not None and value != "":
                given[name] = value
                break
    item_id = _text("item_id", given.get("item_id"), MAX_ID)
    if item_id is None:
        raise RowError("item_id: required")
    # Checked in the card's field order, so a row's first error is the leftmost.
    card: dict[str, Any] = {
        "item_id": item_id,
        "name": _text("name", given.get("name")),
        "url": _url("url", given.get("url"), site),
        "image": _url("image", given.get("image"), site),
    }
    card["price"], price_currency = _price(given.get("price"))
    sale, sale_currency = _price(fields.get("sale_price"), "sale_price")
    if sale is not None and _sale_runs(fields.get("sale_price_effective_date"), _now()):
        card["price"], price_currency = sale, sale_currency or price_currency
    currency = _text("currency", given.get("currency"))
    if currency is not None and not _CURRENCY.match(currency.upper()):
        raise RowError(f"currency: not 3 letters such as USD ({_shown(currency)})")
    card["currency"] = currency.upper() if currency else price_currency
    card["category"] = _category(given.get("category"))
    card["brand"] = _text("brand", given.get("brand"))
    card["availability"] = _text("availability", given.get("availability"), 64)
    return {k: v for k, v in card.items() if v is not None}


def _add(
    result: ImportResult,
    line: int,
    record: Mapping[str, Any],
    sources: Mapping[str, str] | None = None,
    site: str | None = None,
) -> None:
    """The record's card, or its error; `sources` names the column behind a field
    where the file's is not ours (a platform's export), for the error to name it."""
    try:
        result.cards.append(to_card(record, site))
    except RowError as exc:
        message = str(exc)
        field, _, reason = message.partition(": ")
        if sources and field in sources:
            message = f"{sources[field]}: {reason}"
        result.errors.append({"line": line, "error": message})


# -- formats -------------------------------------------------------------------------


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FeedError(f"feed: not UTF-8 text (byte {exc.start})") from None


def _decode_csv(data: bytes) -> str:
    """A CSV's text: UTF-8, else Windows-1252 (Excel's plain "CSV" in Western Europe
    and the Americas); a file with NUL bytes is no text at all."""
    try:
        return _decode(data)
    except FeedError:
        if b"\x00" in data:
            raise
        return data.decode("cp1252", errors="replace")


def _delimiter(header: str) -> str:
    """`,` unless the header is plainly separated by tabs or `;` (a spreadsheet set
    to a decimal comma)."""
    for candidate in ("\t", ";"):
        if candidate in header and "," not in header:
            return candidate
    return ","


def _comma_price(value: str) -> str:
    """`12,50 EUR` and `1.234,50` as `12.50 EUR` and `1234.50`; anything else as it
    came, for the error to quote it."""
    amount, space, rest = value.strip().partition(" ")
    if "," not in amount:
        return value
    number = amount.replace(".", "").replace(",", ".", 1)
    try:
        float(number)
    except ValueError:
        return value
    return number + space + rest


def parse_csv(data: bytes, site: str | None = None) -> ImportResult:
    """A CSV feed; `site` (`https://shop.example`) links the cards of a platform's
    product export that names a product's page without the shop's address."""
    text = _decode_csv(data)
    first = text[:4096].split("\n", 1)[0]
    delimiter = _delimiter(first)
    decimal_comma = delimiter != ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    result = ImportResult()

    def rows(columns: list[str]) -> Iterator[tuple[int, dict[str, str]]]:
        end = reader.line_num
        for row in reader:
            line, end = end + 1, reader.line_num  # a quoted field may span lines
            if not any(cell.strip() for cell in row):
                continue
            if any(cell.strip() for cell in row[len(columns) :]):
                result.errors.append(
                    {"line": line, "error": f"row: {len(row)} cells, header has {len(columns)}"}
                )
                continue
            yield line, dict(zip(columns, row, strict=False))

    def add(line: int, record: dict[str, Any], sources: Mapping[str, str] | None = None) -> None:
        if decimal_comma:
            for name in (*ALIASES["price"], "sale_price"):
                if isinstance(record.get(name), str):
                    record[name] = _comma_price(record[name])
        _add(result, line, record, sources, site)

    try:
        header = next(reader, None)
        if header is None:
            raise FeedError("feed: empty")
        named = [h.strip().lower() for h in header]
        export = product_exports.reader_for(named)
        if export is not None:
            for line, record, sources in export(rows(named), header, site):
                if record is None:
                    result.errors.append({"line": line, "error": sources["error"]})
                else:
                    add(line, record, sources)
            result.errors.sort(key=lambda e: int(e["line"]))
            return result
        columns = [key(h) for h in header]
        if not any(c in ALIASES["item_id"] for c in columns):
            raise FeedError("header: no item id column (item_id, id or sku)")
        for line, record in rows(columns):
            add(line, record)
    except csv.Error as exc:
        raise FeedError(f"feed: line {reader.line_num}: not CSV ({exc})") from None
    return result


LONE_SURROGATE = "json: a string holds a lone UTF-16 surrogate (such as \\ud800 without its pair)"


def _holds_lone_surrogate(line: str, record: Any) -> bool:
    """Whether json.loads made a string that UTF-8, and so Redis, cannot hold: it
    accepts an escaped half of a surrogate pair on its own."""
    if "\\u" not in line:
        return False
    try:
        json.dumps(record, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return True
    return False


def parse_jsonl(data: bytes, site: str | None = None) -> ImportResult:
    result = ImportResult()
    for number, line in enumerate(_decode(data).split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            reason = getattr(exc, "msg", str(exc))
            result.errors.append({"line": number, "error": f"json: not a JSON object ({reason})"})
            continue
        except RecursionError:
            result.errors.append({"line": number, "error": too_deep("json")})
            continue
        if _holds_lone_surrogate(line, record):
            result.errors.append({"line": number, "error": LONE_SURROGATE})
            continue
        if not isinstance(record, dict):
            result.errors.append({"line": number, "error": "json: not a JSON object"})
            continue
        _add(result, number, record, site=site)
    return result


class _RefusedXml(Exception):
    pass


def _records(data: bytes) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line of the start tag, fields) for each `<item>` or `<entry>` of a feed; `g:`
    fields win over plain ones (`g:title` over `title`)."""
    parser = expat.ParserCreate(namespace_separator=" ")
    done: list[tuple[int, dict[str, Any]]] = []
    current: dict[str, Any] | None = None
    plain: dict[str, Any] = {}
    line = 0
    depth = 0  # inside a record: 1 is the record element, 2 its fields
    text: list[str] = []

    def refuse(*_: object) -> None:
        raise _RefusedXml

    def start(name: str, attrs: dict[str, str]) -> None:
        nonlocal current, line, depth, plain
        local = name.rpartition(" ")[2]
        if current is None:
            if local in ("item", "entry"):
                current, plain, line, depth = {}, {}, parser.CurrentLineNumber, 1
            return
        depth += 1
        text.clear()
        # Atom's `<link rel="alternate" href="..."/>`: the product page.
        href = attrs.get("href") if attrs.get("rel", "alternate") == "alternate" else None
        if depth == 2 and local == "link" and href:
            plain.setdefault("link", href)

    def end(name: str) -> None:
        nonlocal current, depth
        if current is None:
            return
        depth -= 1
        if depth == 0:
            done.append((line, {**plain, **current}))
            current = None
        elif depth == 1:
            namespace, _, local = name.rpartition(" ")
            value = "".join(text).strip()
            target = current if namespace == GMC_NS else plain
            if value:
                target.setdefault(local, value)
        text.clear()

    def chars(data: str) -> None:
        if current is not None and depth == 2:
            text.append(data)

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    view = memoryview(data)
    chunk = 1 << 20
    try:
        for offset in range(0, len(data), chunk):
            parser.Parse(bytes(view[offset : offset + chunk]), False)
            yield from done
            done.clear()
        parser.Parse(b"", True)
    except _RefusedXml:
        raise FeedError(
            f"feed: line {parser.CurrentLineNumber}: XML with a DOCTYPE or entity "
            "declaration is refused"
        ) from None
    except expat.ExpatError as exc:
        reason = expat.ErrorString(exc.code)
        raise FeedError(
            f"feed: line {exc.lineno}, column {exc.offset + 1}: not well-formed XML ({reason})"
        ) from None
    yield from done


def parse_gmc(data: bytes, site: str | None = None) -> ImportResult:
    result = ImportResult()
    seen_record = False
    for line, fields in _records(data):
        seen_record = True
        _add(result, line, fields, site=site)
    if not seen_record:
        raise FeedError("feed: no <item> or <entry> elements (not an RSS or Atom product feed)")
    return result


def detect_format(data: bytes, filename: str | None = None) -> str:
    """csv, jsonl or gmc, from the file name's suffix, else from the first character."""
    if filename:
        suffix = PurePath(filename).suffix.lower()
        for fmt, suffixes in (
            ("csv", (".csv", ".tsv", ".txt")),
            ("jsonl", (".jsonl", ".ndjson")),
            ("gmc", (".xml", ".rss", ".atom")),
        ):
            if suffix in suffixes:
                return fmt
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<"):
        return "gmc"
    if head.startswith(b"{"):
        return "jsonl"
    return "csv"


def parse_feed(
    data: bytes, fmt: str | None = None, filename: str | None = None, site: str | None = None
) -> ImportResult:
    """The cards of a feed and its bad rows; raises FeedError for an unreadable feed.
    `site` is the shop's address, for a product export that has no links of its own."""
    if not data.strip():
        raise FeedError("feed: empty")
    fmt = fmt or detect_format(data, filename)
    if fmt == "csv":
        result = parse_csv(data, site)
    elif fmt == "jsonl":
        result = parse_jsonl(data, site)
    elif fmt == "gmc":
        result = parse_gmc(data, site)
    else:
        raise FeedError(f"format: must be one of {', '.join(FORMATS)}, not {fmt!r}")
    return result
