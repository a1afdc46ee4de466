"""Model bundles in Redis, where every server already looks: a version's bytes
(`Bundle.to_bytes`) in chunks of a few MB, and a manifest (size, chunk count,
sha256) in the store's `model:bundles` hash.

Chunks are written first, with an expiry, so that the chunks of a publish that dies
half way go away by themselves; once all are there they are made permanent and
the manifest is written, so a version with a manifest is complete. A reader checks
every chunk, the size and the sha256 before it trusts the bytes: a truncated or
garbled bundle is refused, never half loaded. Every key carries the store's hash
tag, so a store's bundles live on its Cluster slot with the rest of its keys.

With `TARRY_MODEL_STORE_URL` set, the bytes go to an object store instead
(`object_store`: for bundles too large for Redis' memory) and the manifest, written
once the object is all there, names it; a reader checks its size and sha256 alike.
An object no manifest names (its publish died between the upload and the manifest,
or its delete failed) is swept by a later publish once it is an hour old.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import logging
import re
import time
from typing import Any

from widget_server.models import object_store
from widget_server.storage import keys

log = logging.getLogger("tarry")

CHUNK_BYTES = 4 * 1024 * 1024
# Long enough for any upload to finish: a publish makes its chunks permanent the
# moment the last one is written.
STAGING_TTL_S = 3600
# What Tarry names a bundle's object: nothing else in a shared bucket is swept.
_OBJECT_NAME = re.compile(r"v[0-9]+\.bundle")


class BundleStoreError(ValueError):
    """A stored bundle that cannot be trusted: a chunk missing, the size or the
    checksum wrong."""


@dataclasses.dataclass(frozen=True)
class Manifest:
    size: int  # bytes
    chunks: int  # in Redis; 0 for a bundle in an object store
    sha256: str
    location: str | None = None  # the object's URL, for a bundle in an object store

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"bytes": self.size, "chunks": self.chunks, "sha256": self.sha256}
        if self.location is not None:
            out["object"] = self.location
        return out

    @classmethod
    def parse(cls, raw: bytes | str) -> Manifest:
        data = json.loads(raw)
        location = data.get("object")
        return cls(
            int(data["bytes"]),
            int(data["chunks"]),
            str(data["sha256"]),
            None if location is None else str(location),
        )


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def write(
    redis: Any,
    store_id: str,
    version: str,
    data: bytes,
    chunk_bytes: int = CHUNK_BYTES,
    object_url: str | None = None,
) -> Manifest:
    """Store `data` as `version`'s bundle (a synchronous client: the training job):
    in Redis, or under `object_url` (an object store folder) when given."""
    if chunk_bytes < 1:
        raise ValueError(f"chunk_bytes: must be at least 1, got {chunk_bytes}")
    location = None
    if object_url is not None:
        location = object_store.object_url(object_url, store_id, version)
        object_store.put(location, data)
        chunks = 0
    else:
        chunks = _write_chunks(redis, store_id, version, data, chunk_bytes)
    manifest = Manifest(len(data), chunks, hashlib.sha256(data).hexdigest(), location)
    redis.hset(keys.model_bundles(store_id), version, json.dumps(manifest.to_json()))
    return manifest


def _write_chunks(redis: Any, store_id: str, version: str, data: bytes, chunk_bytes: int) -> int:
    """`data` in chunks, expiring until the last is written, then permanent; how many."""
    starts = range(0, max(len(data), 1), chunk_bytes)
    for index, start in enumerate(starts):
        chunk = keys.model_chunk(store_id, version, index)
        redis.set(chunk, data[start : start + chunk_bytes], ex=STAGING_TTL_S)
    for index in range(len(starts)):
        if not redis.persist(keys.model_chunk(store_id, version, index)):
            raise BundleStoreError(
                f"store {store_id}: chunk {index} of model {version} expired before "
                f"the last one was written (after {STAGING_TTL_S} s); publish again"
            )
    return len(starts)


def _checked(store_id: str, version: str, manifest: Manifest, data: bytes | None) -> bytes:
    """An object store's bytes for `version`, once their size and sha256 match."""
    if data is None:
        raise BundleStoreError(
            f"store {store_id}: model {version}: its object {manifest.location} is missing"
        )
    return _joined(store_id, version, manifest, [data])


