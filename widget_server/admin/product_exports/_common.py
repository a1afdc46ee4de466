"""What the platforms' readers share: the shape of what they yield, availability
words, and reading a row's cells."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

# (line, record in the feed's field names, field -> the export's column), or
# (line, None, {"error": "..."}) for a row that is no item at all.
Record = tuple[int, dict[str, Any] | None, dict[str, str]]
Rows = Iterable[tuple[int, dict[str, str]]]  # (line, cells by lower-case column)
Reader = Callable[[Rows, "list[str]", "str | None"], Iterator[Record]]

DISCONTINUED = "discontinued"
OUT_OF_STOCK = "out_of_stock"
IN_STOCK = "in_stock"


def spelling(header: list[str]) -> dict[str, str]:
    """Lower-case column -> the export's own spelling, for error messages."""
    return {column.strip().lower(): column.strip() for column in header}


def kept(cells: dict[str, str], columns: tuple[str, ...]) -> dict[str, str]:
    """The cells a reader uses: what it holds until a product's last row is read
    (a large export would not fit in memory as whole rows)."""
    return {column: cells[column] for column in columns if cells.get(column)}


def sources(names: dict[str, str], columns: dict[str, str]) -> dict[str, str]:
    """Field -> the column behind it, as the export spells it."""
    return {field: names.get(column.lower(), column) for field, column in columns.items()}


_SLASHED = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{2}|\d{4})\b")


def date(cell: str) -> dt.date | None:
    """`2024-05-31 00:00:00`, or month first as Magento's export writes it in its
    default (US English) locale: `5/31/24, 12:00 AM`."""
    cell = cell.strip()
    slashed = _SLASHED.match(cell)
    try:
        if slashed:
            month, day, year = (int(part) for part in slashed.groups())
            return dt.date(year + 2000 if year < 100 else year, month, day)
        return dt.date.fromisoformat(cell[:10])
    except ValueError:
        return None


def on_sale(starts: str, ends: str, today: dt.date) -> bool:
    """Whether a sale's dates, where given, hold today."""
    first, last = date(starts), date(ends)
    return (first is None or first <= today) and (last is None or today <= last)


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()
