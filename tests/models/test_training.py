"""`tarry train`, model versions and `/v1/recommendations`, against a real Redis.

Events are written to the store's stream in the layout the ingest script writes
(an entry per request, field `events` a JSON array): synthetic traffic spans months,
which `/v1/collect` rightly refuses (it takes events up to 47 hours old). One test
goes through `/v1/collect` itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import event, make_store, run_with_redis
from processes import Server, run_cli
from redis import RedisCluster

from recommender import experiment
from recommender.bundle import train_bundle
from recommender.catalog import CatalogBuilder, ItemInfo
from recommender.columns import Columns
from recommender.evaluation import ndcg_at_k
from recommender.interactions import read_stream
from recommender.models.personal import BlendWeights
from recommender.profile import profile
from recommender.serving import Query, Rules, Showcases
from recommender.synthetic import STRUCTURES, SyntheticShop, generate, item_categories
from widget_server.models import registry as model_registry
from widget_server.models import training
from widget_server.models.training import TrainingError, read_events, train_store
from widget_server.settings import Settings
from widget_server.storage import event_entries, keys
from widget_server.storage.catalog import upsert_cards
from widget_server.storage.connect import sync_storage

SHOP = SyntheticShop(n_users=500, n_items=150, n_categories=6, n_tastes=4, days=30, seed=3)
SOLD_OUT = "i7"


def write_events(redis: Any, store_id: str, shop: SyntheticShop = SHOP) -> int:
    categories = item_categories(shop)
    events = []
    for n, r in enumerate(generate(shop)):
        item: dict[str, Any] = {
            "item_id": r.item_id,
            "item_name": f"Product {r.item_id}",
            "item_category": categories[r.item_id],
        }
        if r.item_id == SOLD_OUT:
            item["availability"] = "https://schema.org/OutOfStock"
        events.append(
            {"id": f"e{n}", "type": r.event, "ts": r.timestamp_ms, "vid": r.visitor_id,
             "sid": r.session_id, "items": [item]}
        )  # fmt: skip
    for start in range(0, len(events), 50):
        redis.xadd(keys.events(store_id), {"events": json.dumps(events[start : start + 50])})
    return len(events)


def catalog_cards(shop: SyntheticShop = SHOP) -> list[dict[str, Any]]:
    """A card for every item, as a merchant's feed would give them."""
    cards = []
    for item_id, category in item_categories(shop).items():
        card = {
            "item_id": item_id,
            "name": f"Product {item_id}",
            "url": f"https://shop.example/p/{item_id}",
            "image": f"https://shop.example/img/{item_id}.jpg",
            "price": 10.0,
            "category": category,
        }
        if item_id == SOLD_OUT:
            card["availability"] = "out_of_stock"
        cards.append(card)
    return cards


@pytest.fixture
def trained_store(settings: Settings) -> tuple[str, str]:
    store, _ = make_store(settings)
    with sync_storage(settings) as redis:
        write_events(redis, store.id)
    run_with_redis(settings, lambda r: upsert_cards(r, store.id, catalog_cards()))
    return store.id, store.public_key


