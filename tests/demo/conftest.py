"""What the demo's tests share: a demo store in the test Redis for the shop's pages,
and `tarry demo` itself run the README's way (`./scripts/demo`) in a copy of the
project with a virtual environment of its own, started once for the session."""

from __future__ import annotations

import json
import os
import shutil
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
from conftest import BROWSER_UA, free_port
from helpers import run_with_redis
from starlette.testclient import TestClient

from widget_server.app import create_app
from widget_server.demo import store as demo_store
from widget_server.demo.command import READY
from widget_server.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
# The first start installs into a new virtual environment, then fills the store.
FIRST_START_S = 300


@pytest.fixture
def demo_settings(standalone_url: str, tmp_path: Path) -> Settings:
    return Settings.from_env({"TARRY_REDIS_URL": standalone_url, "TARRY_DATA_DIR": str(tmp_path)})


@pytest.fixture
def shop_client(demo_settings: Settings) -> Iterator[TestClient]:
    """The app, on a Redis that holds a demo store (made as `tarry demo` makes it)."""
    run_with_redis(demo_settings, lambda r: demo_store.open_demo(r, int(time.time() * 1000)))
    with TestClient(create_app(demo_settings), headers={"user-agent": BROWSER_UA}) as client:
        yield client


def project_copy(target: Path) -> Path:
    """The project's files as a clone has them (tracked, and new files not ignored):
    no .venv, no .tarry, no build output."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, listed):
        source = ROOT / name.decode()
        if source.is_file():
            destination = target / name.decode()
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination)
    return target


class Demo:
    """`./scripts/demo` in a project copy: started, read, stopped."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.lines: list[str] = []
        self.log = root / "demo-stderr.log"
        self.secret_key = self.public_key = self.store_id = ""
        self.reader: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def data_dir(self) -> Path:
        return self.root / ".tarry-demo"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, *args: str, timeout: float = FIRST_START_S) -> float:
        """Start it and wait for its ready line; the seconds that took."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("TARRY_")}
        self.lines = []
        started = time.monotonic()
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                ["./scripts/demo", "--port", str(self.port), *args],
                cwd=self.root,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                start_new_session=True,  # its own session: whatever it leaves behind shows
            )
        self.reader = threading.Thread(target=self._read, args=(self.process,), daemon=True)
        self.reader.start()
        deadline = started + timeout
        while READY not in self.lines:
            if self.process.poll() is not None:
                pytest.fail(f"tarry demo exited with {self.process.returncode}:\n{self.said()}")
            if time.monotonic() > deadline:
                pytest.fail(f"tarry demo was not ready within {timeout:.0f} s:\n{self.said()}")
            time.sleep(0.2)
        took = time.monotonic() - started
        for line in self.lines:
            key, _, value = line.strip().partition(": ")
            if key in ("store id", "public key", "secret key"):
                setattr(self, key.replace(" ", "_"), value.strip())
        return took

    def _read(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        with process.stdout:
            for raw in process.stdout:
                self.lines.append(raw.decode().rstrip("\n"))

    def said(self) -> str:
        tail = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
        return "\n".join(self.lines) + "\n--- stderr ---\n" + tail

    def stop(self) -> int:
        """SIGTERM, as a service manager stops it; its exit status."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            status = self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail(f"tarry demo did not stop within 60 s of SIGTERM:\n{self.said()}")
        assert self.reader is not None
        self.reader.join(timeout=10)  # its last lines
        return status

    def get(self, path: str, key: str | None = None) -> Any:
        """GET an API path, with `key` as the bearer (the secret key by default)."""
        headers = {"authorization": f"Bearer {key or self.secret_key}", "user-agent": BROWSER_UA}
        request = urllib.request.Request(self.url + path, headers=headers)
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.loads(answer.read())

    def status(self, path: str, key: str) -> int:
        request = urllib.request.Request(
            self.url + path, headers={"authorization": f"Bearer {key}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return int(answer.status)
        except urllib.error.HTTPError as exc:
            return exc.code


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """A project copy to run the demo in; started by the first test that needs it."""
    found = Demo(project_copy(tmp_path_factory.mktemp("demo") / "tarry"))
    yield found
    if found.running:
        found.stop()


@pytest.fixture
def running_demo(demo: Demo) -> Demo:
    if not demo.running:
        demo.start()
    return demo
