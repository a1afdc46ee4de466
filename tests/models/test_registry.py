"""Model versions in Redis: bundles in chunks with a checksum, pruning, refusing a
garbled bundle, versions still in a data directory, and the model cache's memory
cap. Against the real Redis and the three-node Cluster of conftest.py."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import BROWSER_UA
from helpers import make_store, run_with_redis, shop_bundle, showcase_answers, sync_client
from redis.crc import key_slot
from starlette.testclient import TestClient

from recommender.serving import Showcases
from widget_server.app import create_app
from widget_server.models import registry
from widget_server.models.bundle_store import BundleStoreError
from widget_server.models.footprint import footprint
from widget_server.settings import Settings, SettingsError
from widget_server.storage import keys

SMALL_CHUNKS = 4096  # a few KB: these bundles take several chunks


def chunks_of(r: Any, store_id: str, version: str) -> list[bytes]:
    manifest = json.loads(r.hget(keys.model_bundles(store_id), version))
    return [r.get(keys.model_chunk(store_id, version, i)) for i in range(manifest["chunks"])]


# -- the bundles in Redis ------------------------------------------------------------


def test_a_bundle_is_stored_in_chunks_on_the_stores_slot_and_not_on_disk(
    settings: Settings,
) -> None:
    store, _ = make_store(settings)
    bundle = shop_bundle(items=40, visitors=200)
    with sync_client(settings) as r:
        version = registry.publish(r, settings.data_dir, store.id, bundle, chunk_bytes=SMALL_CHUNKS)
        manifest = json.loads(r.hget(keys.model_bundles(store.id), version))
        chunks = chunks_of(r, store.id, version)
        names = [keys.model_chunk(store.id, version, i) for i in range(len(chunks))]
        ttls = [r.ttl(name) for name in names]
        [meta] = registry.versions(r, store.id)
        loaded = registry.load_current(r, settings.data_dir, store.id)
    assert version == "v1" and manifest["chunks"] == len(chunks) > 2
    assert all(len(c) <= SMALL_CHUNKS for c in chunks) and len(chunks[0]) == SMALL_CHUNKS
    data = b"".join(chunks)
    assert (len(data), hashlib.sha256(data).hexdigest()) == (manifest["bytes"], manifest["sha256"])
    assert ttls == [-1] * len(chunks)  # permanent once published
    assert meta["bundle"] == manifest and meta["current"] is True  # the index lists it
    slot = key_slot(keys.models(store.id).encode())
    assert {key_slot(n.encode()) for n in names} == {slot}  # one Cluster slot per store
    assert not (settings.data_dir / "models").exists()
    assert loaded is not None and loaded.meta["version"] == "v1"
    assert showcase_answers(Showcases(loaded)) == showcase_answers(Showcases(bundle))


def test_only_the_newest_versions_are_kept_with_their_chunks(settings: Settings) -> None:
    store, _ = make_store(settings)
    with sync_client(settings) as r:
        for _ in range(registry.KEEP_VERSIONS + 2):
            registry.publish(r, settings.data_dir, store.id, shop_bundle(), chunk_bytes=1024)
        stored = sorted(registry.stored_versions(r, settings.data_dir, store.id))
        indexed = sorted(m["version"] for m in registry.versions(r, store.id))
        left = [r.exists(keys.model_chunk(store.id, v, 0)) for v in ("v1", "v2", "v3")]
    assert stored == indexed == ["v3", "v4", "v5", "v6", "v7"]
    assert left == [0, 0, 1]  # the pruned versions' chunks are gone too


def test_a_garbled_truncated_or_missing_chunk_is_refused_saying_what_is_wrong(
    settings: Settings,
) -> None:
    store, _ = make_store(settings)
    with sync_client(settings) as r:
        registry.publish(r, settings.data_dir, store.id, shop_bundle(), chunk_bytes=1024)
        registry.publish(r, settings.data_dir, store.id, shop_bundle(), chunk_bytes=1024)
        chunk = keys.model_chunk(store.id, "v2", 1)
        original = r.get(chunk)
        r.set(chunk, bytes(255 - b for b in original))  # the same length, other bytes
        with pytest.raises(BundleStoreError, match="do not match their sha256"):
            registry.load_current(r, settings.data_dir, store.id)
        r.set(chunk, original[:-1])
        with pytest.raises(BundleStoreError, match=r"model v2: [\d,]+ bytes stored, [\d,]+ exp"):
            registry.load_current(r, settings.data_dir, store.id)
        r.delete(chunk)
        with pytest.raises(BundleStoreError, match=f"chunk 1 of .* \\({chunk}\\) is missing"):
            registry.load_current(r, settings.data_dir, store.id)
        registry.rollback(r, settings.data_dir, store.id)  # v1 is whole
        with pytest.raises(registry.RegistryError, match="the bundle of version v2 is missing"):
            registry.rollback(r, settings.data_dir, store.id, "v2")
        assert registry.current_version(r, store.id) == "v1"


def test_a_version_still_in_a_data_directory_serves_from_it_and_is_pruned(
    settings: Settings, tmp_path: Path
) -> None:
    """Published before bundles moved into Redis: `Bundle.save` under the data
    directory and an index entry. The server that has the directory still serves it."""
    store, _ = make_store(settings)
    bundle = shop_bundle()
    with sync_client(settings) as r:
        version = f"v{r.incr(keys.model_sequence(store.id))}"
        bundle.save(registry.version_dir(settings.data_dir, store.id, version))
        r.hset(keys.models(store.id), version, json.dumps({**bundle.meta, "version": version}))
        r.set(keys.model_current(store.id), version)
        loaded = registry.load_current(r, settings.data_dir, store.id)
        with pytest.raises(registry.RegistryError, match="model v1 is not stored: no bundle"):
            registry.load_current(r, tmp_path / "elsewhere", store.id)
        assert registry.stored_versions(r, settings.data_dir, store.id) == ["v1"]

    async def serve(redis: Any) -> tuple[str | None, str | None]:
        here = await registry.ModelCache(redis, settings.data_dir).get(store.id)
        there = await registry.ModelCache(redis, tmp_path / "elsewhere").get(store.id)
        return (here.version if here else None), (there.version if there else None)

    assert run_with_redis(settings, serve) == ("v1", None)
    assert loaded is not None and showcase_answers(Showcases(loaded)) == showcase_answers(
        Showcases(bundle)
    )
    with sync_client(settings) as r:
        for _ in range(registry.KEEP_VERSIONS):
            registry.publish(r, settings.data_dir, store.id, shop_bundle())
    assert not registry.version_dir(settings.data_dir, store.id, "v1").exists()


def test_a_lost_index_is_told_with_the_bundles_still_kept(settings: Settings) -> None:
    store, _ = make_store(settings)
    with sync_client(settings) as r:
        assert registry.index_problem(r, settings.data_dir, store.id) is None  # no model yet
        registry.publish(r, settings.data_dir, store.id, shop_bundle())
        registry.publish(r, settings.data_dir, store.id, shop_bundle())
        assert registry.index_problem(r, settings.data_dir, store.id) is None
        r.delete(keys.models(store.id))
        problem = registry.index_problem(r, settings.data_dir, store.id)
        loaded = registry.load_current(r, settings.data_dir, store.id)  # still loads
    assert problem is not None and "lacks v2: model:current names v2" in problem
    assert "the bundles kept are v1, v2" in problem
    assert loaded is not None and loaded.meta["version"] == "v2"


# -- the server's cache --------------------------------------------------------------


def test_a_corrupt_chunk_is_refused_and_the_previous_version_keeps_serving(
    settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store, _ = make_store(settings)
    empty = tmp_path / "server-data"  # a server's own data directory, empty
    caplog.set_level(logging.INFO, logger="tarry")

    async def until_logged(
        cache: registry.ModelCache, store_id: str, line: str, serving: str
    ) -> None:
        """Ask until the cache, loading in the background, logs `line`; meanwhile
        every answer comes from `serving`."""
        deadline = time.monotonic() + 10
        while line not in caplog.text:
            served = await cache.get(store_id)
            assert served is not None and served.version == serving
            assert time.monotonic() < deadline, caplog.text
            await asyncio.sleep(0.01)

    async def scenario(redis: Any) -> None:
        cache = registry.ModelCache(redis, empty, check_every=0)
        with sync_client(settings) as r:
            registry.publish(r, settings.data_dir, store.id, shop_bundle(), chunk_bytes=1024)
            served = await cache.get(store.id)
            assert served is not None and served.version == "v1"
            registry.publish(r, settings.data_dir, store.id, shop_bundle(), chunk_bytes=1024)
            chunk = keys.model_chunk(store.id, "v2", 2)
            r.set(chunk, b"\0" * len(r.get(chunk)))  # one chunk overwritten
            await until_logged(cache, store.id, "cannot load model v2", serving="v1")
            for _ in range(5):  # refused for good: the same bytes are not read again
                served = await cache.get(store.id)
                assert served is not None and served.version == "v1"
                await asyncio.sleep(0.01)
            assert caplog.text.count("cannot load model v2") == 1
            assert "do not match their sha256" in caplog.text

            # A fresh process has nothing in memory: the version before takes its place.
            fresh = await registry.ModelCache(redis, empty).get(store.id)
            assert fresh is not None and fresh.version == "v1"
            assert "serving model v1 until v2, the current one, can be loaded" in caplog.text

            registry.publish(r, settings.data_dir, store.id, shop_bundle(), chunk_bytes=1024)
            await until_logged(cache, store.id, "model v3 in service", serving="v1")
            served = await cache.get(store.id)
            assert served is not None and served.version == "v3"

    run_with_redis(settings, scenario)
    assert not empty.exists()


def test_the_cache_drops_the_least_recently_used_model_past_its_cap_and_reloads_it(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    stores = [make_store(settings)[0].id for _ in range(3)]
    with sync_client(settings) as r:
        for n, store_id in enumerate(stores):
            registry.publish(r, settings.data_dir, store_id, shop_bundle(items=6 + n))
    caplog.set_level(logging.INFO, logger="tarry")

    async def scenario(redis: Any) -> None:
        uncapped = registry.ModelCache(redis, settings.data_dir)
        before, sizes = {}, {}
        for store_id in stores:
            held = uncapped.held_bytes()
            served = await uncapped.get(store_id)
            assert served is not None
            before[store_id] = showcase_answers(served.showcases)
            sizes[store_id] = uncapped.held_bytes() - held
        assert all(size > 10_000 for size in sizes.values()), sizes
        cap = sum(sizes.values()) - min(sizes.values())  # any two fit, never three
        a, b, c = stores

        cache = registry.ModelCache(redis, settings.data_dir, check_every=60, cap_bytes=cap)
        for store_id in (a, b):
            await cache.get(store_id)
        assert cache.holds(a) and cache.holds(b)
        await cache.get(c)
        assert not cache.holds(a) and cache.holds(b) and cache.holds(c)
        assert cache.held_bytes() <= cap
        assert f"store {a}: model v1 dropped from memory" in caplog.text

        again = await cache.get(a)  # loads again, as a first load does
        assert again is not None and again.version == "v1"
        assert showcase_answers(again.showcases) == before[a]
        assert not cache.holds(b) and cache.holds(c)  # b was the least recently asked
        for store_id in (b, c, a):
            served = await cache.get(store_id)
            assert served is not None and showcase_answers(served.showcases) == before[store_id]
        assert cache.held_bytes() <= cap

        # A cap below one model still serves the store asked for, dropping the rest.
        tiny = registry.ModelCache(redis, settings.data_dir, cap_bytes=1)
        for store_id in stores:
            served = await tiny.get(store_id)
            assert served is not None and showcase_answers(served.showcases) == before[store_id]
            assert [s for s in stores if tiny.holds(s)] == [store_id]

    run_with_redis(settings, scenario)


def test_the_cap_is_a_setting_the_server_uses(standalone_url: str, tmp_path: Path) -> None:
    env = {"TARRY_REDIS_URL": standalone_url, "TARRY_DATA_DIR": str(tmp_path)}
    assert Settings.from_env(env).model_cache_mb == 1024
    with pytest.raises(SettingsError, match=r"^TARRY_MODEL_CACHE_MB: must be an integer"):
        Settings.from_env({**env, "TARRY_MODEL_CACHE_MB": "1GB"})
    with pytest.raises(SettingsError, match=r"^TARRY_MODEL_CACHE_MB: must be between 0 and"):
        Settings.from_env({**env, "TARRY_MODEL_CACHE_MB": "-1"})
    app = create_app(Settings.from_env({**env, "TARRY_MODEL_CACHE_MB": "3"}))
    with TestClient(app, headers={"user-agent": BROWSER_UA}):
        assert app.state.models.cap_bytes == 3 * 1024 * 1024


def test_a_models_footprint_counts_its_arrays_once_and_its_python_objects() -> None:
    base = np.zeros(1000)
    pair = (base, base[:10])
    assert footprint(pair) == sys.getsizeof(pair) + base.nbytes  # a view is its base
    matrix = sp.random(200, 200, density=0.1, format="csr", random_state=1)
    parts = matrix.data.nbytes + matrix.indices.nbytes + matrix.indptr.nbytes
    assert parts < footprint(matrix) < parts + 2000
    ids = {f"visitor-{n}": 1000 + n for n in range(1000)}
    each = sum(sys.getsizeof(k) + sys.getsizeof(v) for k, v in ids.items())
    assert footprint(ids) == sys.getsizeof(ids) + each
    bundle = shop_bundle(items=40, visitors=200)
    assert footprint(Showcases(bundle)) > len(bundle.to_bytes())  # its arrays and more
