"""The blend's signals: each one alone ranks as that signal does, recency makes the
latest items count more, and a known visitor is answered from the bundle's own
history of them under the bundle's repeat decision."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from recommender import history as histories
from recommender.bundle import TrainingConfig, train_bundle
from recommender.interactions import Interaction
from recommender.models.personal import SIGNALS, BlendWeights, recency_weights
from recommender.profile import profile
from recommender.serving import Query, Rules, Showcases
from recommender.synthetic import SyntheticShop, generate

SHOP = SyntheticShop(n_users=300, n_items=80, n_categories=5, n_tastes=4, days=30, seed=7)
TRAFFIC = generate(SHOP)
CONFIG = TrainingConfig(factors=8, iterations=4, neighbours=20)
BUNDLE = train_bundle(TRAFFIC, CONFIG)


def alone(signal: str, **changes: object) -> Showcases:
    config = dataclasses.replace(CONFIG, blend=CONFIG.blend.only(signal), **changes)
    return Showcases(BUNDLE.variant(config))


def ids(picks: list) -> list[str]:
    return [p.item_id for p in picks]


def test_trending_alone_is_the_trending_showcase_even_for_a_first_visit() -> None:
    showcases = alone("trending")
    first_visit = showcases.answer(Query("recommended", n=10), Rules())
    trending = showcases.answer(Query("trending", n=10), Rules())
    assert ids(first_visit) == ids(trending)
    assert {p.strategy for p in first_visit} == {"recommended"}
    # With a history, the visitor's own items aside, it is still the trending order.
    seen = ids(trending)[:2]
    picks = showcases.answer(Query("recommended", n=8, history=seen), Rules(exclude_history=True))
    assert ids(picks) == [i for i in ids(trending) if i not in seen][:8]


def test_sknn_alone_ranks_as_session_knn() -> None:
    showcases = alone("sknn")
    history = ["i3", "i10", "i5"]
    index = np.array([BUNDLE.items.get(i) for i in history])
    scores = BUNDLE.sknn.scores(index)
    scores[index] = -np.inf
    reached = int(np.isfinite(scores).sum())
    expected = [BUNDLE.items.id_of(int(i)) for i in np.argsort(-scores, kind="stable")[:reached]]
    picks = showcases.answer(
        Query("recommended", n=5, history=history), Rules(exclude_history=True)
    )
    got = [p.item_id for p in picks if p.strategy == "recommended"]
    assert got and got == expected[: len(got)]


def test_recency_makes_the_latest_item_count_most() -> None:
    assert recency_weights(3, None) is None
    assert recency_weights(3, 1.0).tolist() == [0.25, 0.5, 1.0]
    personal = alone("repeat").bundle.personal
    index = np.array([BUNDLE.items.get("i1"), BUNDLE.items.get("i2")])
    flat = personal.scores(index, np.array([4.0, 1.0]))
    assert flat[index[0]] > flat[index[1]]  # the cart outweighs the later view
    emphasis = dataclasses.replace(personal.blend, recency=0.25)
    personal.blend = emphasis
    recent = personal.scores(index, np.array([4.0, 1.0]))
    assert recent[index[1]] > recent[index[0]]  # 4 x 0.5^4 < 1


@pytest.mark.parametrize("signal", SIGNALS)
def test_only_keeps_one_signal(signal: str) -> None:
    blend = BlendWeights(1, 1, 1, 1, 1, recency=3.0).only(signal)
    assert blend.signals() == [signal] and blend.recency == 3.0


def test_bad_blends_name_the_field() -> None:
    with pytest.raises(ValueError, match=r"blend\.sknn: must be finite"):
        BlendWeights(sknn=-1)
    with pytest.raises(ValueError, match=r"blend\.recency: must be positive"):
        BlendWeights(recency=0)
    with pytest.raises(ValueError, match="at least one weight"):
        BlendWeights(0, 0, 0, 0, 0)


def returning_visitor() -> str:
    counts: dict[str, int] = {}
    for r in TRAFFIC:
        counts[r.visitor_id] = counts.get(r.visitor_id, 0) + 1
    return max(counts, key=counts.__getitem__)


def test_a_known_visitor_is_answered_from_the_bundles_history_of_them() -> None:
    visitor = returning_visitor()
    showcases = Showcases(BUNDLE)
    known = BUNDLE.known_history(visitor)
    assert known is not None and len(known[0]) > 3
    # Their items in the order they last touched them, as the training matrix weighs them.
    last: dict[str, int] = {}
    for r in TRAFFIC:
        if r.visitor_id == visitor and r.event in CONFIG.weighting.weights:
            last[r.item_id] = max(last.get(r.item_id, 0), r.timestamp_ms)
    assert known[0] == sorted(last, key=lambda i: (last[i], known[0].index(i)))
    by_id = showcases.answer(Query("recommended", n=10, visitor=visitor), Rules())
    by_history = showcases.answer(
        Query("recommended", n=10, history=known[0], history_weights=known[1]), Rules()
    )
    assert ids(by_id) == ids(by_history)
    assert {p.strategy for p in by_id} == {"recommended"}
    # An unknown visitor with nothing on the page gets no personal answer.
    stranger = showcases.answer(Query("recommended", n=10, visitor="nobody"), Rules())
    assert "recommended" not in {p.strategy for p in stranger}


def test_what_a_known_visitor_did_since_comes_after_their_training_history() -> None:
    visitor = returning_visitor()
    showcases = Showcases(BUNDLE)
    known = BUNDLE.known_history(visitor)
    assert known is not None
    fresh = (["i0", known[0][0]], [4.0, 1.0])
    merged = histories.merge(known, fresh)
    assert merged[0][-2:] == ["i0", known[0][0]]
    both = showcases.answer(
        Query("recommended", n=10, visitor=visitor, history=fresh[0], history_weights=fresh[1]),
        Rules(),
    )
    direct = showcases.answer(
        Query("recommended", n=10, history=merged[0], history_weights=merged[1]), Rules()
    )
    assert ids(both) == ids(direct)


def test_seen_items_come_back_only_where_the_data_allows_repeats() -> None:
    visitor = returning_visitor()
    known = BUNDLE.known_history(visitor)
    assert known is not None
    repeats = dataclasses.replace(BUNDLE, repeat=True)
    no_repeats = dataclasses.replace(BUNDLE, repeat=False)
    query = Query("recommended", n=20, visitor=visitor)
    with_repeats = ids(Showcases(repeats).answer(query, Rules()))
    without = ids(Showcases(no_repeats).answer(query, Rules()))
    assert set(with_repeats) & set(known[0])  # the blend's repeat signal brings some back
    assert not set(without) & set(known[0])
    # The rules may still say otherwise either way.
    assert set(ids(Showcases(no_repeats).answer(query, Rules(exclude_history=False)))) & set(
        known[0]
    )
    assert not set(ids(Showcases(repeats).answer(query, Rules(exclude_history=True)))) & set(
        known[0]
    )


def test_the_bundle_says_what_the_data_decided() -> None:
    assert BUNDLE.repeat == profile(TRAFFIC).repeat
    assert BUNDLE.meta["profile"] == profile(TRAFFIC).to_json()
    rebuys = [
        Interaction(day * 86_400_000, f"c{n}", f"c{n}-{day}", "purchase", "milk")
        for n in range(60)
        for day in (1, 8)
    ]
    assert train_bundle(rebuys, CONFIG).repeat
    once = [Interaction(n, f"c{n}", f"s{n}", "purchase", f"i{n % 7}") for n in range(200)]
    assert not train_bundle(once, CONFIG).repeat
