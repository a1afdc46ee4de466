"""Model versions: bundles in Redis, an index, and each server's model cache.

A version is a bundle stored in Redis (`bundle_store`: its chunks, then a manifest
with its sha256), a field of the store's `models` hash with its metadata, and
`model:current` names the version in service. Publishing writes the bundle, then
the index entry, then moves `current`, so `current` always names a complete
version. Redis is the only place a server looks (a bundle in an object store,
`TARRY_MODEL_STORE_URL`, is named by its manifest there), so a server with an empty
data directory of its own, on any host, serves what `tarry train` published anywhere.
Servers poll `current` (`ModelCache`) and swap models between requests; rolling
back is pointing `current` at an older version.

Versions published before bundles moved into Redis are directories
`TARRY_DATA_DIR/models/<store_id>/v<N>/` (`Bundle.save`): a server whose data
directory holds one still loads it from there, and they are pruned with the rest.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any

import redis.exceptions

from recommender.bundle import Bundle
from recommender.serving import Showcases
from widget_server.models import bundle_store
from widget_server.models.footprint import footprint
from widget_server.models.object_store import ObjectStoreError
from widget_server.storage import keys

log = logging.getLogger("tarry")

KEEP_VERSIONS = 5
MB = 1024 * 1024


class RegistryError(ValueError):
    pass


def store_dir(data_dir: Path, store_id: str) -> Path:
    """Where versions published before bundles moved into Redis live."""
    return data_dir / "models" / store_id


def version_dir(data_dir: Path, store_id: str, version: str) -> Path:
    return store_dir(data_dir, store_id) / version


def _number(version: str) -> int:
    return int(version.removeprefix("v"))


def _text(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def _source(store_id: str, version: str) -> str:
    return f"store {store_id}: model {version}"


def _from_directory(data_dir: Path, store_id: str, version: str) -> Bundle:
    path = version_dir(data_dir, store_id, version)
    if not (path / "meta.json").exists():
        raise RegistryError(
            f"{_source(store_id, version)} is not stored: no bundle in Redis "
            f"({keys.model_bundles(store_id)}) and no {path}"
        )
    return Bundle.load(path)


# -- synchronous side: the training job and the CLI ---------------------------


def publish(
    redis: Any,
    data_dir: Path,
    store_id: str,
    bundle: Bundle,
    *,
    chunk_bytes: int = bundle_store.CHUNK_BYTES,
    object_url: str | None = None,
) -> str:
    """Store `bundle` as the next version and put it in service; returns the version.
    `data_dir`: where older versions may still be directories, pruned here.
    `object_url`: an object store folder for the bundle's bytes (else Redis)."""
    version = f"v{int(redis.incr(keys.model_sequence(store_id)))}"
    data = bundle.to_bytes()
    stored = bundle_store.write(redis, store_id, version, data, chunk_bytes, object_url)
    meta = {
        **bundle.meta,
        "version": version,
        "published_at_ms": int(time.time() * 1000),
        "bundle": stored.to_json(),
    }
    redis.hset(keys.models(store_id), version, json.dumps(meta))
    redis.set(keys.model_current(store_id), version)
    _prune(redis, data_dir, store_id, version)
    if object_url is not None:
        _sweep(redis, store_id, object_url)
    return version


def _sweep(redis: Any, store_id: str, object_url: str) -> None:
    """Objects left by publishes that died before their manifest: storage, not
    correctness, so a store that cannot list or delete does not fail the publish."""
    try:
        for url in bundle_store.sweep_objects(redis, store_id, object_url):
            log.info("tarry: deleted %s, which no model version names", url)
    except ObjectStoreError as exc:
        log.warning("tarry: store %s: objects no version names not swept: %s", store_id, exc)


