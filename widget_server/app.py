"""The ASGI application: routes, and the lifespan that opens and closes storage.

Stateless: every fact lives in Redis, so any number of these processes can serve
one store.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from widget_server import health, stats
from widget_server.collect import CollectEndpoint
from widget_server.ingest import Ingestor
from widget_server.metrics import Metrics, MetricsMiddleware
from widget_server.privacy import DailySalt
from widget_server.settings import Settings
from widget_server.storage import open_storage
from widget_server.stores import PublicKeyCache

log = logging.getLogger("tarry")


async def collect(request: Request) -> Response:
    endpoint: CollectEndpoint = request.app.state.collect
    if request.method == "OPTIONS":
        return await endpoint.preflight(request)
    return await endpoint(request)


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings.from_env()
    metrics = Metrics()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        storage = await open_storage(settings)
        redis = storage.client
        app.state.storage = storage
        app.state.collect = CollectEndpoint(
            redis,
            Ingestor(
                redis,
                retention_days=settings.event_retention_days,
                rate_limit_ip=settings.rate_limit_ip,
                rate_limit_visitor=settings.rate_limit_visitor,
            ),
            PublicKeyCache(redis),
            DailySalt(redis),
            metrics,
            settings.origins,
        )
        where = "embedded Redis in " + str(settings.data_dir) if storage.embedded else "Redis"
        log.info("tarry: storage ready (%s%s)", where, ", cluster" if storage.is_cluster else "")
        try:
            yield
        finally:
            # Runs after the server has finished in-flight requests.
            await storage.close()

    app = Starlette(
        routes=[
            Route("/v1/collect", collect, methods=["POST", "OPTIONS"]),
            Route("/v1/stats/summary", stats.summary, methods=["GET"]),
            Route("/healthz", health.healthz, methods=["GET"]),
            Route("/readyz", health.readyz, methods=["GET"]),
            Route("/metrics", metrics.endpoint, methods=["GET"]),
        ],
        middleware=[Middleware(MetricsMiddleware, metrics=metrics)],
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    return app
