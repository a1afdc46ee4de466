"""JSON responses, and the shape of every error: `{"error": "<field>: <reason>"}`."""

from __future__ import annotations

import sys
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
    # Redis at `maxmemory` with `noeviction` refuses writes until memory is freed:
    # like an outage it passes, and the sender should retry, not drop its data.
    redis.exceptions.OutOfMemoryError,
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


def too_deep(field: str) -> str:
    """What a sender of JSON nested past Python's recursion limit (about 1000
    levels, well inside any body limit) is told: JSON decoders recurse per level,
    and raise RecursionError, not a decoding error, there."""
    return f"{field}: nested too deeply; objects and lists may nest a few hundred levels at most"


STORAGE_UNAVAILABLE = "storage: Redis is unreachable; try again later"
STORAGE_FULL = "storage: Redis is out of memory (maxmemory); try again later"


def storage_message(exc: BaseException | None) -> str:
    """What a storage error says to the sender: Redis away, or Redis full."""
    if isinstance(exc, redis.exceptions.OutOfMemoryError):
        return STORAGE_FULL
    return STORAGE_UNAVAILABLE


def storage_unavailable(headers: dict[str, str] | None = None) -> Response:
    # Called from the `except` clause of a storage error: the one being handled
    # says which message fits.
    return error(
        503,
        storage_message(sys.exception()),
        {"Retry-After": "5", **(headers or {})},
    )
