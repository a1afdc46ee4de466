"""Past hours of the event stream, archived (storage/event_archive.py): read back
entry for entry as XRANGE gave them, moved only when unchanged, erased from, expired
with the retention, and smaller than in the stream."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
import time
from typing import Any

import pytest
from redis import RedisCluster
from starlette.testclient import TestClient

from tests.helpers import make_store, now_ms, run_with_redis, stored_events, sync_client
from widget_server.admin.visitors import erase_visitor
from widget_server.app import create_app
from widget_server.models import retraining
from widget_server.models.training import read_events
from widget_server.settings import Settings
from widget_server.storage import event_archive, event_entries, keys
from widget_server.storage.scripts import register

HOUR = event_archive.HOUR_MS
DAY_MS = 86_400_000
RETENTION_MS = 90 * DAY_MS


def _snippet_events(rng: random.Random, n: int, ts: int) -> list[dict[str, Any]]:
    """Events as the snippet sends them (less vid and sid): the page on each, a
    title on page views, a product's facts on product views."""
    out = []
    for k in range(n):
        item = rng.randrange(40)
        event: dict[str, Any] = {
            "id": f"{rng.getrandbits(64):016x}{k}",
            "type": rng.choice(["page_view", "view_item", "add_to_cart"]),
            "ts": ts + k,
            "url": f"https://shop.example/products/item-{item}?variant={rng.randrange(3)}",
            "page_type": "product",
        }
        if event["type"] == "page_view":
            event["title"] = f"Item {item} - Shop Example"
        else:
            image = f"https://cdn.example/{item}.jpg"
            event["items"] = [
                {
                    "item_id": f"i{item}",
                    "item_name": f"Item {item}",
                    "price": 10.0 + item,
                    "image": image,
                }
            ]
        out.append(event)
    return out


