"""Showcases: placements with their figures and lift; retraining as a child process
with its progress polled; rollback with the registry's own function."""

from __future__ import annotations

import re
import time
from typing import Any

from helpers import run_with_redis
from starlette.testclient import TestClient

from widget_server.settings import Settings
from widget_server.storage import keys, stores

WAIT_S = 120


def _train(client: TestClient, traffic: Any) -> dict[str, Any]:
    token = traffic.csrf_of(client.get("/dashboard/showcases").text)
    answer = client.post("/dashboard/showcases/retrain", data={"csrf": token},
                         follow_redirects=False)  # fmt: skip
    assert answer.status_code == 303 and answer.headers["location"] == "/dashboard/showcases"
    running = client.get("/dashboard/showcases").text
    assert 'data-running="true"' in running and "Retrain now</button>" in running
    deadline = time.monotonic() + WAIT_S
    while True:
        status = client.get("/dashboard/showcases/training.json").json()
        if not status["running"]:
            return status
        assert time.monotonic() < deadline, status
        time.sleep(0.3)


def test_retraining_runs_tarry_train_and_shows_its_progress(
    signed_in: TestClient, shop_store: tuple[stores.Store, str], settings: Settings, traffic: Any
) -> None:
    store = shop_store[0]
    traffic.fill_history(settings, store.id, 12)
    assert "No model yet" in signed_in.get("/dashboard/showcases").text
    status = _train(signed_in, traffic)
    assert status["code"] == 0 and status["published"] and status["version"] == "v1"
    assert any(line.startswith("read ") for line in status["lines"]), status["lines"]
    assert status["label"] == "Published v1."
    page = signed_in.get("/dashboard/showcases").text
    assert re.search(r"<dt>Version</dt><dd>v1</dd>", page)
    assert "interactions of" in re.sub(r"<[^>]+>", "", page)
    # The lock is free again: the next training may start.
    assert not run_with_redis(settings, lambda r: r.exists(keys.training_lock(store.id)))


def test_a_second_training_while_one_runs_is_refused(
    signed_in: TestClient, shop_store: tuple[stores.Store, str], settings: Settings, traffic: Any
) -> None:
    store = shop_store[0]
    run_with_redis(settings, lambda r: r.set(keys.training_lock(store.id), "other-server"))
    token = traffic.csrf_of(signed_in.get("/dashboard/showcases").text)
    answer = signed_in.post("/dashboard/showcases/retrain", data={"csrf": token})
    assert "A training of this store is running already." in answer.text
    assert (
        run_with_redis(settings, lambda r: r.get(keys.training_lock(store.id))) == b"other-server"
    )


def test_an_earlier_version_is_put_back_in_service(
    signed_in: TestClient, shop_store: tuple[stores.Store, str], settings: Settings, traffic: Any
) -> None:
    store = shop_store[0]
    traffic.fill_history(settings, store.id, 12)
    _train(signed_in, traffic)
    second = _train(signed_in, traffic)
    assert second["version"] == "v2" or second["code"] == 3, second
    token = traffic.csrf_of(signed_in.get("/dashboard/showcases").text)
    answer = signed_in.post("/dashboard/showcases/rollback", data={"csrf": token, "version": "v1"})
    assert "Version v1 is in service again" in answer.text
    assert run_with_redis(settings, lambda r: r.get(keys.model_current(store.id))) == b"v1"
    missing = signed_in.post("/dashboard/showcases/rollback", data={"csrf": token, "version": "v9"})
    assert "That version cannot be put back" in missing.text


def test_placements_show_their_figures_and_lift(
    signed_in: TestClient, shop_store: tuple[stores.Store, str], settings: Settings, traffic: Any
) -> None:
    traffic.fill_history(settings, shop_store[0].id, 10)
    page = signed_in.get("/dashboard/showcases").text
    assert "<bdi>similar</bdi>" in page and "Similar items" in page
    assert re.search(r'<p class="verdict (pending|neutral|good|bad)">', page)
    csv = signed_in.get("/dashboard/csv/showcases").text.lstrip("\ufeff").splitlines()
    assert csv[0].startswith("placement,strategy,views,clicks") and csv[1].startswith("similar,")
