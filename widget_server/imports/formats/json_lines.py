"""What the JSON-lines readers (ga4, otto) share: the file's first record checked
before any row, so a file of another kind fails at once, then every line that is
not blank, numbered as the file numbers them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import msgspec

from widget_server.imports.formats.rows import FormatError
from widget_server.responses import too_deep

decode = msgspec.json.decode


def first_record(stream: Iterable[bytes]) -> tuple[int, Any, Iterator[tuple[int, bytes]]]:
    """The first line with text: its number and JSON value (a byte order mark
    before it is dropped), and every line with text from that one on; FormatError
    for an empty file or a first line that is not JSON."""
    lines = enumerate(stream, start=1)
    for number, line in lines:
        if number == 1:
            line = line.removeprefix(b"\xef\xbb\xbf")
        if line.strip():
            try:
                record = decode(line)
            except msgspec.DecodeError as exc:
                raise FormatError(f"line {number}: not JSON lines ({exc})") from None
            except RecursionError:
                raise FormatError(f"line {number}: not JSON lines ({too_deep('json')})") from None
            return number, record, _with_text(number, line, lines)
    raise FormatError("the file is empty: no JSON line")


def _with_text(
    number: int, line: bytes, rest: Iterator[tuple[int, bytes]]
) -> Iterator[tuple[int, bytes]]:
    yield number, line
    for number, line in rest:
        if line.strip():
            yield number, line
