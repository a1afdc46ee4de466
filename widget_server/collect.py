"""`POST /v1/collect`: where events enter Tarry.

Accepts `application/json` and `text/plain` (what `navigator.sendBeacon` sends, so
browsers need no CORS preflight). Checks, in order: size (413), body (400), key
(401), origin (403), bots (dropped, counted, 200), then each event on its own;
good events are kept even when others in the batch are refused.
"""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from widget_server import aggregates, privacy
from widget_server.events import MAX_BODY_BYTES, MAX_EVENTS, batch_decoder, describe_error
from widget_server.ingest import Context, Ingestor, now_ms, utc_day
from widget_server.metrics import Metrics
from widget_server.storage import AsyncRedis
from widget_server.responses import STORAGE_ERRORS, error, json_response, storage_unavailable
from widget_server.stores import PublicKeyCache
from widget_server.useragent import classify


class _TooLarge(Exception):
    pass


async def _read_body(request: Request) -> bytes:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > MAX_BODY_BYTES:
        raise _TooLarge
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise _TooLarge
    return body


def cors_headers(origin: str | None) -> dict[str, str]:
    # No credentials are ever sent, so echoing the origin exposes nothing; it lets
    # the snippet read the status and tell "retry later" from "drop".
    if origin is None:
        return {}
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}


class CollectEndpoint:
    def __init__(
        self,
        redis: AsyncRedis,
        ingestor: Ingestor,
        stores: PublicKeyCache,
        salt: privacy.DailySalt,
        metrics: Metrics,
        origins: str,
    ) -> None:
        self.redis = redis
        self.ingestor = ingestor
        self.stores = stores
        self.salt = salt
        self.metrics = metrics
        self.any_origin = origins == "any"

    async def preflight(self, request: Request) -> Response:
        headers = cors_headers(request.headers.get("origin"))
        headers.update(
            {
                "Access-Control-Allow-Methods": "POST, OPTIONS",
                "Access-Control-Allow-Headers": "Content-Type",
                "Access-Control-Max-Age": "86400",
            }
        )
        return Response(status_code=204, headers=headers)

    async def __call__(self, request: Request) -> Response:
        origin = request.headers.get("origin")
        cors = cors_headers(origin)
        try:
            body = await _read_body(request)
        except _TooLarge:
            return error(413, f"body: larger than {MAX_BODY_BYTES} bytes", cors)
        try:
            batch = batch_decoder.decode(body)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            return error(400, describe_error(exc) if body else "body: empty", cors)
        if len(batch.events) > MAX_EVENTS:
            return error(413, f"events: at most {MAX_EVENTS} events per request", cors)

        try:
            return await self._collect(request, batch.k, batch.events, batch.sent_at, origin, cors)
        except STORAGE_ERRORS:
            self.metrics.redis_errors.inc()
            return storage_unavailable(cors)

    async def _collect(
        self,
        request: Request,
        key: str,
        raw_events: list[msgspec.Raw],
        sent_at: int | None,
        origin: str | None,
        cors: dict[str, str],
    ) -> Response:
        store = await self.stores.get(key)
        if store is None:
            return error(401, "k: unknown or disabled public key", cors)
        if origin is not None and not self.any_origin and not store.allows_origin(origin):
            return error(403, f"origin: {origin} is not one of the store's domains")

        now = now_ms()
        device = classify(request.headers.get("user-agent", ""))
        if device == "bot":
            await aggregates.count_bots(self.redis, store.id, utc_day(now), len(raw_events))
            self.metrics.events.labels("bot").inc(len(raw_events))
            return json_response(
                {"accepted": 0, "duplicates": 0, "rejected": [], "bot": True}, headers=cors
            )

        ip = request.client.host if request.client else ""
        salt = await self.salt.for_day(utc_day(now))
        ctx = Context(
            store_id=store.id,
            now_ms=now,
            skew_ms=0 if sent_at is None else now - sent_at,
            device=device,
            ip_hash=privacy.ip_hash(salt, store.id, ip),
        )
        result = await self.ingestor.ingest(raw_events, ctx)
        if result.retry_after:
            return error(
                429,
                "rate: too many events from this visitor or address; retry later",
                {"Retry-After": str(result.retry_after), **cors},
                retry_after=result.retry_after,
            )
        self.metrics.events.labels("accepted").inc(result.accepted)
        self.metrics.events.labels("duplicate").inc(result.duplicates)
        self.metrics.events.labels("rejected").inc(len(result.rejected))
        content: dict[str, Any] = {
            "accepted": result.accepted,
            "duplicates": result.duplicates,
            "rejected": result.rejected,
        }
        return json_response(content, headers=cors)
