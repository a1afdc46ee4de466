"""The `tarry` command: stores and keys, and `tarry serve` as a real process."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from helpers import event
from processes import Server, run_cli, stored_ids


def test_store_create_json_prints_exactly_one_object(cli_env, capsys) -> None:
    code, out, _ = run_cli(
        capsys,
        "store",
        "create",
        "--name",
        "Gift Shop",
        "--domain",
        "https://www.Gifts.example/",
        "--json",
    )
    assert code == 0
    created = json.loads(out)  # the whole output is one JSON document
    assert set(created) == {"store_id", "public_key", "secret_key"}
    assert created["public_key"].startswith(f"pk_{created['store_id']}_")
    assert created["secret_key"].startswith(f"sk_{created['store_id']}_")

    code, out, _ = run_cli(capsys, "store", "list", "--json")
    (listed,) = json.loads(out)
    assert listed["domains"] == ["gifts.example"]
    assert listed["name"] == "Gift Shop"
    assert created["secret_key"] not in out  # only its hash is stored


def test_store_list_table_and_rotate_secret(cli_env, capsys, client) -> None:
    _, out, _ = run_cli(capsys, "store", "create", "--name", "A", "--domain", "a.example", "--json")
    created = json.loads(out)
    code, table, _ = run_cli(capsys, "store", "list")
    assert code == 0
    assert table.splitlines()[0].split()[:3] == ["STORE", "ID", "NAME"]
    assert created["store_id"] in table and "a.example" in table

    old = {"authorization": f"Bearer {created['secret_key']}"}
    assert client.get("/v1/stats/summary", headers=old).status_code == 200
    code, out, _ = run_cli(capsys, "store", "rotate-secret", created["store_id"], "--json")
    new_secret = json.loads(out)["secret_key"]
    assert new_secret != created["secret_key"]
    assert client.get("/v1/stats/summary", headers=old).status_code == 401
    new = {"authorization": f"Bearer {new_secret}"}
    assert client.get("/v1/stats/summary", headers=new).status_code == 200


def test_disable_and_enable(cli_env, capsys) -> None:
    _, out, _ = run_cli(capsys, "store", "create", "--name", "A", "--domain", "a.example", "--json")
    store_id = json.loads(out)["store_id"]
    assert run_cli(capsys, "store", "disable", store_id)[1] == f"store {store_id}: disabled\n"
    _, out, _ = run_cli(capsys, "store", "list", "--json")
    assert json.loads(out)[0]["enabled"] is False
    assert run_cli(capsys, "store", "enable", store_id)[1] == f"store {store_id}: enabled\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["store", "create", "--name", "A", "--domain", "not a domain"],
            "tarry: domain: 'not a domain'",
        ),
        (
            ["store", "create", "--name", " ", "--domain", "a.example"],
            "tarry: name: must be 1 to 200",
        ),
        (
            ["store", "rotate-secret", "nosuchstore1"],
            "tarry: store: no store with id 'nosuchstore1'",
        ),
    ],
)
def test_bad_input_is_a_clear_cli_error(cli_env, capsys, argv, message) -> None:
    code, out, err = run_cli(capsys, *argv)
    assert code == 2
    assert out == ""
    assert err.startswith(message)


def test_bad_settings_are_named(monkeypatch, capsys) -> None:
    monkeypatch.setenv("TARRY_REDIS_URL", "http://localhost:6379")
    code, _, err = run_cli(capsys, "store", "list")
    assert code == 2
    assert err.startswith("tarry: TARRY_REDIS_URL: must start with one of redis://")


# -- tarry serve, as a real process on a fresh data directory ------------------


def assert_clean_exit(code: int, output: str) -> None:
    # uvicorn finishes in-flight requests and the lifespan, then re-raises SIGTERM so
    # that a supervisor sees why it stopped.
    assert code in (0, -signal.SIGTERM), output
    assert "Application shutdown complete" in output, output


def test_serve_on_a_fresh_data_dir_accepts_curl(tmp_path: Path) -> None:
    server = Server(tmp_path / "fresh")
    created = json.loads(
        server.tarry("store", "create", "--name", "S", "--domain", "s.example", "--json")
    )
    server.start()
    try:
        body = json.dumps({"k": created["public_key"], "events": [event()]})
        done = subprocess.run(
            ["curl", "-sS", "-X", "POST", f"{server.url}/v1/collect", "-d", body],
            capture_output=True,
            timeout=30,
            check=True,
        )
        assert json.loads(done.stdout) == {"accepted": 1, "duplicates": 0, "rejected": []}
        with urllib.request.urlopen(f"{server.url}/metrics", timeout=5) as r:
            metrics = r.read().decode()
        assert 'tarry_events_total{outcome="accepted"} 1.0' in metrics
        assert (
            'tarry_http_requests_total{method="POST",route="/v1/collect",status="200"} 1.0'
            in metrics
        )
    finally:
        code, output = server.stop()
    assert_clean_exit(code, output)


def test_graceful_shutdown_loses_nothing_acknowledged(tmp_path: Path) -> None:
    server = Server(tmp_path / "d", TARRY_RATE_LIMIT_IP="0", TARRY_RATE_LIMIT_VISITOR="0")
    created = json.loads(
        server.tarry("store", "create", "--name", "S", "--domain", "s.example", "--json")
    )
    server.start()
    acknowledged: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def sender() -> None:
        while not stop.is_set():
            batch = [event() for _ in range(5)]
            try:
                status, body = server.collect({"k": created["public_key"], "events": batch})
            except OSError:
                continue  # refused: the server is closing, nothing was acknowledged
            if status == 200:
                assert body["accepted"] == 5
                with lock:
                    acknowledged.extend(e["id"] for e in batch)

    threads = [threading.Thread(target=sender) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    code, output = server.stop()  # SIGTERM while requests are in flight
    stop.set()
    for t in threads:
        t.join(30)
    assert_clean_exit(code, output)
    assert len(acknowledged) > 50

    stored = stored_ids(tmp_path / "d", created["store_id"])
    assert set(acknowledged) <= set(stored)
    assert len(stored) == len(set(stored))  # and nothing twice
