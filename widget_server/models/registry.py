"""Model versions: artefact files under the data directory, an index in Redis.

A version is a directory `TARRY_DATA_DIR/models/<store_id>/v<N>/` written by
`Bundle.save` (first under a temporary name, then renamed, so no reader ever sees
half a model) and a field of the store's `models` hash with its metadata; the
`model:current` key names the version in service. Publishing writes the index
entry before moving `current`, so `current` always names a complete version.
Servers poll `current` (`ModelCache`) and swap models between requests; rolling
back is pointing `current` at an older version.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

from recommender.bundle import Bundle
from recommender.serving import Showcases
from widget_server.storage import keys

log = logging.getLogger("tarry")

KEEP_VERSIONS = 5


class RegistryError(ValueError):
    pass


def store_dir(data_dir: Path, store_id: str) -> Path:
    return data_dir / "models" / store_id


def version_dir(data_dir: Path, store_id: str, version: str) -> Path:
    return store_dir(data_dir, store_id) / version


def _number(version: str) -> int:
    return int(version.removeprefix("v"))


def _text(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


# -- synchronous side: the training job and the CLI ---------------------------


def publish(redis: Any, data_dir: Path, store_id: str, bundle: Bundle) -> str:
    """Save `bundle` as the next version and put it in service; returns the version."""
    version = f"v{int(redis.incr(keys.model_sequence(store_id)))}"
    target = version_dir(data_dir, store_id, version)
    staging = target.with_name(f".{version}.{os.getpid()}.tmp")
    bundle.save(staging)
    staging.rename(target)
    meta = {**bundle.meta, "version": version, "published_at_ms": int(time.time() * 1000)}
    redis.hset(keys.models(store_id), version, json.dumps(meta))
    redis.set(keys.model_current(store_id), version)
    _prune(redis, data_dir, store_id, version)
    return version


def _prune(redis: Any, data_dir: Path, store_id: str, current: str) -> None:
    """Keep the newest KEEP_VERSIONS versions (for rollback), and never `current`."""
    versions = sorted(
        (_text(v) or "" for v in redis.hkeys(keys.models(store_id))), key=_number, reverse=True
    )
    for old in versions[KEEP_VERSIONS:]:
        if old != current:
            redis.hdel(keys.models(store_id), old)
            shutil.rmtree(version_dir(data_dir, store_id, old), ignore_errors=True)


def current_version(redis: Any, store_id: str) -> str | None:
    return _text(redis.get(keys.model_current(store_id)))


def versions(redis: Any, store_id: str) -> list[dict[str, Any]]:
    """Metadata of every kept version, newest first, with `current` marked."""
    current = current_version(redis, store_id)
    found = []
    for version, raw in redis.hgetall(keys.models(store_id)).items():
        meta = json.loads(raw)
        meta["version"] = _text(version)
        meta["current"] = meta["version"] == current
        found.append(meta)
    return sorted(found, key=lambda m: _number(m["version"]), reverse=True)


def on_disk(data_dir: Path, store_id: str) -> list[str]:
    """The complete versions under the data directory, oldest first."""
    found = [
        path.name
        for path in store_dir(data_dir, store_id).glob("v*")
        if path.name[1:].isdigit() and (path / "meta.json").exists()
    ]
    return sorted(found, key=_number)


def index_problem(redis: Any, data_dir: Path, store_id: str) -> str | None:
    """What is wrong with the store's models index (the `models` hash), or None: the
    version in service, or the versions on disk, missing from it (the hash was
    deleted or lost with a Redis that lost data). Servers keep serving the model
    they hold; the files are intact, but the index is what lists and rolls back."""
    current = current_version(redis, store_id)
    indexed = {_text(v) for v in redis.hkeys(keys.models(store_id))}
    if current is not None and current in indexed:
        return None
    files = on_disk(data_dir, store_id)
    if current is None and (indexed or not files):
        return None
    where = store_dir(data_dir, store_id)
    held = f"{where} holds {', '.join(files)}" if files else f"{where} holds no version"
    named = f"model:current names {current}" if current else "no version is in service"
    return (
        f"store {store_id}: the models index in Redis ({keys.models(store_id)}) lacks "
        f"{current or 'every version'}: {named} and {held}. Servers keep serving the "
        f"model they loaded; `tarry train --store {store_id} --force` publishes a new "
        "version and indexes it"
    )


def load_current(redis: Any, data_dir: Path, store_id: str) -> Bundle | None:
    version = current_version(redis, store_id)
    if version is None:
        return None
    bundle = Bundle.load(version_dir(data_dir, store_id, version))
    bundle.meta["version"] = version
    return bundle


def rollback(redis: Any, data_dir: Path, store_id: str, to: str | None = None) -> str:
    """Put `to` (default: the version before the current one) back in service."""
    kept = versions(redis, store_id)
    current = current_version(redis, store_id)
    if to is None:
        older = [
            m["version"]
            for m in kept
            if current is None or _number(m["version"]) < _number(current)
        ]
        if not older:
            raise RegistryError(f"store {store_id}: no older model version to roll back to")
        to = older[0]
    elif to not in {m["version"] for m in kept}:
        raise RegistryError(f"--to: store {store_id} has no model version {to!r}")
    if not (version_dir(data_dir, store_id, to) / "meta.json").exists():
        raise RegistryError(f"--to: the files of version {to} are missing")
    redis.set(keys.model_current(store_id), to)
    return to


# -- asynchronous side: the server --------------------------------------------


@dataclasses.dataclass
class Served:
    version: str
    showcases: Showcases


@dataclasses.dataclass
class _Entry:
    served: Served | None = None
    checked: float = float("-inf")
    loading: asyncio.Task[Served] | None = None
    failed: str | None = None
    unindexed: str | None = None  # the version in service the index lacks, told once


class ModelCache:
    """Each store's model in service, in memory. `current` is read at most every
    `check_every` seconds per store; a new version loads in a worker thread while
    the old one keeps answering, then replaces it between two requests. A version
    that fails to load is logged and skipped; the old one stays in service, and a
    process that had none serves the newest earlier version on disk that loads."""

    def __init__(self, redis: Any, data_dir: Path, check_every: float = 2.0) -> None:
        self.redis = redis
        self.data_dir = data_dir
        self.check_every = check_every
        self._entries: dict[str, _Entry] = {}

    async def get(self, store_id: str) -> Served | None:
        entry = self._entries.setdefault(store_id, _Entry())
        now = time.monotonic()
        if now - entry.checked >= self.check_every and entry.loading is None:
            entry.checked = now
            version = _text(await self.redis.get(keys.model_current(store_id)))
            serving = entry.served.version if entry.served else None
            if serving is not None:
                await self._check_index(store_id, serving, entry)
            if version is not None and version not in (serving, entry.failed):
                entry.loading = asyncio.create_task(self._load(store_id, version, entry))
        if entry.served is None and entry.loading is not None:
            await asyncio.shield(entry.loading)  # nothing to serve yet: wait for the first
        return entry.served

    async def _check_index(self, store_id: str, serving: str, entry: _Entry) -> None:
        # A lost index stops nothing here (the files are on disk, the model in
        # memory), but lists and rollbacks read it: say so, once per version.
        if await self.redis.hexists(keys.models(store_id), serving):
            entry.unindexed = None
        elif entry.unindexed != serving:
            entry.unindexed = serving
            log.warning(
                "tarry: store %s: the models index (%s) has no entry for %s, the version "
                "in service; still serving it (`tarry model list --store %s` says more)",
                store_id,
                keys.models(store_id),
                serving,
                store_id,
            )

    async def _load(self, store_id: str, version: str, entry: _Entry) -> Served:
        try:
            path = version_dir(self.data_dir, store_id, version)
            bundle = await asyncio.to_thread(Bundle.load, path)
            showcases = await asyncio.to_thread(Showcases, bundle)
            entry.served = Served(version, showcases)
            entry.failed = None
            log.info("tarry: store %s: model %s in service", store_id, version)
        except Exception:
            log.exception("tarry: store %s: cannot load model %s", store_id, version)
            entry.failed = version
            if entry.served is None:
                # A fresh process has no previous model in memory to keep serving:
                # the newest earlier version on disk that loads takes its place.
                entry.served = await self._earlier(store_id, version)
        finally:
            entry.loading = None
        return entry.served  # type: ignore[return-value]

    async def _earlier(self, store_id: str, refused: str) -> Served | None:
        earlier = [v for v in on_disk(self.data_dir, store_id) if _number(v) < _number(refused)]
        for version in reversed(earlier):
            try:
                path = version_dir(self.data_dir, store_id, version)
                bundle = await asyncio.to_thread(Bundle.load, path)
                showcases = await asyncio.to_thread(Showcases, bundle)
            except Exception:
                log.exception("tarry: store %s: cannot load model %s either", store_id, version)
                continue
            log.warning(
                "tarry: store %s: serving model %s until %s, the current one, can be loaded "
                "(`tarry model rollback --store %s` makes it current)",
                store_id, version, refused, store_id,
            )  # fmt: skip
            return Served(version, showcases)
        return None
