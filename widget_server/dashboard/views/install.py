"""Install: the store's script tag, where to paste it on the common platforms, a
check that turns green when the first events arrive, and past orders.

Context of `install.html`: `tag` (the exact script tag), `base` (the address it
loads from), `events` (events in the last 30 minutes), `domains`, `import_path`
(the orders import endpoint when this server has it, else None); after an upload,
`summary` (the import's summary, as `POST /v1/admin/import` answers it),
`import_error` and `filename`.
"""

from __future__ import annotations

import gzip
from typing import IO, Any, cast

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from widget_server.admin import imports
from widget_server.analytics import traffic
from widget_server.dashboard.web import Page, signed_in
from widget_server.imports.command import ORDER_FORMATS
from widget_server.imports.formats.rows import FORMATS, FormatError, read, sniff
from widget_server.imports.pipeline import run_import
from widget_server.storage.clock import now_ms

IMPORT_PATH = "/v1/admin/import"


def server_address(request: Request) -> str:
    """Where shoppers' browsers reach this server: `TARRY_PUBLIC_URL`, else the
    address this request came to."""
    public: str | None = request.app.state.settings.public_url
    return public or str(request.base_url).rstrip("/")


def script_tag(base: str, public_key: str) -> str:
    return f'<script async src="{base}/t.js" data-key="{public_key}"></script>'


def open_upload(file: IO[bytes]) -> tuple[IO[bytes], IO[bytes]]:
    """The uploaded file to read (gunzipped when it is gzip), and the raw file."""
    head = file.read(2)
    file.seek(0)
    if head == b"\x1f\x8b":
        return cast(IO[bytes], gzip.GzipFile(fileobj=file)), file
    return file, file


def _serves(request: Request, path: str) -> bool:
    return path in request.app.state.api_paths


async def _install(page: Page, status: int = 200, **result: Any) -> Response:
    base = server_address(page.request)
    live = await traffic.realtime(page.redis, page.store.id, now_ms())
    response = page.render(
        "install.html",
        "install",
        base=base,
        tag=script_tag(base, page.store.public_key),
        events=sum(row["events"] for row in live["rows"]),
        domains=page.store.domains,
        import_path=IMPORT_PATH if _serves(page.request, IMPORT_PATH) else None,
        **{"summary": None, "import_error": None, "filename": None, **result},
    )
    response.status_code = status
    return response


@signed_in
async def install_page(page: Page) -> Response:
    return await _install(page)


@signed_in
async def upload_orders(page: Page) -> Response:
    """Past orders or events from an export file: the same import as
    `tarry import-events` and `POST /v1/admin/import`."""
    assert page.form is not None
    upload = page.form.get("orders")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return await _install(page, 400, import_error="orders: choose an export file")
    if upload.size is not None and upload.size > imports.MAX_BODY:
        return await _install(page, 413, import_error="orders: the file is too large")
    stream, _ = open_upload(upload.file)
    fmt = page.field("format") or sniff(stream.read(4096))
    stream.seek(0)
    if fmt not in FORMATS:
        return await _install(
            page, 400, import_error="format: cannot tell the file's format; choose it",
            filename=upload.filename,
        )  # fmt: skip
    try:
        rows = read(fmt, stream)
    except FormatError as exc:
        return await _install(page, 400, import_error=str(exc), filename=upload.filename)
    settings = page.request.app.state.settings
    summary = await run_import(
        page.redis, page.store, rows, orders_only=fmt in ORDER_FORMATS, now_ms=now_ms(),
        retention_days=settings.event_retention_days, in_thread=True,
    )  # fmt: skip
    return await _install(page, summary=summary.as_json(), filename=upload.filename)
