"""`POST /v1/collect` against real Redis, standalone and Cluster."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import BROWSER_UA
from helpers import event, make_store, now_ms, stored_events, sync_client
from starlette.testclient import TestClient

from widget_server.app import create_app
from widget_server.collect.ingest import RATE_WINDOW_S, seen_digest
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
    return stored_events(settings, store_id)


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
            {"index": 1, "error": f'type: must be {EVENT_TYPES}, not the string "teleport"'},
            {
                "index": 3,
                "error": 'items[0].price: must be a number such as 12.5, not the string "free"',
            },
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
        # one page view so far; it reached "viewed a product", then "added to cart"
        "single_page_sessions": 1,
        "funnel_1": 1,
        "funnel_2": 1,
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


def test_stream_entries_keep_events_as_sent_and_the_sender_once(client, settings, shop) -> None:
    """Each event as sent, less the spaces a JSON library pads it with and less its
    visitor and session ids, which the entry keeps once per run with the device
    class; nothing of the client's address."""
    store, _ = shop
    sent = [
        event("view_item", items=[{"item_id": "sku-7", "item_name": "Mug, blue", "price": 12.0}]),
        event("page_view", title='A "quoted": title, with "vid":"v1", commas'),
    ]
    padded = json.dumps({"k": store.public_key, "events": sent}, indent=2)
    assert client.post("/v1/collect", content=padded).json()["accepted"] == 2
    with sync_client(settings) as r:
        ((entry_id, fields),) = r.xrange(keys.events(store.id))
    assert set(fields) == {b"events", b"who"}
    assert fields[b"who"] == b"desktop v1 s1 2"
    unsent = [{k: v for k, v in e.items() if k not in ("vid", "sid")} for e in sent]
    assert fields[b"events"] == json.dumps(unsent, separators=(",", ":")).encode()
    assert stream(settings, store.id) == sent
    assert abs(int(entry_id.split(b"-")[0]) - now_ms()) < 60_000  # when it arrived
    assert b"testclient" not in fields[b"events"] + fields[b"who"]


def test_the_attribution_log_keeps_what_attribution_reads(client, settings, shop) -> None:
    """Per arrival hour, each attributed event's few fields: a click's items (what
    it credits), not a carousel view's (every item it showed, which nothing reads),
    and nothing of page views."""
    store, _ = shop
    shown = [{"item_id": f"sku-{n}", "price": 5.0} for n in range(12)]
    sent = [
        event("page_view"),
        event("showcase_view", placement="home", rec_id="r1", items=shown),
        event("showcase_click", placement="home", rec_id="r1", items=shown[:1]),
    ]
    assert post(client, store.public_key, sent).json()["accepted"] == 3
    with sync_client(settings) as r:
        hours = list(r.scan_iter(match=keys.attribution_hour(store.id, 0)[:-1] + "*"))
        kept = [e for h in hours for e in json.loads(b"[" + r.get(h)[1:] + b"]")]
    by_type = {e["type"]: e for e in kept}
    assert set(by_type) == {"showcase_view", "showcase_click"}
    assert "items" not in by_type["showcase_view"]
    assert by_type["showcase_click"]["items"] == [{"item_id": "sku-0", "price": 5.0}]
    assert "url" not in by_type["showcase_click"] and "dev" not in by_type["showcase_click"]


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


