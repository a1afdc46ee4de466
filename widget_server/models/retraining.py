"""Scheduled retraining from the server (`TARRY_RETRAIN_MINUTES`).

Training runs as a `tarry train` child process, not in the server's threads: it
is CPU-bound Python for seconds to minutes, and in-process it would hold the GIL
against requests. A Redis lock (SET NX with an expiry) lets exactly one server of
a fleet train a given store at a time; the others see the new version through the
registry like any other.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
from typing import Any

from widget_server.settings import Settings
from widget_server.storage import event_archive, keys
from widget_server.storage.background import pause, raise_if_cancelled

log = logging.getLogger("tarry")

CHECK_EVERY_S = 60.0
LOCK_S = 3600


async def _due(redis: Any, store_id: str, interval_ms: int, now_ms: int) -> bool:
    """Due when the model is older than the interval and events arrived since."""
    newest_ms = await event_archive.newest_ms(redis, store_id)
    if newest_ms is None:
        return False
    current = await redis.get(keys.model_current(store_id))
    if current is None:
        return True
    raw = await redis.hget(keys.models(store_id), current)
    meta = json.loads(raw) if raw else {}
    published = int(meta.get("published_at_ms", 0))
    return now_ms - published >= interval_ms and newest_ms > published


def child_env(settings: Settings) -> dict[str, str]:
    """The child trains against the same Redis and data directory as this server."""
    env = {**os.environ, "TARRY_DATA_DIR": str(settings.data_dir)}
    if settings.redis_url:
        env["TARRY_REDIS_URL"] = settings.redis_url
    env["TARRY_REDIS_CLUSTER"] = settings.redis_cluster
    return env


async def train_in_child(settings: Settings, store_id: str) -> int:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "widget_server",
        "train",
        "--store",
        store_id,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env=child_env(settings),
    )
    try:
        _, stderr = await process.communicate()
    except asyncio.CancelledError:
        # The server is stopping: the training stops with it (the next server's
        # schedule starts it again; nothing half-written is ever in service).
        process.kill()
        await process.communicate()
        raise
    code = process.returncode or 0
    if code not in (0, 3):  # 3: trained but not published (worse); said in the log
        log.error("tarry: retraining %s failed: %s", store_id, stderr.decode()[-2000:])
    else:
        last = stderr.decode().strip().splitlines()[-1:] or [""]
        log.info("tarry: retrained %s: %s", store_id, last[0])
    return code


async def run_schedule(settings: Settings, redis: Any, check_every: float = CHECK_EVERY_S) -> None:
    """Forever: every `check_every` seconds, retrain the stores that are due, one at
    a time."""
    interval_ms = settings.retrain_minutes * 60_000
    while True:
        try:
            for raw in await redis.smembers(keys.store_index()):
                store_id = raw.decode() if isinstance(raw, bytes) else raw
                if not await _due(redis, store_id, interval_ms, int(time.time() * 1000)):
                    continue
                lock = keys.training_lock(store_id)
                if not await redis.set(lock, os.getpid(), nx=True, ex=LOCK_S):
                    continue  # another server is on it
                try:
                    await train_in_child(settings, store_id)
                finally:
                    await redis.delete(lock)
        except asyncio.CancelledError:
            raise
        except Exception:
            raise_if_cancelled()
            log.exception("tarry: retraining schedule")
        await pause(check_every)
