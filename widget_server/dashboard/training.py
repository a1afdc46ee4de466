"""Retraining a store's model from the dashboard, with its progress.

As scheduled retraining does (`models/retraining.py`): `tarry train --store ID` in
a child process, never in the server's threads (it is CPU-bound for seconds to
minutes), under the store's training lock, so that one process of a fleet trains
a store at a time. Its progress lines (stderr) and final report (stdout, `--json`)
are kept here, in this server's memory, for the page to poll; another server of a
fleet sees only that the lock is taken, and the new version once published.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import secrets
import sys
import time
from typing import Any

from widget_server.models.retraining import LOCK_S, child_env
from widget_server.responses import STORAGE_ERRORS
from widget_server.settings import Settings
from widget_server.storage import keys
from widget_server.storage.connect import AsyncRedis

KEEP_LINES = 200


@dataclasses.dataclass
class Job:
    store_id: str
    started_ms: int
    lines: list[str] = dataclasses.field(default_factory=list)
    running: bool = True
    code: int | None = None
    report: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "running": self.running,
            "code": self.code,
            "lines": self.lines[-KEEP_LINES:],
            "published": bool(self.report and self.report.get("published")),
            "version": (self.report or {}).get("version"),
            "reason": (self.report or {}).get("reason"),
            "started_ms": self.started_ms,
        }


class Trainer:
    """The trainings this server started, by store."""

    def __init__(self, settings: Settings, redis: AsyncRedis) -> None:
        self.settings = settings
        self.redis = redis
        self.jobs: dict[str, Job] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, store_id: str) -> Job | None:
        """A new training of the store, or None when one is running already (here or
        on another server)."""
        job = self.jobs.get(store_id)
        if job is not None and job.running:
            return None
        holder = f"dashboard:{os.getpid()}:{secrets.token_hex(4)}"
        if not await self.redis.set(keys.training_lock(store_id), holder, nx=True, ex=LOCK_S):
            return None
        job = Job(store_id, int(time.time() * 1000))
        self.jobs[store_id] = job
        task = asyncio.create_task(self._run(job, holder))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return job

    async def busy_elsewhere(self, store_id: str) -> bool:
        job = self.jobs.get(store_id)
        if job is not None and job.running:
            return False
        return bool(await self.redis.exists(keys.training_lock(store_id)))

    async def _run(self, job: Job, holder: str) -> None:
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "widget_server", "train", "--store", job.store_id, "--json",
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=child_env(self.settings),
            )  # fmt: skip
            assert process.stdout is not None and process.stderr is not None
            reading = asyncio.create_task(process.stdout.read())
            async for raw in process.stderr:
                line = raw.decode(errors="replace").rstrip()
                if line:
                    job.lines.append(line)
                    del job.lines[:-KEEP_LINES]
            out = await reading
            job.code = await process.wait()
            with contextlib.suppress(ValueError):
                report = json.loads(out.decode() or "null")
                job.report = report if isinstance(report, dict) else None
        except Exception as exc:  # the page says what happened; the server goes on
            job.lines.append(f"tarry: training could not run: {exc}")
            job.code = job.code if job.code is not None else 1
        finally:
            job.running = False
            # Left behind, the lock expires by itself (LOCK_S).
            with contextlib.suppress(*STORAGE_ERRORS):
                lock = keys.training_lock(job.store_id)
                if await self.redis.get(lock) in (holder, holder.encode()):
                    await self.redis.delete(lock)


def trainer(state: Any) -> Trainer:
    """The app's trainer, made on first use."""
    made: Trainer | None = getattr(state, "dashboard_trainer", None)
    if made is None:
        made = Trainer(state.settings, state.storage.client)
        state.dashboard_trainer = made
    return made
