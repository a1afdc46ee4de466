"""The rules part of the admin API (secret key): popup rules, presets, the store's
decision settings, coupon pools, and a preview of a rule's popup.

    GET    /v1/admin/rules                 every rule, highest priority first
    POST   /v1/admin/rules                 a rule, or {"preset": name, ...overrides}
    GET    /v1/admin/rules/{id}
    PUT    /v1/admin/rules/{id}            replace (id and created_at are kept)
    PATCH  /v1/admin/rules/{id}            change the fields given (objects merged)
    DELETE /v1/admin/rules/{id}
    GET    /v1/admin/rules/{id}/preview    the popup's HTML and CSS, as shoppers see it
    GET    /v1/admin/presets               the presets and their defaults
    GET|PUT|PATCH /v1/admin/settings       time zone, governor, showcases
    POST   /v1/admin/coupons/{pool}        {"codes": [...]} adds unique codes
    GET    /v1/admin/coupons/{pool}        how many remain and were given

Bad rules are `422 {"error": ..., "errors": [{"field", "error"}, ...]}` listing
every problem; nothing is stored unless the whole rule is good.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from widget_server.auth import store_from_secret
from widget_server.models import showcases
from widget_server.models.registry import Served
from widget_server.popups.coupons import MAX_CODES_PER_UPLOAD, Coupons
from widget_server.popups.presets import PRESETS, from_preset
from widget_server.popups.render import CountdownView, clock, render_popup
from widget_server.popups.rulebook import MAX_RULES, Rulebook, new_rule_id, now_s
from widget_server.popups.schema import (
    Rule,
    StoreSettings,
    check_rule,
    field_errors,
    merge_fields,
)
from widget_server.responses import (
    STORAGE_ERRORS,
    error,
    json_response,
    storage_unavailable,
    too_deep,
)
from widget_server.storage.catalog import sample_cards
from widget_server.storage.connect import AsyncRedis
from widget_server.storage.stores import Store

MAX_BODY = 256 * 1024
Handler = Callable[[Request, Store, Rulebook], Awaitable[Response]]


class BadBody(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


def invalid(errors: list[dict[str, str]]) -> Response:
    first = errors[0]
    return error(422, f"{first['field']}: {first['error']}", errors=errors)


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise BadBody(error(413, f"body: at most {MAX_BODY // 1024} KB"))
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise BadBody(error(400, f"body: not valid JSON ({exc})")) from None
    except RecursionError:
        raise BadBody(error(400, too_deep("body"))) from None
    if not isinstance(data, dict):
        raise BadBody(invalid([{"field": "body", "error": "must be a JSON object"}]))
    return data


def _authorized(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        redis = request.app.state.storage.client
        try:
            store = await store_from_secret(request, redis)
            if isinstance(store, Response):
                return store
            return await handler(request, store, Rulebook(redis, store.id))
        except BadBody as exc:
            return exc.response
        except STORAGE_ERRORS:
            request.app.state.metrics.redis_errors.inc()
            return storage_unavailable()

    return endpoint


def _rule_json(rule: Rule) -> dict[str, Any]:
    return rule.model_dump(mode="json")


def _server_fields(data: dict[str, Any]) -> list[dict[str, str]]:
    return [
        {"field": name, "error": "set by the server; leave it out"}
        for name in ("id", "created_at", "updated_at")
        if name in data
    ]


async def list_rules(request: Request, store: Store, book: Rulebook) -> Response:
    return json_response({"rules": [_rule_json(r) for r in await book.rules()]})


async def add_rule(book: Rulebook, data: dict[str, Any]) -> Rule | list[dict[str, str]]:
    """A new rule from `data` (a rule, or `{"preset": name}` and fields to change),
    checked and stored; or every problem with it, and nothing stored. The API and the
    dashboard both create rules here."""
    data = dict(data)
    preset = data.pop("preset", None)
    if preset is not None:
        # A list or an object is no preset name (and cannot be looked up as one).
        if not isinstance(preset, str) or preset not in PRESETS:
            names = ", ".join(PRESETS)
            return [{"field": "preset", "error": f"must be one of {names}"}]
        data = from_preset(preset, data)
    now = now_s()
    checked = check_rule({**data, "id": new_rule_id(), "created_at": now, "updated_at": now})
    if not isinstance(checked, list):
        await book.save(checked)
    return checked


async def change_rule(
    book: Rulebook, rule: Rule, data: dict[str, Any], *, merge: bool
) -> Rule | list[dict[str, str]]:
    """`rule` replaced by `data` (or, with `merge`, changed by it), checked and stored;
    or every problem with it, and nothing stored."""
    if merge:
        data = merge_fields(_rule_json(rule), data)
    else:
        data = {**data, "preset": data.get("preset", rule.preset)}
    data.update(id=rule.id, created_at=rule.created_at, updated_at=now_s())
    checked = check_rule(data)
    if not isinstance(checked, list):
        await book.save(checked)
    return checked


async def create_rule(request: Request, store: Store, book: Rulebook) -> Response:
    data = await _body(request)
    problems = _server_fields(data)
    if problems:
        return invalid(problems)
    if await book.count() >= MAX_RULES:
        return error(409, f"rules: a store may have at most {MAX_RULES} rules")
    checked = await add_rule(book, data)
    if isinstance(checked, list):
        return invalid(checked)
    return json_response(_rule_json(checked), 201)


async def _existing(request: Request, book: Rulebook) -> Rule | Response:
    rule_id = request.path_params["rule_id"]
    rule = await book.rule(rule_id)
    if rule is None:
        return error(404, f"id: no rule {rule_id!r} in this store")
    return rule


async def get_rule(request: Request, store: Store, book: Rulebook) -> Response:
    rule = await _existing(request, book)
    return rule if isinstance(rule, Response) else json_response(_rule_json(rule))


async def _update(request: Request, book: Rulebook, merge: bool) -> Response:
    rule = await _existing(request, book)
    if isinstance(rule, Response):
        return rule
    data = await _body(request)
    problems = _server_fields(data)
    if problems:
        return invalid(problems)
    checked = await change_rule(book, rule, data, merge=merge)
    if isinstance(checked, list):
        return invalid(checked)
    return json_response(_rule_json(checked))


async def put_rule(request: Request, store: Store, book: Rulebook) -> Response:
    return await _update(request, book, merge=False)


async def patch_rule(request: Request, store: Store, book: Rulebook) -> Response:
    return await _update(request, book, merge=True)


async def delete_rule(request: Request, store: Store, book: Rulebook) -> Response:
    rule_id = request.path_params["rule_id"]
    if not await book.delete(rule_id):
        return error(404, f"id: no rule {rule_id!r} in this store")
    return Response(status_code=204)


async def preview_rule(request: Request, store: Store, book: Rulebook) -> Response:
    """The popup as a shopper would see it, with catalog items standing in for the
    visitor's own recommendations and cart."""
    rule = await _existing(request, book)
    if isinstance(rule, Response):
        return rule
    assert rule.id is not None
    variant = request.query_params.get("variant", "default")
    if variant != "default" and variant not in {v.id for v in rule.variants}:
        return error(404, f"variant: no variant {variant!r} in this rule")
    settings = await book.settings()
    redis = request.app.state.storage.client
    served = await request.app.state.models.get(store.id)
    html, css = await render_preview(redis, served, store.id, rule, variant, settings.currency)
    return json_response({"id": rule.id, "variant": variant, "html": html, "css": css})


