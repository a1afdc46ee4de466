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
    served: dict[str, set[str]] = {COLLECT_PATH: {"post"}}
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
    }
    # Every preset is a rule the published schema's required fields describe.
    for name in PRESETS:
        assert set(rule["required"]) <= set(from_preset(name, {}))
    assert "governor" in schemas["StoreSettings"]["properties"]
    assert schemas["CollectBatch"]["properties"]["events"]["maxItems"] == 100