def test_train_publishes_a_version_the_server_answers_from(
    trained_store, settings, cli_env, capsys, client
) -> None:
    store_id, public_key = trained_store
    code, out, err = run_cli(capsys, "train", "--store", store_id, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["published"] is True and report["version"] == "v1"
    assert report["candidate"]["ndcg@10"] > 0
    assert "read " in err and "published v1" in err  # progress lines on stderr
    assert "searching hyper-parameters" in err  # a store's first model is tuned on its data
    with sync_storage(settings) as redis:  # kept in Redis, where every server looks
        assert model_registry.stored_versions(redis, settings.data_dir, store_id) == ["v1"]
    assert not (settings.data_dir / "models").exists()

    code, out, _ = run_cli(capsys, "model", "list", "--store", store_id, "--json")
    [meta] = json.loads(out)
    assert meta["version"] == "v1" and meta["current"] is True
    assert meta["interactions"] == report["interactions"]

    history = "i3,i10,i11"
    answer = client.get(
        "/v1/recommendations",
        params={"key": public_key, "strategy": "recommended", "history": history, "n": 8},
    ).json()
    assert answer["model_version"] == "v1"
    assert len(answer["items"]) == 8
    assert {i["strategy"] for i in answer["items"]} <= {"recommended", "similar", "trending"}
    assert all(i["item_id"] != SOLD_OUT for i in answer["items"])  # availability from events
    assert all(i["name"].startswith("Product ") for i in answer["items"])

    fresh = client.get(
        "/v1/recommendations",
        params={"key": public_key, "history": history, "exclude_history": "true", "n": 8},
    ).json()
    assert len(fresh["items"]) == 8
    assert not {i["item_id"] for i in fresh["items"]} & set(history.split(","))

    similar = client.get(
        "/v1/recommendations",
        params={"key": public_key, "strategy": "similar", "item": "i3", "n": 5},
    ).json()
    assert next(i["because"] for i in similar["items"] if i["strategy"] == "similar") == "i3"
    assert all(i["item_id"] != "i3" for i in similar["items"])


def test_a_worse_model_is_not_published(trained_store, settings) -> None:
    store_id, _ = trained_store
    with sync_storage(settings) as redis:
        first = train_store(redis, settings.data_dir, store_id)
        assert first.published and first.version == "v1"
        # One factor, one iteration, ALS alone: a model that cannot learn tastes.
        from recommender.bundle import TrainingConfig

        bad = TrainingConfig(factors=1, iterations=1, blend=BlendWeights(1, 0, 0))
        refused = train_store(redis, settings.data_dir, store_id, config=bad)
        assert not refused.published and refused.version is None
        assert "not published" in refused.reason and "margin" in refused.reason
        assert refused.candidate["ndcg@10"] < refused.in_service["ndcg@10"] * 0.95
        assert model_registry.current_version(redis, store_id) == "v1"
        forced = train_store(redis, settings.data_dir, store_id, config=bad, force=True)
        assert forced.published and forced.version == "v2"
        assert "forced" in forced.reason


def test_rollback_and_its_errors(trained_store, settings, cli_env, capsys) -> None:
    store_id, _ = trained_store
    with sync_storage(settings) as redis:
        train_store(redis, settings.data_dir, store_id)
        lines: list[str] = []
        train_store(redis, settings.data_dir, store_id, progress=lines.append)
        assert not any("search" in line for line in lines)  # the second keeps the first's
        assert model_registry.current_version(redis, store_id) == "v2"
    code, out, _ = run_cli(capsys, "model", "rollback", "--store", store_id)
    assert code == 0 and "v1 in service" in out
    code, _, err = run_cli(capsys, "model", "rollback", "--store", store_id)
    assert code == 2 and "no older model version" in err
    code, _, err = run_cli(capsys, "model", "rollback", "--store", store_id, "--to", "v9")
    assert code == 2 and "--to: " in err and "v9" in err
    code, out, _ = run_cli(capsys, "model", "rollback", "--store", store_id, "--to", "v2")
    assert code == 0 and "v2 in service" in out


def test_training_an_empty_store_is_a_clear_error(settings, cli_env, capsys) -> None:
    store, _ = make_store(settings)
    code, _, err = run_cli(capsys, "train", "--store", store.id)
    assert code == 2 and "no events with items" in err
    code, _, err = run_cli(capsys, "train", "--store", "nosuchstore0")
    assert code == 2 and "nosuchstore0" in err
    with sync_storage(settings) as redis, pytest.raises(TrainingError, match="margin"):
        train_store(redis, settings.data_dir, store.id, margin=1.5)


def test_events_sent_through_collect_train_a_model(settings, client) -> None:
    store, _ = make_store(settings)
    batch = []
    for visitor in range(30):
        items = ["a", "b"] if visitor % 2 else ["c", "d"]
        for item in items:
            batch.append(
                event("view_item", vid=f"v{visitor}", sid=f"s{visitor}",
                      items=[{"item_id": item, "item_category": "x", "item_name": item.upper(),
                              "url": f"https://shop.example/{item}",
                              "image": f"https://shop.example/{item}.jpg"}])
            )  # fmt: skip
    for start in range(0, len(batch), 20):
        response = client.post(
            "/v1/collect", json={"k": store.public_key, "events": batch[start : start + 20]}
        )
        assert response.status_code == 200, response.text
    with sync_storage(settings) as redis:
        report = train_store(redis, settings.data_dir, store.id)
    assert report.published and report.interactions == 60
    answer = client.get(
        "/v1/recommendations",
        params={"key": store.public_key, "strategy": "bought_together", "item": "a", "n": 3},
    ).json()
    assert answer["model_version"] == "v1"
    # The catalog filled itself from the events' product data.
    assert answer["items"][0]["item_id"] == "b" and answer["items"][0]["name"] == "B"
    # Views only, no carts: bought_together falls back to similar items, and says so.
    assert answer["items"][0]["strategy"] == "similar"
    assert answer["items"][0]["reason"] == "Similar to A"


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({"strategy": "best"}, 400, "strategy: must be one of"),
        ({"n": "0"}, 400, "n: must be between 1 and 100"),
        ({"n": "ten"}, 400, "n: must be a whole number"),
        ({"same_category": "perhaps"}, 400, "same_category: must be true or false"),
        ({"max_per_category": "0"}, 400, "max_per_category: must be at least 1"),
        ({"history": ",".join(f"i{n}" for n in range(300))}, 400, "history: at most 200"),
    ],
)
def test_bad_parameters_name_the_field(trained_store, client, params, status, message) -> None:
    _, public_key = trained_store
    response = client.get("/v1/recommendations", params={"key": public_key, **params})
    assert response.status_code == status
    assert message in response.json()["error"]