def _prune(redis: Any, data_dir: Path, store_id: str, current: str) -> None:
    """Keep the newest KEEP_VERSIONS versions (for rollback), and never `current`;
    a bundle no index entry names any more (an index lost since) ages out alike."""
    indexed = {_text(v) or "" for v in redis.hkeys(keys.models(store_id))}
    known = indexed | bundle_store.stored(redis, store_id) | set(on_disk(data_dir, store_id))
    for old in sorted(known, key=_number, reverse=True)[KEEP_VERSIONS:]:
        if old != current:
            redis.hdel(keys.models(store_id), old)
            bundle_store.delete(redis, store_id, old)
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
    """The complete versions under the data directory (published before bundles
    moved into Redis), oldest first."""
    found = [
        path.name
        for path in store_dir(data_dir, store_id).glob("v*")
        if path.name[1:].isdigit() and (path / "meta.json").exists()
    ]
    return sorted(found, key=_number)


def stored_versions(redis: Any, data_dir: Path, store_id: str) -> list[str]:
    """Every version whose bundle is kept, in Redis or under `data_dir`, oldest first."""
    found = bundle_store.stored(redis, store_id) | set(on_disk(data_dir, store_id))
    return sorted(found, key=_number)


def index_problem(redis: Any, data_dir: Path, store_id: str) -> str | None:
    """What is wrong with the store's models index (the `models` hash), or None: the
    version in service, or the stored versions, missing from it (the hash was
    deleted or lost with a Redis that lost data). Servers keep serving the model
    they hold; the bundles are intact, but the index is what lists and rolls back."""
    current = current_version(redis, store_id)
    indexed = {_text(v) for v in redis.hkeys(keys.models(store_id))}
    if current is not None and current in indexed:
        return None
    kept = stored_versions(redis, data_dir, store_id)
    if current is None and (indexed or not kept):
        return None
    held = f"the bundles kept are {', '.join(kept)}" if kept else "no bundle is kept"
    named = f"model:current names {current}" if current else "no version is in service"
    return (
        f"store {store_id}: the models index in Redis ({keys.models(store_id)}) lacks "
        f"{current or 'every version'}: {named} and {held}. Servers keep serving the "
        f"model they loaded; `tarry train --store {store_id} --force` publishes a new "
        "version and indexes it"
    )


def load_version(redis: Any, data_dir: Path, store_id: str, version: str) -> Bundle:
    """`version`'s bundle, checked; raises if it is missing, truncated or garbled."""
    data = bundle_store.read_sync(redis, store_id, version)
    if data is None:
        bundle = _from_directory(data_dir, store_id, version)
    else:
        bundle = Bundle.from_bytes(data, _source(store_id, version))
    bundle.meta["version"] = version
    return bundle


def load_current(redis: Any, data_dir: Path, store_id: str) -> Bundle | None:
    version = current_version(redis, store_id)
    if version is None:
        return None
    return load_version(redis, data_dir, store_id, version)


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
    in_redis = bundle_store.is_complete(redis, store_id, to)
    if not in_redis and not (version_dir(data_dir, store_id, to) / "meta.json").exists():
        raise RegistryError(f"--to: the bundle of version {to} is missing")
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
    size: int = 0  # bytes `served` holds in memory (`footprint`)
    checked: float = float("-inf")
    loading: asyncio.Task[Served | None] | None = None
    failed: str | None = None
    unindexed: str | None = None  # the version in service the index lacks, told once


def _prepared(bundle: Bundle) -> tuple[Showcases, int]:
    showcases = Showcases(bundle)
    return showcases, footprint(showcases)


