"""JSON responses, and the shape of every error: `{"error": "<field>: <reason>"}`."""

from __future__ import annotations

from typing import Any

import msgspec
import redis.exceptions
from starlette.responses import Response

_encode = msgspec.json.Encoder().encode

# Failures of storage rather than of the request: the sender should retry later.
STORAGE_ERRORS = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.BusyLoadingError,
    redis.exceptions.ClusterDownError,
    redis.exceptions.TryAgainError,
    redis.exceptions.ReadOnlyError,
    OSError,
)


def json_response(
    content: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(_encode(content), status, headers, media_type="application/json")


def error(
    status: int, message: str, headers: dict[str, str] | None = None, **extra: Any
) -> Response:
    return json_response({"error": message, **extra}, status, headers)


STORAGE_UNAVAILABLE = "storage: Redis is unreachable; try again later"


def storage_unavailable(headers: dict[str, str] | None = None) -> Response:
    return error(
        503,
        STORAGE_UNAVAILABLE,
        {"Retry-After": "5", **(headers or {})},
    )
