"""`./scripts/demo`, the README's first command, as a newcomer runs it: in a copy of
the project with no virtual environment yet, on a fresh machine's terms (it
installs, starts the server on the embedded Redis, fills the demo store), then
SIGTERM, and a second start on the same data. Checked through the public API only.

These tests share one demo (tests/demo/conftest.py) and run in file order."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import redis
from conftest import free_port

from widget_server.cli import main
from widget_server.demo.command import MARK, reset
from widget_server.demo.setup import COUPON_POOL
from widget_server.models.commands import CommandError
from widget_server.storage.embedded_redis import EmbeddedRedis

if TYPE_CHECKING:  # the class of the `demo` fixtures (tests/demo/conftest.py)
    from demo.conftest import Demo

# What the README promises, install included, on 2 cores.
FIRST_START_BUDGET_S = 180
SECOND_START_BUDGET_S = 30
PRESETS = {"dont_go", "flash_promo", "last_chance"}


def _today() -> datetime:
    return datetime.now(UTC)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone in all but name: it runs nothing.
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _in_session(session_id: int) -> list[int]:
    """Processes of a session (the demo's, started with a session of its own)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == session_id and fields[0] != "Z":
                found.append(int(entry.name))
    return found


@pytest.mark.timeout(FIRST_START_BUDGET_S + 120)
def test_the_first_start_installs_and_fills_the_demo_store_in_under_three_minutes(
    demo: Demo,
) -> None:
    assert not (demo.root / ".venv").exists() and not demo.data_dir.exists()
    took = demo.start()
    assert took < FIRST_START_BUDGET_S, f"the first start took {took:.0f} s"
    said = "\n".join(demo.lines)
    assert "Tarry demo shop" in said and demo.public_key.startswith("pk_")
    assert demo.secret_key.startswith("sk_") and f"{demo.url}/demo/" in said
    assert f"{demo.url}/dashboard" in said and f"{demo.url}/openapi.json" in said
    assert (demo.root / ".venv" / "bin" / "tarry").exists()  # it installed


def test_the_demo_store_has_sessions_on_many_days_and_a_year_of_orders(running_demo: Demo) -> None:
    today = _today().date()
    series = running_demo.get(
        f"/v1/stats/timeseries?interval=day&from={today - timedelta(days=27)}&to={today}"
    )
    days_with_sessions = [row for row in series["rows"] if row["sessions"] > 0]
    assert len(days_with_sessions) >= 26, series["rows"]
    # The shop grows: the last week has more sessions than the first.
    first, last = series["rows"][:7], series["rows"][-8:-1]
    assert sum(r["sessions"] for r in last) > sum(r["sessions"] for r in first)
    assert sum(row["orders"] for row in series["rows"]) > 500
    cohorts = running_demo.get("/v1/stats/cohorts?of=orders&by=month")
    assert len([c for c in cohorts["rows"] if c["size"] > 0]) >= 11  # the imported year
    stores_seen = running_demo.get("/v1/stats/overview")
    assert stores_seen["figures"]["sessions"]["value"] > 1000


def test_the_presets_are_on_with_holdouts_and_a_coupon_pool(running_demo: Demo) -> None:
    rules = running_demo.get("/v1/admin/rules")["rules"]
    on = {rule["preset"]: rule for rule in rules if rule["enabled"]}
    assert set(on) >= PRESETS
    assert all(on[name]["holdout"] > 0 for name in PRESETS)
    assert on["last_chance"]["content"]["coupon"]["pool"] == COUPON_POOL
    assert running_demo.get(f"/v1/admin/coupons/{COUPON_POOL}")["remaining"] > 100
    # The last 40 hours came through /v1/collect: every popup fired, shown and held out.
    today = _today().date()
    popups = running_demo.get(f"/v1/stats/popups?from={today - timedelta(days=2)}&to={today}")
    by_rule = {row["rule_id"]: row for row in popups["rows"]}
    for name in PRESETS:
        row = by_rule[on[name]["id"]]
        assert row["shown"] > 0 and row["suppressed"] > 0, (name, row)
    assert {v["variant"] for v in by_rule[on["flash_promo"]["id"]]["variants"]} == {
        "ten_off",
        "free_shipping",
    }


def test_a_trained_model_fills_the_showcases(running_demo: Demo) -> None:
    answer = running_demo.get(
        f"/v1/recommendations?k={running_demo.public_key}&placement=similar&item_id=TD-1001&n=8",
        key=running_demo.public_key,
    )
    assert answer["model_version"] == "v1"
    assert len(answer["items"]) == 8 and "TD-1001" not in {i["item_id"] for i in answer["items"]}
    decided = running_demo.get(
        f"/v1/decide?k={running_demo.public_key}&vid=newcomer-1&sid=s-1&page_type=product"
        f"&item_id=TD-1001&url={running_demo.url}/demo/products/td-1001",
        key=running_demo.public_key,
    )
    slot = decided["showcases"]["product_similar"]
    assert slot["selector"] == ".product" and slot["title"] == "You may also like"
    assert slot["holdout"] or len(slot["items"]) == 8
    assert decided["model_version"] == "v1"


def test_sigterm_while_it_fills_the_store_stops_it_cleanly(
    running_demo: Demo, tmp_path: Path
) -> None:
    """A newcomer's Ctrl-C during the first start: the server, the filling and the
    embedded Redis all stop; the next start fills the store (a marker says it is
    not filled yet)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TARRY_")}
    tarry = str(running_demo.root / ".venv" / "bin" / "tarry")
    with (tmp_path / "stderr.log").open("wb") as log:
        process = subprocess.Popen(
            [tarry, "demo", "--port", str(free_port())],
            cwd=tmp_path,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
            start_new_session=True,
            text=True,
        )
    assert process.stdout is not None
    said = []
    for line in process.stdout:  # until the filling is under way
        said.append(line)
        if "simulated" in line:
            break
    redis_pid = int((tmp_path / ".tarry-demo" / "redis.pid").read_text())
    assert _alive(redis_pid)
    process.send_signal(signal.SIGTERM)
    rest, _ = process.communicate(timeout=60)
    said.append(rest)
    assert process.returncode == 0, "".join(said) + (tmp_path / "stderr.log").read_text()
    assert "Stopped before the demo store was filled" in rest and "ready" not in rest
    deadline = time.monotonic() + 10
    while _alive(redis_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(redis_pid) and _in_session(process.pid) == []


def test_sigterm_stops_the_demo_and_its_embedded_redis(running_demo: Demo) -> None:
    assert running_demo.process is not None
    session = running_demo.process.pid
    redis_pid = int((running_demo.data_dir / "redis.pid").read_text())
    assert _alive(redis_pid)
    assert running_demo.stop() == 0
    assert "Tarry demo stopped." in running_demo.lines
    deadline = time.monotonic() + 10
    while _alive(redis_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(redis_pid), "the embedded redis-server was left running"
    assert _in_session(session) == []
    assert not (running_demo.data_dir / "redis.sock").exists()


@pytest.mark.timeout(SECOND_START_BUDGET_S + 60)
def test_a_second_start_reuses_the_data_within_seconds(demo: Demo) -> None:
    if demo.running:
        demo.stop()
    old = (demo.store_id, demo.public_key, demo.secret_key)
    took = demo.start(timeout=SECOND_START_BUDGET_S + 30)
    assert took < SECOND_START_BUDGET_S, f"the second start took {took:.0f} s"
    said = "\n".join(demo.lines)
    assert "Filling" not in said and "Found the demo store" in said
    assert (demo.store_id, demo.public_key) == old[:2]
    # Only the hash of a secret key is kept: each start prints a new one.
    assert demo.secret_key != old[2]
    assert demo.status("/v1/admin/rules", old[2]) == 401
    assert demo.status("/v1/admin/rules", demo.secret_key) == 200
    rules = demo.get("/v1/admin/rules")["rules"]
    assert sorted(r["preset"] for r in rules) == sorted(PRESETS)  # none switched on twice


def test_a_bad_or_busy_port_is_refused_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--port", "0"]) == 2
    assert "tarry: --port: must be between 1 and 65535, got 0" in capsys.readouterr().err
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["demo", "--port", str(port)]) == 2
    assert f"tarry: --port: {port} is in use" in capsys.readouterr().err
    assert not (tmp_path / ".tarry-demo").exists()  # refused before anything was made


def test_a_reset_deletes_only_what_the_demo_made(tmp_path: Path) -> None:
    stranger = tmp_path / "mine"
    stranger.mkdir()
    (stranger / "notes.txt").write_text("keep me")
    with pytest.raises(CommandError, match="not made by `tarry demo`"):
        reset(stranger)
    assert (stranger / "notes.txt").read_text() == "keep me"

    made = tmp_path / "demo"
    made.mkdir()
    (made / MARK).write_text("")
    (made / "models").mkdir()
    reset(made)
    assert not made.exists()
    reset(made)  # nothing there: nothing to do


def test_a_reset_refuses_while_a_tarry_process_uses_the_data(tmp_path: Path) -> None:
    made = tmp_path / "demo"
    made.mkdir()
    (made / MARK).write_text("")
    server = EmbeddedRedis(made)
    server.acquire()
    try:
        with pytest.raises(CommandError, match="a Tarry process is using"):
            reset(made)
        with redis.Redis(unix_socket_path=str(server.socket_path)) as client:
            assert client.ping()
    finally:
        server.release()
    reset(made)  # let go of: the server is shut down with the folder
    assert not made.exists()