def test_keys_origins_and_a_store_without_a_model(settings, client) -> None:
    store, _ = make_store(settings)
    assert client.get("/v1/recommendations").status_code == 401
    response = client.get("/v1/recommendations", params={"key": "pk_nosuchstore0_x"})
    assert response.status_code == 401 and "key" in response.json()["error"]
    response = client.get(
        "/v1/recommendations",
        params={"key": store.public_key},
        headers={"origin": "https://evil.example"},
    )
    assert response.status_code == 403 and "origin" in response.json()["error"]
    response = client.get(
        "/v1/recommendations",
        params={"key": store.public_key, "strategy": "popular"},
        headers={"origin": "https://www.shop.example"},
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://www.shop.example"
    body = response.json()
    assert (body["strategy"], body["model_version"], body["items"]) == ("popular", None, [])


# -- a running server picks up a new version ----------------------------------


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = Server(tmp_path / "data")
    running.start()
    yield running
    running.stop()


def test_a_running_server_picks_up_new_versions_with_no_failed_request(server: Server) -> None:
    created = json.loads(
        server.tarry("store", "create", "--name", "S", "--domain", "s.example", "--json")
    )
    store_id, public_key = created["store_id"], created["public_key"]
    settings = Settings.from_env({"TARRY_DATA_DIR": server.env["TARRY_DATA_DIR"]})
    with sync_storage(settings) as redis:
        write_events(redis, store_id)
    feed = Path(server.env["TARRY_DATA_DIR"]).parent / "feed.jsonl"
    feed.write_text("".join(json.dumps(card) + "\n" for card in catalog_cards()))
    server.tarry("import-catalog", "--store", store_id, str(feed))
    server.tarry("train", "--store", store_id)

    url = f"{server.url}/v1/recommendations?key={public_key}&strategy=similar&item=i3&n=6"
    seen: list[tuple[int, str | None, int]] = []
    stop = threading.Event()

    def ask() -> None:
        while not stop.is_set():
            try:
                with urllib.request.urlopen(url, timeout=10) as response:
                    body = json.loads(response.read())
                    seen.append((response.status, body["model_version"], len(body["items"])))
            except urllib.error.HTTPError as exc:
                seen.append((exc.code, None, 0))

    asker = threading.Thread(target=ask)
    asker.start()
    try:
        server.tarry("train", "--store", store_id)  # v2, published while serving
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(v == "v2" for _, v, _ in seen):
            time.sleep(0.05)
        server.tarry("model", "rollback", "--store", store_id)  # back to v1
        before = len(seen)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(v == "v1" for _, v, _ in seen[before:]):
            time.sleep(0.05)
    finally:
        stop.set()
        asker.join()
    versions = [v for _, v, _ in seen]
    assert "v2" in versions, versions[-5:]
    assert versions.index("v2") < len(versions) - 1 - versions[::-1].index("v1")  # rolled back
    assert all(status == 200 for status, _, _ in seen)
    assert all(count == 6 for _, _, count in seen)  # never an empty or failed answer


def test_the_server_and_the_cli_pin_blas_to_one_thread(tmp_path: Path) -> None:
    # OpenBLAS starts with up to 4 threads (as many as there are cores); serving
    # must bring it to one (a recommendation query is ~30x slower otherwise).
    script = (
        "import sys, threadpoolctl\n"
        "from starlette.testclient import TestClient\n"
        "from widget_server.app import create_app\n"
        "def blas():\n"
        "    return [a['num_threads'] for a in threadpoolctl.threadpool_info()"
        " if a['user_api'] == 'blas']\n"
        "before = blas()\n"
        "with TestClient(create_app()):\n"
        "    during = blas()\n"
        "print(max(before), max(during))\n"
    )
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "4", "TARRY_DATA_DIR": str(tmp_path)}
    env.pop("TARRY_REDIS_URL", None)
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(min(4, os.cpu_count() or 1)), "1"]


