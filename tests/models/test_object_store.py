"""Model bundles in an object store (`TARRY_MODEL_STORE_URL`): a real S3 API on
loopback (conftest's `s3_server`) and a folder (`file://`), with the manifests in
the real Redis and the three-node Cluster. The bytes are checked as Redis' chunks
are; pruning deletes the objects; a store that cannot take a bundle leaves the
model in service as it was."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import pytest
from helpers import make_store, run_with_redis, shop_bundle, showcase_answers, sync_client

from recommender.serving import Showcases
from widget_server.models import bundle_store, object_store, registry
from widget_server.models.bundle_store import BundleStoreError
from widget_server.models.object_store import ObjectStoreError
from widget_server.settings import Settings, SettingsError
from widget_server.storage import keys


@pytest.fixture(params=["s3", "folder"])
def store_url(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    if request.param == "folder":
        return f"file://{tmp_path}/objects"
    env = request.getfixturevalue("s3_server")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    # a prefix per test: the bucket outlives the test, the Redis does not
    return f"s3://models/{tmp_path.name}"


def test_a_bundle_in_an_object_store_has_only_its_manifest_in_redis(
    settings: Settings, store_url: str
) -> None:
    store, _ = make_store(settings)
    bundle = shop_bundle(items=40, visitors=200)
    with sync_client(settings) as r:
        version = registry.publish(r, settings.data_dir, store.id, bundle, object_url=store_url)
        manifest = json.loads(r.hget(keys.model_bundles(store.id), version))
        chunk = r.exists(keys.model_chunk(store.id, version, 0))
        [meta] = registry.versions(r, store.id)
        loaded = registry.load_current(r, settings.data_dir, store.id)
        complete = bundle_store.is_complete(r, store.id, version)
    location = f"{store_url}/{store.id}/{version}.bundle"
    assert manifest["object"] == location and manifest["chunks"] == 0 and chunk == 0
    data = object_store.get(location)
    assert data is not None
    assert (len(data), hashlib.sha256(data).hexdigest()) == (manifest["bytes"], manifest["sha256"])
    assert meta["bundle"] == manifest and meta["current"] is True
    assert complete
    assert loaded is not None and showcase_answers(Showcases(loaded)) == showcase_answers(
        Showcases(bundle)
    )
    # the server's reader: asynchronous, no setting needed (the manifest says where)
    read = run_with_redis(settings, lambda r: bundle_store.read(r, store.id, version))
    assert read == data
    assert not (settings.data_dir / "models").exists()


def test_a_garbled_truncated_or_missing_object_is_refused_saying_what_is_wrong(
    settings: Settings, store_url: str
) -> None:
    store, _ = make_store(settings)
    with sync_client(settings) as r:
        version = registry.publish(
            r, settings.data_dir, store.id, shop_bundle(), object_url=store_url
        )
        location = json.loads(r.hget(keys.model_bundles(store.id), version))["object"]
        good = object_store.get(location)
        assert good is not None
        cases = [
            (good[:-1] + bytes([good[-1] ^ 1]), "do not match their sha256"),
            (good[:-7], "bytes stored"),
            (None, "is missing"),
        ]
        for data, message in cases:
            if data is None:
                object_store.delete(location)
            else:
                object_store.put(location, data)
            with pytest.raises(BundleStoreError, match=message):
                registry.load_version(r, settings.data_dir, store.id, version)
            with pytest.raises(BundleStoreError, match=message):
                run_with_redis(settings, lambda a: bundle_store.read(a, store.id, version))
        assert not bundle_store.is_complete(r, store.id, version)
        with pytest.raises(registry.RegistryError):
            registry.rollback(r, settings.data_dir, store.id, version)


def test_only_the_newest_versions_keep_their_objects(settings: Settings, store_url: str) -> None:
    store, _ = make_store(settings)
    bundle = shop_bundle()
    published = []
    with sync_client(settings) as r:
        for _ in range(registry.KEEP_VERSIONS + 2):
            published.append(
                registry.publish(r, settings.data_dir, store.id, bundle, object_url=store_url)
            )
        kept = bundle_store.stored(r, store.id)
    assert kept == set(published[2:])
    sizes = [object_store.size(f"{store_url}/{store.id}/{v}.bundle") for v in published]
    assert sizes[:2] == [None, None] and all(s is not None and s > 0 for s in sizes[2:])


def test_a_store_that_cannot_take_the_bundle_leaves_the_model_in_service(
    settings: Settings, s3_server: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in s3_server.items():
        monkeypatch.setenv(name, value)
    store, _ = make_store(settings)
    with sync_client(settings) as r:
        first = registry.publish(r, settings.data_dir, store.id, shop_bundle())  # in Redis
        with pytest.raises(ObjectStoreError, match="s3://no-such-bucket/models/"):
            registry.publish(
                r,
                settings.data_dir,
                store.id,
                shop_bundle(),
                object_url="s3://no-such-bucket/models",
            )
        assert registry.current_version(r, store.id) == first
        assert [m["version"] for m in registry.versions(r, store.id)] == [first]
        assert bundle_store.stored(r, store.id) == {first}


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("ftp://host/models", "scheme must be one of"),
        ("memory:///", "scheme must be one of"),
        ("models", "scheme must be one of"),
        ("s3://", "names no bucket"),
        ("file://relative/path", "absolute path"),
    ],
)
def test_a_bad_store_url_is_refused_naming_the_setting(raw: str, reason: str) -> None:
    with pytest.raises(SettingsError, match=f"TARRY_MODEL_STORE_URL: .*{reason}"):
        Settings.from_env({"TARRY_MODEL_STORE_URL": raw})


@pytest.mark.parametrize("raw", ["s3://bucket/models", "gs://b", "az://acct/c/p", "file:///srv/m"])
def test_store_urls_of_every_kind_are_taken(raw: str) -> None:
    assert Settings.from_env({"TARRY_MODEL_STORE_URL": f" {raw} "}).model_store_url == raw
    assert Settings.from_env({}).model_store_url is None


def test_an_old_object_that_cannot_be_deleted_does_not_fail_a_publish(
    settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store, _ = make_store(settings)
    unreachable = "file:///dev/null/objects"  # a folder that can never be made
    with sync_client(settings) as r:
        r.hset(
            keys.model_bundles(store.id),
            "v1",
            json.dumps({"bytes": 1, "chunks": 0, "sha256": "0", "object": f"{unreachable}/v1"}),
        )
        r.set(keys.model_sequence(store.id), 1)
        url = f"file://{tmp_path}/objects"
        published = [
            registry.publish(r, settings.data_dir, store.id, shop_bundle(), object_url=url)
            for _ in range(registry.KEEP_VERSIONS)
        ]
        assert bundle_store.stored(r, store.id) == set(published)  # v1 pruned
        assert registry.current_version(r, store.id) == published[-1]
    assert "/dev/null/objects/v1 left behind" in caplog.text


def test_objects_no_version_names_are_swept_once_an_hour_old(
    settings: Settings, store_url: str
) -> None:
    """What a publish that died between its upload and its manifest left: gone once
    it is older than any upload in progress; a younger one, the objects versions name
    and another file in the folder stay."""
    store, _ = make_store(settings)
    folder = f"{store_url}/{store.id}"
    with sync_client(settings) as r:
        version = registry.publish(
            r,
            settings.data_dir,
            store.id,
            shop_bundle(items=40, visitors=200),
            object_url=store_url,
        )
        object_store.put(f"{folder}/v90.bundle", b"left by a publish that died")
        object_store.put(f"{folder}/notes.txt", b"not Tarry's")
        young = bundle_store.sweep_objects(r, store.id, store_url)
        later = time.time() + bundle_store.STAGING_TTL_S + 60
        swept = bundle_store.sweep_objects(r, store.id, store_url, now_s=later)
        loaded = registry.load_current(r, settings.data_dir, store.id)
    assert young == [] and swept == [f"{folder}/v90.bundle"]
    assert object_store.get(f"{folder}/v90.bundle") is None
    assert object_store.get(f"{folder}/notes.txt") == b"not Tarry's"
    assert object_store.size(f"{folder}/{version}.bundle") and loaded is not None


def test_a_publish_sweeps_what_an_earlier_one_left(settings: Settings, tmp_path: Path) -> None:
    store, _ = make_store(settings)
    url = f"file://{tmp_path}/objects"
    left = tmp_path / "objects" / store.id / "v7.bundle"
    left.parent.mkdir(parents=True)
    left.write_bytes(b"half a publish")
    hours_ago = time.time() - 2 * bundle_store.STAGING_TTL_S
    os.utime(left, (hours_ago, hours_ago))
    with sync_client(settings) as r:
        version = registry.publish(r, settings.data_dir, store.id, shop_bundle(), object_url=url)
    assert not left.exists()
    assert (tmp_path / "objects" / store.id / f"{version}.bundle").stat().st_size > 0
