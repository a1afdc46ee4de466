"""Who is asking: the secret key of the admin and stats APIs, and the public key
(with the page's origin) of the snippet's endpoints."""

from __future__ import annotations

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response

from widget_server.responses import error
from widget_server.storage.connect import AsyncRedis
from widget_server.storage.stores import PublicKeyCache, Store, store_for_secret


def cors_headers(request: Request) -> dict[str, str]:
    """Echo the page's origin: no credentials are ever sent, so this exposes nothing."""
    origin = request.headers.get("origin")
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"} if origin else {}


def public_key_param(params: QueryParams) -> tuple[str, str]:
    """The query's public key and the name it came under: `k`, or its other name
    `key`, so that an error names the parameter the caller sent."""
    for name in ("k", "key"):
        if params.get(name):
            return name, str(params[name])
    return "k", ""


def secret_key_in_page(param: str) -> str:
    """What a page that sends the secret key is told: it leaked."""
    return (
        f"{param}: this is the store's secret key (sk_...), which must never be in a page:"
        " send the public key (pk_...), and replace this secret key with"
        " `tarry store rotate-secret`"
    )


async def store_from_public_key(request: Request, key: str, param: str = "k") -> Store | Response:
    """The enabled store of a public key (sent as `param`), or the 401 / 403 answer:
    an unknown key, or a page origin outside the store's domains."""
    cors = cors_headers(request)
    if key.startswith("sk_"):
        return error(401, secret_key_in_page(param), cors)
    if not key.startswith("pk_"):
        return error(401, f"{param}: a public key (pk_...) is required", cors)
    state = request.app.state
    keys_cache: PublicKeyCache = state.public_keys
    store = await keys_cache.get(key)
    if store is None:
        return error(401, f"{param}: unknown or disabled public key", cors)
    origin = request.headers.get("origin")
    if origin and state.settings.origins != "any" and not store.allows_origin(origin):
        return error(403, f"origin: {origin} is not one of the store's domains")
    return store


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
