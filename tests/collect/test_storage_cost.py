"""What Redis spends on each stored event: the stream, the aggregates and the
duplicate check together at most 250 bytes an event (issue 18), measured with
MEMORY USAGE after a day of varied traffic through the real ingest, with ids as
long as the snippet makes them."""

from __future__ import annotations

import base64
import random
from pathlib import Path
from typing import Any

from helpers import ingest_in_the_past, make_store, now_ms, sync_client

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


def snippet_id(rng: random.Random) -> str:
    """An id as the snippet's `rid()` makes it: 16 random bytes, URL-safe base64
    without padding, 22 characters."""
    return base64.urlsafe_b64encode(rng.randbytes(16)).rstrip(b"=").decode()


def a_day_of_sessions(
    sessions: int, day_start: int, rng: random.Random
) -> list[list[dict[str, Any]]]:
    """A store's day (benchmarks/stats.py part 1's mix): sessions from seven kinds of
    source landing on product pages, more page views, product views, carts,
    checkouts and orders (by customers whose shop sends their e-mail address as
    `uid`), each ending with its engagement; one request a session. Event, visitor
    and session ids as the snippet makes them; visitors drawn from two thirds as
    many as there are sessions, so that some come back."""
    sources: list[tuple[dict[str, str], str | None]] = [
        ({}, None), ({}, "https://www.google.com/"), ({}, "https://facebook.com/"),
        ({"utm_medium": "email", "utm_source": "news"}, None), ({"gclid": "x"}, None),
        ({}, "https://blog.example/"), ({"utm_medium": "display", "utm_source": "ads"}, None),
    ]  # fmt: skip
    batches = []
    visitors = [snippet_id(rng) for _ in range(sessions * 2 // 3)]
    for n in range(sessions):
        t = day_start + int(rng.betavariate(2.5, 2) * 86_000_000)
        vid, sid = rng.choice(visitors), snippet_id(rng)
        query, ref = rng.choice(sources)
        path = f"/products/p{min(int(rng.paretovariate(1.2)), 40)}"
        tail = "&".join(f"{k}={v}" for k, v in query.items())
        events: list[dict[str, Any]] = [
            {"type": "page_view", "url": f"https://shop.example{path}?{tail}",
             "page_type": "product", **({"ref": ref} if ref else {})}
        ]  # fmt: skip
        events += [{"type": "page_view", "url": "https://shop.example/c"}] * rng.choice([0, 1, 3])
        if rng.random() < 0.5:
            events.append({"type": "view_item", "items": [{"item_id": f"i{rng.randrange(500)}"}]})
            if rng.random() < 0.3:
                events.append({"type": "add_to_cart", "items": [{"item_id": "i1"}]})
                if rng.random() < 0.4:
                    events.append({"type": "begin_checkout"})
                    events.append({"type": "purchase", "value": 30.0, "transaction_id": f"T{n}",
                                   "uid": f"customer{n}@mail.example"})  # fmt: skip
        events.append({"type": "engagement", "engaged_ms": rng.randrange(1000, 60000)})
        batch = []
        for e in events:
            batch.append({"id": snippet_id(rng), "ts": t, "vid": vid, "sid": sid, **e})
            t += 20_000
        batches.append(batch)
    return batches


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
