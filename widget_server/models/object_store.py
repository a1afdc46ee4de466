"""Model bundles in an object store (`TARRY_MODEL_STORE_URL`): S3 or any store that
speaks its API (MinIO, R2, Ceph), Google Cloud Storage, Azure Blob Storage, or a
directory (`file://`), through `obstore`.

For bundles too large to sit in Redis' memory: the bytes go to
`<url>/<store id>/<version>.bundle` and Redis keeps only the manifest (size,
sha256 and that object's URL, `bundle_store`), so a server needs no setting to read
one: the manifest says where it is, and the credentials come from the environment
the store's own tools read (`AWS_ACCESS_KEY_ID`, `AWS_ENDPOINT_URL`,
`GOOGLE_APPLICATION_CREDENTIALS`, `AZURE_STORAGE_ACCOUNT_KEY`, ...).
"""

from __future__ import annotations

import functools
from typing import Any

import obstore
from obstore.store import from_url


class ObjectStoreError(OSError):
    """The object store did not answer as it should (unreachable, refused the
    credentials): nothing is known about the bundle, so a reader tries again."""


def folder_url(base: str, store_id: str) -> str:
    """Where a store's bundles go under `base`."""
    return f"{base.rstrip('/')}/{store_id}"


def object_url(base: str, store_id: str, version: str) -> str:
    return f"{folder_url(base, store_id)}/{version}.bundle"


@functools.lru_cache(maxsize=256)
def _store(folder: str) -> Any:
    # A store client per folder (one per Tarry store): it keeps its connections.
    if folder.startswith("file:"):
        return from_url(folder, mkdir=True)
    return from_url(folder)


def _split(url: str) -> tuple[Any, str]:
    folder, _, name = url.rpartition("/")
    try:
        return _store(folder), name
    except Exception as exc:  # a folder that cannot be made, a URL it cannot parse
        raise _failed(url, exc) from exc


def _failed(url: str, exc: Exception) -> ObjectStoreError:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ObjectStoreError(f"object store: {url}: {first}")


def put(url: str, data: bytes) -> None:
    store, name = _split(url)
    try:
        obstore.put(store, name, data)
    except Exception as exc:  # obstore raises its own errors, none of them ours
        raise _failed(url, exc) from exc


def get(url: str) -> bytes | None:
    """The object's bytes; None when there is no such object."""
    store, name = _split(url)
    try:
        return bytes(obstore.get(store, name).bytes())
    except FileNotFoundError:
        return None
    except Exception as exc:
        raise _failed(url, exc) from exc


async def get_async(url: str) -> bytes | None:
    store, name = _split(url)
    try:
        result = await obstore.get_async(store, name)
        return bytes(await result.bytes_async())
    except FileNotFoundError:
        return None
    except Exception as exc:
        raise _failed(url, exc) from exc


def size(url: str) -> int | None:
    """The object's size in bytes; None when there is no such object."""
    store, name = _split(url)
    try:
        return int(obstore.head(store, name)["size"])
    except FileNotFoundError:
        return None
    except Exception as exc:
        raise _failed(url, exc) from exc


def listed(folder: str) -> list[tuple[str, float]]:
    """Each object under `folder`: its URL and when it was written (seconds since the
    epoch, by the store's clock); empty when there is no such folder."""
    try:
        store = _store(folder)
        return [
            (f"{folder}/{meta['path']}", meta["last_modified"].timestamp())
            for page in obstore.list(store)
            for meta in page
        ]
    except FileNotFoundError:
        return []
    except Exception as exc:
        raise _failed(folder, exc) from exc


def delete(url: str) -> None:
    store, name = _split(url)
    try:
        obstore.delete(store, name)
    except FileNotFoundError:
        return
    except Exception as exc:
        raise _failed(url, exc) from exc