async def render_preview(
    redis: AsyncRedis,
    served: Served | None,
    store_id: str,
    rule: Rule,
    variant: str,
    currency: str,
) -> tuple[str, str]:
    """(html, css) of a rule's popup (saved or not) as a shopper would see it, with
    catalog items standing in for the visitor's own recommendations and cart."""
    content = rule.variant_content(variant)
    strip = products = []
    rec_id = strategy = None
    if content.products is not None:
        slot = showcases.SlotRequest("preview", content.products.strategy, content.products.count)
        filled = await showcases.fill(
            redis,
            showcases.ItemCards(redis, ttl=0),
            store_id,
            served,
            [slot],
            showcases.Shopper(),
            currency,
        )
        products = filled["preview"]["items"]
        rec_id, strategy = filled["preview"]["rec_id"], filled["preview"]["strategy"]
    if content.show_cart:
        strip = await sample_cards(redis, store_id, 2)
    countdown = None
    if content.countdown is not None:
        minutes = content.countdown.minutes or 15
        countdown = CountdownView(None, minutes, clock(minutes * 60))
    coupon = None
    if content.coupon is not None:
        coupon = content.coupon.code or content.coupon.fallback_code or "UNIQUE-CODE"
    return render_popup(
        popup_id=rule.id or "preview",
        template=rule.template,
        variant=variant,
        content=content,
        coupon=coupon,
        countdown=countdown,
        products=products,
        rec_id=rec_id,
        strategy=strategy,
        cart=strip,
    )


