"""A loopback three-master Redis Cluster from the embedded binary, for tests and
benchmarks: what `redis-cli --cluster create` makes, without needing redis-cli.
The server never starts one; it only connects to a Cluster named by TARRY_REDIS_URL."""

from __future__ import annotations

import random
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import redis

from widget_server.storage.embedded_redis import redis_server_binary


def free_cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free and valid too."""
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
        clients: list[redis.Redis] = [redis.Redis(host="127.0.0.1", port=p) for p in self.ports]
        for client in clients:
            _wait(client.ping)
        # Split the 16384 slots in three and introduce the nodes to each other:
        # what `redis-cli --cluster create` does, without needing redis-cli.
        bounds = [0, 5461, 10923, 16384]
        for n, client in enumerate(clients):
            client.cluster("addslots", *range(bounds[n], bounds[n + 1]))
        for port in self.ports[1:]:
            clients[0].cluster("meet", "127.0.0.1", port)
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


def _wait(check: Callable[[], object], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except redis.RedisError as exc:
            last = exc
        time.sleep(0.05)
    raise TimeoutError(f"Redis did not become ready: {last}")
