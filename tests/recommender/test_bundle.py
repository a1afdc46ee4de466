"""`bundle`: training every part together, and the artefact on disk."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from recommender.bundle import FORMAT, Bundle, KnownUsers, TrainingConfig, train_bundle
from recommender.catalog import ItemInfo, observed
from recommender.interactions import Interaction, Weighting, build_matrix
from recommender.models.personal import BlendWeights
from recommender.serving import STRATEGIES, Query, Rules, Showcases
from recommender.synthetic import SyntheticShop, generate, item_categories

CONFIG = TrainingConfig(factors=8, iterations=4, neighbours=20)
SHOP = SyntheticShop(n_users=200, n_items=60, n_categories=5, n_tastes=5, days=20, seed=4)
TRAFFIC = generate(SHOP)


def known_items() -> dict[str, ItemInfo]:
    return {
        item: ItemInfo(f"Product «{item}»", category, n % 6 != 1)
        for n, (item, category) in enumerate(sorted(item_categories(SHOP).items()))
    }


BUNDLES = {
    "catalogued": train_bundle(TRAFFIC, CONFIG, known_items=known_items()),
    "no catalog": train_bundle(TRAFFIC, CONFIG),
}


@pytest.fixture(params=sorted(BUNDLES))
def bundle(request: pytest.FixtureRequest) -> Bundle:
    return BUNDLES[request.param]


def reload(bundle: Bundle, directory: Path) -> Bundle:
    bundle.save(directory / "bundle")
    return Bundle.load(directory / "bundle")


def same_sparse(a: sp.csr_matrix, b: sp.csr_matrix) -> bool:
    return bool(
        a.shape == b.shape
        and a.dtype == b.dtype
        and np.array_equal(a.indptr, b.indptr)
        and np.array_equal(a.indices, b.indices)
        and np.array_equal(a.data, b.data)
    )


def test_round_trip_keeps_every_array(bundle: Bundle, tmp_path: Path) -> None:
    loaded = reload(bundle, tmp_path)
    assert loaded.items.to_array().tolist() == bundle.items.to_array().tolist()
    for name in ("item_factors", "gram"):
        before, after = getattr(bundle.als, name), getattr(loaded.als, name)
        assert after.dtype == before.dtype and np.array_equal(after, before), name
    assert np.array_equal(loaded.als.weights.idf, bundle.als.weights.idf)
    assert loaded.als.weights.mean_length == bundle.als.weights.mean_length
    assert same_sparse(loaded.knn.similarity, bundle.knn.similarity)
    assert same_sparse(loaded.together, bundle.together)
    for name in ("popularity", "trending"):
        before, after = getattr(bundle, name), getattr(loaded, name)
        assert after.dtype == before.dtype and np.array_equal(after, before), name
    catalog, again = bundle.catalog, loaded.catalog
    assert again.categories == catalog.categories
    assert np.array_equal(again.category_of, catalog.category_of)
    assert np.array_equal(again.available, catalog.available)
    assert again.names == catalog.names
    assert loaded.config == bundle.config
    assert loaded.personal.blend == bundle.personal.blend
    for key, value in bundle.meta.items():
        assert loaded.meta[key] == value, key
    # The visitors it knows, their histories, and the session-kNN sessions.
    assert [loaded.users.ids.id_of(i) for i in range(len(loaded.users.ids))] == [
        bundle.users.ids.id_of(i) for i in range(len(bundle.users.ids))
    ]
    assert same_sparse(loaded.users.rows, bundle.users.rows)
    assert same_sparse(loaded.sknn.sessions, bundle.sknn.sessions)
    assert same_sparse(loaded.sknn.by_item, bundle.sknn.by_item)
    assert loaded.repeat == bundle.repeat


def queries(bundle: Bundle) -> list[tuple[Query, Rules]]:
    ids = [bundle.items.id_of(i) for i in range(len(bundle.items))]
    category = bundle.catalog.categories[0] if bundle.catalog.categories else None
    out = []
    for strategy in STRATEGIES:
        out += [
            (Query(strategy, n=12), Rules()),
            (Query(strategy, n=20, history=ids[3:9], item=ids[1], cart=ids[5:7]), Rules()),
            (
                Query(strategy, n=30, history=ids[:4], history_weights=[1, 4, 8, 1], cart=ids[8:9]),
                Rules(max_per_category=2, exclude=frozenset(ids[10:20])),
            ),
            (
                Query(strategy, item=ids[2], purchased=ids[:2], category=category),
                Rules(same_category=True, exclude_purchased=False),
            ),
        ]
    return out


def test_round_trip_answers_every_query_the_same(bundle: Bundle, tmp_path: Path) -> None:
    before, after = Showcases(bundle), Showcases(reload(bundle, tmp_path))
    for query, rules in queries(bundle):
        picks = before.answer(query, rules)
        assert picks, query
        assert after.answer(query, rules) == picks, query


def test_a_saved_bundle_is_saved_again_unchanged(tmp_path: Path) -> None:
    loaded = reload(BUNDLES["catalogued"], tmp_path)
    again = reload(loaded, tmp_path / "again")
    first = np.load(tmp_path / "bundle" / "arrays.npz", allow_pickle=False)
    second = np.load(tmp_path / "again" / "bundle" / "arrays.npz", allow_pickle=False)
    with first, second:
        assert sorted(first.files) == sorted(second.files)
        for name in first.files:
            assert np.array_equal(first[name], second[name]), name
    assert again.meta == loaded.meta


def test_save_refuses_an_existing_directory(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("not a bundle")
    with pytest.raises(FileExistsError):
        BUNDLES["catalogued"].save(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]
    assert (tmp_path / "keep.txt").read_text() == "not a bundle"


@pytest.mark.parametrize(("stored", "shown"), [(FORMAT + 1, str(FORMAT + 1)), (None, "None")])
def test_load_refuses_another_format(tmp_path: Path, stored: int | None, shown: str) -> None:
    directory = tmp_path / "bundle"
    BUNDLES["catalogued"].save(directory)
    meta = json.loads((directory / "meta.json").read_text())
    assert meta["format"] == FORMAT
    if stored is None:
        del meta["format"]
    else:
        meta["format"] = stored
    (directory / "meta.json").write_text(json.dumps(meta))
    expected = f"{directory}: format {shown}, expected {FORMAT}"
    with pytest.raises(ValueError, match=f"^{re.escape(expected)}$"):
        Bundle.load(directory)


def test_retraining_keeps_the_item_indices(tmp_path: Path) -> None:
    half = len(TRAFFIC) // 2
    first = train_bundle(TRAFFIC[:half], CONFIG)
    old_ids = first.items.to_array().tolist()
    served = reload(first, tmp_path)  # as a server holds it
    newcomer = Interaction(TRAFFIC[-1].timestamp_ms, "u-new", "s-new", "view_item", "brand-new")
    later = [*TRAFFIC[half:], newcomer]
    second = train_bundle(later, CONFIG, items=served.items)
    assert len(served.items) == len(old_ids), "the map in service is not changed"
    for index, item in enumerate(old_ids):
        assert second.items.get(item) == index, item
    new_ids = [second.items.id_of(i) for i in range(len(old_ids), len(second.items))]
    assert "brand-new" in new_ids
    assert not set(new_ids) & set(old_ids)
    assert set(new_ids) | set(old_ids) == {r.item_id for r in TRAFFIC} | {"brand-new"}
    n = len(second.items)
    assert second.als.item_factors.shape[0] == n
    assert second.together.shape == second.knn.similarity.shape == (n, n)
    assert len(second.popularity) == len(second.trending) == len(second.catalog.available) == n
    picks = Showcases(second).answer(Query("popular", n=100))
    assert len(picks) == min(100, n)


def test_retrained_item_ids_are_plain_strings() -> None:
    first = train_bundle(TRAFFIC[:200], CONFIG)
    second = train_bundle(TRAFFIC[200:400], CONFIG, items=first.items)
    kinds = {type(second.items.id_of(i)) for i in range(len(second.items))}
    assert kinds == {str}


def test_training_on_nothing_names_the_interactions() -> None:
    with pytest.raises(ValueError, match=r"^interactions: "):
        train_bundle([], CONFIG)


@pytest.mark.parametrize(
    "config",
    [
        TrainingConfig(),
        CONFIG,
        TrainingConfig(
            weighting=Weighting({"view_item": 1.5, "purchase": 10.0}, None, frozenset()),
            factors=16,
            regularization=0.2,
            alpha=3.0,
            iterations=7,
            scaling="tfidf",
            neighbours=30,
            blend=BlendWeights(als=0.0, cooccurrence=1.0, repeat=0.25),
            together_min_support=3,
            together_min_lift=1.5,
        ),
    ],
)
def test_training_config_json_round_trip(config: TrainingConfig) -> None:
    data = json.loads(json.dumps(config.to_json()))
    assert TrainingConfig.from_json(data) == config
    assert set(data) == {field.name for field in dataclasses.fields(TrainingConfig)}


def test_meta_says_what_was_trained(tmp_path: Path) -> None:
    bundle = BUNDLES["catalogued"]
    assert bundle.meta["interactions"] == len(TRAFFIC)
    assert bundle.meta["items"] == len(bundle.items)
    assert bundle.meta["trained_at_ms"] == max(r.timestamp_ms for r in TRAFFIC)
    reload(bundle, tmp_path)
    meta = json.loads((tmp_path / "bundle" / "meta.json").read_text())
    assert meta["format"] == FORMAT and meta["config"] == bundle.config.to_json()


def test_the_catalog_follows_the_newest_product_data() -> None:
    records = [
        {"item_id": "a", "item_name": "Tent", "item_category": "camping"},
        {
            "item_id": "b",
            "item_category": "camping",
            "availability": "https://schema.org/OutOfStock",
        },
        {"item_id": "c", "availability": "out_of_stock"},
        {"item_id": "a", "item_name": "Tent 2", "availability": "Sold Out"},
        {"item_id": "b", "availability": "https://schema.org/InStock"},  # back in stock
        {"item_id": "c", "item_category": "kitchen"},  # no availability: still out
        {"item_id": "d", "availability": "https://schema.org/PreOrder"},
    ]
    known = observed(records)
    traffic = [
        Interaction(1000 + n, f"u{n % 2}", f"s{n % 2}", "view_item", item)
        for n, item in enumerate("abcde")
    ]
    catalog = train_bundle(traffic, CONFIG, known_items=known).catalog
    assert catalog.categories == ["camping", "kitchen"]
    assert all(type(name) is str for name in catalog.categories)
    assert catalog.category_of.tolist() == [0, 0, 1, -1, -1]  # e: nothing known
    assert catalog.available.tolist() == [False, True, False, True, True]
    assert catalog.names == ["Tent 2", "", "", "", ""]


def test_interactions_of_no_weighted_kind_are_refused() -> None:
    pages = [dataclasses.replace(r, event="page_view") for r in TRAFFIC[:50]]
    with pytest.raises(ValueError, match="interactions: none of a weighted kind"):
        train_bundle(pages, CONFIG)


def test_a_format_1_bundle_still_serves_as_it_did(tmp_path: Path) -> None:
    # Saved before known visitors, session-kNN and the repeat decision existed.
    directory = tmp_path / "bundle"
    BUNDLES["catalogued"].save(directory)
    meta = json.loads((directory / "meta.json").read_text())
    meta["format"] = 1
    for added in ("repeat", "sessions", "profile"):
        meta.pop(added, None)
    for added in ("trending_half_lives", "sknn_neighbours", "sknn_sample"):
        meta["config"].pop(added)
    meta["config"]["blend"] = {"als": 1.0, "cooccurrence": 0.5, "repeat": 0.5}
    (directory / "meta.json").write_text(json.dumps(meta))
    with np.load(directory / "arrays.npz") as stored:
        old = {
            k: stored[k] for k in stored.files if not k.startswith(("users", "user_", "sessions"))
        }
    np.savez(directory / "arrays.npz", **old)
    loaded = Bundle.load(directory)
    assert loaded.repeat is True and len(loaded.users.ids) == 0
    assert loaded.sknn.sessions.shape == (0, len(loaded.items))
    showcases = Showcases(loaded)
    picks = showcases.answer(Query("recommended", n=5, history=["i1", "i2"]))
    assert len(picks) == 5 and picks[0].strategy == "recommended"
    assert showcases.answer(Query("recommended", n=5, visitor="u1"))  # unknown: fallbacks


def test_known_visitors_keep_their_latest_items_in_order(tmp_path: Path) -> None:
    records = [Interaction(ts, "v", "s", "view_item", f"i{ts % 7}") for ts in range(1, 300)] + [
        Interaction(5, "w", "t", "purchase", "i3")
    ]
    bundle = train_bundle(records, CONFIG)
    items, _ = bundle.known_history("v") or ([], [])
    # i{ts % 7}: the item last touched at 299 is i5, at 298 i4, ...
    assert items[-3:] == ["i3", "i4", "i5"] and len(items) == 7
    assert bundle.known_history("w") == (["i3"], [pytest.approx(8.0)])  # a purchase
    assert bundle.known_history("nobody") is None
    few = dataclasses.replace(bundle, users=KnownUsers.of(build_matrix(records), keep=2))
    assert (few.known_history("v") or ([],))[0] == ["i4", "i5"]
