"""`POST /v1/admin/catalog` (secret key): import a product feed into the catalog.

The body is the feed itself, so a merchant can `curl --data-binary @feed.xml` it or
point a scheduled export at it. Parsing a large feed takes a while, so it runs in a
worker thread and the server keeps answering other requests meanwhile.
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response

from widget_server.admin import catalog_import
from widget_server.auth import store_from_secret
from widget_server.responses import STORAGE_ERRORS, error, json_response, storage_unavailable
from widget_server.storage import catalog as catalog_store

MAX_BODY = 50 * 1024 * 1024

CONTENT_TYPES = {
    "text/csv": "csv",
    "text/tab-separated-values": "csv",
    "application/csv": "csv",
    "application/x-ndjson": "jsonl",
    "application/jsonl": "jsonl",
    "application/json-lines": "jsonl",
    "application/xml": "gmc",
    "text/xml": "gmc",
    "application/rss+xml": "gmc",
    "application/atom+xml": "gmc",
}


def _format(request: Request) -> str | Response | None:
    """The feed format from `?format=`, else the Content-Type; None: detect it."""
    fmt = request.query_params.get("format")
    if fmt is not None:
        if fmt not in catalog_import.FORMATS:
            return error(400, f"format: must be one of {', '.join(catalog_import.FORMATS)}")
        return fmt
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return CONTENT_TYPES.get(media_type)


async def _body(request: Request) -> bytes | None:
    """The body, or None when it is larger than MAX_BODY (read no further)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def import_catalog(request: Request) -> Response:
    """Merge the feed's good rows into the catalog; report the bad ones by line."""
    redis = request.app.state.storage.client
    try:
        store = await store_from_secret(request, redis)
        if isinstance(store, Response):
            return store
        fmt = _format(request)
        if isinstance(fmt, Response):
            return fmt
        body = await _body(request)
        if body is None:
            return error(413, f"body: larger than {MAX_BODY} bytes")
        try:
            result = await asyncio.to_thread(catalog_import.parse_feed, body, fmt, None, store.site)
        except catalog_import.FeedError as exc:
            return error(400, str(exc))
        if not result.cards:
            return error(400, "feed: no valid item", rejected=result.errors)
        imported = await catalog_store.upsert_cards(redis, store.id, result.cards)
    except STORAGE_ERRORS:
        request.app.state.metrics.redis_errors.inc()
        return storage_unavailable()
    return json_response({"imported": imported, "rejected": result.errors})
