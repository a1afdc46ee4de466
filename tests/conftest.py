"""Real Redis for the tests: the embedded server, and a three-node Redis Cluster
started from the same binary. Both are started once per session and flushed
before each test."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from starlette.testclient import TestClient

from widget_server.app import create_app
from widget_server.settings import Settings
from widget_server.storage.embedded_redis import EmbeddedRedis, redis_server_binary

BROWSER_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0 Safari/537.36"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free and valid too."""
    import random

    for _ in range(200):
        port = random.randint(20000, 45000)
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 10000))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port pair for a Redis Cluster node")


class RedisCluster:
    """Three masters, no replicas, on loopback ports: the smallest real Cluster."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.ports: list[int] = []
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        binary = redis_server_binary()
        for n in range(3):
            port = free_cluster_port()
            node_dir = self.base / f"node{n}"
            node_dir.mkdir(parents=True)
            self.processes.append(
                subprocess.Popen(
                    [
                        binary,
                        "--port",
                        str(port),
                        "--bind",
                        "127.0.0.1",
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        str(node_dir / "nodes.conf"),
                        "--dir",
                        str(node_dir),
                        "--appendonly",
                        "no",
                        "--save",
                        "",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            self.ports.append(port)
        clients = [redis.Redis(host="127.0.0.1", port=p) for p in self.ports]
        for client in clients:
            _wait(lambda c=client: c.ping())
        # Split the 16384 slots in three and introduce the nodes to each other:
        # what `redis-cli --cluster create` does, without needing redis-cli.
        bounds = [0, 5461, 10923, 16384]
        for n, client in enumerate(clients):
            client.execute_command("CLUSTER ADDSLOTS", *range(bounds[n], bounds[n + 1]))
        for port in self.ports[1:]:
            clients[0].execute_command("CLUSTER MEET", "127.0.0.1", port)
        _wait(lambda: all(c.cluster("info")["cluster_state"] == "ok" for c in clients), 30)
        _wait(lambda: all(len(c.cluster("nodes")) == 3 for c in clients), 30)
        for client in clients:
            client.close()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.ports[0]}"

    def flush(self) -> None:
        for port in self.ports:
            with redis.Redis(host="127.0.0.1", port=port) as client:
                client.flushall()

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.wait(10)


def _wait(check: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if check():  # type: ignore[operator]
                return
        except redis.RedisError as exc:
            last = exc
        time.sleep(0.05)
    raise TimeoutError(f"Redis did not become ready: {last}")


@pytest.fixture(scope="session")
def embedded_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    server.acquire()
    yield server
    server.release()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    cluster = RedisCluster(tmp_path_factory.mktemp("cluster"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def standalone_url(embedded_redis: EmbeddedRedis) -> str:
    with redis.Redis.from_url(embedded_redis.url) as client:
        client.flushall()
    return embedded_redis.url


@pytest.fixture(params=["standalone", "cluster"])
def redis_url(request: pytest.FixtureRequest) -> str:
    """Tests that take this run against both a single Redis and a Redis Cluster."""
    if request.param == "standalone":
        return str(request.getfixturevalue("standalone_url"))
    cluster: RedisCluster = request.getfixturevalue("redis_cluster")
    cluster.flush()
    return cluster.url


@pytest.fixture
def settings(redis_url: str, tmp_path: Path) -> Settings:
    return Settings.from_env({"TARRY_REDIS_URL": redis_url, "TARRY_DATA_DIR": str(tmp_path)})


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """`tarry` commands run in-process use the test's Redis and data directory."""
    assert settings.redis_url is not None
    monkeypatch.setenv("TARRY_REDIS_URL", settings.redis_url)
    monkeypatch.setenv("TARRY_DATA_DIR", str(settings.data_dir))


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings)
    with TestClient(app, headers={"user-agent": BROWSER_UA}) as test_client:
        yield test_client
