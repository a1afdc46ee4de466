"""Requests of many stores arriving together: one round of script calls, a call per
store (one pipeline), each store's events counted once, in its own keys; a script
Redis has lost is loaded again without losing a request."""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from helpers import event, make_store, run_with_redis, stored_events, sync_client

from widget_server.collect.events import decode_event
from widget_server.collect.ingest import Context, Ingestor
from widget_server.settings import Settings
from widget_server.storage import keys, stores
from widget_server.storage.clock import now_ms
from widget_server.storage.scripts import INGEST


def _ingest_at_once(
    settings: Settings, requests: list[tuple[str, list[dict[str, Any]]]], *, flush: bool = False
) -> list[tuple[int, int]]:
    """Each (store id, events) request through one Ingestor at once, as concurrent
    collect requests arrive; `flush`: Redis forgets its scripts first. Each
    request's (accepted, duplicates)."""

    async def ingest(redis: Any) -> list[tuple[int, int]]:
        ingestor = Ingestor(redis, retention_days=90, rate_limit_ip=0, rate_limit_visitor=0)
        if flush:
            await redis.script_flush()
            assert await redis.script_exists(hashlib.sha1(INGEST.encode()).hexdigest()) == [False]
        salts = {s: (await stores.get_store(redis, s)).salt for s in {s for s, _ in requests}}
        clock = now_ms()
        results = await asyncio.gather(
            *(
                ingestor.ingest(
                    [decode_event(json.dumps(e).encode()) for e in events],
                    Context(store_id, clock, 0, "desktop", "ih", salts[store_id]),
                )
                for store_id, events in requests
            )
        )
        return [(r.accepted, r.duplicates) for r in results]

    return run_with_redis(settings, ingest)


def _day(settings: Settings, store_id: str) -> dict[str, int]:
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    with sync_client(settings) as r:
        return {k.decode(): int(v) for k, v in r.hgetall(keys.day(store_id, day)).items()}


def test_many_stores_requests_at_once_are_each_counted_once_in_their_own_store(
    settings: Settings,
) -> None:
    shops = [make_store(settings, (f"shop{n}.example",))[0].id for n in range(4)]
    # Interleaved as they arrive: store 0, 1, 2, 3, 0, 1, ...; store n sends n + 1 pages.
    sent: dict[str, list[dict[str, Any]]] = {s: [] for s in shops}
    requests = []
    for page in range(4):
        for n, store_id in enumerate(shops):
            if page <= n:
                item = [{"item_id": f"sku-{page}"}]
                events = [
                    event(vid=f"v{n}", sid=f"s{n}"),
                    event("view_item", vid=f"v{n}", sid=f"s{n}", items=item),
                ]
                sent[store_id] += events
                requests.append((store_id, events))
    assert _ingest_at_once(settings, requests) == [(2, 0)] * len(requests)
    for n, store_id in enumerate(shops):
        assert stored_events(settings, store_id) == sent[store_id]
        with sync_client(settings) as r:
            entries = r.xlen(keys.events(store_id))
        assert entries == 1  # the store's requests of the round: one call, one entry
        counts = _day(settings, store_id)
        assert (counts["events"], counts["page_views"], counts["sessions"]) == (
            2 * (n + 1),
            n + 1,
            1,
        )

    # The same requests again, all at once: every event a duplicate, nothing counted.
    assert _ingest_at_once(settings, requests) == [(0, 2)] * len(requests)
    assert [_day(settings, s)["events"] for s in shops] == [2, 4, 6, 8]


def test_a_round_after_redis_lost_its_scripts_stores_every_request(settings: Settings) -> None:
    shops = [make_store(settings, (f"shop{n}.example",))[0].id for n in range(3)]
    requests = [(store_id, [event(vid="v1", sid=f"s-{store_id}")]) for store_id in shops]
    assert _ingest_at_once(settings, requests, flush=True) == [(1, 0)] * 3
    for store_id, events in requests:
        assert stored_events(settings, store_id) == events
        assert _day(settings, store_id)["events"] == 1