def _joined(store_id: str, version: str, manifest: Manifest, chunks: list[bytes | None]) -> bytes:
    for index, chunk in enumerate(chunks):
        if chunk is None:
            raise BundleStoreError(
                f"store {store_id}: model {version}: chunk {index} of {manifest.chunks} "
                f"({keys.model_chunk(store_id, version, index)}) is missing"
            )
    data = b"".join(chunk for chunk in chunks if chunk is not None)
    if len(data) != manifest.size:
        raise BundleStoreError(
            f"store {store_id}: model {version}: {len(data):,} bytes stored, "
            f"{manifest.size:,} expected"
        )
    if hashlib.sha256(data).hexdigest() != manifest.sha256:
        raise BundleStoreError(
            f"store {store_id}: model {version}: the stored bytes do not match their "
            "sha256 (a chunk was garbled or overwritten)"
        )
    return data


def read_sync(redis: Any, store_id: str, version: str) -> bytes | None:
    """`version`'s checked bytes, or None when it has no manifest (never stored
    here, or pruned)."""
    raw = redis.hget(keys.model_bundles(store_id), version)
    if raw is None:
        return None
    manifest = Manifest.parse(raw)
    if manifest.location is not None:
        return _checked(store_id, version, manifest, object_store.get(manifest.location))
    chunks = [redis.get(keys.model_chunk(store_id, version, i)) for i in range(manifest.chunks)]
    return _joined(store_id, version, manifest, chunks)


async def read(redis: Any, store_id: str, version: str) -> bytes | None:
    """`read_sync` for the server's asynchronous client. One chunk per command, so
    that no single answer holds the whole bundle in Redis' output buffer; joined and
    hashed in a worker thread, so that tens of MB do not stall the requests."""
    raw = await redis.hget(keys.model_bundles(store_id), version)
    if raw is None:
        return None
    manifest = Manifest.parse(raw)
    if manifest.location is not None:
        data = await object_store.get_async(manifest.location)
        return await asyncio.to_thread(_checked, store_id, version, manifest, data)
    chunks = [
        await redis.get(keys.model_chunk(store_id, version, i)) for i in range(manifest.chunks)
    ]
    return await asyncio.to_thread(_joined, store_id, version, manifest, chunks)


def stored(redis: Any, store_id: str) -> set[str]:
    """The versions with a complete bundle here."""
    return {_text(v) for v in redis.hkeys(keys.model_bundles(store_id))}


async def stored_async(redis: Any, store_id: str) -> set[str]:
    return {_text(v) for v in await redis.hkeys(keys.model_bundles(store_id))}


def is_complete(redis: Any, store_id: str, version: str) -> bool:
    """Whether `version` has a manifest and every chunk it names (or its object,
    of the size it says)."""
    raw = redis.hget(keys.model_bundles(store_id), version)
    if raw is None:
        return False
    manifest = Manifest.parse(raw)
    if manifest.location is not None:
        return object_store.size(manifest.location) == manifest.size
    count = manifest.chunks
    names = [keys.model_chunk(store_id, version, i) for i in range(count)]
    return bool(redis.exists(*names) == count)


def delete(redis: Any, store_id: str, version: str) -> None:
    """Forget `version`'s bundle: the manifest first, so that no reader finds a
    version whose chunks are going."""
    raw = redis.hget(keys.model_bundles(store_id), version)
    redis.hdel(keys.model_bundles(store_id), version)
    if raw is not None:
        manifest = Manifest.parse(raw)
        if manifest.location is not None:
            try:
                object_store.delete(manifest.location)
            except object_store.ObjectStoreError as exc:
                # The version is gone from the index already: a leftover object
                # costs storage, not correctness, and must not fail a publish.
                log.warning("tarry: %s left behind: %s", manifest.location, exc)
            return
        count = manifest.chunks
        # UNLINK frees the memory in Redis' background thread.
        redis.unlink(*(keys.model_chunk(store_id, version, i) for i in range(count)))


def sweep_objects(redis: Any, store_id: str, base: str, *, now_s: float | None = None) -> list[str]:
    """Delete the store's bundle objects under `base` that no manifest names and
    that were written over STAGING_TTL_S ago (a younger one may be a publish about to
    write its manifest); returns their URLs. Another file in the folder is left."""
    named = {Manifest.parse(raw).location for raw in redis.hvals(keys.model_bundles(store_id))}
    cutoff = (time.time() if now_s is None else now_s) - STAGING_TTL_S
    folder = object_store.folder_url(base, store_id)
    swept = []
    for url, written in object_store.listed(folder):
        name = url.removeprefix(folder + "/")
        if _OBJECT_NAME.fullmatch(name) and url not in named and written < cutoff:
            object_store.delete(url)
            swept.append(url)
    return swept
