"""`GET /v1/recommendations`: a showcase's items, for the snippet (public key).

Query parameters: `key` (pk_...), `strategy` (recommended, similar,
bought_together, cart, trending, popular, recently_viewed), `n` (1-100, default 10),
`item` (the product on the page), `history`, `cart`, `purchased`, `exclude`
(comma-separated item ids; history oldest first), `category`, `exclude_history`
and `same_category` (true/false), `max_per_category`. Every item says which
strategy produced it and why (`because`), so the page can label it and the
merchant can check it.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from recommender.serving import Query, Rules
from widget_server.model_registry import ModelCache
from widget_server.responses import STORAGE_ERRORS, error, json_response, storage_unavailable
from widget_server.stores import PublicKeyCache

MAX_LIST = 200
TRUE = {"1", "true", "yes"}
FALSE = {"0", "false", "no", ""}


class BadParameter(ValueError):
    pass


def _ids(request: Request, name: str) -> list[str]:
    raw = request.query_params.get(name, "")
    ids = [part.strip() for part in raw.split(",") if part.strip()]
    if len(ids) > MAX_LIST:
        raise BadParameter(f"{name}: at most {MAX_LIST} item ids, got {len(ids)}")
    return ids


def _flag(request: Request, name: str) -> bool:
    raw = request.query_params.get(name, "").lower()
    if raw not in TRUE | FALSE:
        raise BadParameter(f"{name}: must be true or false, got {raw!r}")
    return raw in TRUE


def _int(request: Request, name: str, default: int | None) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise BadParameter(f"{name}: must be a whole number, got {raw!r}") from None


def _query(request: Request) -> tuple[Query, Rules]:
    params = request.query_params
    try:
        query = Query(
            strategy=params.get("strategy", "recommended"),
            n=_int(request, "n", 10) or 0,
            history=_ids(request, "history"),
            item=params.get("item") or None,
            cart=_ids(request, "cart"),
            purchased=_ids(request, "purchased"),
            category=params.get("category") or None,
        )
        rules = Rules(
            exclude_history=_flag(request, "exclude_history"),
            same_category=_flag(request, "same_category"),
            max_per_category=_int(request, "max_per_category", None),
            exclude=frozenset(_ids(request, "exclude")),
        )
    except BadParameter:
        raise
    except ValueError as exc:  # the library's own checks name the field too
        raise BadParameter(str(exc)) from None
    return query, rules


async def recommendations(request: Request) -> Response:
    origin = request.headers.get("origin")
    cors = {"Access-Control-Allow-Origin": origin, "Vary": "Origin"} if origin else {}
    key = request.query_params.get("key", "")
    if not key.startswith("pk_"):
        return error(401, "key: a public key (pk_...) is required", cors)
    try:
        keys_cache: PublicKeyCache = request.app.state.public_keys
        store = await keys_cache.get(key)
        if store is None:
            return error(401, "key: unknown or disabled public key", cors)
        settings = request.app.state.settings
        if origin and settings.origins != "any" and not store.allows_origin(origin):
            return error(403, f"origin: {origin} is not one of the store's domains")
        try:
            query, rules = _query(request)
        except BadParameter as exc:
            return error(400, str(exc), cors)
        models: ModelCache = request.app.state.models
        served = await models.get(store.id)
    except STORAGE_ERRORS:
        request.app.state.metrics.redis_errors.inc()
        return storage_unavailable(cors)
    if served is None:
        empty: dict[str, object] = {"strategy": query.strategy, "model_version": None, "items": []}
        return json_response(empty, headers=cors)
    picks = served.showcases.answer(query, rules)
    names = served.showcases.bundle.catalog.names
    items = served.showcases.items
    content = {
        "strategy": query.strategy,
        "model_version": served.version,
        "items": [
            {
                "item_id": pick.item_id,
                "name": names[items.get(pick.item_id) or 0] or None,
                "score": round(pick.score, 6),
                "strategy": pick.strategy,
                "because": pick.because,
            }
            for pick in picks
        ],
    }
    headers = {**cors, "Cache-Control": "private, max-age=30"}
    return json_response(content, headers=headers)
