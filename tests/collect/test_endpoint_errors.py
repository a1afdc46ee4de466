"""Every error status of `/v1/collect`, each with its JSON body, and proof that a
refused request stores nothing."""

from __future__ import annotations

import collections
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from conftest import BROWSER_UA
from helpers import event, make_store, run_with_redis, sync_client
from starlette.testclient import TestClient

from widget_server.app import create_app
from widget_server.collect.events import MAX_BODY_BYTES
from widget_server.settings import Settings
from widget_server.storage import event_entries, keys, stores
from widget_server.storage.embedded_redis import EmbeddedRedis


def stored_count(settings: Settings, store_id: str) -> int:
    with sync_client(settings) as r:
        entries = r.xrange(keys.events(store_id))
        return sum(len(event_entries.events(fields)) for _, fields in entries)


def test_malformed_bodies_are_400_naming_the_problem(client, settings) -> None:
    store, _ = make_store(settings)
    batch = {"k": store.public_key, "events": [event()]}
    cut = json.dumps(batch).encode()[:30]
    cases = [
        (b"", "body: empty"),
        (cut, "body: must be JSON; it is truncated at byte 30 (the JSON is incomplete)"),
        (b"{not json", "body: must be JSON; object keys must be strings at byte 1"),
        (b"k=pk_1&events=", "body: must be JSON; invalid character at byte 0"),
        (b'{"events": []}', "k: required field is missing"),
        (
            json.dumps({"k": store.public_key, "events": "x"}).encode(),
            'events: must be a list of events, not the string "x"',
        ),
        (json.dumps({"k": store.public_key}).encode(), "events: required field is missing"),
        (
            b"[1, 2]",
            'body: must be a JSON object such as {"k": "pk_...", "events": [...]}, not a list',
        ),
        (
            json.dumps({**batch, "sent_at": 1_733_000_000}).encode(),
            "sent_at: must be in milliseconds since the epoch; 1733000000 is in seconds:"
            " send 1733000000000",
        ),
    ]
    for body, message in cases:
        response = client.post("/v1/collect", content=body, headers={"content-type": "text/plain"})
        assert response.status_code == 400, body
        assert response.json() == {"error": message}
    assert stored_count(settings, store.id) == 0


def test_unknown_or_disabled_key_is_401(client, settings) -> None:
    store, _ = make_store(settings)
    for key in ("pk_nope", "pk_aaaaaaaaaaaa_" + "x" * 32):
        response = client.post("/v1/collect", json={"k": key, "events": [event()]})
        assert response.status_code == 401
        assert response.json() == {"error": "k: unknown or disabled public key"}

    run_with_redis(settings, lambda r: stores.set_enabled(r, store.id, False))
    fresh = TestClient(create_app(settings), headers={"user-agent": BROWSER_UA})
    with fresh:  # a new process: no cached store
        response = fresh.post("/v1/collect", json={"k": store.public_key, "events": [event()]})
    assert response.status_code == 401
    assert stored_count(settings, store.id) == 0


def test_a_secret_key_in_a_page_is_named_as_such(client, settings) -> None:
    store, secret = make_store(settings)
    response = client.post("/v1/collect", json={"k": secret, "events": [event()]})
    assert response.status_code == 401
    assert response.json() == {
        "error": "k: this is the store's secret key (sk_...), which must never be in a page:"
        " send the public key (pk_...), and replace this secret key with"
        " `tarry store rotate-secret`"
    }
    assert stored_count(settings, store.id) == 0


def test_origin_outside_the_store_domains_is_403(client, settings) -> None:
    store, _ = make_store(settings, ("shop.example",))
    for origin in (
        "https://evil.example",
        "https://shop.example.evil.example",
        "https://notshop.example",
    ):
        response = client.post(
            "/v1/collect",
            json={"k": store.public_key, "events": [event()]},
            headers={"origin": origin},
        )
        assert response.status_code == 403
        assert response.json() == {"error": f"origin: {origin} is not one of the store's domains"}
    assert stored_count(settings, store.id) == 0


def test_too_large_is_413(client, settings) -> None:
    store, _ = make_store(settings)
    big = json.dumps({"k": store.public_key, "events": [event(title="x" * MAX_BODY_BYTES)]})
    response = client.post("/v1/collect", content=big)
    assert response.status_code == 413
    assert response.json() == {"error": f"body: larger than {MAX_BODY_BYTES} bytes"}

    many = [event() for _ in range(101)]
    response = client.post("/v1/collect", json={"k": store.public_key, "events": many})
    assert response.status_code == 413
    assert response.json() == {"error": "events: at most 100 events per request"}
    assert stored_count(settings, store.id) == 0