def test_scheduled_retraining_trains_a_due_store_once(trained_store, settings) -> None:
    from widget_server.models import retraining
    from widget_server.storage.connect import run_with_storage

    store_id, _ = trained_store

    async def schedule(redis: Any) -> tuple[bool, str | None, bool, bool]:
        due_before = await retraining._due(redis, store_id, 60_000, int(time.time() * 1000))
        task = asyncio.create_task(retraining.run_schedule(settings, redis, check_every=0.2))
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not (
                await redis.get(keys.model_current(store_id))
                and not await redis.exists(keys.training_lock(store_id))
            ):
                await asyncio.sleep(0.1)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        current = await redis.get(keys.model_current(store_id))
        due_after = await retraining._due(redis, store_id, 60_000, int(time.time() * 1000))
        locked = bool(await redis.exists(keys.training_lock(store_id)))
        return due_before, current.decode() if current else None, due_after, locked

    due_before, current, due_after, locked = run_with_storage(settings, schedule)
    assert due_before is True  # events and no model yet
    assert current == "v1"  # trained by a `tarry train` child process
    assert due_after is False  # no new events since: not again
    assert locked is False  # the lock is released for the next round


# -- what the data decides -------------------------------------------------------

DRIFT = dataclasses.replace(STRUCTURES["drift"], n_users=600, n_items=200, days=30)
ANONYMOUS = dataclasses.replace(STRUCTURES["sessions"], n_users=1500, n_items=200, days=30)
REGULARS = dataclasses.replace(STRUCTURES["baskets"], n_users=300, n_items=200, days=30)


def store_with(settings: Settings, shop: SyntheticShop) -> tuple[str, str]:
    store, _ = make_store(settings)
    with sync_storage(settings) as redis:
        write_events(redis, store.id, shop)
    run_with_redis(settings, lambda r: upsert_cards(r, store.id, catalog_cards(shop)))
    return store.id, store.public_key


