"""Connecting to Redis: the one named by TARRY_REDIS_URL (standalone or Cluster), or
the embedded one under TARRY_DATA_DIR."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import redis
import redis.asyncio
import redis.asyncio.cluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from widget_server.settings import Settings
from widget_server.storage.embedded_redis import EmbeddedRedis

T = TypeVar("T")

# Both clients expose the same command methods; typing them as one keeps callers simple.
AsyncRedis = Any


@dataclasses.dataclass
class Storage:
    client: AsyncRedis
    is_cluster: bool
    embedded: EmbeddedRedis | None

    async def close(self) -> None:
        await self.client.aclose()
        if not self.is_cluster:
            await self.client.connection_pool.disconnect()
        if self.embedded is not None:
            self.embedded.release()


def _is_cluster(url: str, mode: str) -> bool:
    if mode != "auto":
        return mode == "yes"
    if url.startswith("unix://"):
        return False
    probe = redis.Redis.from_url(url, socket_timeout=5)
    try:
        info = probe.info("cluster")
        return bool(info.get("cluster_enabled"))
    finally:
        probe.close()


def _locate(settings: Settings) -> tuple[EmbeddedRedis | None, str]:
    """The Redis URL to use; with none set, the embedded server (acquired: the
    caller must release it)."""
    if settings.redis_url is not None:
        return None, settings.redis_url
    embedded = EmbeddedRedis(settings.data_dir)
    return embedded, embedded.acquire()


async def open_storage(settings: Settings) -> Storage:
    """Connect (starting the embedded Redis if no URL is set) and check Redis answers."""
    embedded, url = _locate(settings)
    try:
        cluster = _is_cluster(url, settings.redis_cluster)
        client: AsyncRedis
        # A Redis that stops answering (frozen, a partition) fails the command
        # instead of holding the request: the sender gets a 503 and retries.
        timeouts = {
            "socket_timeout": settings.redis_timeout_s,
            "socket_connect_timeout": settings.redis_timeout_s,
        }
        # One immediate retry replaces a pooled connection that went stale (Redis
        # restarted); beyond that, fail fast so the sender gets a 503 and retries later.
        if cluster:
            # redis-py's cluster client fails a command (MaxConnectionsError) rather
            # than wait once a node has this many connections busy: set it high.
            client = redis.asyncio.cluster.RedisCluster.from_url(
                url, retry=Retry(NoBackoff(), 1), max_connections=2048, **timeouts
            )
        else:
            # Blocking: a burst waits for a free connection instead of failing.
            pool = redis.asyncio.BlockingConnectionPool.from_url(
                url, max_connections=64, timeout=5, retry=Retry(NoBackoff(), 1), **timeouts
            )
            client = redis.asyncio.Redis(connection_pool=pool)
        await client.ping()
    except BaseException:
        if embedded is not None:
            embedded.release()
        raise
    return Storage(client=client, is_cluster=cluster, embedded=embedded)


def run_with_storage(settings: Settings, work: Callable[[AsyncRedis], Awaitable[T]]) -> T:
    """Open storage, run `work` with its client, close: for commands and scripts."""

    async def run() -> T:
        storage = await open_storage(settings)
        try:
            return await work(storage.client)
        finally:
            await storage.close()

    return asyncio.run(run())


@contextlib.contextmanager
def sync_storage(settings: Settings) -> Iterator[Any]:
    """A synchronous redis-py client to the same Redis (starting the embedded one if
    needed), for long batch jobs such as training that read streams page by page."""
    embedded, url = _locate(settings)
    try:
        client: Any
        if _is_cluster(url, settings.redis_cluster):
            client = redis.RedisCluster.from_url(url)
        else:
            client = redis.Redis.from_url(url)
        try:
            client.ping()
            yield client
        finally:
            if isinstance(client, redis.RedisCluster):
                # The cluster client's close() leaves the pools it made for each
                # node open (redis-py 8): their sockets would leak.
                for node in client.nodes_manager.nodes_cache.values():
                    if node.redis_connection is not None:
                        node.redis_connection.connection_pool.disconnect()
            client.close()
    finally:
        if embedded is not None:
            embedded.release()
