"""Small builders shared by the tests."""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import Iterator
from typing import Any, TypeVar

import redis

from recommender.bundle import Bundle, TrainingConfig, train_bundle
from recommender.interactions import Interaction
from recommender.serving import Pick, Query, Showcases
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


@contextlib.contextmanager
def sync_client(settings: Settings) -> Iterator[Any]:
    """A plain redis-py client for reading what the server stored, closed after."""
    url = settings.redis_url
    assert url is not None
    if url.startswith("unix://"):
        with redis.Redis.from_url(url) as client:
            yield client
        return
    cluster = redis.RedisCluster.from_url(url)
    try:
        yield cluster
    finally:
        # A cluster's close() leaves its nodes' pools connected until the garbage
        # collector finds them (a ResourceWarning in whichever test runs then).
        cluster.disconnect_connection_pools()
        cluster.close()


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


def stored_events(settings: Settings, store_id: str) -> list[dict[str, Any]]:
    """The events the store keeps (archived hours, then the stream), in order, as
    they were sent: read as every reader reads them (storage/event_entries.py),
    less the device class."""
    from widget_server.storage import event_archive, event_entries

    with sync_client(settings) as r:
        entries = [e for page in event_archive.pages(r, store_id) for e in page]
    read = [e for _, fields in entries for e in event_entries.events(fields)]
    return [{k: v for k, v in e.items() if k != "dev"} for e in read]


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


def ingest_together(
    settings: Settings, store_id: str, requests: list[tuple[str, list[dict[str, Any]]]]
) -> list[int]:
    """Send each (device class, events) request through the real ingest at once, as
    concurrent collect requests arrive: they go together in one script call. How
    many events each stored."""
    import asyncio
    import json

    from widget_server.collect.events import decode_event
    from widget_server.collect.ingest import Context, Ingestor

    async def ingest(redis: Any) -> list[int]:
        ingestor = Ingestor(redis, retention_days=90, rate_limit_ip=0, rate_limit_visitor=0)
        store = await stores.get_store(redis, store_id)
        assert store is not None
        clock = now_ms()
        results = await asyncio.gather(
            *(
                ingestor.ingest(
                    [decode_event(json.dumps(e).encode()) for e in events],
                    Context(store_id, clock, 0, device, "ih", store.salt),
                )
                for device, events in requests
            )
        )
        return [result.accepted for result in results]

    return run_with_redis(settings, ingest)


def shop_bundle(items: int = 4, visitors: int = 30) -> Bundle:
    """A small trained bundle: odd visitors buy the first half, even ones the rest."""
    start = now_ms() - 86_400_000
    names = [f"SKU-{n}" for n in range(1, items + 1)]
    halves = (names[: items // 2], names[items // 2 :])
    traffic = [
        Interaction(start + 1000 * v + n, f"u{v}", f"s{v}", "purchase", item)
        for v in range(visitors)
        for n, item in enumerate(halves[v % 2])
    ]
    return train_bundle(traffic, TrainingConfig(factors=4, iterations=3))


def showcase_answers(showcases: Showcases) -> list[list[Pick]]:
    queries = [
        Query("similar", n=3, item="SKU-1"),
        Query("recommended", n=3, history=["SKU-2"]),
        Query("popular", n=3),
    ]
    return [showcases.answer(q) for q in queries]
