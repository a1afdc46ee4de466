"""Secret-key authentication for the admin and stats APIs."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from widget_server.responses import error
from widget_server.storage import AsyncRedis
from widget_server.stores import Store, store_for_secret


async def store_from_secret(request: Request, redis: AsyncRedis) -> Store | Response:
    """The store whose secret key is in `Authorization: Bearer sk_...`, or a 401."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return error(
            401,
            "authorization: send the store's secret key as `Authorization: Bearer sk_...`",
            {"WWW-Authenticate": "Bearer"},
        )
    store = await store_for_secret(redis, token.strip())
    if store is None:
        return error(
            401,
            "authorization: unknown, rotated or disabled secret key",
            {"WWW-Authenticate": "Bearer"},
        )
    return store
