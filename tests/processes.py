"""Real processes the tests drive: the `tarry` CLI, a `tarry serve`, the system Chromium."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import redis
from conftest import BROWSER_UA, free_port

from widget_server.cli import main
from widget_server.storage import event_entries, keys
from widget_server.storage.embedded_redis import EmbeddedRedis


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


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

    def start(self, *serve_options: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "widget_server", "serve", *serve_options],
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


def stored_ids(data_dir: Path, store_id: str) -> list[str]:
    server = EmbeddedRedis(data_dir)
    server.acquire()
    try:
        with redis.Redis(unix_socket_path=str(server.socket_path)) as r:
            entries = r.xrange(keys.events(store_id))
            return [e["id"] for _, f in entries for e in event_entries.events(f)]
    finally:
        server.release()


def chromium_executable() -> str:
    """The system Chromium, or a failure that says how to provide one."""
    configured = os.environ.get("TARRY_CHROMIUM")
    if configured:
        if not (os.path.isfile(configured) and os.access(configured, os.X_OK)):
            pytest.fail(f"TARRY_CHROMIUM={configured!r} is not an executable file")
        return configured
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    pytest.fail(
        "no Chromium found: install it (Debian: apt-get install chromium) or set "
        "TARRY_CHROMIUM to a Chromium or Chrome executable; the popup browser tests "
        "need a real browser and are never skipped"
    )
