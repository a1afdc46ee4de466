"""`GET /openapi.json`: the HTTP API as an OpenAPI 3.1 document.

The schemas are not written by hand: events come from the msgspec structs that
`/v1/collect` decodes with, rules and store settings from the pydantic models the
admin API checks with, so the document cannot drift from what the server accepts.
A test checks that every route of the app is described.
"""

from __future__ import annotations

import functools
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from widget_server import __version__
from widget_server.collect.events import Event, Item
from widget_server.popups.schema import Rule, StoreSettings
from widget_server.responses import json_response

PUBLIC: list[dict[str, list[str]]] = [{"publicKey": []}]
SECRET: list[dict[str, list[str]]] = [{"secretKey": []}]


def _query(*names: str, required: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    return [
        {"name": n, "in": "query", "required": n in required, "schema": {"type": "string"}}
        for n in names
    ]


def _path(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def _json(ref: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}


def _answer(description: str, ref: str | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": description}
    if ref:
        answer["content"] = _json(ref)
    return answer


ERRORS = {
    "400": _answer("a bad parameter or body; the message names the field", "Error"),
    "401": _answer("missing, unknown or disabled key", "Error"),
    "503": _answer("storage unreachable; retry later", "Error"),
}
ADMIN_ERRORS = {**ERRORS, "422": _answer("every bad field of the body", "Error")}


def _op(summary: str, security: list[dict[str, list[str]]] | None, **extra: Any) -> dict[str, Any]:
    errors = ADMIN_ERRORS if security is SECRET else ERRORS
    op: dict[str, Any] = {"summary": summary, "responses": {"200": _answer("OK"), **errors}}
    if security is not None:
        op["security"] = security
    else:
        op["responses"] = {"200": _answer("OK")}
    op.update(extra)
    return op


def _schemas() -> dict[str, Any]:
    _, components = msgspec.json.schema_components(
        [Event, Item], ref_template="#/components/schemas/{name}"
    )
    schemas: dict[str, Any] = dict(components)
    for model in (Rule, StoreSettings):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, definition in schema.pop("$defs", {}).items():
            schemas[name] = definition
        schemas[model.__name__] = schema
    schemas["CollectBatch"] = {
        "type": "object",
        "required": ["k", "events"],
        "properties": {
            "k": {"type": "string", "description": "the store's public key"},
            "events": {
                "type": "array",
                "maxItems": 100,
                "items": {"$ref": "#/components/schemas/Event"},
            },
            "sent_at": {"type": "integer", "description": "sender's clock (ms)"},
        },
    }
    schemas["Error"] = {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {"type": "string", "description": "`<field>: <reason>`"},
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"field": {"type": "string"}, "error": {"type": "string"}},
                },
            },
        },
    }
    return schemas


def _paths() -> dict[str, Any]:
    page = ("k", "vid", "sid", "page_type", "url", "item_id", "cart", "cart_value", "ref")
    decide_params = (*page, "utm_source", "utm_campaign", "device", "history", "slots", "n")
    recommend = ("k", "vid", "placement", "strategy", "item_id", "n", "history", "cart")
    rec_rules = ("purchased", "exclude", "category", "same_category", "exclude_history")
    rule_body = {"requestBody": {"content": _json("Rule")}}
    settings_body = {"requestBody": {"content": _json("StoreSettings")}}
    rule_id = [_path("rule_id")]
    pool = [_path("pool")]
    day_range = _query("from", "to")
    return {
        "/t.js": {"get": _op("the snippet (gzip, ETag, a day's cache)", None)},
        "/v1/collect": {
            "post": _op(
                "record a batch of events (JSON or text/plain)",
                PUBLIC,
                requestBody={"content": _json("CollectBatch")},
            )
        },
        "/v1/decide": {
            "get": _op(
                "the popups and showcases this visitor may see on this page now",
                PUBLIC,
                parameters=_query(*decide_params, required=("k", "vid", "sid")),
            )
        },
        "/v1/recommendations": {
            "get": _op(
                "one showcase's items, as decide fills it",
                PUBLIC,
                parameters=_query(*recommend, *rec_rules, "max_per_category", required=("k",)),
            )
        },
        "/v1/subscribe": {"post": _op("an e-mail address from an email_capture popup", PUBLIC)},
        "/v1/stats/summary": {
            "get": _op(
                "sessions, bounce and conversion rates, revenue", SECRET, parameters=day_range
            )
        },
        "/v1/stats/attribution": {
            "get": _op("attribution and lift of popups and showcases", SECRET, parameters=day_range)
        },
        "/v1/admin/rules": {
            "get": _op("every rule, highest priority first", SECRET),
            "post": _op("create a rule, or one from {'preset': name}", SECRET, **rule_body),
        },
        "/v1/admin/rules/{rule_id}": {
            "get": _op("one rule", SECRET, parameters=rule_id),
            "put": _op("replace a rule", SECRET, parameters=rule_id, **rule_body),
            "patch": _op("change the fields given", SECRET, parameters=rule_id),
            "delete": _op("delete a rule", SECRET, parameters=rule_id),
        },
        "/v1/admin/rules/{rule_id}/preview": {
            "get": _op(
                "the popup as shoppers see it",
                SECRET,
                parameters=[*rule_id, *_query("variant")],
            )
        },
        "/v1/admin/presets": {"get": _op("the ready-made rules", SECRET)},
        "/v1/admin/settings": {
            "get": _op("the store's decision settings", SECRET),
            "put": _op("replace the settings", SECRET, **settings_body),
            "patch": _op("change the settings given", SECRET),
        },
        "/v1/admin/coupons/{pool}": {
            "get": _op("codes remaining and given", SECRET, parameters=pool),
            "post": _op("add unique codes: {'codes': [...]}", SECRET, parameters=pool),
        },
        "/v1/admin/catalog": {
            "post": _op(
                "import a feed (CSV, JSON lines, Google Merchant Center XML)",
                SECRET,
                parameters=_query("format"),
            )
        },
        "/v1/admin/subscribers": {
            "get": _op("e-mail subscribers (JSON, or CSV)", SECRET, parameters=_query("format"))
        },
        "/v1/admin/subscribers/{email}": {
            "delete": _op("erase a subscriber", SECRET, parameters=[_path("email")])
        },
        "/healthz": {"get": _op("the process answers", None)},
        "/readyz": {"get": _op("the process and Redis answer", None)},
        "/metrics": {"get": _op("Prometheus metrics", None)},
        "/openapi.json": {"get": _op("this document", None)},
    }


@functools.cache
def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "Tarry", "version": __version__},
        "paths": _paths(),
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {
                "publicKey": {"type": "apiKey", "in": "query", "name": "k"},
                "secretKey": {"type": "http", "scheme": "bearer"},
            },
        },
    }


async def openapi(request: Request) -> Response:
    return json_response(document(), headers={"Cache-Control": "public, max-age=3600"})
