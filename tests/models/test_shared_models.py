"""No shared disk: two real `tarry serve` processes, each with a data directory of
its own, on one Redis (and on the three-node Cluster). What `tarry train` publishes
through one is served by both within seconds, and so is a rollback."""

from __future__ import annotations

import json
import signal
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import run_with_redis
from processes import Server

from recommender.synthetic import SyntheticShop, generate, item_categories
from widget_server.settings import Settings
from widget_server.storage import keys
from widget_server.storage.catalog import upsert_cards
from widget_server.storage.connect import sync_storage

SHOP = SyntheticShop(n_users=200, n_items=40, n_categories=4, n_tastes=4, days=20, seed=8)
PICKED_UP_WITHIN_S = 10  # servers check `model:current` every 2 s


def fill(settings: Settings, store_id: str) -> None:
    """The store's stream, in the layout the ingest script writes, and its catalog."""
    categories = item_categories(SHOP)
    events = [
        {"id": f"e{n}", "type": r.event, "ts": r.timestamp_ms, "vid": r.visitor_id,
         "sid": r.session_id, "items": [{"item_id": r.item_id}]}
        for n, r in enumerate(generate(SHOP))
    ]  # fmt: skip
    with sync_storage(settings) as redis:
        for start in range(0, len(events), 100):
            chunk = json.dumps(events[start : start + 100])
            redis.xadd(keys.events(store_id), {"events": chunk})
    cards = [
        {"item_id": item, "name": f"Product {item}", "url": f"https://shop.example/{item}",
         "image": f"https://shop.example/{item}.jpg", "category": category}
        for item, category in categories.items()
    ]  # fmt: skip
    run_with_redis(settings, lambda r: upsert_cards(r, store_id, cards))


def settings_of(server: Server, redis_url: str) -> Settings:
    return Settings.from_env(
        {"TARRY_REDIS_URL": redis_url, "TARRY_DATA_DIR": server.env["TARRY_DATA_DIR"]}
    )


def served(server: Server, public_key: str) -> dict[str, Any]:
    query = f"key={public_key}&strategy=similar&item=i3&n=4"
    with urllib.request.urlopen(f"{server.url}/v1/recommendations?{query}", timeout=10) as r:
        answer: dict[str, Any] = json.loads(r.read())
    return answer


def wait_until_both_serve(servers: list[Server], public_key: str, version: str) -> None:
    deadline = time.monotonic() + PICKED_UP_WITHIN_S
    while True:
        answers = [served(server, public_key) for server in servers]
        if all(a["model_version"] == version for a in answers):
            break
        assert time.monotonic() < deadline, [a["model_version"] for a in answers]
        time.sleep(0.2)
    for answer in answers:  # the model's own answer, not the catalog's top-up
        assert len(answer["items"]) == 4
        assert answer["items"][0]["strategy"] == "similar", answer


@pytest.fixture
def two_servers(redis_url: str, tmp_path: Path) -> Iterator[list[Server]]:
    servers = [Server(tmp_path / name) for name in ("host-a", "host-b")]
    for server in servers:
        server.env["TARRY_REDIS_URL"] = redis_url
    try:
        for server in servers:
            server.start()
        yield servers
    finally:
        for server in servers:
            if server.process is not None:
                server.stop()


@pytest.mark.parametrize("bundles_in", ["redis", "s3"])
def test_a_model_published_through_one_server_is_served_by_another_with_its_own_disk(
    two_servers: list[Server], redis_url: str, bundles_in: str, request: pytest.FixtureRequest
) -> None:
    """With the bundles in Redis, or in S3 (`TARRY_MODEL_STORE_URL` set only where
    `tarry train` runs: the other server has the S3 credentials and nothing else)."""
    first, second = two_servers
    store_url = None
    if bundles_in == "s3":
        s3_env = request.getfixturevalue("s3_server")
        store_url = f"s3://models/shared-{time.time_ns()}"
        first.env["TARRY_MODEL_STORE_URL"] = store_url
        for server in two_servers:  # started again, with the credentials
            server.stop()
            server.env.update(s3_env)
            server.start()
    created = json.loads(
        first.tarry("store", "create", "--name", "S", "--domain", "s.example", "--json")
    )
    store_id, public_key = created["store_id"], created["public_key"]
    fill(settings_of(first, redis_url), store_id)
    assert served(second, public_key)["model_version"] is None  # no model yet

    first.tarry("train", "--store", store_id, "--no-search")
    wait_until_both_serve(two_servers, public_key, "v1")
    first.tarry("train", "--store", store_id, "--no-search", "--force")
    wait_until_both_serve(two_servers, public_key, "v2")
    second.tarry("model", "rollback", "--store", store_id)  # through the other one
    wait_until_both_serve(two_servers, public_key, "v1")
    listed = json.loads(second.tarry("model", "list", "--store", store_id, "--json"))
    assert [(m["version"], m["current"]) for m in listed] == [("v2", False), ("v1", True)]

    for server in two_servers:  # neither data directory holds a model
        assert not (Path(server.env["TARRY_DATA_DIR"]) / "models").exists()
    with sync_storage(settings_of(first, redis_url)) as redis:
        manifests = [json.loads(m) for m in redis.hvals(keys.model_bundles(store_id))]
        chunks = [redis.exists(keys.model_chunk(store_id, v, 0)) for v in ("v1", "v2")]
    assert len(manifests) == 2
    if store_url is None:
        assert chunks == [1, 1] and not any("object" in m for m in manifests)
    else:
        assert chunks == [0, 0]
        assert sorted(m["object"] for m in manifests) == [
            f"{store_url}/{store_id}/v{n}.bundle" for n in (1, 2)
        ]
    for server in two_servers:
        code, output = server.stop()
        assert code in (0, -signal.SIGTERM) and "Traceback" not in output, output
        server.process = None
