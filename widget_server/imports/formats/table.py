"""A CSV export as rows with their line numbers, its columns found by name.

The file is read line by line from the binary stream and decoded on the way, so
memory does not grow with it; a quoted cell may span lines (the csv module asks
for the next one), which is why each record's line is where it starts. A UTF-8
byte order mark (Excel's "CSV UTF-8") is dropped. A line that is not UTF-8 is read
as Windows-1252, what Excel's plain "CSV" and many older shop systems write in
Western Europe and the Americas (`Café` as the byte E9); a byte that is not even
that becomes U+FFFD rather than stopping an import of millions of lines.
Lines may end in LF or CRLF.
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Iterable, Iterator, Mapping

from widget_server.imports.formats.rows import FormatError, Row
from widget_server.imports.formats.values import written_order

_BOM = "\ufeff"
# Columns listed in an error about a missing one: enough to see what the file is.
_COLUMNS_SHOWN = 40


def normal(name: str) -> str:
    """A column name as matched: case, spaces, `_` and `-` do not count."""
    return "".join(name.lower().replace("_", " ").replace("-", " ").split())


def _decode(line: bytes) -> str:
    """One line's text: UTF-8, else Windows-1252 (see the module's docstring). This
    runs once per line: the UTF-8 decode is one call in C."""
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return line.decode("cp1252", errors="replace")


def delimiter_of(header: str) -> str:
    """`,` unless the header line is plainly separated by `;` (spreadsheets set to a
    decimal comma) or tabs."""
    for candidate in ("\t", ";"):
        if candidate in header and "," not in header:
            return candidate
    return ","


class Header:
    """A CSV header: its columns, found by name."""

    def __init__(self, columns: list[str]) -> None:
        self.columns = [cell.strip() for cell in columns]
        self._index: dict[str, int] = {}
        for index, name in enumerate(self.columns):
            self._index.setdefault(normal(name), index)

    def find(self, *names: str) -> int | None:
        """The index of the first of `names` the header has (as `normal` matches)."""
        for name in names:
            index = self._index.get(normal(name))
            if index is not None:
                return index
        return None

    def require(self, field: str, *names: str, hint: str = "") -> int:
        """The index of `field`'s column (the first of `names` present), or FormatError
        naming the column and the columns the file has."""
        index = self.find(*names)
        if index is None:
            wanted = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
            raise FormatError(f"missing column for {field}: {wanted}{hint}; {self.found()}")
        return index

    def found(self) -> str:
        shown = ", ".join(repr(name) for name in self.columns[:_COLUMNS_SHOWN])
        more = len(self.columns) - _COLUMNS_SHOWN
        return f"columns found: {shown}" + (f" and {more} more" if more > 0 else "")


class Table(Header):
    """A CSV file: its header, and its records as (line, cells)."""

    def __init__(self, stream: Iterable[bytes]) -> None:
        lines = map(_decode, stream)
        first = next(lines, "").removeprefix(_BOM)
        self._blank_lines = 0  # before the header: the reader does not count them
        while first and not first.strip():
            first, self._blank_lines = next(lines, ""), self._blank_lines + 1
        if not first:
            raise FormatError("the file is empty: no header row")
        reader_lines = itertools.chain((first,), lines)
        self.delimiter = delimiter_of(first)
        self._reader = csv.reader(reader_lines, delimiter=self.delimiter)
        try:
            header = next(self._reader)
        except csv.Error as exc:
            raise FormatError(f"the header is not CSV ({exc})") from None
        super().__init__(header)
        # Why the records ended early, if they did: a cell over the csv module's size
        # limit, where a stray quote swallowed the rest of the file (the limit is
        # what keeps that out of memory).
        self.broken: Row | None = None

    def records(self) -> Iterator[tuple[int, list[str]]]:
        """(line where the record starts, its cells) for each non-blank record. Where
        the rest of the file cannot be read, the records end and `broken` says why."""
        reader, blank = self._reader, self._blank_lines
        end = reader.line_num + blank
        try:
            for cells in reader:
                line, end = end + 1, reader.line_num + blank
                if cells and (len(cells) > 1 or cells[0].strip()):
                    yield line, cells
        except csv.Error as exc:
            self.broken = Row(end + 1, error=f"not CSV from this line on ({exc})")


# Records read ahead to learn whether a file's dates put the day or the month first:
# the first day over 12 settles it (UCI Online Retail, month first, shows one after
# about 25,000 lines). What is read ahead is kept, and given back in order.
DATE_LOOKAHEAD = 200_000


def with_date_order(
    records: Iterator[tuple[int, list[str]]], column: int
) -> tuple[bool, Iterator[tuple[int, list[str]]]]:
    """Whether the dates in `column` put the day first (`13/12/2010`), and the records,
    unchanged. Only a file whose dates are written with slashes is read ahead; one
    whose dates never tell (every day 12 or less) is read month first."""
    ahead: list[tuple[int, list[str]]] = []
    for record in records:
        ahead.append(record)
        cells = record[1]
        text = cells[column].strip() if column < len(cells) else ""
        order = written_order(text) if text else ""
        if order is None or order in ("day", "month") or len(ahead) >= DATE_LOOKAHEAD:
            return order == "day", itertools.chain(ahead, records)
    return False, iter(ahead)


def width_error(cells: list[str], width: int) -> str | None:
    """Why a record does not fit the header, if it does not: too few cells, or cells
    beyond the header's that hold something (a stray delimiter shifts columns)."""
    if len(cells) < width:
        return f"row: {len(cells)} cells, the header has {width}"
    if len(cells) > width and any(cell.strip() for cell in cells[width:]):
        return f"row: {len(cells)} cells, the header has {width}"
    return None


def mapped(
    header: Header,
    defaults: Mapping[str, tuple[str, ...]],
    mapping: Mapping[str, str] | None,
) -> dict[str, int | None]:
    """Each field's column index: the column `mapping` names for it (which must
    exist), else the first of its default names the file has, else None."""
    mapping = mapping or {}
    unknown = sorted(set(mapping) - set(defaults))
    if unknown:
        raise FormatError(
            f"mapping: unknown field {unknown[0]!r}; the fields are {', '.join(defaults)}"
        )
    indexes: dict[str, int | None] = {}
    for field, names in defaults.items():
        column = mapping.get(field)
        if column:
            index = header.find(column)
            if index is None:
                raise FormatError(f"mapping: {field}={column}: no such column; {header.found()}")
            indexes[field] = index
        else:
            indexes[field] = header.find(*names)
    return indexes