class ModelCache:
    """Each store's model in service, in memory. `current` is read at most every
    `check_every` seconds per store; a new version loads in a worker thread while
    the old one keeps answering, then replaces it between two requests. A version
    that fails to load is logged and skipped; the old one stays in service, and a
    process that had none serves the newest earlier version kept that loads.

    `cap_bytes` (0: none) bounds the memory of all stores' models together: past
    it, the models of the stores asked for least recently are dropped (never the
    one just loaded for a request, nor one loading) and load again, as a first
    load does, the next time their store is asked for."""

    def __init__(
        self, redis: Any, data_dir: Path, check_every: float = 2.0, cap_bytes: int = 0
    ) -> None:
        self.redis = redis
        self.data_dir = data_dir
        self.check_every = check_every
        self.cap_bytes = cap_bytes
        # Least recently asked for first: what the cap drops first.
        self._entries: collections.OrderedDict[str, _Entry] = collections.OrderedDict()

    async def get(self, store_id: str) -> Served | None:
        entry = self._entries.get(store_id)
        if entry is None:
            entry = self._entries[store_id] = _Entry()
        else:
            self._entries.move_to_end(store_id)
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

    def held_bytes(self) -> int:
        """The memory of the models in the cache, as `footprint` counts it."""
        return sum(entry.size for entry in self._entries.values() if entry.served is not None)

    def holds(self, store_id: str) -> bool:
        """Whether the store's model is in memory (not dropped by the cap)."""
        entry = self._entries.get(store_id)
        return entry is not None and entry.served is not None

    async def _check_index(self, store_id: str, serving: str, entry: _Entry) -> None:
        # A lost index stops nothing here (the bundle is stored, the model in
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

    async def _load(self, store_id: str, version: str, entry: _Entry) -> Served | None:
        try:
            entry.served, entry.size = await self._build(store_id, version)
            entry.failed = None
            log.info(
                "tarry: store %s: model %s in service (%.1f MB in memory)",
                store_id, version, entry.size / MB,
            )  # fmt: skip
        except (redis.exceptions.RedisError, ObjectStoreError) as exc:
            # Redis or the object store away or slow for a moment says nothing about
            # the bundle: the next check reads it again.
            log.warning(
                "tarry: store %s: cannot read model %s (%s); trying again",
                store_id, version, exc,
            )  # fmt: skip
        except Exception:
            log.exception("tarry: store %s: cannot load model %s", store_id, version)
            entry.failed = version
            if entry.served is None:
                # A fresh process has no previous model in memory to keep serving:
                # the newest earlier version kept that loads takes its place.
                earlier = await self._earlier(store_id, version)
                if earlier is not None:
                    entry.served, entry.size = earlier
        finally:
            entry.loading = None
        self._evict(keep=store_id)
        return entry.served

    async def _build(self, store_id: str, version: str) -> tuple[Served, int]:
        data = await bundle_store.read(self.redis, store_id, version)
        if data is None:
            bundle = await asyncio.to_thread(_from_directory, self.data_dir, store_id, version)
        else:
            source = _source(store_id, version)
            bundle = await asyncio.to_thread(Bundle.from_bytes, data, source)
        showcases, size = await asyncio.to_thread(_prepared, bundle)
        return Served(version, showcases), size

    async def _earlier(self, store_id: str, refused: str) -> tuple[Served, int] | None:
        kept = await bundle_store.stored_async(self.redis, store_id)
        kept |= set(on_disk(self.data_dir, store_id))
        earlier = sorted((v for v in kept if _number(v) < _number(refused)), key=_number)
        for version in reversed(earlier):
            try:
                built = await self._build(store_id, version)
            except Exception:
                log.exception("tarry: store %s: cannot load model %s either", store_id, version)
                continue
            log.warning(
                "tarry: store %s: serving model %s until %s, the current one, can be loaded "
                "(`tarry model rollback --store %s` makes it current)",
                store_id, version, refused, store_id,
            )  # fmt: skip
            return built
        return None

    def _evict(self, keep: str) -> None:
        if not self.cap_bytes:
            return
        held = self.held_bytes()
        for store_id, entry in list(self._entries.items()):
            if held <= self.cap_bytes:
                break
            if store_id == keep or entry.served is None or entry.loading is not None:
                continue
            del self._entries[store_id]
            held -= entry.size
            log.info(
                "tarry: store %s: model %s dropped from memory (%.1f MB, the least recently "
                "used; the models held come to %.1f MB of a %.0f MB cap); it loads again "
                "when next asked for",
                store_id, entry.served.version, entry.size / MB, held / MB, self.cap_bytes / MB,
            )  # fmt: skip