def meta_of(settings: Settings, store_id: str, version: str = "v1") -> dict[str, Any]:
    with sync_storage(settings) as redis:
        bundle = model_registry.load_version(redis, settings.data_dir, store_id, version)
    return dict(bundle.meta)


@pytest.mark.parametrize(
    ("shop", "protocol", "repeat"),
    [(REGULARS, "user", True), (ANONYMOUS, "session", False), (DRIFT, "user", False)],
    ids=["regulars who reorder", "anonymous sessions", "no one re-buys"],
)
def test_the_protocol_and_repeats_are_decided_from_the_data_and_stated(
    settings: Settings, shop: SyntheticShop, protocol: str, repeat: bool
) -> None:
    store_id, _ = store_with(settings, shop)
    with sync_storage(settings) as redis:
        report = train_store(redis, settings.data_dir, store_id, search=False)
    assert (report.protocol, report.repeat) == (protocol, repeat)
    meta = meta_of(settings, store_id)
    assert (meta["protocol"], meta["repeat"], meta["profile"]["repeat"]) == (
        protocol,
        repeat,
        repeat,
    )
    assert meta["profile"]["protocol"] == protocol and 0 <= meta["profile"]["repeat_share"] <= 1


def test_where_no_one_rebuys_the_server_never_answers_with_the_visitors_own_items(
    settings: Settings, client: Any
) -> None:
    # The drifting-taste store: its first model allowed repeats by default, and
    # the server answered returning visitors with their own past items.
    store_id, public_key = store_with(settings, DRIFT)
    with sync_storage(settings) as redis:
        report = train_store(redis, settings.data_dir, store_id, search=False)
    assert report.published and report.repeat is False
    last: dict[str, list[str]] = {}
    for r in generate(DRIFT):
        last.setdefault(r.visitor_id, []).append(r.item_id)
    returning = [v for v, items in last.items() if len(set(items)) >= 5][:20]
    own_picks = picks = 0
    for visitor in returning:
        history = list(dict.fromkeys(reversed(last[visitor])))[:20][::-1]  # as the snippet sends
        for params in ({"history": ",".join(history)}, {}):  # the page's history, or none
            answer = client.get(
                "/v1/recommendations",
                params={"k": public_key, "placement": "recommended", "vid": visitor, "n": 10,
                        **params},
            ).json()  # fmt: skip
            got = [i["item_id"] for i in answer["items"]]
            picks += len(got)
            own_picks += len(set(got) & set(last[visitor]))
    assert picks == 2 * 10 * len(returning) and own_picks == 0


def test_the_holdout_scores_the_answer_the_server_gives(settings: Settings) -> None:
    # The candidate's holdout NDCG is the server's own answer scored: the same
    # Showcases, rules and exclusions, a returning visitor asked for by id.
    store_id, _ = store_with(settings, REGULARS)
    with sync_storage(settings) as redis:
        report = train_store(redis, settings.data_dir, store_id, search=False)
        interactions, catalog = read_events(redis, store_id, lambda _: None)
    assert report.candidate is not None and report.protocol == "user"
    found = profile(interactions)
    task = experiment.make_task(
        interactions, "user", experiment.default_config().weighting, data_profile=found
    )
    candidate = train_bundle(
        task.train,
        experiment.default_config(),
        known_items=catalog.items,
        built=task.built,
        now_ms=task.cut_ms,
        data_profile=found,
    )
    showcases = Showcases(candidate)
    ndcg = [
        ndcg_at_k(
            [
                p.item_id
                for p in showcases.answer(Query("recommended", n=10, visitor=user), Rules())
            ],
            relevant,
            10,
        )
        for user, relevant in task.relevant.items()
    ]
    assert report.candidate["ndcg@10"] == pytest.approx(sum(ndcg) / len(ndcg))


