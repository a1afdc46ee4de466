"""The `tarry` command: stores and keys, and `tarry serve` as a real process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from conftest import BROWSER_UA, free_port
from helpers import event
from test_embedded_redis import stored_ids

from widget_server.cli import main


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


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


class Server:
    def __init__(self, data_dir: Path, **env: str) -> None:
        self.port = free_port()
        self.env = {
            **os.environ,
            "TARRY_DATA_DIR": str(data_dir),
            "TARRY_PORT": str(self.port),
            "TARRY_ACCESS_LOG": "false",
            **env,
        }
        self.env.pop("TARRY_REDIS_URL", None)
        self.process: subprocess.Popen[bytes] | None = None

    def tarry(self, *argv: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "widget_server", *argv],
            env=self.env,
            capture_output=True,
            check=True,
            timeout=60,
        )
        return done.stdout.decode()

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "widget_server", "serve"],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise TimeoutError("tarry serve did not become ready")

    def stop(self) -> tuple[int, str]:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        out, _ = self.process.communicate(timeout=30)
        return self.process.returncode, out.decode()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def collect(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        request = urllib.request.Request(
            f"{self.url}/v1/collect",
            data=json.dumps(body).encode(),
            headers={"content-type": "text/plain", "user-agent": BROWSER_UA},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())


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
