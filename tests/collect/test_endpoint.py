"""`POST /v1/collect` against real Redis, standalone and Cluster."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import BROWSER_UA
from helpers import event, make_store, now_ms, sync_client
from starlette.testclient import TestClient

from widget_server.app import create_app
from widget_server.collect.ingest import RATE_WINDOW_S
from widget_server.settings import Settings
from widget_server.storage import keys, stores
from widget_server.storage.clock import utc_day


@pytest.fixture
def shop(settings: Settings) -> tuple[stores.Store, str]:
    return make_store(settings)


def post(client: TestClient, key: str, events: list[dict[str, Any]], **kw: Any) -> Any:
    return client.post("/v1/collect", json={"k": key, "events": events}, **kw)


def day_counts(settings: Settings, store_id: str) -> dict[str, int]:
    from datetime import UTC, datetime

    day = datetime.now(UTC).strftime("%Y-%m-%d")
    with sync_client(settings) as r:
        raw = r.hgetall(keys.day(store_id, day))
    return {k.decode(): int(v) for k, v in raw.items()}


def stream(settings: Settings, store_id: str) -> list[dict[str, Any]]:
    with sync_client(settings) as r:
        entries = r.xrange(keys.events(store_id))
    return [e for _, fields in entries for e in json.loads(fields[b"events"])]


def test_mixed_batch_gives_exact_response_and_counts(client, settings, shop) -> None:
    store, _ = shop
    good = [
        event("page_view", sid="a", vid="va"),
        event("view_item", sid="a", vid="va", items=[{"item_id": "sku-1", "price": 9.5}]),
        event("add_to_cart", sid="a", vid="va", items=[{"item_id": "sku-1", "quantity": 2}]),
    ]
    batch = [
        good[0],
        {"id": "bad1", "type": "teleport", "ts": now_ms(), "vid": "va", "sid": "a"},
        good[1],
        {**event(), "items": [{"item_id": "x", "price": "free"}]},
        dict(good[0]),  # same id again: a duplicate inside the batch
        good[2],
    ]
    response = post(client, store.public_key, batch)
    assert response.status_code == 200
    assert response.json() == {
        "accepted": 3,
        "duplicates": 1,
        "rejected": [
            {"index": 1, "error": "type: Invalid enum value 'teleport'"},
            {"index": 3, "error": "items[0].price: Expected `float | null`, got `str`"},
        ],
    }
    assert [e["id"] for e in stream(settings, store.id)] == [e["id"] for e in good]
    counts = day_counts(settings, store.id)
    assert counts == {
        "events": 3,
        "sessions": 1,
        "page_views": 1,
        "product_views": 1,
        "add_to_carts": 1,
        "engaged_sessions": 1,
    }


def test_resending_a_batch_changes_no_count(client, settings, shop) -> None:
    store, _ = shop
    batch = [
        event("page_view", sid="s9"),
        event("page_view", sid="s9"),
        event("purchase", sid="s9", value=25.0, transaction_id="T-1"),
    ]
    first = post(client, store.public_key, batch).json()
    assert first == {"accepted": 3, "duplicates": 0, "rejected": []}
    counts, entries = day_counts(settings, store.id), stream(settings, store.id)

    again = post(client, store.public_key, batch).json()
    assert again == {"accepted": 0, "duplicates": 3, "rejected": []}
    assert day_counts(settings, store.id) == counts
    assert stream(settings, store.id) == entries
    assert counts["purchases"] == 1 and counts["revenue_minor"] == 2500


def test_stream_entries_carry_server_fields_and_no_ip(client, settings, shop) -> None:
    store, _ = shop
    sent = event("view_item", items=[{"item_id": "sku-7", "item_name": "Mug", "price": 12.0}])
    assert post(client, store.public_key, [sent]).json()["accepted"] == 1
    (stored,) = stream(settings, store.id)
    assert stored["id"] == sent["id"] and stored["items"][0]["item_name"] == "Mug"
    assert stored["dev"] == "desktop"
    assert abs(stored["rt"] - now_ms()) < 60_000
    assert len(stored["ih"]) == 16 and "testclient" not in json.dumps(stored)


def test_text_plain_bodies_are_accepted_like_beacons(client, shop) -> None:
    store, _ = shop
    body = json.dumps({"k": store.public_key, "events": [event()]})
    response = client.post("/v1/collect", content=body, headers={"content-type": "text/plain"})
    assert response.json() == {"accepted": 1, "duplicates": 0, "rejected": []}


def test_sender_clock_skew_is_corrected(client, settings, shop) -> None:
    store, _ = shop
    skew = 3 * 86400 * 1000  # the sender's clock is three days behind
    sent = event(ts=now_ms() - skew)
    body = {"k": store.public_key, "events": [sent], "sent_at": now_ms() - skew}
    assert client.post("/v1/collect", json=body).json()["accepted"] == 1
    (stored,) = stream(settings, store.id)
    assert abs(stored["ts"] - now_ms()) < 60_000


def test_events_outside_the_time_window_are_rejected(client, shop) -> None:
    store, _ = shop
    old = event(ts=now_ms() - 48 * 3600 * 1000)
    future = event(ts=now_ms() + 3600 * 1000)
    response = post(client, store.public_key, [old, future, event()]).json()
    assert response["accepted"] == 1
    assert [r["index"] for r in response["rejected"]] == [0, 1]
    assert response["rejected"][0]["error"].startswith("ts: older than 47 hours")
    assert response["rejected"][1]["error"].startswith("ts: more than 10 minutes in the future")


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"type": "engagement"}, "engaged_ms: required for engagement events"),
        ({"type": "popup_shown"}, "popup_id: required for popup_shown events"),
        ({"vid": "has space"}, "vid: Expected `str` matching regex"),
        ({"ts": 1_700_000_000}, "ts: Expected `int` >= 1577836800000"),
        ({"currency": "euro"}, "currency: Expected `str` matching regex"),
        ({"colour": "red"}, "Object contains unknown field `colour`"),
    ],
)
def test_each_bad_field_is_named(client, shop, fields, error) -> None:
    store, _ = shop
    bad = event(**fields)
    response = post(client, store.public_key, [bad]).json()
    assert response["accepted"] == 0
    assert response["rejected"][0]["error"].startswith(error)


def test_missing_field_is_named(client, shop) -> None:
    store, _ = shop
    bad = event()
    del bad["sid"]
    response = post(client, store.public_key, [bad]).json()
    assert response["rejected"] == [{"index": 0, "error": "sid: required field is missing"}]


def test_revenue_counts_each_transaction_once(client, settings, shop) -> None:
    store, _ = shop
    batch = [
        event("purchase", sid="p1", value=10.25, transaction_id="T-9"),
        event("purchase", sid="p2", value=10.25, transaction_id="T-9"),  # another sender
        event("purchase", sid="p2", value=4.75, transaction_id="T-10"),
    ]
    assert post(client, store.public_key, batch).json()["accepted"] == 3
    counts = day_counts(settings, store.id)
    assert counts["purchases"] == 2
    assert counts["revenue_minor"] == 1500
    assert counts["purchase_sessions"] == 2


def test_known_bots_are_dropped_and_counted(client, settings, shop) -> None:
    store, _ = shop
    bot_ua = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
    response = post(client, store.public_key, [event(), event()], headers={"user-agent": bot_ua})
    assert response.json() == {"accepted": 0, "duplicates": 0, "rejected": [], "bot": True}
    assert stream(settings, store.id) == []
    assert day_counts(settings, store.id) == {"bots": 2}


def test_cors_follows_the_store_domains(client, shop) -> None:
    store, _ = shop
    ok = post(client, store.public_key, [event()], headers={"origin": "https://www.shop.example"})
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == "https://www.shop.example"
    preflight = client.options("/v1/collect", headers={"origin": "https://shop.example"})
    assert preflight.status_code == 204
    assert "POST" in preflight.headers["access-control-allow-methods"]


def test_script_writes_the_keys_that_keys_py_names(settings, shop) -> None:
    """The ingest script builds key names itself; they must be the ones keys.py
    defines, so that every other reader finds them."""
    store, _ = shop
    limited = settings.replace(rate_limit_ip=100, rate_limit_visitor=100)
    sent = event("purchase", sid="sx", vid="vx", value=3.0, transaction_id="T-k")
    with TestClient(create_app(limited), headers={"user-agent": BROWSER_UA}) as client:
        assert post(client, store.public_key, [sent]).json()["accepted"] == 1
    window = now_ms() // 1000 // RATE_WINDOW_S
    with sync_client(settings) as r:
        assert r.hexists(keys.seen_events(store.id, sent["ts"] // 3_600_000), sent["id"])
        assert r.get(keys.session(store.id, "sx")).decode().endswith(" 0 1 1")
        assert 0 < r.ttl(keys.session(store.id, "sx")) <= 1800
        assert r.exists(keys.transaction(store.id, "T-k"))
        assert r.pfcount(keys.day_visitors(store.id, utc_day(sent["ts"]))) == 1
        assert int(r.get(keys.rate_visitor(store.id, "vx", window))) == 1
        ip_keys = [k for k in r.scan_iter(match=keys.store_prefix(store.id) + keys.RATE_IP + "*")]
        assert len(ip_keys) == 1
