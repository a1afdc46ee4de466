"""Cells of an export turned into event fields: stable ids, times, amounts, counts.

Every parser raises `ValueError` with the reason only ("not a date: 'yesterday'");
the reader that called it puts the column's name in front, as the file names it.
"""

from __future__ import annotations

import hashlib
import math
import re
from datetime import UTC, datetime, timedelta, tzinfo
from email.utils import parsedate_to_datetime

# The collect schema's limits (widget_server.collect.events). Ids become parts of
# Redis key names: one outside their alphabet, or longer, is hashed.
MAX_ID = 64
_ID = re.compile(r"[A-Za-z0-9_.:-]+")
MAX_ITEM_ID = 128
MAX_TEXT = 512
MAX_UID = 254
MAX_QUANTITY = 100_000
MAX_MONEY = 1e9
NO_CUSTOMER = "c:-"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def digest(*fields: str) -> str:
    """16 hex digits that identify `fields` (in order) across runs and machines."""
    joined = "\x1f".join(fields).encode()  # ASCII's unit separator: not in real text
    return hashlib.blake2b(joined, digest_size=8).hexdigest()


def as_id(prefix: str, text: str) -> str:
    """`prefix + text` when that is a valid event id, else `prefix` and a digest of
    `text`: ids stay readable where they can and valid where they cannot."""
    candidate = prefix + text
    if len(candidate) <= MAX_ID and _ID.fullmatch(candidate):
        return candidate
    return prefix + digest(text)


def visitor_of(customer: str | None) -> str:
    """The visitor id of an order's customer: `c:<id>`. An e-mail address is never
    put in an id: it becomes a digest of its normalised form, so one customer
    written `Ann@Shop.com` and `ann@shop.com` stays one visitor."""
    if not customer:
        return NO_CUSTOMER
    if "@" in customer:
        return "c:" + digest(customer.strip().lower())
    return as_id("c:", customer)


def customer_uid(customer: str | None) -> str | None:
    """The event's `uid`: the customer as the shop knows them (an e-mail address is
    passed as it is: the ingest hashes it with the store's salt)."""
    if not customer:
        return None
    return customer if len(customer) <= MAX_UID else digest(customer)


def clip(text: str, limit: int = MAX_TEXT) -> str:
    """Free text for a field of at most `limit` characters (names, titles)."""
    text = text.strip()
    return text if len(text) <= limit else text[:limit]


def shown(text: str) -> str:
    """A cell quoted in an error message, cut so that a broken row stays readable."""
    return repr(text if len(text) <= 40 else text[:37] + "...")


