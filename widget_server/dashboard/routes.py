"""The dashboard as an ASGI app of its own, which `app.py` hands every request
under /dashboard: its routes, and its errors as pages (not the API's JSON)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from widget_server.dashboard import static
from widget_server.dashboard.views import (
    catalog,
    downloads,
    install,
    overview,
    popups,
    preview,
    retention,
    settings,
    showcases,
    signin,
)
from widget_server.dashboard.web import PREFIX, error_page, reader_language
from widget_server.metrics import Metrics, MetricsMiddleware


def owns(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


async def _static(request: Request) -> Response:
    found = await static.serve(request)
    return found if found is not None else error_page(request, 404)


async def http_error(request: Request, exc: Exception) -> Response:
    """A 404, 405 or 400 under /dashboard, as a page in the reader's language."""
    assert isinstance(exc, HTTPException)
    response = error_page(request, exc.status_code, language=await reader_language(request))
    if exc.status_code == 405:
        response.headers["Allow"] = ", ".join(_methods(request.url.path))
    return response


async def server_error(request: Request, exc: Exception) -> Response:
    return error_page(request, 500)


def _methods(path: str) -> list[str]:
    found: set[str] = set()
    for route in routes:
        if route.path_regex.match(path):
            found.update(route.methods or ())
    return sorted(found)


Endpoint = Callable[[Request], Awaitable[Response]]


def _get(path: str, endpoint: Endpoint) -> Route:
    return Route(PREFIX + path, endpoint, methods=["GET"])


def _post(path: str, endpoint: Endpoint) -> Route:
    return Route(PREFIX + path, endpoint, methods=["POST"])


routes = [
    _get("", overview.overview),
    _get("/realtime.json", overview.realtime_json),
    _get("/signin", signin.signin_form),
    _post("/signin", signin.signin),
    _post("/signout", signin.signout),
    _get("/popups", popups.rules_page),
    _post("/popups/presets", popups.switch_on_preset),
    _get("/popups/new", popups.new_rule),
    _post("/popups/new", popups.create_rule),
    _post("/popups/preview", preview.live_preview),
    _get("/popups/{rule_id}", popups.edit_rule),
    _post("/popups/{rule_id}", popups.save_rule),
    _post("/popups/{rule_id}/enabled", popups.toggle_rule),
    _post("/popups/{rule_id}/delete", popups.delete_rule),
    _get("/preview/popup.css", preview.popup_css),
    _get("/preview/{rule_id}", preview.saved_preview),
    _get("/showcases", showcases.showcases_page),
    _post("/showcases/retrain", showcases.retrain),
    _get("/showcases/training.json", showcases.training_status),
    _post("/showcases/rollback", showcases.rollback),
    _get("/retention", retention.retention_page),
    _get("/catalog", catalog.catalog_page),
    _post("/catalog", catalog.upload_feed),
    _get("/catalog/items/{item_id:path}", catalog.item_page),
    _get("/install", install.install_page),
    _post("/install", install.upload_orders),
    _get("/settings", settings.settings_page),
    _post("/settings", settings.save_settings),
    _get("/csv/{table}", downloads.download),
    _get("/static/{name}", _static),
]


def create_app(api: Starlette, metrics: Metrics) -> Starlette:
    """The dashboard's app, sharing the API app's state (storage, settings, models:
    opened by its lifespan) and its request metrics."""
    pages = Starlette(
        routes=routes,
        middleware=[Middleware(MetricsMiddleware, metrics=metrics)],
        exception_handlers={HTTPException: http_error, Exception: server_error},
    )
    pages.state = api.state
    # What the API serves, for pages that point to an endpoint only where it exists.
    api.state.api_paths = frozenset(r.path for r in api.routes if isinstance(r, Route))
    return pages
