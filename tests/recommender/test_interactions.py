"""Interactions: the matrix builder, its sources, and the id maps."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from conftest import BROWSER_UA
from helpers import event, ingest_together, make_store, now_ms, sync_client
from starlette.testclient import TestClient

from recommender.interactions import (
    IdMap,
    Interaction,
    Weighting,
    build_matrix,
    read_csv,
    read_stream,
)
from widget_server.app import create_app
from widget_server.storage import event_entries, keys

DAY = 86_400_000
DATA = Path(__file__).resolve().parents[1] / "data"  # tests/data: samples, credited there


def test_weights_decay_and_damping_by_hand() -> None:
    now = 100 * DAY
    records = [
        Interaction(now, "u1", "s1", "view_item", "a"),
        Interaction(now, "u1", "s1", "view_item", "a"),
        Interaction(now, "u1", "s1", "view_item", "a"),
        Interaction(now - 30 * DAY, "u1", "s0", "purchase", "a"),  # one half-life old
        Interaction(now, "u2", "s2", "add_to_cart", "b"),
        Interaction(now, "u2", "s2", "page_view", "b"),  # not weighted: ignored
    ]
    built = build_matrix(records, Weighting(half_life_days=30.0), now_ms=now)
    m = built.matrix.toarray()
    a, b = built.items.get("a"), built.items.get("b")
    u1, u2 = built.users.get("u1"), built.users.get("u2")
    assert m[u1, a] == pytest.approx(1.0 * math.log2(1 + 3) + 8.0 * 0.5)
    assert m[u2, b] == pytest.approx(4.0)
    assert m[u1, b] == 0 and m[u2, a] == 0
    assert built.matrix.dtype == np.float32


def test_no_decay_and_bad_weighting() -> None:
    records = [
        Interaction(0, "u", "s", "purchase", "x"),
        Interaction(DAY * 900, "u", "s", "purchase", "x"),
    ]
    built = build_matrix(records, Weighting(half_life_days=None))
    assert built.matrix[0, 0] == pytest.approx(16.0)  # purchases are not damped
    with pytest.raises(ValueError, match=r"weights\.view_item: must be positive"):
        Weighting(weights={"view_item": 0})
    with pytest.raises(ValueError, match="half_life_days: must be positive"):
        Weighting(half_life_days=-1)


def test_item_indices_survive_new_items() -> None:
    first = build_matrix([Interaction(0, "u", "s", "purchase", "a")])
    items = IdMap.from_array(first.items.to_array())
    later = build_matrix(
        [Interaction(0, "v", "s", "purchase", "new"), Interaction(0, "u", "s", "purchase", "a")],
        items=items,
    )
    assert later.items.get("a") == first.items.get("a") == 0
    assert later.items.get("new") == 1
    assert later.matrix.shape == (2, 2)


def test_csv_and_stream_give_the_same_matrix(tmp_path: Path, settings) -> None:
    store, _ = make_store(settings)
    sent = [
        event("view_item", vid="alice", sid="a1", items=[{"item_id": "mug"}]),
        event("view_item", vid="alice", sid="a1", items=[{"item_id": "mug"}]),
        event("add_to_cart", vid="alice", sid="a1", items=[{"item_id": "mug"}, {"item_id": "tea"}]),
        event("purchase", vid="bob", sid="b1", value=9.0, items=[{"item_id": "tea"}]),
        event("page_view", vid="bob", sid="b1"),
    ]
    with TestClient(create_app(settings), headers={"user-agent": BROWSER_UA}) as client:
        assert (
            client.post("/v1/collect", json={"k": store.public_key, "events": sent}).json()[
                "accepted"
            ]
            == 5
        )
    csv_path = tmp_path / "events.csv"
    lines = ["timestamp,visitor_id,session_id,event,item_id"]
    for e in sent:
        for item in e.get("items", []):
            lines.append(f"{e['ts']},{e['vid']},{e['sid']},{e['type']},{item['item_id']}")
    csv_path.write_text("\n".join(lines) + "\n")

    with sync_client(settings) as r:
        from_stream = build_matrix(
            read_stream(r, keys.events(store.id), event_entries.events, batch=2)
        )
    from_csv = build_matrix(read_csv(csv_path))
    assert from_stream.users.to_array().tolist() == from_csv.users.to_array().tolist()
    assert from_stream.items.to_array().tolist() == ["mug", "tea"]
    assert np.allclose(from_stream.matrix.toarray(), from_csv.matrix.toarray())
    assert from_stream.matrix.nnz == 3


def test_the_stream_reads_alike_in_both_entry_layouts(settings) -> None:
    """Entries as the ingest writes them (each event as sent less its visitor and
    session ids, which the entry keeps once per run) and as older versions wrote
    them (the server's fields in every event) give training the same interactions
    and the catalog the same items."""
    sent = [
        event("view_item", vid="alice", sid="a1",
              items=[{"item_id": "mug", "item_name": "Mug", "item_category": "Kitchen"}]),
        event("add_to_cart", vid="alice", sid="a1", items=[{"item_id": "mug"}, {"item_id": "tea"}]),
        event("page_view", vid="bob", sid="b1"),
        event("purchase", vid="bob", sid="b1", value=9.0,
              items=[{"item_id": "tea", "availability": "https://schema.org/InStock"}]),
    ]  # fmt: skip
    current, _ = make_store(settings)
    assert ingest_together(settings, current.id, [("desktop", sent[:2]), ("mobile", sent[2:])])
    older, _ = make_store(settings)
    server_fields = [{"rt": now_ms(), "dev": device, "ih": "0123456789abcdef"}
                     for device in ("desktop", "desktop", "mobile", "mobile")]  # fmt: skip
    with sync_client(settings) as r:
        r.xadd(keys.events(older.id), {"events": json.dumps(
            [{**e, **fields} for e, fields in zip(sent, server_fields, strict=True)])})  # fmt: skip
        ((_, fields),) = r.xrange(keys.events(current.id))
        assert fields[b"who"] == b"desktop alice a1 2;mobile bob b1 2"
        assert json.loads(fields[b"events"]) == [
            {k: v for k, v in e.items() if k not in ("vid", "sid")} for e in sent
        ]
        read = {}
        for store in (current, older):
            items: list[object] = []
            stream = read_stream(r, keys.events(store.id), event_entries.events,
                                 on_item=items.append)  # fmt: skip
            read[store.id] = (list(stream), items)
    interactions, items = read[current.id]
    assert (interactions, items) == read[older.id]
    assert [(i.visitor_id, i.event, i.item_id) for i in interactions] == [
        ("alice", "view_item", "mug"), ("alice", "add_to_cart", "mug"),
        ("alice", "add_to_cart", "tea"), ("bob", "purchase", "tea"),
    ]  # fmt: skip


def test_csv_errors_name_line_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "timestamp,visitor_id,event,item_id\n2026-01-01T00:00:00,u,purchase,x\nyesterday,u,purchase,x\n"
    )
    with pytest.raises(ValueError, match=r"bad.csv:3: timestamp: not ms"):
        list(read_csv(bad))
    missing = tmp_path / "missing.csv"
    missing.write_text("timestamp,visitor_id,event\n1,u,purchase\n")
    with pytest.raises(ValueError, match="missing column"):
        list(read_csv(missing))


def test_real_otto_sessions_map_onto_tarry_events() -> None:
    """The OTTO sample's clicks, carts and orders read as view_item, add_to_cart and
    purchase; sessions are anonymous visitors."""
    names = {"clicks": "view_item", "carts": "add_to_cart", "orders": "purchase"}
    records = []
    with open(DATA / "otto-20-sessions.jsonl") as handle:
        for line in handle:
            session = json.loads(line)
            for e in session["events"]:
                sid = str(session["session"])
                records.append(Interaction(e["ts"], sid, sid, names[e["type"]], str(e["aid"])))
    built = build_matrix(records)
    assert len(records) == 862
    assert built.matrix.shape == (20, 510)
    assert built.matrix.nnz == len({(r.visitor_id, r.item_id) for r in records})
    # An ordered item weighs more than any item its session only clicked.
    for r in records:
        if r.event == "purchase":
            row = built.matrix.getrow(built.users.get(r.visitor_id)).toarray()[0]
            clicked_only = [
                row[built.items.get(x.item_id)]
                for x in records
                if x.visitor_id == r.visitor_id
                and all(
                    y.event == "view_item"
                    for y in records
                    if y.visitor_id == x.visitor_id and y.item_id == x.item_id
                )
            ]
            assert row[built.items.get(r.item_id)] > max(clicked_only, default=0)


def test_csv_without_sessions_gets_30_minute_sessions_and_common_event_names(tmp_path) -> None:
    path = tmp_path / "events.csv"
    minute = 60_000
    rows = [
        (0, "u1", "view", "a"),
        (10 * minute, "u1", "addtocart", "a"),
        (50 * minute, "u1", "Transaction", "a"),  # 40 minutes later: a new session
        (5 * minute, "u2", "view_item", "b"),
    ]
    path.write_text(
        "timestamp,visitor_id,event,item_id\n"
        + "".join(f"{1_700_000_000_000 + t},{v},{e},{i}\n" for t, v, e, i in rows)
    )
    got = read_csv(path)
    assert [r.event for r in got] == ["view_item", "add_to_cart", "purchase", "view_item"]
    assert [r.session_id for r in got] == ["u1#0", "u1#0", "u1#1", "u2#0"]