def test_training_reads_the_stream_into_columns_that_hold_its_records(settings) -> None:
    """`tarry train` keeps no Python object per interaction: the stream becomes
    columns (22 bytes an interaction), which hold exactly the records read one at a
    time, and the catalog it fills is the one every item record fills."""
    store, _ = make_store(settings)
    mug = {"item_id": "mug", "item_name": "Mug", "item_category": "Kitchen"}
    events = [
        {"id": "a", "type": "view_item", "ts": 1000, "vid": "v1", "sid": "s1", "items": [mug]},
        {"id": "b", "type": "page_view", "ts": 1001, "vid": "v1", "sid": "s1"},
        {"id": "c", "type": "add_to_cart", "ts": 1002, "vid": "v2", "sid": "s2",
         "items": [{"item_id": "mug"}, {"item_id": "tea", "item_name": "Tea"}]},
        {"id": "d", "type": "purchase", "ts": 1003, "vid": "v2", "sid": "s2",
         "items": [{"item_id": "mug", "availability": "https://schema.org/OutOfStock"}]},
        {"id": "e", "type": "view_item", "ts": 1004, "vid": "v1", "sid": "s3", "items": [mug]},
    ]  # fmt: skip
    heard: list[str] = []
    every = CatalogBuilder()
    with sync_storage(settings) as redis:
        for start in range(0, len(events), 2):
            redis.xadd(keys.events(store.id), {"events": json.dumps(events[start : start + 2])})
        write_events(redis, store.id)
        columns, catalog = read_events(redis, store.id, heard.append)
        stream = keys.events(store.id)
        records = list(
            read_stream(redis, stream, event_entries.events, batch=7, on_item=every.observe_item)
        )
    assert isinstance(columns, Columns)
    assert list(columns) == records and len(records) > 10_000
    assert [(r.event, r.item_id) for r in records[:4]] == [
        ("view_item", "mug"), ("add_to_cart", "mug"), ("add_to_cart", "tea"), ("purchase", "mug"),
    ]  # fmt: skip
    assert catalog.items == every.items
    assert catalog.items["mug"] == ItemInfo("Mug", "Kitchen", available=False)
    arrays = (columns.ts, columns.visitor, columns.session, columns.event, columns.item)
    assert sum(a.nbytes for a in arrays) == 22 * len(records)
    assert heard[-1] == f"read {len(records):,} interactions, {len(catalog.items):,} items"


def test_a_long_stream_read_in_two_processes_is_read_as_in_one(settings) -> None:
    """Past `split_at` entries the later half of the stream is read by a process of
    its own (`stream_part.py`): the same columns, codes numbered as one reader
    numbers them, and the catalog the items' facts make in stream order, with an
    item whose facts change in the later half and visitors in both halves."""
    store, _ = make_store(settings)
    stream = keys.events(store.id)
    mug = {"item_id": "mug", "item_name": "Mug", "item_category": "Kitchen"}
    fields = []
    for n in range(40):
        late = n >= 20
        record = {**mug, "item_name": "Big mug"} if late and n % 3 == 0 else mug
        sent = [
            {"id": f"e{n}a", "type": "view_item", "ts": 1000 + n, "items": [record]},
            {"id": f"e{n}b", "type": "add_to_cart", "ts": 1001 + n,
             "items": [{"item_id": f"i{n % 7}", "availability": "in_stock" if late else None}]},
            {"id": f"e{n}c", "type": "page_view", "ts": 1002 + n},
        ]  # fmt: skip
        senders = [("desktop", f"v{n % 5}", f"s{n % 9}")] * 2 + [("mobile", f"w{n}", f"t{n}")]
        if n % 4 == 0:  # entries of the old layout, which the stream keeps for a while
            old = [{**e, "vid": v, "sid": s} for e, (_, v, s) in zip(sent, senders, strict=True)]
            fields.append({"events": json.dumps(old)})
        else:
            fields.append({"events": json.dumps(sent), "who": event_entries.runs(senders)})
    with sync_storage(settings) as redis:
        for n, entry in enumerate(fields):
            redis.xadd(stream, entry, id=f"{1_000_000 + n * 1000}-0")
        one, one_catalog = read_events(redis, store.id, lambda _: None, split_at=10**9)
        heard: list[str] = []
        two, two_catalog = read_events(redis, store.id, heard.append, split_at=1)
        cluster = isinstance(redis, RedisCluster)
    assert len(one) == 80 and list(two) == list(one)
    # Senders of events without items (page views) are no ids of the columns.
    assert one.visitors.ids == list(dict.fromkeys(r.visitor_id for r in one))
    for name in ("ts", "visitor", "session", "event", "item"):
        assert np.array_equal(getattr(two, name), getattr(one, name))
        assert getattr(two, name).dtype == getattr(one, name).dtype
    for name in ("visitors", "sessions", "events", "items"):
        assert getattr(two, name).ids == getattr(one, name).ids
    assert two_catalog.items == one_catalog.items
    assert two_catalog.items["mug"] == ItemInfo("Big mug", "Kitchen")
    # A cluster's client is not one another process can be handed: one reader there.
    said = f"read 80 interactions, {len(one_catalog.items)} items"
    if cluster:
        assert heard[-1] == said
    else:
        assert heard[-1].startswith(f"{said} (the later half by a second process, peak RSS ")


