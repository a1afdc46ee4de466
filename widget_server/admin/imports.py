"""`POST /v1/admin/import` (secret key): a store's past orders or events, from an
export file sent as the body (`curl --data-binary @orders_export.csv`).

The body is spooled to a temporary file as it arrives (memory stays flat however
large the export), then read by the same import as `tarry import-events`, its
parsing in a worker thread so the server keeps answering meanwhile. The answer is
the import's summary: lines, what was counted, already there, skipped and bad rows
by line number. `?format=` names the format (else it is guessed from the file),
`?map=order_id=InvoiceNo` (repeated) maps an order-lines file's columns,
`?currency=` and `?zone=` say what the file does not.
"""

from __future__ import annotations

import tempfile
from typing import IO

from starlette.requests import Request
from starlette.responses import Response

from widget_server.auth import store_from_secret
from widget_server.imports.command import ORDER_FORMATS, ImportFailed, parse_mapping
from widget_server.imports.formats.rows import FORMATS, FormatError, read, sniff
from widget_server.imports.pipeline import run_import
from widget_server.responses import STORAGE_ERRORS, error, json_response, storage_unavailable
from widget_server.storage.clock import now_ms

MAX_BODY = 2 * 1024**3
SPOOL_IN_MEMORY = 8 * 1024 * 1024


async def _spool(request: Request) -> IO[bytes] | None:
    """The body in a temporary file, or None when it is larger than MAX_BODY."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        return None
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            spool.close()
            return None
        spool.write(chunk)
    spool.seek(0)
    return spool


async def import_events(request: Request) -> Response:
    redis = request.app.state.storage.client
    try:
        store = await store_from_secret(request, redis)
        if isinstance(store, Response):
            return store
        fmt = request.query_params.get("format")
        if fmt is not None and fmt not in FORMATS:
            return error(400, f"format: must be one of {', '.join(FORMATS)}, got {fmt!r}")
        try:
            parse_mapping(request.query_params.getlist("map"))
        except ImportFailed as exc:
            return error(400, str(exc).replace("--map", "map", 1))
        spool = await _spool(request)
        if spool is None:
            return error(413, f"body: an export file is at most {MAX_BODY // 1024**3} GB")
        with spool:
            if fmt is None:
                fmt = sniff(spool.read(4096))
                spool.seek(0)
                if fmt is None:
                    return error(
                        400,
                        f"format: cannot tell the file's format; name it ({', '.join(FORMATS)})",
                    )
            params = request.query_params
            try:
                rows = read(
                    fmt,
                    spool,
                    mapping=parse_mapping(params.getlist("map")),
                    currency=params.get("currency"),
                    zone=params.get("zone"),
                )
            except FormatError as exc:
                return error(400, f"body: {exc}")
            summary = await run_import(
                redis,
                store,
                rows,
                orders_only=fmt in ORDER_FORMATS,
                now_ms=now_ms(),
                retention_days=request.app.state.settings.event_retention_days,
                in_thread=True,
            )
    except STORAGE_ERRORS:
        request.app.state.metrics.redis_errors.inc()
        return storage_unavailable()
    return json_response({"store_id": store.id, "format": fmt, **summary.as_json()})
