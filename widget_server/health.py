"""`/healthz` (the process answers) and `/readyz` (and so does Redis)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from widget_server.responses import STORAGE_ERRORS, json_response


async def healthz(request: Request) -> Response:
    return json_response({"status": "ok"})


async def readyz(request: Request) -> Response:
    try:
        await request.app.state.storage.client.ping()
    except STORAGE_ERRORS as exc:
        request.app.state.metrics.redis_errors.inc()
        return json_response({"status": "unavailable", "redis": str(exc)}, 503)
    return json_response({"status": "ok", "redis": "ok"})