def _millis(when: datetime, zone: tzinfo) -> int:
    """Milliseconds since the epoch, exactly (no float rounding); a time without an
    offset is read in `zone`."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=zone)
    return (when - _EPOCH) // _MS


# Dates as spreadsheets and shop exports write them: `12/1/2010 8:26` (Excel in the
# US, and the widely shared CSV of UCI Online Retail), `01/12/2010 08:26` (the UK),
# `01.12.2010 08:26:00` (Germany: always the day first), `2010/12/01`, `12/1/10 2:05 PM`.
_WRITTEN = re.compile(
    r"(?P<a>\d{1,4})(?P<sep>[/.-])(?P<b>\d{1,2})(?P=sep)(?P<c>\d{2}|\d{4})"
    r"(?:(?:[ T]+|, ?)(?P<h>\d{1,2}):(?P<m>\d{2})(?::(?P<s>\d{2})(?:\.\d+)?)?"
    r" ?(?P<ampm>[AaPp]\.?[Mm]\.?)?)?"
)


def written_order(text: str) -> str | None:
    """Which part of a date written with slashes or dashes comes first, as far as
    the date alone tells: "day" (`13/12/2010`), "month" (`12/13/2010`) or "either"
    (`1/2/2010`); None for any other date (ISO 8601, German dots, not a date)."""
    match = _WRITTEN.fullmatch(text.strip())
    if match is None or match["sep"] == "." or len(match["a"]) > 2:
        return None
    first, second = int(match["a"]), int(match["b"])
    if first > 12 >= second:
        return "day"
    if second > 12 >= first:
        return "month"
    return "either"


def _written(text: str, zone: tzinfo, day_first: bool) -> int | None:
    """A date as `_WRITTEN` reads it, or None."""
    match = _WRITTEN.fullmatch(text)
    if match is None:
        return None
    a, b, c = int(match["a"]), int(match["b"]), int(match["c"])
    if len(match["a"]) > 2:
        year, month, day = a, b, c
    else:
        if len(match["c"]) == 2:  # as strptime's %y: 69-99 are 1969-1999
            c += 1900 if c >= 69 else 2000
        year = c
        month, day = (b, a) if day_first or match["sep"] == "." else (a, b)
    hour = int(match["h"] or 0)
    ampm = (match["ampm"] or "").lower()[:1]
    if ampm and not 1 <= hour <= 12:
        return None
    if ampm == "p" and hour < 12:
        hour += 12
    elif ampm == "a" and hour == 12:
        hour = 0
    try:
        when = datetime(year, month, day, hour, int(match["m"] or 0), int(match["s"] or 0))
    except ValueError:
        return None
    return _millis(when, zone)


def parse_time(text: str, zone: tzinfo = UTC, *, day_first: bool = False) -> int:
    """ISO 8601 (`2024-03-05 14:07:33 +0530`, `2010-12-01T08:26:00Z`, a date alone), a
    whole number of seconds, milliseconds or microseconds since the epoch, or a date
    as spreadsheets write it (`12/1/2010 8:26`, month first unless `day_first`;
    `01.12.2010`, always day first), or RFC 2822 (`Mon, 23 Sep 2024 14:21:24 +0000`).
    A time without an offset is read in `zone`."""
    text = text.strip()
    if text.isdigit():
        number = int(text)
        if number >= 10**14:
            return number // 1000  # microseconds (GA4's, or a database's)
        return number if number >= 10**11 else number * 1000
    try:
        return _millis(datetime.fromisoformat(text), zone)
    except ValueError:
        pass
    written = _written(text, zone, day_first)
    if written is not None:
        return written
    try:  # RFC 2822, as BigCommerce and e-mail write it: `Mon, 23 Sep 2024 14:21:24 +0000`
        return _millis(parsedate_to_datetime(text), zone)
    except (ValueError, TypeError, IndexError):
        raise ValueError(f"not a date: {shown(text)}") from None


def comma_decimal(text: str) -> str:
    """`2,55` and `1.234,50` as `2.55` and `1234.50`: an amount as a spreadsheet in a
    European locale writes it (whose CSV separates cells by `;`)."""
    return text.replace(".", "").replace(",", ".", 1) if "," in text else text


def parse_money(text: str, decimal_comma: bool = False) -> float:
    """A non-negative amount such as `12.50` (and `12,50` with `decimal_comma`)."""
    try:
        amount = float(comma_decimal(text) if decimal_comma else text)
    except ValueError:
        raise ValueError(f"not a number: {shown(text)}") from None
    if not math.isfinite(amount):
        raise ValueError(f"not a number: {shown(text)}")
    if amount < 0:
        raise ValueError(f"negative: {shown(text)}")
    if amount > MAX_MONEY:
        raise ValueError(f"more than {MAX_MONEY:,.0f}: {shown(text)}")
    return amount


def parse_quantity(text: str) -> int:
    """A whole number of units (`3`, or `3.0` as spreadsheets write it); a negative one
    is returned as it is (a return), for the reader to decide."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        raise ValueError(f"not a whole number: {shown(text)}") from None
    if not number.is_integer():
        raise ValueError(f"not a whole number: {shown(text)}")
    return int(number)


_CURRENCY = re.compile(r"[A-Z]{3}")


def parse_currency(text: str) -> str:
    """A three-letter code (ISO 4217), in capitals whatever the file wrote."""
    code = text.strip().upper()
    if not _CURRENCY.fullmatch(code):
        raise ValueError(f"not a three-letter currency code such as EUR: {shown(text)}")
    return code
