"""What the ingest script writes for the events it accepts: stream entries with who
sent them once per run (storage/event_entries.py), and the duplicate check's id
digests per quarter-hour, finding the whole ids an older version kept per hour."""

from __future__ import annotations

import json
from typing import Any

from helpers import event, ingest_together, make_store, run_with_redis, sync_client

from widget_server.collect.events import decode_event
from widget_server.collect.ingest import Context, Ingestor, seen_digest
from widget_server.storage import event_entries, keys

# As the snippet makes them: 16 random bytes, URL-safe base64, 22 characters.
V1, S1 = "pUq2zUsPfsrbOCWkAbpiuQ", "CWQN_yQQH8UEyP7MD8SAlg"
V2, S2 = "Z0c4OC6i7SZ74OgcI41lYg", "y-Gx0b3mR2aPqk9sTn4vEw"


def test_a_call_stores_who_sent_its_events_once_per_run(settings) -> None:
    store, _ = make_store(settings)
    item = [{"item_id": "a"}]
    requests = [
        ("desktop", [event(vid=V1, sid=S1), event("view_item", vid=V1, sid=S1, items=item)]),
        ("mobile", [event(vid=V2, sid=S2)]),
        ("mobile", [event(vid=V2, sid=S2), event(vid=V2, sid="s-other")]),
        ("tablet", [event(vid=V1, sid=S1)]),
    ]
    assert ingest_together(settings, store.id, requests) == [2, 1, 2, 1]
    with sync_client(settings) as r:
        ((_, fields),) = r.xrange(keys.events(store.id))
    # One script call: one entry; the phone's two requests of one session one run.
    assert (
        fields[b"who"]
        == (
            f"desktop {V1} {S1} 2;mobile {V2} {S2} 2;mobile {V2} s-other 1;tablet {V1} {S1} 1"
        ).encode()
    )
    sent = [e for _, events in requests for e in events]
    # The ids are written once per run, not in every event.
    assert fields[b"events"].count(V1.encode()) == 0 and fields[b"events"].count(b'"sid"') == 0
    assert json.loads(fields[b"events"]) == [
        {k: v for k, v in e.items() if k not in ("vid", "sid")} for e in sent
    ]
    device = {(V1, S1): "desktop", (V2, S2): "mobile", (V2, "s-other"): "mobile"}
    assert event_entries.events(fields) == [
        {**e, "dev": "tablet" if n == 5 else device[(e["vid"], e["sid"])]}
        for n, e in enumerate(sent)
    ]


def test_ids_written_with_escapes_or_spaces_are_stored_without_them(settings) -> None:
    store, _ = make_store(settings)
    sent = event(vid=V1, sid=S1, title='say "vid":"x"')
    raw = json.dumps(sent).replace(f'"{V1}"', '"\\u' + f"{ord(V1[0]):04x}" + V1[1:] + '"')
    assert raw != json.dumps(sent)  # the visitor id's first letter as \\u0070

    async def ingest(redis: Any) -> int:
        ingestor = Ingestor(redis, retention_days=90, rate_limit_ip=0, rate_limit_visitor=0)
        context = Context(store.id, sent["ts"], 0, "desktop", "ih", store.salt)
        return (await ingestor.ingest([decode_event(raw.encode())], context)).accepted

    assert run_with_redis(settings, ingest) == 1
    with sync_client(settings) as r:
        ((_, fields),) = r.xrange(keys.events(store.id))
    assert b'"vid"' not in fields[b"events"] and b'"sid"' not in fields[b"events"]
    assert event_entries.events(fields) == [{**sent, "dev": "desktop"}]


def test_ids_are_kept_as_digests_per_quarter_hour_and_an_older_hours_ids_count(
    settings,
) -> None:
    """Ids an older version kept whole in the hour's hash (for 48 hours after an
    upgrade) are still duplicates; new ones go to the quarter-hour's hash as their
    8-byte digest, and a retry of them is caught."""
    store, _ = make_store(settings)
    before, fresh = event(vid=V1, sid=S1), event(vid=V1, sid=S1)
    fresh["id"] = "Xy3kQ9bLmN0pRsTuVwXyZa"
    hour, quarter = before["ts"] // 3_600_000, fresh["ts"] // 900_000
    with sync_client(settings) as r:
        r.hset(keys.seen_events_of_hour(store.id, hour), before["id"], "1")
    assert ingest_together(settings, store.id, [("desktop", [before, fresh])]) == [1]
    with sync_client(settings) as r:
        digests = r.hkeys(keys.seen_events(store.id, quarter))
        assert digests == [seen_digest(fresh["id"])] and len(digests[0]) == 8
        assert 0 < r.ttl(keys.seen_events(store.id, quarter)) <= 48 * 3600
        assert r.hkeys(keys.seen_events_of_hour(store.id, hour)) == [before["id"].encode()]
        (_, fields), *_ = r.xrange(keys.events(store.id))
    assert [e["id"] for e in event_entries.events(fields)] == [fresh["id"]]
    assert ingest_together(settings, store.id, [("desktop", [fresh, before])]) == [0]
    # Exactly once: the retries left one entry of one event.
    with sync_client(settings) as r:
        assert r.xlen(keys.events(store.id)) == 1
