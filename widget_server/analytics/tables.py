"""A stats answer as CSV: the rows of its JSON, one line each, with a header row."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

from starlette.responses import Response


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def csv_response(rows: Sequence[dict[str, Any]], name: str) -> Response:
    """UTF-8 with a byte-order mark, so that spreadsheets read non-Latin text right;
    the columns are every key of the rows, in the order they first appear."""
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(k for k, v in row.items() if not isinstance(v, list | dict)))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(column)) for column in columns])
    return Response(
        ("\ufeff" + out.getvalue()).encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )
