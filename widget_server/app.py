"""The ASGI application: routes, and the lifespan that opens and closes storage.

Stateless: every fact lives in Redis, so any number of these processes can serve
one store.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.datastructures import State
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from recommender import pin_blas
from widget_server import health
from widget_server.admin import catalog as admin_catalog
from widget_server.admin import imports as admin_imports
from widget_server.admin import rules as admin_rules
from widget_server.admin import visitors as admin_visitors
from widget_server.analytics import reports, stats
from widget_server.collect import snippet
from widget_server.collect.endpoint import CollectEndpoint
from widget_server.collect.ingest import Ingestor
from widget_server.collect.privacy import DailySalt
from widget_server.dashboard import routes as dashboard
from widget_server.decide import subscribers
from widget_server.decide.endpoint import Decider, decide
from widget_server.decide.recommendations import recommendations
from widget_server.demo import shop as demo_shop
from widget_server.metrics import Metrics, MetricsMiddleware
from widget_server.models import retraining
from widget_server.models.registry import ModelCache
from widget_server.openapi.document import openapi
from widget_server.responses import error
from widget_server.settings import Settings
from widget_server.storage import event_archive
from widget_server.storage.connect import open_storage
from widget_server.storage.stores import PublicKeyCache

log = logging.getLogger("tarry")


COLLECT_PATH = "/v1/collect"
DECIDE_PATH = "/v1/decide"


class TarryApp:
    """Tarry's ASGI app. The hot paths, `/v1/collect` and `GET /v1/decide` (one call
    per page view), go straight to their endpoints; everything else goes through
    Starlette's middleware and routing, which would cost collect about a tenth of
    its throughput (and decide, past a dozen routes, about 5%)."""

    def __init__(self, starlette: Starlette, metrics: Metrics) -> None:
        self.starlette = starlette
        self.metrics = metrics
        # Pages for people, with their own errors (HTML, not the API's JSON).
        self.dashboard = dashboard.create_app(starlette, metrics)
        self.demo_shop = demo_shop.create_app(starlette, metrics)

    @property
    def state(self) -> State:
        return self.starlette.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == COLLECT_PATH:
            endpoint: CollectEndpoint = self.starlette.state.collect
            start = time.perf_counter()
            status = await endpoint(scope, receive, send)
            self.metrics.observe(COLLECT_PATH, scope["method"], status, time.perf_counter() - start)
            return
        if scope["type"] == "http" and scope["path"] == DECIDE_PATH and scope["method"] == "GET":
            await self._decide(scope, receive, send)
            return
        if scope["type"] == "http" and dashboard.owns(scope["path"]):
            await self.dashboard(scope, receive, send)
            return
        if scope["type"] == "http" and demo_shop.owns(scope["path"]):
            await self.demo_shop(scope, receive, send)
            return
        await self.starlette(scope, receive, send)

    async def _decide(self, scope: Scope, receive: Receive, send: Send) -> None:
        """`/v1/decide` as Starlette's stack answers it, errors included: an
        unexpected one is a JSON 500, then raised for the server to log."""
        start = time.perf_counter()
        scope["app"] = self.starlette  # what `request.app` reads
        request = Request(scope, receive)
        failure = None
        try:
            response = await decide(request)
        except Exception as exc:
            failure = exc
            response = await internal_error(request, exc)
        await response(scope, receive, send)
        self.metrics.observe(DECIDE_PATH, "GET", response.status_code, time.perf_counter() - start)
        if failure is not None:
            raise failure


def allowed_methods(routes: list[BaseRoute], path: str) -> list[str]:
    """Every method some route serves at `path`: one path may have a route per
    method, and Starlette's own `Allow` names only the first route's."""
    methods: set[str] = set()
    for route in routes:
        if isinstance(route, Route) and route.path_regex.match(path):
            methods.update(route.methods or ())
    return sorted(methods)


async def not_routed(request: Request, exc: Exception) -> Response:
    """Unknown paths and methods answer in JSON like every other error."""
    assert isinstance(exc, HTTPException)
    path = request.url.path
    if exc.status_code == 404:
        return error(404, f"path: no endpoint at {path}; GET /openapi.json lists them")
    if exc.status_code == 405:
        allowed = allowed_methods(request.app.routes, path)
        message = f"method: {request.method} is not allowed on {path}; use {', '.join(allowed)}"
        return error(405, message, {"Allow": ", ".join(allowed)})
    return error(exc.status_code, f"request: {exc.detail}", dict(exc.headers or {}))


async def internal_error(request: Request, exc: Exception) -> Response:
    # Starlette re-raises the exception after this answer, so the server still logs
    # it; the caller learns nothing of the server's insides.
    return error(500, "server: internal error")


def create_app(settings: Settings | None = None) -> TarryApp:
    settings = settings or Settings.from_env()
    metrics = Metrics()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        pin_blas()
        storage = await open_storage(settings)
        redis = storage.client
        app.state.storage = storage
        app.state.public_keys = PublicKeyCache(redis)
        app.state.models = ModelCache(
            redis, settings.data_dir, cap_bytes=settings.model_cache_mb * 1024 * 1024
        )
        app.state.decider = Decider(redis, app.state.models)
        app.state.salt = DailySalt(redis)
        app.state.collect = CollectEndpoint(
            redis,
            Ingestor(
                redis,
                retention_days=settings.event_retention_days,
                rate_limit_ip=settings.rate_limit_ip,
                rate_limit_visitor=settings.rate_limit_visitor,
            ),
            app.state.public_keys,
            app.state.salt,
            metrics,
            settings.origins,
        )
        # Objects alive now (modules, settings, clients) live as long as the process:
        # keep them out of the collector's way, and collect less often under load.
        gc.collect()
        gc.freeze()
        gc.set_threshold(10_000, 50, 100)
        schedule = None
        if settings.retrain_minutes:
            schedule = asyncio.create_task(retraining.run_schedule(settings, redis))
        archiving = asyncio.create_task(
            event_archive.run_schedule(redis, settings.event_retention_days)
        )
        where = "embedded Redis in " + str(settings.data_dir) if storage.embedded else "Redis"
        log.info("tarry: storage ready (%s%s)", where, ", cluster" if storage.is_cluster else "")
        try:
            yield
        finally:
            # Runs after the server has finished in-flight requests.
            for task in (schedule, archiving):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            await storage.close()

    app = Starlette(
        routes=[
            Route("/v1/stats/summary", stats.summary, methods=["GET"]),
            Route("/v1/stats/attribution", stats.attribution, methods=["GET"]),
            Route("/v1/stats/overview", reports.overview, methods=["GET"]),
            Route("/v1/stats/timeseries", reports.timeseries, methods=["GET"]),
            Route("/v1/stats/breakdown", reports.breakdown, methods=["GET"]),
            Route("/v1/stats/funnel", reports.funnel, methods=["GET"]),
            Route("/v1/stats/realtime", reports.realtime, methods=["GET"]),
            Route("/v1/stats/retention", reports.retention, methods=["GET"]),
            Route("/v1/stats/cohorts", reports.cohorts, methods=["GET"]),
            Route("/v1/stats/popups", reports.popups, methods=["GET"]),
            Route("/v1/stats/showcases", reports.showcases, methods=["GET"]),
            Route("/v1/admin/catalog", admin_catalog.import_catalog, methods=["POST"]),
            Route("/v1/admin/import", admin_imports.import_events, methods=["POST"]),
            Route("/v1/admin/visitors/{vid}", admin_visitors.delete_visitor, methods=["DELETE"]),
            Route("/v1/decide", decide, methods=["GET"]),
            Route("/v1/recommendations", recommendations, methods=["GET"]),
            *admin_rules.routes,
            Route("/v1/subscribe", subscribers.subscribe, methods=["POST"]),
            Route("/v1/admin/subscribers", subscribers.list_subscribers, methods=["GET"]),
            Route(
                "/v1/admin/subscribers/{email}", subscribers.erase_subscriber, methods=["DELETE"]
            ),
            Route("/healthz", health.healthz, methods=["GET"]),
            Route("/readyz", health.readyz, methods=["GET"]),
            Route("/metrics", metrics.endpoint, methods=["GET"]),
            Route("/t.js", snippet.script, methods=["GET", "HEAD"]),
            Route("/openapi.json", openapi, methods=["GET"]),
        ],
        middleware=[Middleware(MetricsMiddleware, metrics=metrics)],
        exception_handlers={HTTPException: not_routed, Exception: internal_error},
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    return TarryApp(app, metrics)
