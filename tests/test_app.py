"""The app's own answers: unknown paths and methods, and a crash, answer in JSON
like every other error; `/v1/collect` (outside Starlette's routing) too."""

from __future__ import annotations

import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from widget_server.app import create_app
from widget_server.settings import Settings


@pytest.mark.parametrize("path", ["/", "/docs", "/admin", "/v1/nothing", "/v1/collect/x"])
@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_an_unknown_path_answers_json_404(client: TestClient, path: str, method: str) -> None:
    response = client.request(method, path)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "error": f"path: no endpoint at {path}; GET /openapi.json lists them"
    }


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("POST", "/v1/decide", "GET, HEAD"),
        ("DELETE", "/healthz", "GET, HEAD"),
        ("PUT", "/t.js", "GET, HEAD"),
        ("GET", "/v1/subscribe", "POST"),
        # One path, a route per method: every one of them is allowed.
        ("DELETE", "/v1/admin/rules", "GET, HEAD, POST"),
        ("POST", "/v1/admin/rules/r_1", "DELETE, GET, HEAD, PATCH, PUT"),
        ("DELETE", "/v1/admin/settings", "GET, HEAD, PATCH, PUT"),
    ],
)
def test_a_wrong_method_answers_json_405_with_allow(
    client: TestClient, method: str, path: str, allowed: str
) -> None:
    response = client.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allowed
    assert response.json() == {"error": f"method: {method} is not allowed on {path}; use {allowed}"}


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_collect_answers_a_wrong_method_with_json_405_and_allow(
    client: TestClient, method: str
) -> None:
    response = client.request(method, "/v1/collect")
    assert response.status_code == 405
    assert response.headers["allow"] == "OPTIONS, POST"
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"error": f"method: {method} is not allowed; send events with POST"}


def test_a_crash_answers_json_500_without_details(settings: Settings) -> None:
    async def broken(request: Request) -> Response:
        raise RuntimeError("the secret recipe")

    app = create_app(settings)
    app.starlette.router.routes.append(Route("/broken", broken))
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/broken")
    assert response.status_code == 500
    assert response.json() == {"error": "server: internal error"}
