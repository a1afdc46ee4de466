"""`GET /v1/recommendations`: a showcase's items, for stores that draw their own
carousels (public key). The same items and `rec_id` as `/v1/decide` gives a slot.

Query parameters: `k` (pk_...; `key` also works), `vid`, `placement` (the slot; it
names the strategy unless `strategy` is given: recommended, similar,
bought_together, cart, trending, popular, recently_viewed), `n` (1-100, default
10), `item_id` (the product on the page; `item` also works), `history`, `cart`,
`purchased`, `exclude` (comma-separated item ids; history oldest first),
`category`, `exclude_history` and `same_category` (true/false),
`max_per_category`. Every item is a catalog card (name, url, image, price) with
the strategy that produced it, why (`because`) and a reason a shopper can read.
With `vid`, the items the server stored of the visitor join the page's `history`
(as in decide), so a returning visitor needs no `history`. `exclude_history`
absent: as the model decided from the store's data (seen items are left out where
customers do not re-buy).
"""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response

from recommender.serving import STRATEGIES, Query, Rules
from widget_server.auth import cors_headers, public_key_param, store_from_public_key
from widget_server.decide.endpoint import Decider, in_showcase_holdout
from widget_server.models import showcases
from widget_server.models.registry import ModelCache
from widget_server.responses import STORAGE_ERRORS, error, json_response, storage_unavailable

MAX_LIST = 200
_VISITOR = re.compile(r"^[A-Za-z0-9_.:-]{1,64}\Z")  # as decide and collect take it
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


def _optional_flag(request: Request, name: str) -> bool | None:
    """True or false when given; None (the model's own decision) when absent."""
    if not request.query_params.get(name):
        return None
    return _flag(request, name)


def _int(request: Request, name: str, default: int | None) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise BadParameter(f"{name}: must be a whole number, got {raw!r}") from None


def _strategy(request: Request) -> str:
    """The strategy, from `strategy`, else from `placement`: an error names the one
    the caller sent."""
    params = request.query_params
    given = params.get("strategy")
    if given:
        if given not in STRATEGIES:
            raise BadParameter(f"strategy: must be one of {', '.join(STRATEGIES)}, got {given!r}")
        return given
    placement = params.get("placement")
    if not placement:
        return "recommended"
    if placement not in STRATEGIES:
        raise BadParameter(
            f"placement: {placement!r} names no strategy; without `strategy` it must be one"
            f" of {', '.join(STRATEGIES)}"
        )
    return placement


def _request(request: Request) -> tuple[showcases.SlotRequest, showcases.Shopper]:
    params = request.query_params
    try:
        strategy = _strategy(request)
        n = _int(request, "n", 10) or 0
        # The library's own check names the field (n).
        Query(strategy=strategy, n=n)
        rules = Rules(
            exclude_history=_optional_flag(request, "exclude_history"),
            same_category=_flag(request, "same_category"),
            max_per_category=_int(request, "max_per_category", None),
            exclude=frozenset(_ids(request, "exclude")),
        )
        slot = params.get("placement") or strategy
        if len(slot) > 64:
            raise BadParameter("placement: at most 64 characters")
        ask = showcases.SlotRequest(
            slot, strategy, n, rules, category=params.get("category") or None
        )
        shopper = showcases.Shopper(
            item=params.get("item_id") or params.get("item") or None,
            history=tuple(_ids(request, "history")),
            cart=tuple(_ids(request, "cart")),
            purchased=tuple(_ids(request, "purchased")),
        )
    except BadParameter:
        raise
    except ValueError as exc:
        raise BadParameter(str(exc)) from None
    return ask, shopper


async def recommendations(request: Request) -> Response:
    cors = cors_headers(request)
    params = request.query_params
    state = request.app.state
    try:
        param, key = public_key_param(params)
        store = await store_from_public_key(request, key, param)
        if isinstance(store, Response):
            return store
        try:
            ask, shopper = _request(request)
        except BadParameter as exc:
            return error(400, str(exc), cors)
        models: ModelCache = state.models
        served = await models.get(store.id)
        decider: Decider = state.decider
        visitor = params.get("vid") or None
        if visitor is not None and not _VISITOR.match(visitor):
            return error(400, "vid: 1-64 letters, digits or _.:-", cors)
        loaded, stored = await decider.loaded_with_items(store.id, visitor)
        settings = loaded.settings
        if visitor and in_showcase_holdout(settings, visitor):
            # Stores that draw their own carousels measure their lift the same way.
            held = {"placement": ask.slot, "rec_id": None, "strategy": ask.strategy}
            return json_response({**held, "items": [], "holdout": True}, headers=cors)
        filled = await showcases.fill(
            decider.redis,
            decider.cards,
            store.id,
            served,
            [ask],
            showcases.with_stored(shopper, visitor, stored, served),
            settings.currency,
            decider.picks,
        )
    except STORAGE_ERRORS:
        state.metrics.redis_errors.inc()
        return storage_unavailable(cors)
    content = {
        "placement": ask.slot,
        **filled[ask.slot],
        "holdout": False,
        "model_version": served.version if served is not None else None,
    }
    headers = {**cors, "Cache-Control": "private, max-age=30"}
    return json_response(content, headers=headers)
