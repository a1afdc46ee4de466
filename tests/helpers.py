"""Small builders shared by the tests."""

from __future__ import annotations

import itertools
import time
from typing import Any, TypeVar

import redis

from widget_server.settings import Settings
from widget_server.storage import stores
from widget_server.storage.connect import run_with_storage

T = TypeVar("T")
_ids = itertools.count()


# Work with its own connection: the app under test runs its own event loop.
run_with_redis = run_with_storage


def make_store(
    settings: Settings, domains: tuple[str, ...] = ("shop.example",)
) -> tuple[stores.Store, str]:
    return run_with_redis(settings, lambda r: stores.create_store(r, "Test shop", list(domains)))


def sync_client(settings: Settings) -> Any:
    """A plain redis-py client for reading what the server stored."""
    url = settings.redis_url
    assert url is not None
    if url.startswith("unix://"):
        return redis.Redis.from_url(url)
    return redis.RedisCluster.from_url(url)


def now_ms() -> int:
    return int(time.time() * 1000)


def event(type_: str = "page_view", **fields: Any) -> dict[str, Any]:
    """A valid event with fresh ids unless given."""
    n = next(_ids)
    base: dict[str, Any] = {
        "id": f"ev{n}-{time.monotonic_ns()}",
        "type": type_,
        "ts": now_ms(),
        "vid": "v1",
        "sid": "s1",
        "url": "https://shop.example/",
    }
    base.update(fields)
    return base


def ingest_in_the_past(
    settings: Settings, store_id: str, batches: list[list[dict[str, Any]]]
) -> None:
    """Send each batch through the real ingest with the clock of its last event: collect
    accepts events of the last 47 hours only, and history is older than that."""
    import json

    from widget_server.collect.events import decode_event
    from widget_server.collect.ingest import Context, Ingestor

    async def ingest(redis: Any) -> None:
        ingestor = Ingestor(redis, retention_days=90, rate_limit_ip=0, rate_limit_visitor=0)
        store = await stores.get_store(redis, store_id)
        assert store is not None
        for batch in batches:
            decoded = [decode_event(json.dumps(e).encode()) for e in batch]
            clock = max(e["ts"] for e in batch) + 60_000
            context = Context(store_id, clock, 0, "desktop", "ih", store.salt)
            result = await ingestor.ingest(decoded, context)
            assert result.accepted + result.duplicates == len(batch), result.rejected

    run_with_redis(settings, ingest)