def test_rate_limits_are_429_with_retry_after(settings) -> None:
    limited = settings.replace(rate_limit_visitor=3, rate_limit_ip=5)
    store, _ = make_store(limited)
    with TestClient(create_app(limited), headers={"user-agent": BROWSER_UA}) as client:

        def send(n: int, vid: str) -> object:
            body = {"k": store.public_key, "events": [event(vid=vid) for _ in range(n)]}
            return client.post("/v1/collect", json=body)

        assert send(3, "busy").status_code == 200
        response = send(1, "busy")
        assert response.status_code == 429
        retry = int(response.headers["retry-after"])
        assert 1 <= retry <= 60
        assert response.json() == {
            "error": "rate: too many events from this visitor or address; retry later",
            "retry_after": retry,
        }
        assert stored_count(limited, store.id) == 3
        # Another visitor from the same address is still welcome, up to the IP limit.
        assert send(1, "calm").status_code == 200
        assert send(1, "calm2").status_code == 200
        assert send(1, "calm3").status_code == 200  # the fifth request from this address
        assert send(1, "calm4").status_code == 429
        assert stored_count(limited, store.id) == 6


def wait_for_a_fresh_window() -> None:
    """Rate limits count per minute of the clock: a flood that straddled two minutes
    would meet two limits."""
    into_minute = time.time() % 60
    if into_minute > 40:
        time.sleep(60.2 - into_minute)


def flood_statuses(
    sends: list[tuple[TestClient, str]], store: stores.Store
) -> list[tuple[str, int, str | None]]:
    """Every request at once, 16 in flight: (visitor, status, Retry-After) each."""

    def send(client: TestClient, vid: str) -> tuple[str, int, str | None]:
        body = {"k": store.public_key, "events": [event(vid=vid)]}
        response = client.post("/v1/collect", json=body)
        return vid, response.status_code, response.headers.get("retry-after")

    with ThreadPoolExecutor(16) as pool:
        return list(pool.map(lambda s: send(*s), sends))


def stored_by_visitor(settings: Settings, store_id: str) -> collections.Counter[str]:
    with sync_client(settings) as r:
        entries = r.xrange(keys.events(store_id))
        return collections.Counter(
            e["vid"] for _, fields in entries for e in event_entries.events(fields)
        )


def test_a_flood_from_one_visitor_stores_its_limit_and_others_are_served(settings) -> None:
    limited = settings.replace(rate_limit_visitor=20, rate_limit_ip=0)
    store, _ = make_store(limited)
    with TestClient(create_app(limited), headers={"user-agent": BROWSER_UA}) as client:
        # The flood and the others' requests interleaved, as they reach a server.
        sends = [(client, "flood") for _ in range(120)]
        for n in range(30):
            sends.insert(4 * n, (client, f"calm{n}"))
        wait_for_a_fresh_window()
        answered = flood_statuses(sends, store)
    flood = collections.Counter(status for vid, status, _ in answered if vid == "flood")
    assert flood == {200: 20, 429: 100}
    assert all(1 <= int(retry or 0) <= 60 for vid, status, retry in answered if status == 429)
    assert [status for vid, status, _ in answered if vid != "flood"] == [200] * 30
    stored = stored_by_visitor(limited, store.id)
    assert stored["flood"] == 20
    assert sum(stored.values()) == 50


def test_a_flood_from_one_address_is_held_and_other_addresses_are_served(settings) -> None:
    limited = settings.replace(rate_limit_visitor=0, rate_limit_ip=30)
    store, _ = make_store(limited)
    headers = {"user-agent": BROWSER_UA}
    # Two servers of a fleet (the limits live in Redis), one address on each.
    with (
        TestClient(create_app(limited), headers=headers, client=("198.51.100.7", 5000)) as noisy,
        TestClient(create_app(limited), headers=headers, client=("203.0.113.9", 5000)) as calm,
    ):
        sends = [(noisy, f"n{n}") for n in range(100)]
        for n in range(20):
            sends.insert(5 * n, (calm, f"c{n}"))
        wait_for_a_fresh_window()
        answered = flood_statuses(sends, store)
    noisy_statuses = collections.Counter(s for vid, s, _ in answered if vid.startswith("n"))
    assert noisy_statuses == {200: 30, 429: 70}
    assert [s for vid, s, _ in answered if vid.startswith("c")] == [200] * 20
    assert sum(stored_by_visitor(limited, store.id).values()) == 50


def test_storage_unreachable_is_503_and_recovers(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path / "r")
    url = server.acquire()
    settings = Settings.from_env({"TARRY_REDIS_URL": url, "TARRY_DATA_DIR": str(tmp_path)})
    store, _ = make_store(settings)
    try:
        with TestClient(create_app(settings), headers={"user-agent": BROWSER_UA}) as client:
            body = {"k": store.public_key, "events": [event()]}
            assert client.post("/v1/collect", json=body).status_code == 200
            server.kill()
            body = {"k": store.public_key, "events": [event()]}
            response = client.post("/v1/collect", json=body)
            assert response.status_code == 503
            assert response.headers["retry-after"] == "5"
            assert response.json() == {"error": "storage: Redis is unreachable; try again later"}
            assert client.get("/readyz").status_code == 503
            assert client.get("/healthz").status_code == 200
            metrics = client.get("/metrics").text
            assert "tarry_redis_errors_total 2.0" in metrics

            server.acquire()  # Redis is back: the same request now goes through
            assert client.post("/v1/collect", json=body).json()["accepted"] == 1
            assert client.get("/readyz").status_code == 200
        assert stored_count(settings, store.id) == 2
    finally:
        server.release()
