"""`Bundle.to_bytes` and `Bundle.from_bytes`: the artefact as one archive, for a
store with no directories (the server keeps bundles in Redis)."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np
import pytest

from recommender.bundle import FORMAT, META_MEMBER, Bundle, TrainingConfig, train_bundle
from recommender.serving import STRATEGIES, Query, Showcases
from recommender.synthetic import SyntheticShop, generate

SHOP = SyntheticShop(n_users=150, n_items=50, n_categories=4, n_tastes=4, days=20, seed=6)
BUNDLE = train_bundle(generate(SHOP), TrainingConfig(factors=8, iterations=4, neighbours=20))


def one_array() -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.arange(10))
    return buffer.getvalue()


def members(data: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(data), allow_pickle=False) as stored:
        return {name: stored[name] for name in stored.files}


def test_the_archive_holds_what_save_writes(tmp_path: Path) -> None:
    BUNDLE.save(tmp_path / "bundle")
    with np.load(tmp_path / "bundle" / "arrays.npz", allow_pickle=False) as saved:
        files = {name: saved[name] for name in saved.files}
    archived = members(BUNDLE.to_bytes())
    meta = json.loads(archived.pop(META_MEMBER).tobytes())
    assert sorted(archived) == sorted(files)
    for name, array in files.items():
        assert archived[name].dtype == array.dtype and np.array_equal(archived[name], array)
    assert meta == json.loads((tmp_path / "bundle" / "meta.json").read_text())


def test_from_bytes_answers_every_query_as_the_bundle_does() -> None:
    loaded = Bundle.from_bytes(BUNDLE.to_bytes())
    before, after = Showcases(BUNDLE), Showcases(loaded)
    ids = [BUNDLE.items.id_of(i) for i in range(len(BUNDLE.items))]
    for strategy in STRATEGIES:
        for query in (
            Query(strategy, n=12),
            Query(strategy, n=20, history=ids[3:9], item=ids[1], cart=ids[5:7]),
            Query(strategy, n=8, visitor=BUNDLE.users.ids.id_of(0)),
        ):
            assert after.answer(query) == before.answer(query), query
    assert loaded.meta["format"] == FORMAT and loaded.repeat == BUNDLE.repeat
    assert loaded.config == BUNDLE.config


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "not a bundle archive"),
        (BUNDLE.to_bytes()[:-200], "not a bundle archive"),
        (b"PK\x03\x04" + bytes(100), "not a bundle archive"),
        (one_array(), "not a bundle archive \\(one array, not an archive\\)"),
        (b"hello", "not a bundle archive"),
    ],
    ids=["empty", "truncated", "garbage", "one array", "not numpy"],
)
def test_bytes_that_are_not_a_whole_bundle_are_refused(data: bytes, reason: str) -> None:
    with pytest.raises(ValueError, match=f"^store s1: model v3: {reason}"):
        Bundle.from_bytes(data, "store s1: model v3")


def test_an_archive_without_its_meta_or_of_another_format_is_refused() -> None:
    arrays = members(BUNDLE.to_bytes())
    meta = json.loads(arrays.pop(META_MEMBER).tobytes())
    plain = io.BytesIO()
    np.savez(plain, **arrays)
    with pytest.raises(ValueError, match=f"^v3: not a bundle archive \\(no {META_MEMBER}"):
        Bundle.from_bytes(plain.getvalue(), "v3")
    newer = io.BytesIO()
    encoded = json.dumps({**meta, "format": FORMAT + 1}).encode()
    np.savez(newer, **arrays, **{META_MEMBER: np.frombuffer(encoded, dtype=np.uint8)})
    expected = f"v3: format {FORMAT + 1}, expected {FORMAT}"
    with pytest.raises(ValueError, match=f"^{re.escape(expected)}$"):
        Bundle.from_bytes(newer.getvalue(), "v3")
