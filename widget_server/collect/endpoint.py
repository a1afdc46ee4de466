"""`POST /v1/collect`: where events enter Tarry.

Accepts `application/json` and `text/plain` (what `navigator.sendBeacon` sends, so
browsers need no CORS preflight). Checks, in order: size (413), body (400), key
(401), origin (403), bots (dropped, counted, 200), then each event on its own;
good events are kept even when others in the batch are refused.

This is the hottest path in Tarry, so it is a plain ASGI app that `TarryApp` calls
directly: it reads the few headers it needs straight from the scope and writes its
response in two messages, skipping Starlette's middleware, request and response.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from starlette.types import Receive, Scope, Send

from widget_server.auth import secret_key_in_page
from widget_server.collect import privacy
from widget_server.collect.events import (
    MAX_BODY_BYTES,
    MAX_EVENTS,
    batch_decoder,
    decode_event,
    describe_error,
)
from widget_server.collect.ingest import Context, DecodedEvent, Ingestor
from widget_server.collect.useragent import classify
from widget_server.metrics import Metrics
from widget_server.responses import STORAGE_ERRORS, storage_message, too_deep
from widget_server.storage import keys
from widget_server.storage.clock import now_ms, utc_day
from widget_server.storage.connect import AsyncRedis
from widget_server.storage.stores import PublicKeyCache

log = logging.getLogger("tarry")
_encode = msgspec.json.Encoder().encode
SECRET_KEY_IN_PAGE = secret_key_in_page("k")
_PREFLIGHT_HEADERS = [
    (b"access-control-allow-methods", b"POST, OPTIONS"),
    (b"access-control-allow-headers", b"Content-Type"),
    (b"access-control-max-age", b"86400"),
]


class _Reply(Exception):
    """Ends a request early with an error status and message."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        self.status = status
        self.body = {"error": message, **extra}
        self.headers: list[tuple[bytes, bytes]] = []


def _decode_events(body: bytes) -> tuple[str, list[DecodedEvent], int | None]:
    """The key, each event (as sent and decoded, or why it is refused) and `sent_at`;
    raises _Reply(400) when the envelope itself is wrong."""
    try:
        batch = batch_decoder.decode(body)
    except msgspec.DecodeError as exc:
        raise _Reply(400, describe_error(exc, body, "body") if body else "body: empty") from None
    except RecursionError:
        raise _Reply(400, too_deep("body")) from None
    if len(batch.events) > MAX_EVENTS:
        raise _Reply(413, f"events: at most {MAX_EVENTS} events per request")
    events: list[DecodedEvent] = []
    for raw in batch.events:
        sent = bytes(raw)
        try:
            events.append(decode_event(sent))
        except msgspec.DecodeError as exc:
            events.append(describe_error(exc, sent, "event"))
        except RecursionError:
            events.append(too_deep("event"))
    return batch.k, events, batch.sent_at


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

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> int:
        """Answer one request; returns the status it answered with."""
        origin = user_agent = length = None
        for name, value in scope["headers"]:
            if name == b"origin":
                origin = value
            elif name == b"user-agent":
                user_agent = value
            elif name == b"content-length":
                length = value
        # No credentials are ever sent, so echoing the origin exposes nothing; it
        # lets the snippet read the status and tell "retry later" from "drop".
        cors = [(b"access-control-allow-origin", origin), (b"vary", b"Origin")] if origin else []

        method = scope["method"]
        if method == "OPTIONS":
            await send(
                {"type": "http.response.start", "status": 204, "headers": cors + _PREFLIGHT_HEADERS}
            )
            await send({"type": "http.response.body", "body": b""})
            return 204
        try:
            if method != "POST":
                wrong = _Reply(405, f"method: {method} is not allowed; send events with POST")
                wrong.headers.append((b"allow", b"OPTIONS, POST"))
                raise wrong
            body = await self._read_body(receive, length)
            key, events, sent_at = _decode_events(body)
            content = await self._collect(scope, key, events, sent_at, origin, user_agent)
            status, headers = 200, cors
        except _Reply as reply:
            status, content = reply.status, reply.body
            headers = reply.headers + (cors if status != 403 else [])
        except STORAGE_ERRORS as exc:
            self.metrics.redis_errors.inc()
            status, headers = 503, [(b"retry-after", b"5"), *cors]
            content = {"error": storage_message(exc)}
        except Exception:
            # Outside Starlette's error middleware: answer 500 here, never a dropped
            # connection, and log what happened.
            log.exception("collect: unexpected error")
            status, headers, content = 500, cors, {"error": "server: internal error"}
        body = _encode(content)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    *headers,
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
        return status

    async def _read_body(self, receive: Receive, length: bytes | None) -> bytes:
        if length is not None and length.isdigit() and int(length) > MAX_BODY_BYTES:
            raise _Reply(413, f"body: larger than {MAX_BODY_BYTES} bytes")
        chunks = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Reply(400, "body: the client went away before sending it")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise _Reply(413, f"body: larger than {MAX_BODY_BYTES} bytes")
            chunks.append(chunk)
            more = message.get("more_body", False)
        return b"".join(chunks)

    async def _collect(
        self,
        scope: Scope,
        key: str,
        events: list[DecodedEvent],
        sent_at: int | None,
        origin: bytes | None,
        user_agent: bytes | None,
    ) -> dict[str, Any]:
        if key.startswith("sk_"):
            raise _Reply(401, SECRET_KEY_IN_PAGE)
        store = await self.stores.get(key)
        if store is None:
            raise _Reply(401, "k: unknown or disabled public key")
        if origin is not None and not self.any_origin:
            text = origin.decode("latin-1")
            if not store.allows_origin(text):
                raise _Reply(403, f"origin: {text} is not one of the store's domains")

        now = now_ms()
        device = classify(user_agent.decode("latin-1") if user_agent else "")
        if device == "bot":
            # Bots are counted, never stored: the count shows how much traffic was dropped.
            await self.redis.hincrby(keys.day(store.id, utc_day(now)), "bots", len(events))
            self.metrics.events.labels("bot").inc(len(events))
            return {"accepted": 0, "duplicates": 0, "rejected": [], "bot": True}

        client = scope.get("client")
        ctx = Context(
            store_id=store.id,
            now_ms=now,
            skew_ms=0 if sent_at is None else now - sent_at,
            device=device,
            ip_hash=await self.salt.ip_hash(utc_day(now), store.id, client[0] if client else ""),
            salt=store.salt,
        )
        result = await self.ingestor.ingest(events, ctx)
        if result.retry_after:
            reply = _Reply(
                429,
                "rate: too many events from this visitor or address; retry later",
                retry_after=result.retry_after,
            )
            reply.headers.append((b"retry-after", str(result.retry_after).encode()))
            raise reply
        self.metrics.count_events(result.accepted, result.duplicates, len(result.rejected))
        return {
            "accepted": result.accepted,
            "duplicates": result.duplicates,
            "rejected": result.rejected,
        }