def _fill(r: Any, store_id: str, hours: list[int], per_hour: int, seed: int = 1) -> None:
    """Entries spread over the given past hours (both layouts; explicit ids, as
    the stream's clock would have given them), then one at Redis' own clock."""
    rng = random.Random(seed)
    stream = keys.events(store_id)
    for hour in hours:
        for n in range(per_hour):
            at = hour * HOUR + n * (HOUR // per_hour)
            sent = _snippet_events(rng, rng.randint(1, 4), at)
            vid, sid = f"v{rng.randrange(30)}", f"s{rng.randrange(60)}"
            if n % 5 == 0:  # the old layout: every event says who sent it
                fields = {"events": json.dumps([{**e, "vid": vid, "sid": sid} for e in sent])}
            else:
                who = f"desktop {vid} {sid} {len(sent)}"
                if n % 5 == 1 and len(sent) > 1:  # coalesced requests: two senders
                    other = f"v{rng.randrange(30)} s{rng.randrange(60)}"
                    who = f"desktop {vid} {sid} 1;mobile {other} {len(sent) - 1}"
                fields = {"events": json.dumps(sent), "who": who}
            r.xadd(stream, fields, id=f"{at}-{n % 3}")
    r.xadd(stream, {"events": json.dumps(_snippet_events(rng, 2, now_ms())), "who": "mobile w t 2"})


def _archive(settings: Any, store_id: str, now: int) -> int:
    return run_with_redis(
        settings,
        lambda r: event_archive.archive(r, store_id, now_ms=now, retention_ms=RETENTION_MS),
    )


def _all(r: Any, store_id: str, start: str = "-", end: str = "+", batch: int = 7) -> list[Any]:
    return [
        (i, dict(f))
        for page in event_archive.pages(r, store_id, start, end, batch)
        for i, f in page
    ]


def test_archived_hours_read_back_entry_for_entry_as_xrange_gave_them(settings) -> None:
    """Every range a reader may ask for (ids as XRANGE takes them: `-`, `+`, whole
    and millisecond ids, exclusive ones) gives what XRANGE gave before the move,
    which a second store, never archived, answers alongside."""
    store, _ = make_store(settings)
    copy, _ = make_store(settings)
    current = now_ms() // HOUR
    hours = [current - 30, current - 29, current - 5, current - 2, current - 1]
    with sync_client(settings) as r:
        _fill(r, store.id, hours, per_hour=12)
        for entry_id, fields in r.xrange(keys.events(store.id)):
            r.xadd(keys.events(copy.id), fields, id=entry_id)
        before = [(i, dict(f)) for i, f in r.xrange(keys.events(store.id))]
    # As of a moment when the last hour has been over for less than SETTLE_MS.
    now = current * HOUR + event_archive.SETTLE_MS // 2
    moved = _archive(settings, store.id, now)
    with sync_client(settings) as r:
        left = r.xrange(keys.events(store.id))
        index = {
            int(h): v.decode() for h, v in r.hgetall(keys.events_archive_index(store.id)).items()
        }
        assert _all(r, store.id) == before
        ids = [i for i, _ in before]
        bounds = ["-", "+"] + [
            form
            for i in ids[::5]
            for form in (i.decode(), "(" + i.decode(), i.decode().split("-")[0],
                         "(" + i.decode().split("-")[0])
        ]  # fmt: skip
        for start, end in itertools.product(bounds, repeat=2):
            if start == "+" or end == "-":
                continue
            wanted = [(i, dict(f)) for i, f in r.xrange(keys.events(copy.id), min=start, max=end)]
            assert _all(r, store.id, start, end, batch=5) == wanted, (start, end)
    assert moved == 4  # not the last hour: it is not over by SETTLE_MS yet
    assert sorted(index) == hours[:4]
    assert all(int(i.split(b"-")[0]) // HOUR >= current - 1 for i, _ in left)
    for hour in hours[:4]:
        count, first, last = index[hour].split(" ")
        inside = [i for i, _ in before if int(i.split(b"-")[0]) // HOUR == hour]
        assert (int(count), first, last) == (len(inside), inside[0].decode(), inside[-1].decode())


def test_an_hour_is_smaller_archived_than_in_the_stream(settings) -> None:
    store, _ = make_store(settings)
    copy, _ = make_store(settings)
    current = now_ms() // HOUR
    with sync_client(settings) as r:
        _fill(r, store.id, [current - 3], per_hour=300)
        _fill(r, copy.id, [current - 3], per_hour=300)
        in_stream = int(r.memory_usage(keys.events(copy.id), samples=0))
    _archive(settings, store.id, now_ms())
    with sync_client(settings) as r:
        archived = int(r.memory_usage(keys.events_archive(store.id, current - 3), samples=0))
        # The one entry of this hour is all the stream holds.
        assert r.xlen(keys.events(store.id)) == 1
    assert archived * 3 < in_stream


def test_training_reads_an_archived_store_as_it_read_the_stream(settings) -> None:
    """One reader or two (the later half by a second process), before or after the
    move: the same columns and catalog."""
    store, _ = make_store(settings)
    current = now_ms() // HOUR
    with sync_client(settings) as r:
        _fill(r, store.id, [current - 9, current - 8, current - 4, current - 3], per_hour=20)
        before, before_catalog = read_events(r, store.id, lambda _: None, split_at=10**9)
    assert _archive(settings, store.id, now_ms()) == 4
    with sync_client(settings) as r:
        one, one_catalog = read_events(r, store.id, lambda _: None, split_at=10**9)
        two, two_catalog = read_events(r, store.id, lambda _: None, split_at=1)
        cluster = isinstance(r, RedisCluster)
    assert len(before) > 100
    for read, catalog in ((one, one_catalog), (two, two_catalog)):
        assert list(read) == list(before) and read.visitors.ids == before.visitors.ids
        assert catalog.items == before_catalog.items
    assert cluster or len(two) == len(before)


def test_an_hour_archived_while_the_stream_is_read_is_read_from_its_archive(settings) -> None:
    """A reader part way through the stream when the hour it is in moves: the rest
    of that hour comes from the archive, nothing twice, nothing missed."""
    store, _ = make_store(settings)
    current = now_ms() // HOUR
    with sync_client(settings) as r:
        _fill(r, store.id, [current - 6, current - 5, current - 4], per_hour=10)
        before = [(i, dict(f)) for i, f in r.xrange(keys.events(store.id))]
        reading = event_archive.pages(r, store.id, batch=4)
        got = [(i, dict(f)) for i, f in next(reading)] + [(i, dict(f)) for i, f in next(reading)]
        assert _archive(settings, store.id, now_ms()) == 3
        assert r.xlen(keys.events(store.id)) == 1
        got += [(i, dict(f)) for page in reading for i, f in page]
    assert got == before


def test_an_hour_that_changed_after_it_was_read_is_not_moved(settings) -> None:
    """The move checks the stream still holds what was read: with an entry fewer
    (an erasure rewrote one), nothing is written and nothing trimmed."""
    store, _ = make_store(settings)
    current = now_ms() // HOUR
    with sync_client(settings) as r:
        _fill(r, store.id, [current - 3], per_hour=5)
        entries = r.xrange(keys.events(store.id), max=str((current - 2) * HOUR - 1))
    last_ms = (current - 2) * HOUR - 1
    stream, archive = keys.events(store.id), keys.events_archive(store.id, current - 3)
    index = keys.events_archive_index(store.id)

    async def move(r: Any, n: int, last: bytes) -> Any:
        script = register(r, event_archive.MOVE_HOUR)
        blob = event_archive.pack(entries)
        args = [last_ms, n, last, blob, now_ms() // 1000 + 60, "x", current - 3, b""]
        return await script(keys=[stream, archive, index], args=args)

    assert run_with_redis(settings, lambda r: move(r, 4, entries[-1][0])) == 0
    assert run_with_redis(settings, lambda r: move(r, 5, entries[-2][0])) == 0
    with sync_client(settings) as r:
        assert r.xlen(stream) == 6 and not r.exists(archive) and not r.exists(index)
    assert run_with_redis(settings, lambda r: move(r, 5, entries[-1][0])) == 1
    with sync_client(settings) as r:
        assert r.xlen(stream) == 1 and event_archive.unpack(r.get(archive)) == entries


def test_entries_of_an_hour_already_archived_join_its_archive(settings) -> None:
    """Were Redis' clock behind this server's, an entry could land in an hour moved
    already: the next pass adds it to that hour's archive, in order."""
    store, _ = make_store(settings)
    current = now_ms() // HOUR
    hour = current - 3
    with sync_client(settings) as r:
        _fill(r, store.id, [hour], per_hour=4)
        first = [
            (i, dict(f)) for i, f in r.xrange(keys.events(store.id), max=str((hour + 1) * HOUR - 1))
        ]
    assert _archive(settings, store.id, now_ms()) == 1
    with sync_client(settings) as r:
        late = {"events": '[{"id":"late","type":"page_view","ts":1}]', "who": "desktop v s 1"}
        # Not after the stream's last id: a fresh stream stands in for the lagging clock.
        r.delete(keys.events(store.id))
        r.xadd(keys.events(store.id), late, id=f"{(hour + 1) * HOUR - 5}-0")
    assert _archive(settings, store.id, now_ms()) == 1
    with sync_client(settings) as r:
        archived = [
            (i, dict(f))
            for i, f in event_archive.unpack(r.get(keys.events_archive(store.id, hour)))
        ]
        count = r.hget(keys.events_archive_index(store.id), str(hour)).decode().split(" ")[0]
    assert archived == [
        *first,
        (f"{(hour + 1) * HOUR - 5}-0".encode(), {k.encode(): v.encode() for k, v in late.items()}),
    ]
    assert int(count) == len(first) + 1


def test_an_archived_hour_expires_with_the_retention(settings) -> None:
    store, _ = make_store(settings)
    current = now_ms() // HOUR
    with sync_client(settings) as r:
        _fill(r, store.id, [current - 3], per_hour=3)
        # An index entry of an hour long past the retention, whose archive is gone.
        r.hset(keys.events_archive_index(store.id), str(current - 24 * 95), "1 1-0 1-0")
    _archive(settings, store.id, now_ms())
    with sync_client(settings) as r:
        ttl_s = r.ttl(keys.events_archive(store.id, current - 3))
        index = [int(h) for h in r.hkeys(keys.events_archive_index(store.id))]
    # Its last events leave the retention a retention period after the hour ends.
    expected_s = ((current - 2) * HOUR + RETENTION_MS - now_ms()) // 1000
    assert abs(ttl_s - expected_s) <= 5
    assert index == [current - 3]


def test_collected_events_archived_are_read_erased_and_counted_for_retraining(settings) -> None:
    """Through the real server: events sent to /v1/collect, their hours archived,
    are what the store keeps; a visitor's erasure reaches into the archive and
    leaves the others' entries with their ids; a store whose stream is empty
    after a move is still due for retraining."""
    store, secret = make_store(settings)
    auth = {"authorization": f"Bearer {secret}"}
    sent = []
    with TestClient(create_app(settings)) as client:
        for n in range(6):
            vid = "gone" if n % 3 == 0 else f"stays{n}"
            batch = [
                {"id": f"e{n}-{k}", "type": "page_view", "ts": now_ms(), "vid": vid,
                 "sid": f"s{n}", "url": "https://shop.example/", "page_type": "home"}
                for k in range(3)
            ]  # fmt: skip
            assert (
                client.post("/v1/collect", json={"k": store.public_key, "events": batch}).json()[
                    "accepted"
                ]
                == 3
            )
            sent += batch
        # As an hour and a half later: every hour so far is over.
        assert _archive(settings, store.id, now_ms() + HOUR + HOUR // 2) >= 1
        with sync_client(settings) as r:
            assert r.xlen(keys.events(store.id)) == 0
            assert r.hlen(keys.events_archive_index(store.id)) >= 1
        assert [e["id"] for e in stored_events(settings, store.id)] == [e["id"] for e in sent]
        due = run_with_redis(settings, lambda r: retraining._due(r, store.id, 60_000, now_ms()))
        assert due is True

        later = [{"id": "after", "type": "page_view", "ts": now_ms(), "vid": "gone", "sid": "s9",
                  "url": "https://shop.example/"}]  # fmt: skip
        assert (
            client.post("/v1/collect", json={"k": store.public_key, "events": later}).json()[
                "accepted"
            ]
            == 1
        )
        erased = client.delete("/v1/admin/visitors/gone", headers=auth)
        assert erased.status_code == 200, erased.text
        assert erased.json()["erased"]["events"] == 7
    kept = stored_events(settings, store.id)
    assert [e["id"] for e in kept] == [e["id"] for e in sent if e["vid"] != "gone"]
    with sync_client(settings) as r:
        blobs = b"".join(
            r.get(keys.events_archive(store.id, int(h))) or b""
            for h in r.hkeys(keys.events_archive_index(store.id))
        )
        entries = [
            e
            for h in r.hkeys(keys.events_archive_index(store.id))
            for e in event_archive.unpack(r.get(keys.events_archive(store.id, int(h))))
        ]
    assert blobs and all(b"gone" not in f[b"who"] for _, f in entries)
    # Entries keep the ids they had in the stream.
    assert all(int(i.split(b"-")[0]) <= now_ms() for i, _ in entries)


def test_erasing_from_an_archived_hour_keeps_the_others_in_their_entries(settings) -> None:
    store, _ = make_store(settings)
    current = now_ms() // HOUR
    with sync_client(settings) as r:
        _fill(r, store.id, [current - 4], per_hour=15)
    _archive(settings, store.id, now_ms())
    with sync_client(settings) as r:
        before = [(i, event_entries.events(f)) for i, f in _all(r, store.id)]
    erased = run_with_redis(settings, lambda r: erase_visitor(r, store.id, "v3"))
    with sync_client(settings) as r:
        after = [(i, event_entries.events(f)) for i, f in _all(r, store.id)]
        count = int(r.hget(keys.events_archive_index(store.id), str(current - 4)).split(b" ")[0])
    wanted = [(i, [e for e in events if e["vid"] != "v3"]) for i, events in before]
    wanted = [(i, events) for i, events in wanted if events]
    # The old layout is written back in the current one, less nothing the events had.
    assert [
        (i, [{k: v for k, v in e.items() if k != "dev"} for e in events]) for i, events in after
    ] == [(i, [{k: v for k, v in e.items() if k != "dev"} for e in events]) for i, events in wanted]
    # Some entries lose the visitor's events and keep another's: written anew.
    assert any(
        0 < len(kept) < len(events)
        for (_, events), (_, kept) in zip(
            before, [(i, [e for e in ev if e["vid"] != "v3"]) for i, ev in before], strict=True
        )
    )
    dropped = sum(len(events) for _, events in before) - sum(len(events) for _, events in wanted)
    assert dropped > 0 and erased["events"] == dropped
    assert count == len([i for i, _ in wanted if int(i.split(b"-")[0]) // HOUR == current - 4])


def test_the_schedule_archives_once_its_wait_is_over_and_skips_a_locked_store(settings) -> None:
    store, _ = make_store(settings)
    locked, _ = make_store(settings)
    current = now_ms() // HOUR
    with sync_client(settings) as r:
        _fill(r, store.id, [current - 3], per_hour=3)
        _fill(r, locked.id, [current - 3], per_hour=3)
        r.set(keys.events_archive_lock(locked.id), "another server", ex=60)

    async def run(r: Any) -> None:
        task = asyncio.create_task(event_archive.run_schedule(r, 90, check_every=0.05))
        for _ in range(100):
            await asyncio.sleep(0.05)
            if await r.hlen(keys.events_archive_index(store.id)):
                break
        # Stopped before the client closes: a pass cut off mid-command would leave
        # its connection open past the loop.
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    run_with_redis(settings, run)
    with sync_client(settings) as r:
        assert r.hkeys(keys.events_archive_index(store.id)) == [str(current - 3).encode()]
        assert r.xlen(keys.events(locked.id)) == 4 and not r.exists(
            keys.events_archive_index(locked.id)
        )
        assert not r.exists(keys.events_archive_lock(store.id))


def test_the_first_pass_comes_long_before_the_interval(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server restarted more often than every `check_every` still archives: its
    first pass waits FIRST_PASS_S (to twice that), not the whole interval."""
    monkeypatch.setattr(event_archive, "FIRST_PASS_S", 0.05)
    store, _ = make_store(settings)
    current = now_ms() // HOUR
    with sync_client(settings) as r:
        _fill(r, store.id, [current - 3], per_hour=3)

    async def run(r: Any) -> None:
        started = time.monotonic()
        task = asyncio.create_task(event_archive.run_schedule(r, 90, check_every=3600))
        try:
            while not await r.hlen(keys.events_archive_index(store.id)):
                assert time.monotonic() - started < 10, "no pass within 10 s"
                await asyncio.sleep(0.02)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    run_with_redis(settings, run)
    with sync_client(settings) as r:
        assert r.hkeys(keys.events_archive_index(store.id)) == [str(current - 3).encode()]