EVENT_TYPES = (
    "one of page_view, view_item, view_item_list, add_to_cart, remove_from_cart, view_cart,"
    " begin_checkout, purchase, engagement, popup_shown, popup_click, popup_close,"
    " popup_suppressed, showcase_view, showcase_click or showcase_suppressed"
)


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"type": "engagement"}, "engaged_ms: required for engagement events"),
        ({"type": "popup_shown"}, "popup_id: required for popup_shown events"),
        ({"type": 5}, f"type: must be {EVENT_TYPES}, not 5"),
        (
            {"vid": "has space"},
            'vid: must be a string of 1-64 letters, digits or _.:-, not the string "has space"',
        ),
        ({"vid": ""}, "vid: must not be empty"),
        (
            {"ts": 1_733_000_000},
            "ts: must be in milliseconds since the epoch; 1733000000 is in seconds:"
            " send 1733000000000",
        ),
        (
            {"ts": 1_733_000_000_000_000},
            "ts: must be in milliseconds since the epoch; 1733000000000000 is in microseconds:"
            " send 1733000000000",
        ),
        (
            {"ts": "2024-12-01T10:00:00Z"},
            "ts: must be a whole number of milliseconds since the epoch (such as 1733000000000),"
            ' not the string "2024-12-01T10:00:00Z"',
        ),
        (
            {"items": {"item_id": "sku-1"}},
            'items: must be a list of items such as [{"item_id": "SKU-1", "price": 12.5}],'
            " not an object",
        ),
        (
            {"items": [{"item_id": "sku-1", "price": "12.50"}]},
            'items[0].price: must be a number such as 12.5, not the string "12.50"',
        ),
        (
            {"items": [{"item_id": "sku-1", "quantity": 1.5}]},
            "items[0].quantity: must be a whole number such as 2, not 1.5",
        ),
        ({"items": [{"price": 3}]}, "items[0].item_id: required field is missing"),
        ({"value": -1}, "value: must be at least 0, not -1"),
        (
            {"currency": "euro"},
            "currency: must be a three-letter currency code in capitals such as EUR,"
            ' not the string "euro"',
        ),
        (
            {"page_type": "pdp"},
            "page_type: must be one of home, product, category, search, cart, checkout,"
            ' thank_you or other, not the string "pdp"',
        ),
        ({"title": "x" * 513}, "title: must have at most 512 characters"),
    ],
)
def test_each_bad_field_is_named_with_what_it_must_be(client, shop, fields, error) -> None:
    store, _ = shop
    bad = event(**fields)
    response = post(client, store.public_key, [bad]).json()
    assert response == {"accepted": 0, "duplicates": 0, "rejected": [{"index": 0, "error": error}]}


def test_an_event_that_is_not_an_object_is_named(client, shop) -> None:
    store, _ = shop
    response = post(client, store.public_key, ["page_view", event()]).json()
    assert response["accepted"] == 1
    assert response["rejected"] == [
        {"index": 0, "error": 'event: must be a JSON object, not the string "page_view"'}
    ]


def test_unknown_fields_are_ignored_and_not_stored(client, settings, shop) -> None:
    """Shops and GA4 dataLayers send fields Tarry does not know: the event counts,
    and the stream keeps only the fields the schema describes."""
    store, _ = shop
    item = {"item_id": "sku-1", "item_name": "Mug", "price": 12.5, "quantity": 1}
    ga4 = event(
        "add_to_cart",
        colour="red",
        ecommerce={"currency": "EUR"},
        items=[{**item, "item_variant": "red", "index": 0, "discount": 1.5}],
    )
    plain = event("view_item", items=[item])
    body = {"k": store.public_key, "events": [ga4, plain], "gtm": {"container": "GTM-1"}}
    response = client.post("/v1/collect", json=body)
    assert response.json() == {"accepted": 2, "duplicates": 0, "rejected": []}

    stored_ga4, stored_plain = stream(settings, store.id)
    assert set(stored_ga4) == set(ga4) - {"colour", "ecommerce"}
    assert stored_ga4["items"] == [item]
    assert stored_plain == plain
    assert day_counts(settings, store.id)["add_to_carts"] == 1


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
        seen = keys.seen_events(store.id, sent["ts"] // 900_000)
        assert r.hkeys(seen) == [seen_digest(sent["id"])]
        head = r.get(keys.session(store.id, "sx")).decode().split("\t")[0].split(" ")
        quarter = sent["ts"] // 900_000
        assert head == [utc_day(sent["ts"]), "0", "1", "1", str(quarter), "0"]
        assert 0 < r.ttl(keys.session(store.id, "sx")) <= 1800
        assert r.exists(keys.transaction(store.id, "T-k"))
        assert r.pfcount(keys.day_visitors(store.id, utc_day(sent["ts"]))) == 1
        for bucket in (keys.quarter(store.id, quarter), keys.hour(store.id, quarter // 4)):
            assert r.hget(bucket, "orders:") == b"1"
            assert r.pfcount(keys.visitors_of(bucket)) == 1
        assert r.hget(keys.dims_quarter(store.id, quarter), "ch\tdirect\ts") == b"1"
        assert r.hget(keys.dims_day(store.id, utc_day(sent["ts"]), "ch"), "direct\ts") == b"1"
        minutes = range(sent["ts"] // 60_000, now_ms() // 60_000 + 1)
        assert sum(int(r.hget(keys.live(store.id, m), "events") or 0) for m in minutes) == 1
        assert r.xlen(keys.session_log(store.id)) == 1
        assert r.zrange(keys.order_log(store.id), 0, -1) == [b"T-k\tvx\t300\t"]
        assert int(r.get(keys.rate_visitor(store.id, "vx", window))) == 1
        ip_keys = [k for k in r.scan_iter(match=keys.store_prefix(store.id) + keys.RATE_IP + "*")]
        assert len(ip_keys) == 1
