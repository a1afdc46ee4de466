"""The `tarry` command: stores and keys, and `tarry serve` as a real process."""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import os
import queue
import re
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import free_port
from helpers import event, make_store
from processes import Server, run_cli, stored_ids

from widget_server.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
TAG = re.compile(r'<script async src="(?P<src>[^"]+)" data-key="(?P<key>pk_[^"]+)"></script>')


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


# Every command that names a store, with otherwise good arguments; `{feed}` is a
# valid product feed.
UNKNOWN_STORE_COMMANDS = [
    ["store", "rotate-secret", "nope"],
    ["store", "disable", "nope"],
    ["store", "enable", "nope"],
    ["import-catalog", "--store", "nope", "{feed}"],
    ["import-events", "--store", "nope", "{feed}"],
    ["train", "--store", "nope"],
    ["model", "list", "--store", "nope"],
    ["model", "list", "--store", "nope", "--json"],
    ["model", "rollback", "--store", "nope"],
    ["model", "rollback", "--store", "nope", "--to", "v1"],
]


def _commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every leaf command of the parser, as its words and its own parser."""
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not actions:
        yield path, parser
    for action in actions:
        for name, sub in action.choices.items():
            yield from _commands(sub, (*path, name))


def test_the_table_has_every_command_that_takes_a_store() -> None:
    takes_a_store = {
        " ".join(words)
        for words, parser in _commands(build_parser())
        if any(a.dest in ("store", "store_id") for a in parser._actions)
    }
    assert len(takes_a_store) >= 7  # the walk found the commands
    tabled = {
        " ".join(itertools.takewhile(lambda w: w != "nope" and not w.startswith("-"), argv))
        for argv in UNKNOWN_STORE_COMMANDS
    }
    assert takes_a_store == tabled


@pytest.mark.parametrize("argv", UNKNOWN_STORE_COMMANDS, ids=" ".join)
def test_an_unknown_store_is_the_same_error_everywhere(cli_env, capsys, tmp_path, argv) -> None:
    feed = tmp_path / "feed.csv"
    feed.write_text("item_id,name\nsku-1,Mug\n")
    code, out, err = run_cli(capsys, *(str(feed) if a == "{feed}" else a for a in argv))
    assert (code, out, err) == (2, "", "tarry: store: no store with id 'nope'\n")


def test_model_commands_leave_no_connection_open(cli_env, capsys, settings) -> None:
    store, _ = make_store(settings)
    gc.collect()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        for argv in (["model", "list", "--store", store.id], ["train", "--store", store.id]):
            run_cli(capsys, *argv)
        gc.collect()  # an unclosed socket warns when it is collected
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


def test_store_create_prints_the_tag_with_the_public_url(cli_env, capsys, monkeypatch) -> None:
    monkeypatch.setenv("TARRY_PUBLIC_URL", "https://tarry.shop.example/")
    code, out, _ = run_cli(capsys, "store", "create", "--name", "A", "--domain", "a.example")
    assert code == 0
    tag = TAG.search(out)
    assert tag and tag["src"] == "https://tarry.shop.example/t.js", out
    assert f"public_key:  {tag['key']}" in out
    assert "TARRY_HOST" not in out and "TARRY_PUBLIC_URL" not in out  # nothing to fill in


def test_store_create_without_a_public_url_names_where_the_server_listens(
    cli_env, capsys, monkeypatch
) -> None:
    monkeypatch.setenv("TARRY_HOST", "10.1.2.3")
    monkeypatch.setenv("TARRY_PORT", "8123")
    code, out, _ = run_cli(capsys, "store", "create", "--name", "A", "--domain", "a.example")
    assert code == 0
    tag = TAG.search(out)
    assert tag and tag["src"] == "http://10.1.2.3:8123/t.js", out
    assert "set TARRY_PUBLIC_URL" in out  # and how to say otherwise


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


def test_serve_with_two_workers_counts_every_event_once(tmp_path: Path) -> None:
    """`--workers 2`: two processes share the port, each with its own group commit
    and one embedded Redis between them. Batches sent from many threads at once,
    and half of them again (a retry), are stored and counted once each."""
    server = Server(tmp_path / "d", TARRY_RATE_LIMIT_IP="0", TARRY_RATE_LIMIT_VISITOR="0")
    created = json.loads(
        server.tarry("store", "create", "--name", "S", "--domain", "s.example", "--json")
    )
    server.start("--workers", "2")
    batches = [[event(vid=f"v{n % 7}", sid=f"s{n % 7}") for _ in range(5)] for n in range(120)]
    answers: queue.Queue[tuple[int, dict[str, int]]] = queue.Queue()

    def send(share: list[list[dict[str, object]]]) -> None:
        for batch in share:
            status, body = server.collect({"k": created["public_key"], "events": batch})
            answers.put((status, body))

    try:
        assert server.process is not None
        workers = subprocess.run(
            ["ps", "--ppid", str(server.process.pid), "-o", "pid="],
            capture_output=True, text=True, check=True,
        ).stdout.split()  # fmt: skip
        sends = batches + batches[::2]
        threads = [threading.Thread(target=send, args=(sends[k::8],)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        request = urllib.request.Request(
            f"{server.url}/v1/stats/summary",
            headers={"authorization": f"Bearer {created['secret_key']}"},
        )
        with urllib.request.urlopen(request, timeout=10) as r:
            summary = json.loads(r.read())
    finally:
        code, output = server.stop()
    assert_clean_exit(code, output)
    got = [answers.get_nowait() for _ in range(answers.qsize())]
    assert len(got) == len(sends) and {status for status, _ in got} == {200}
    assert sum(body["accepted"] for _, body in got) == 5 * len(batches)
    assert sum(body["duplicates"] for _, body in got) == 5 * len(batches[::2])
    ids = stored_ids(tmp_path / "d", created["store_id"])
    assert sorted(ids) == sorted(e["id"] for batch in batches for e in batch)
    assert sum(day["events"] for day in summary["days"]) == 5 * len(batches)
    # The supervisor and its two workers (ps lists the workers, maybe a helper too).
    assert len(workers) >= 2, workers


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


# -- the scripts a newcomer runs first ---------------------------------------------


def _clean_env(data_dir: Path, **env: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TARRY_")}
    return {**clean, "TARRY_DATA_DIR": str(data_dir), "TARRY_ACCESS_LOG": "false", **env}


def _first_match(lines: queue.Queue[str], pattern: re.Pattern[str]) -> re.Match[str]:
    """The first of the lines that matches, within a minute."""
    seen = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            continue
        seen.append(line)
        if match := pattern.search(line):
            return match
    pytest.fail("no such line in:\n" + "".join(seen))


def test_scripts_serve_first_run_prints_a_tag_the_server_answers(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [str(ROOT / "scripts" / "serve"), "--port", str(port)],
        env=_clean_env(tmp_path / "data"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    stdout = process.stdout
    reader = threading.Thread(target=lambda: [lines.put(line) for line in stdout])
    reader.start()
    try:
        tag = _first_match(lines, TAG)  # the store's keys come before the server
        assert tag["src"] == f"http://127.0.0.1:{port}/t.js"
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(tag["src"], timeout=2) as response:
                    body = response.read().decode()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        assert body.startswith("/*! tarry")  # the snippet itself, at the printed address
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        reader.join(timeout=30)  # it ends at the output's end
        stdout.close()


def test_scripts_tarry_runs_commands_from_wherever_it_is_called(tmp_path: Path) -> None:
    env = _clean_env(tmp_path / "data")
    tarry = str(ROOT / "scripts" / "tarry")

    def run(*argv: str) -> str:
        done = subprocess.run(
            [tarry, *argv], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert "import-catalog" in run("--help")
    assert run("store", "list", "--json") == "[]\n"
    store_id = json.loads(run("store", "create", "--name", "S", "--domain", "s.example", "--json"))[
        "store_id"
    ]
    (tmp_path / "feed.csv").write_text("item_id,name\nsku-1,Mug\n")
    # a file named relative to the caller's folder, not the project's
    assert run("import-catalog", "--store", store_id, "feed.csv", "--json") == (
        '{"imported": 1, "rejected": []}\n'
    )
    assert [s["store_id"] for s in json.loads(run("store", "list", "--json"))] == [store_id]


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_writes_tarrys_own_log_lines_at_the_level_asked(tmp_path: Path, workers: str) -> None:
    """Tarry's own messages (a model dropped from memory by the cap, the storage it
    opened) go to the server's output at TARRY_LOG_LEVEL, in every worker: before,
    the `tarry` logger had no handler, so its info lines were lost."""
    server = Server(tmp_path / "d", TARRY_LOG_LEVEL="info")
    server.start("--workers", workers)
    code, output = server.stop()
    assert_clean_exit(code, output)
    ready = [line for line in output.splitlines() if "tarry: storage ready" in line]
    assert len(ready) == int(workers), output
    assert all(line.startswith("INFO:") for line in ready), ready

    quiet = Server(tmp_path / "d", TARRY_LOG_LEVEL="warning")
    quiet.start()
    code, output = quiet.stop()
    assert code in (0, -signal.SIGTERM), output
    assert "tarry: storage ready" not in output, output
