"""Prometheus metrics: requests and latencies by route, event outcomes, Redis errors."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "tarry_http_requests",
            "HTTP requests by route, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "tarry_http_request_duration_seconds",
            "Time to answer an HTTP request, by route.",
            ["route"],
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=self.registry,
        )
        self.events = Counter(
            "tarry_events",
            "Events received by /v1/collect, by outcome.",
            ["outcome"],
            registry=self.registry,
        )
        self.redis_errors = Counter(
            "tarry_redis_errors",
            "Redis commands that failed because storage was unreachable or busy.",
            registry=self.registry,
        )
        self._accepted = self.events.labels("accepted")
        self._duplicate = self.events.labels("duplicate")
        self._rejected = self.events.labels("rejected")
        self.events.labels("bot")
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def count_events(self, accepted: int, duplicates: int, rejected: int) -> None:
        if accepted:
            self._accepted.inc(accepted)
        if duplicates:
            self._duplicate.inc(duplicates)
        if rejected:
            self._rejected.inc(rejected)

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        # labels() costs a lock and a tuple per call; remember the children.
        children = self._children.get((route, method, status))
        if children is None:
            children = (
                self.requests.labels(route, method, str(status)),
                self.latency.labels(route),
            )
            self._children[(route, method, status)] = children
        children[0].inc()
        children[1].observe(seconds)

    async def endpoint(self, request: Request) -> Response:
        return Response(
            generate_latest(self.registry), media_type="text/plain; version=0.0.4; charset=utf-8"
        )


class MetricsMiddleware:
    """Times every HTTP request and labels it with its route's path template."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            route = scope.get("route")
            name = getattr(route, "path", None) or "unmatched"
            self.metrics.observe(name, scope["method"], status, time.perf_counter() - start)