async def list_presets(request: Request, store: Store, book: Rulebook) -> Response:
    return json_response({"presets": PRESETS})


async def get_settings(request: Request, store: Store, book: Rulebook) -> Response:
    return json_response((await book.settings()).model_dump(mode="json"))


async def _save_settings(request: Request, book: Rulebook, merge: bool) -> Response:
    data = await _body(request)
    if merge:
        data = merge_fields((await book.settings()).model_dump(mode="json"), data)
    try:
        settings = StoreSettings.model_validate(data)
    except ValidationError as exc:
        return invalid(field_errors(exc))
    await book.save_settings(settings)
    return json_response(settings.model_dump(mode="json"))


async def put_settings(request: Request, store: Store, book: Rulebook) -> Response:
    return await _save_settings(request, book, merge=False)


async def patch_settings(request: Request, store: Store, book: Rulebook) -> Response:
    return await _save_settings(request, book, merge=True)


def _pool(request: Request) -> str | Response:
    pool = str(request.path_params["pool"])
    if not pool or len(pool) > 64 or not all(c.isalnum() or c in "_.:-" for c in pool):
        return error(400, "pool: 1-64 letters, digits or _.:-")
    return pool


async def add_coupons(request: Request, store: Store, book: Rulebook) -> Response:
    pool = _pool(request)
    if isinstance(pool, Response):
        return pool
    raw = await request.body()
    if len(raw) > 8 * 1024 * 1024:
        return error(413, "body: at most 8 MB of codes per upload")
    try:
        data = json.loads(raw)
    except ValueError as exc:
        return error(400, f"body: not valid JSON ({exc})")
    except RecursionError:
        return error(400, too_deep("body"))
    codes = data.get("codes") if isinstance(data, dict) else None
    if not isinstance(codes, list) or not codes:
        return invalid([{"field": "codes", "error": "must be a non-empty list of codes"}])
    if len(codes) > MAX_CODES_PER_UPLOAD:
        return invalid(
            [{"field": "codes", "error": f"at most {MAX_CODES_PER_UPLOAD} codes per upload"}]
        )
    problems = [
        {"field": f"codes[{i}]", "error": "must be 1-64 visible characters"}
        for i, code in enumerate(codes)
        if not isinstance(code, str)
        or not 1 <= len(code) <= 64
        or not code.isprintable()
        or code.strip() != code
    ]
    if problems:
        return invalid(problems)
    coupons = Coupons(request.app.state.storage.client)
    added = await coupons.add(store.id, pool, codes)
    status = await coupons.status(store.id, pool)
    return json_response({"pool": pool, "added": added, "duplicates": len(codes) - added, **status})


async def coupon_status(request: Request, store: Store, book: Rulebook) -> Response:
    pool = _pool(request)
    if isinstance(pool, Response):
        return pool
    status = await Coupons(request.app.state.storage.client).status(store.id, pool)
    return json_response({"pool": pool, **status})


routes = [
    Route("/v1/admin/rules", _authorized(list_rules), methods=["GET"]),
    Route("/v1/admin/rules", _authorized(create_rule), methods=["POST"]),
    Route("/v1/admin/rules/{rule_id}", _authorized(get_rule), methods=["GET"]),
    Route("/v1/admin/rules/{rule_id}", _authorized(put_rule), methods=["PUT"]),
    Route("/v1/admin/rules/{rule_id}", _authorized(patch_rule), methods=["PATCH"]),
    Route("/v1/admin/rules/{rule_id}", _authorized(delete_rule), methods=["DELETE"]),
    Route("/v1/admin/rules/{rule_id}/preview", _authorized(preview_rule), methods=["GET"]),
    Route("/v1/admin/presets", _authorized(list_presets), methods=["GET"]),
    Route("/v1/admin/settings", _authorized(get_settings), methods=["GET"]),
    Route("/v1/admin/settings", _authorized(put_settings), methods=["PUT"]),
    Route("/v1/admin/settings", _authorized(patch_settings), methods=["PATCH"]),
    Route("/v1/admin/coupons/{pool}", _authorized(add_coupons), methods=["POST"]),
    Route("/v1/admin/coupons/{pool}", _authorized(coupon_status), methods=["GET"]),
]
