"""What Redis spends on each stored event: the stream, the aggregates and the
duplicate check together at most 250 bytes an event (issue 18), measured with
MEMORY USAGE after a day of varied traffic through the real ingest, with ids as
long as the snippet makes them."""

from __future__ import annotations

import random
from pathlib import Path

from helpers import ingest_in_the_past, make_store, now_ms, sync_client

from widget_server.demo.traffic import a_day_of_sessions
from widget_server.settings import Settings
from widget_server.storage import keys

BUDGET_BYTES_PER_EVENT = 250
AGGREGATES = (
    keys.QUARTER,
    keys.HOUR,
    keys.DAY,
    keys.DIMS_QUARTER,
    keys.DIMS_DAY,
    keys.DIMS_WEEK,
    keys.DIMS_RANK,
    keys.DIMS_RANK_WEEK,
    keys.DIMS_RANK_MONTH,
)


def test_a_day_of_traffic_costs_at_most_250_bytes_an_event(standalone_url, tmp_path: Path) -> None:
    settings = Settings.from_env(
        {"TARRY_REDIS_URL": standalone_url, "TARRY_DATA_DIR": str(tmp_path)}
    )
    store, _ = make_store(settings)
    yesterday = (now_ms() // 86_400_000 - 1) * 86_400_000
    batches = a_day_of_sessions(2_000, yesterday, random.Random(1))
    ingest_in_the_past(settings, store.id, batches)

    bytes_of = {"stream": 0, "aggregates": 0, "duplicate ids": 0}
    prefix = keys.store_prefix(store.id)
    with sync_client(settings) as r:
        for key in r.scan_iter(match=prefix + "*", count=1000):
            name = key.decode()[len(prefix) :]
            part = (
                "stream" if key.decode() == keys.events(store.id)
                else "duplicate ids" if name.startswith(keys.SEEN)
                else "aggregates" if name.startswith(AGGREGATES)
                else None
            )  # fmt: skip
            if part:
                bytes_of[part] += int(r.memory_usage(key, samples=0))
    events = sum(len(batch) for batch in batches)
    ids = {len(e[name]) for batch in batches for e in batch for name in ("id", "vid", "sid")}
    assert ids == {22}  # as the snippet makes them
    per_event = {part: size / events for part, size in bytes_of.items()}
    assert events > 7_000 and all(per_event.values()), per_event
    assert sum(per_event.values()) <= BUDGET_BYTES_PER_EVENT, per_event
