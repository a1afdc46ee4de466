"""`GET /openapi.json` describes every route the app serves, with schemas taken
from the models the server checks input with."""

from __future__ import annotations

from starlette.routing import Route
from starlette.testclient import TestClient

from widget_server.app import COLLECT_PATH, create_app
from widget_server.popups.presets import PRESETS, from_preset
from widget_server.popups.schema import Rule


def test_every_route_is_described(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    app = create_app(client.app.state.settings)  # type: ignore[attr-defined]
    # Outside Starlette's routing: events, and the browser's CORS preflight.
    served: dict[str, set[str]] = {COLLECT_PATH: {"post", "options"}}
    for route in app.starlette.routes:
        assert isinstance(route, Route)
        methods = {m.lower() for m in route.methods or ()} - {"head"}
        served.setdefault(route.path, set()).update(methods)
    described = {path: set(ops) for path, ops in document["paths"].items()}
    assert described == served


def test_schemas_come_from_the_models(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    event = schemas["Event"]
    assert set(event["required"]) == {"id", "type", "ts", "vid", "sid"}
    assert "popup_suppressed" in event["properties"]["type"]["enum"]
    rule = schemas["Rule"]
    assert set(rule["required"]) == {
        name for name, field in Rule.model_fields.items() if field.is_required()
    }
    template = rule["properties"]["template"]
    assert set(template["enum"]) == {
        "dont_go",
        "flash_promo",
        "last_chance",
        "email_capture",
        "announcement",
        "spin_to_win",
    }
    # Every preset is a rule the published schema's required fields describe.
    for name in PRESETS:
        assert set(rule["required"]) <= set(from_preset(name, {}))
    assert "governor" in schemas["StoreSettings"]["properties"]
    assert schemas["CollectBatch"]["properties"]["events"]["maxItems"] == 100


def test_every_operation_is_described_in_full(client: TestClient) -> None:
    """What tests/test_openapi_answers.py cannot see: an operation's parameters and
    answers all say what they are."""
    document = client.get("/openapi.json").json()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            where = f"{method.upper()} {path}"
            assert operation["summary"], where
            for parameter in operation.get("parameters", ()):
                assert parameter["description"], (where, parameter["name"])
                assert parameter["schema"], (where, parameter["name"])
            for status, answer in operation["responses"].items():
                assert answer["description"], (where, status)
                if status not in ("204", "304"):
                    assert answer["content"], (where, status)
                if status in ("429", "503") and path not in ("/readyz",):
                    assert answer["headers"]["Retry-After"]["required"], (where, status)
    decide = {p["name"]: p for p in document["paths"]["/v1/decide"]["get"]["parameters"]}
    assert decide["n"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 24, "default": 8}
    assert "thank_you" in decide["page_type"]["schema"]["enum"]
    rules = document["paths"]["/v1/admin/rules"]["post"]
    assert "201" in rules["responses"] and "200" not in rules["responses"]
    preset = document["components"]["schemas"]["RuleFromPreset"]
    assert set(preset["properties"]["preset"]["enum"]) == set(PRESETS)
