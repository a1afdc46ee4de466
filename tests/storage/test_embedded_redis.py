"""The embedded Redis: durable across restarts and crashes, shared by processes."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from conftest import BROWSER_UA
from helpers import event, make_store
from processes import stored_ids
from starlette.testclient import TestClient

from widget_server.app import create_app
from widget_server.cli import main
from widget_server.settings import Settings
from widget_server.storage.embedded_redis import EmbeddedRedis, EmbeddedRedisError


def embedded_settings(data_dir: Path) -> Settings:
    return Settings.from_env({"TARRY_DATA_DIR": str(data_dir)})


def send(settings: Settings, public_key: str, n: int) -> list[str]:
    events = [event() for _ in range(n)]
    with TestClient(create_app(settings), headers={"user-agent": BROWSER_UA}) as client:
        response = client.post("/v1/collect", json={"k": public_key, "events": events})
        assert response.json()["accepted"] == n
    return [e["id"] for e in events]


def test_clean_restart_keeps_acknowledged_events(tmp_path: Path) -> None:
    settings = embedded_settings(tmp_path)
    store, _ = make_store(settings)
    sent = send(settings, store.public_key, 5)
    # The app has shut its Redis down on exit: nothing answers on the socket now.
    assert not EmbeddedRedis(tmp_path)._answers()
    assert stored_ids(tmp_path, store.id) == sent


def test_crash_keeps_events_acknowledged_a_second_before(tmp_path: Path) -> None:
    settings = embedded_settings(tmp_path)
    store, _ = make_store(settings)
    holder = EmbeddedRedis(tmp_path)
    holder.acquire()  # keeps the server up after the app exits, so we can kill it
    sent = send(settings, store.public_key, 5)
    time.sleep(1.5)  # appendfsync everysec
    holder.kill()  # SIGKILL: no shutdown, no final save; only the AOF survives
    assert stored_ids(tmp_path, store.id) == sent


def test_processes_share_one_server_and_the_last_one_stops_it(tmp_path: Path) -> None:
    first, second = EmbeddedRedis(tmp_path), EmbeddedRedis(tmp_path)
    first.acquire()
    pid = (tmp_path / "redis.pid").read_text()
    second.acquire()
    assert (tmp_path / "redis.pid").read_text() == pid  # no second server
    first.release()
    assert second._answers()  # the first one out leaves it running for the second
    second.release()
    assert not second._answers()


def test_cli_and_server_share_the_embedded_redis(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("TARRY_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("TARRY_REDIS_URL", raising=False)
    settings = embedded_settings(tmp_path)
    with TestClient(create_app(settings), headers={"user-agent": BROWSER_UA}) as client:
        pid = (tmp_path / "redis.pid").read_text()
        assert (
            main(["store", "create", "--name", "Live", "--domain", "live.example", "--json"]) == 0
        )
        created = json.loads(capsys.readouterr().out)
        assert (tmp_path / "redis.pid").read_text() == pid
        # The CLI is gone; the server's Redis is not, and it knows the new store.
        body = {"k": created["public_key"], "events": [event()]}
        assert client.post("/v1/collect", json=body).json()["accepted"] == 1
    assert not EmbeddedRedis(tmp_path)._answers()


def test_data_dir_with_a_too_long_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(EmbeddedRedisError, match="TARRY_DATA_DIR: path too long"):
        EmbeddedRedis(tmp_path / ("x" * 120))
