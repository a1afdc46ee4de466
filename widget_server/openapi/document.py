"""`GET /openapi.json`: the HTTP API as an OpenAPI 3.1 document.

No schema is written by hand where code already says it: events and the collect
envelope come from the msgspec structs `/v1/collect` decodes with, rules and store
settings from the pydantic models the admin API checks with, the stats answers
from the structs they are encoded from, the other answers from the structs of
`answers.py`. Every answer object is closed (`additionalProperties: false`), so an
answer with an undescribed field fails tests/test_openapi_answers.py, which checks
real answers of every route against this document.
"""

from __future__ import annotations

import functools
from typing import Any

import msgspec
from pydantic.json_schema import models_json_schema
from starlette.requests import Request
from starlette.responses import Response

from widget_server import __version__
from widget_server.analytics.aggregates import Summary
from widget_server.analytics.stats import Attribution
from widget_server.collect.events import MAX_EVENTS, Batch, Event
from widget_server.openapi import answers
from widget_server.openapi.paths import operations, ref
from widget_server.popups.presets import PRESETS
from widget_server.popups.schema import Rule, StoreSettings
from widget_server.responses import json_response

REF = "#/components/schemas/{name}"
# Set by the server: a body that has them is refused.
SERVER_FIELDS = ("id", "created_at", "updated_at")
PARTIAL = {"type": "object", "description": "the fields to change"}


def close_objects(schema: Any) -> None:
    """Every object schema with listed properties admits no others (in place)."""
    if isinstance(schema, dict):
        if "properties" in schema and "additionalProperties" not in schema:
            schema["additionalProperties"] = False
        for value in schema.values():
            close_objects(value)
    elif isinstance(schema, list):
        for value in schema:
            close_objects(value)


def _msgspec_components(types: tuple[type, ...]) -> dict[str, Any]:
    _, components = msgspec.json.schema_components(types, ref_template=REF)
    return dict(components)


def _pydantic_components() -> dict[str, Any]:
    # Both modes: a rule goes in as it comes out, and pydantic names the two apart
    # if they ever differ.
    modes = ("validation", "serialization")
    pairs = [(model, mode) for model in (Rule, StoreSettings) for mode in modes]
    _, top = models_json_schema(pairs, ref_template=REF.replace("{name}", "{model}"))  # type: ignore[arg-type]
    components: dict[str, Any] = top["$defs"]
    for name in SERVER_FIELDS:
        components["Rule"]["properties"][name]["readOnly"] = True
    return components


def _changes(
    schema: dict[str, Any], leave_out: tuple[str, ...], description: str
) -> dict[str, Any]:
    """A body of some of a model's fields, objects among them partial (they merge
    into the stored ones field by field)."""
    properties = {}
    for name, field in schema["properties"].items():
        if name in leave_out:
            continue
        merged = "$ref" in field or "oneOf" in field or field.get("type") == "object"
        properties[name] = PARTIAL if merged else field
    return {
        "type": "object",
        "description": description,
        "properties": properties,
        "additionalProperties": False,
    }


def _schemas() -> dict[str, Any]:
    closed = _msgspec_components((*answers.ANSWERS, Summary, Attribution))
    close_objects(closed)
    schemas = {**_msgspec_components((Event, Batch, answers.Subscription)), **closed}
    models = _pydantic_components()
    clashes = schemas.keys() & models.keys()
    assert not clashes, f"two schemas named {clashes}"
    schemas.update(models)
    # A popup's trigger is its rule's, as stored.
    schemas["Popup"]["properties"]["trigger"] = models["Rule"]["properties"]["trigger"]
    # The batch's events are decoded one by one, each as an Event.
    batch = schemas.pop("Batch")
    batch["title"] = "CollectBatch"
    batch["properties"]["events"] = {"type": "array", "maxItems": MAX_EVENTS, "items": ref("Event")}
    schemas["CollectBatch"] = batch
    rule = models["Rule"]
    schemas["RuleChanges"] = _changes(
        rule, SERVER_FIELDS, "any fields of a Rule; the merged rule is checked as a whole"
    )
    preset = _changes(
        rule, SERVER_FIELDS, "a preset, and any fields of a Rule that replace the preset's"
    )
    preset["properties"]["preset"] = {"type": "string", "enum": list(PRESETS)}
    preset["required"] = ["preset"]
    schemas["RuleFromPreset"] = preset
    schemas["SettingsChanges"] = _changes(
        models["StoreSettings"], (), "any fields of the settings; the result is checked whole"
    )
    # The traffic reports build their figures as dicts (analytics/traffic.py,
    # customers.py): only their envelope is described, open, until structs such as
    # Summary's say the rest.
    schemas["Report"] = {
        "type": "object",
        "description": "the store, the range and its time zone, then the report's figures or rows",
        "required": ["store_id"],
        "properties": {
            "store_id": {"type": "string"},
            "from": {"type": "string", "format": "date"},
            "to": {"type": "string", "format": "date"},
            "timezone": {"type": "string", "description": "the store's IANA time zone"},
        },
    }
    schemas["RuleList"] = {
        "type": "object",
        "required": ["rules"],
        "properties": {"rules": {"type": "array", "items": ref("Rule")}},
        "additionalProperties": False,
    }
    schemas["Presets"] = {
        "type": "object",
        "required": ["presets"],
        "properties": {
            "presets": {
                "type": "object",
                "description": "by name: the preset's rule fields",
                "properties": {name: {"type": "object"} for name in PRESETS},
                "additionalProperties": False,
            }
        },
        "additionalProperties": False,
    }
    return schemas


@functools.cache
def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Tarry",
            "version": __version__,
            "description": 'Every error is JSON: `{"error": "<field>: <reason>"}`. A path'
            " that is not listed answers 404, and a method a path does not serve 405 with"
            " `Allow`, in that shape too.",
        },
        "paths": operations(),
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {
                "publicKey": {
                    "type": "apiKey",
                    "in": "query",
                    "name": "k",
                    "description": "the store's public key (pk_...)",
                },
                "publicKeyAsKey": {
                    "type": "apiKey",
                    "in": "query",
                    "name": "key",
                    "description": "the public key under its other name",
                },
                "secretKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "`Authorization: Bearer sk_...`, the store's secret key",
                },
            },
        },
    }


async def openapi(request: Request) -> Response:
    return json_response(document(), headers={"Cache-Control": "public, max-age=3600"})