def test_the_second_reader_gets_its_connection_on_stdin_not_in_its_arguments(
    settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A password in a command line is there for any `ps` on the host to read."""
    store, _ = make_store(settings)
    started: list[list[str]] = []
    real = subprocess.Popen

    def spy(command: list[str], **options: Any) -> Any:
        started.append(command)
        return real(command, **options)

    secret = {"unix_socket_path": "/nonexistent.sock", "password": "s3cret-pw"}
    monkeypatch.setattr(training, "_connection_recipe", lambda _: secret)
    monkeypatch.setattr(training.subprocess, "Popen", spy)
    with sync_storage(settings) as redis:
        for n in range(3):
            sent = [{"type": "view_item", "ts": n, "items": [{"item_id": "a"}]}]
            fields = {"events": json.dumps(sent), "who": "desktop v s 1"}
            redis.xadd(keys.events(store.id), fields, id=f"{3_000_000 + n * 1000}-0")
        read, _ = read_events(redis, store.id, lambda _: None, split_at=1)
    assert len(read) == 3 and len(started) == 1  # the child ran (and failed to connect)
    assert not any("s3cret-pw" in part for part in started[0])


def test_a_second_reader_that_fails_leaves_the_read_to_training(
    settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the process for the later half cannot read (here: a socket that is not
    there), training reads that half itself: slower, the same columns."""
    store, _ = make_store(settings)
    stream = keys.events(store.id)
    mug = [{"item_id": "mug", "item_name": "Mug"}]
    with sync_storage(settings) as redis:
        for n in range(30):
            sent = [{"id": f"e{n}", "type": "view_item", "ts": 1000 + n, "items": mug}]
            fields = {"events": json.dumps(sent), "who": f"desktop v{n % 4} s{n % 6} 1"}
            redis.xadd(stream, fields, id=f"{2_000_000 + n * 1000}-0")
        one, one_catalog = read_events(redis, store.id, lambda _: None, split_at=10**9)
        monkeypatch.setattr(
            training, "_connection_recipe", lambda _: {"unix_socket_path": "/nonexistent.sock"}
        )
        heard: list[str] = []
        two, two_catalog = read_events(redis, store.id, heard.append, split_at=1)
    assert len(one) == 30 and list(two) == list(one)
    assert two.visitors.ids == one.visitors.ids and two_catalog.items == one_catalog.items
    failed = [line for line in heard if line.startswith("the second reader failed")]
    assert len(failed) == 1 and failed[0].endswith("reading the later half here")
    assert heard[-1] == f"read 30 interactions, {len(one_catalog.items)} items"
