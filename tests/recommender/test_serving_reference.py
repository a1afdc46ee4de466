"""The walker's short cuts against the plain computation they replace.

`Showcases` ranks a few hundred items at a time from a threshold read off a sample
(at every depth of the walk), scores `recommended` for the items that bounds on
their scores cannot rule out (`recommender.models.bounded`), sets what the rules
block to -inf before ranking, leaves out the repeat signal when the rules show none
of the visitor's items, and reads a single item's neighbours as stored. None of that
may change a pick: here every answer is compared, item and score, with a full
stable sort of the model's own scores walked under the same rules. The catalog is
big enough (over 64 x 64 items) for the sampled cut to run.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recommender.bundle import TrainingConfig, train_bundle
from recommender.catalog import ItemInfo
from recommender.models.bounded import BestFirst
from recommender.models.personal import BlendWeights, neighbour_scores
from recommender.serving import BOUNDED_FROM, Query, Rules, Showcases
from recommender.synthetic import SyntheticShop, generate, item_categories

SHOP = SyntheticShop(n_users=3000, n_items=9000, n_categories=40, days=20, seed=3)
TRAFFIC = generate(SHOP)
KNOWN = {
    item: ItemInfo(None, category, n % 7 != 3)
    for n, (item, category) in enumerate(sorted(item_categories(SHOP).items()))
}
EVERY_SIGNAL = BlendWeights(1.0, 0.5, 0.5, 0.5, 0.5)
CONFIG = TrainingConfig(factors=8, iterations=3, neighbours=20, blend=EVERY_SIGNAL)
BUNDLE = train_bundle(TRAFFIC, CONFIG, known_items=KNOWN)
SHOWCASES = Showcases(BUNDLE)
# Too small a catalog for the bounds to pay (so the default scores every item), and
# large enough for them to leave most items out when asked to.
BOUNDED = Showcases(BUNDLE, bounded=True)
RULES = [
    Rules(max_per_category=3, exclude=frozenset(BUNDLE.items.id_of(i) for i in range(0, 60, 7))),
    Rules(exclude_history=False, max_per_category=1),  # the visitor's items may come back
    Rules(exclude_history=True),
]


def histories(count: int) -> list[list[str]]:
    """Sessions of the traffic with at least five items, each item once."""
    sessions: dict[str, dict[str, None]] = {}
    for record in TRAFFIC:
        sessions.setdefault(record.session_id, {})[record.item_id] = None
    found = [list(items) for items in sessions.values() if len(items) >= 5]
    return found[:count]


def walked(
    scores: np.ndarray, query: Query, rules: Rules, strategy: str, showcases: Showcases = SHOWCASES
) -> list[tuple]:
    """The best items by a full stable sort (best score first, then by index), under
    the rules, as (item id, score, strategy)."""
    items = BUNDLE.items
    catalog = BUNDLE.catalog
    blocked = {items.get(i) for i in rules.exclude}
    if rules.exclude_current and query.item is not None:
        blocked.add(items.get(query.item))
    if showcases.excludes_history(rules):
        blocked |= {items.get(i) for i in query.history}
    per_category: dict[int, int] = {}
    picks = []
    for index in np.argsort(-scores.astype(np.float64), kind="stable").tolist():
        score = float(scores[index])
        if not np.isfinite(score) or len(picks) == query.n:
            break
        category = int(catalog.category_of[index])
        if index in blocked or not catalog.available[index]:
            continue
        if rules.max_per_category is not None and category != -1:
            if per_category.get(category, 0) >= rules.max_per_category:
                continue
            per_category[category] = per_category.get(category, 0) + 1
        picks.append((items.id_of(index), score, strategy))
    return picks


def answered(query: Query, rules: Rules, showcases: Showcases = SHOWCASES) -> list[tuple]:
    """The picks of the query's own strategy (the fallbacks' come after them)."""
    picks = showcases.answer(query, rules)
    return [(p.item_id, p.score, p.strategy) for p in picks if p.strategy == query.strategy]


SESSIONS = histories(200)
BLENDS = {
    "every signal": BOUNDED,
    "default": Showcases(
        BUNDLE.variant(dataclasses.replace(CONFIG, blend=BlendWeights())), bounded=True
    ),
    "trending": Showcases(
        BUNDLE.variant(dataclasses.replace(CONFIG, blend=BlendWeights(1.0, 0.2, 0.0, 2.0, 0.0))),
        bounded=True,
    ),
}


def test_the_catalog_takes_the_sampled_cut() -> None:
    assert len(BUNDLE.items) >= 64 * 64


@pytest.mark.parametrize("showcases", [SHOWCASES, BOUNDED], ids=["every item", "bounded"])
@pytest.mark.parametrize("rules", RULES)
def test_recommended_is_the_full_sort_of_the_blend(rules: Rules, showcases: Showcases) -> None:
    for n, history in enumerate(histories(40)):
        weights = [4.0 if k % 3 == 0 else 1.0 for k in range(len(history))]
        query = Query("recommended", n=[10, 100][n % 2], history=history, history_weights=weights)
        index = np.array([BUNDLE.items.get(i) for i in history])
        scores = BUNDLE.personal.scores(index, np.array(weights))
        expected = walked(scores, query, rules, "recommended", showcases)
        assert len(expected) >= min(query.n, 30)
        assert answered(query, rules, showcases) == expected


def test_only_a_catalog_large_enough_is_bounded_by_default() -> None:
    assert len(BUNDLE.items) * BUNDLE.als.factors < BOUNDED_FROM
    assert not SHOWCASES.bounded
    assert BOUNDED.bounded


@settings(max_examples=80, deadline=None)
@given(
    blend=st.sampled_from(list(BLENDS)),
    session=st.integers(0, len(SESSIONS) - 1),
    length=st.integers(1, 30),
    n=st.integers(1, 100),
    cap=st.sampled_from([None, 1, 3]),
    exclude_history=st.sampled_from([None, False, True]),
    excluded=st.lists(st.integers(0, len(BUNDLE.items) - 1), max_size=20),
    seed=st.integers(0, 1_000),
)
def test_recommended_prunes_to_the_full_sort_of_the_blend(
    blend: str,
    session: int,
    length: int,
    n: int,
    cap: int | None,
    exclude_history: bool | None,
    excluded: list[int],
    seed: int,
) -> None:
    # Only the items that bounds on their scores cannot rule out are scored: the
    # answer must be the full sort's all the same, whatever the rules and depth.
    showcases = BLENDS[blend]
    history = SESSIONS[session][:length]
    rng = np.random.default_rng(seed)
    weights = rng.choice([1.0, 2.0, 4.0], len(history)).tolist()
    query = Query("recommended", n=n, history=history, history_weights=weights)
    rules = Rules(
        exclude_history=exclude_history,
        max_per_category=cap,
        exclude=frozenset(BUNDLE.items.id_of(i) for i in excluded),
    )
    index = np.array([BUNDLE.items.get(i) for i in history])
    scores = showcases.bundle.personal.scores(index, np.array(weights))
    expected = walked(scores, query, rules, "recommended", showcases)
    assert answered(query, rules, showcases) == expected


def test_recommended_scores_a_small_part_of_the_catalog() -> None:
    # What the pruning is for: a showcase of ten reads a few hundred items' factors,
    # not the catalog's (the fall-back to every item would be the full pass again).
    personal = BUNDLE.personal
    parts = []
    for history in SESSIONS[:40]:
        index = np.array([BUNDLE.items.get(i) for i in history])
        walk = BestFirst(personal, index, np.ones(len(index)), set(index.tolist()))
        picks = list(itertools.islice(walk, 30))
        assert len(picks) == 30
        parts.append(walk.scored / len(BUNDLE.items))
    assert np.median(parts) < 0.2


@pytest.mark.parametrize("rules", RULES)
def test_similar_is_the_full_sort_of_cosine_and_neighbours(rules: Rules) -> None:
    factors = BUNDLE.als.item_factors
    norms = np.linalg.norm(factors, axis=1)
    norms[norms == 0] = 1.0
    unit = (factors / norms[:, None]).astype(np.float32)
    for n, history in enumerate(histories(40)):
        query = Query("similar", n=[10, 100][n % 2], history=history, item=history[-1])
        item = BUNDLE.items.get(history[-1])
        scores = unit @ unit[item]
        scores[item] = -np.inf
        neighbours, values = neighbour_scores(BUNDLE.knn.similarity, np.array([item]), np.ones(1))
        if len(values):
            scores[neighbours] += values / values.max()
        expected = walked(scores, query, rules, "similar")
        assert len(expected) >= min(query.n, 30)
        assert answered(query, rules) == expected


def test_leaving_the_repeat_signal_out_is_a_repeat_weight_of_zero() -> None:
    history = histories(1)[0]
    index = np.array([BUNDLE.items.get(i) for i in history])
    weights = np.linspace(1.0, 4.0, len(index))
    without = BUNDLE.variant(
        dataclasses.replace(CONFIG, blend=BlendWeights(1.0, 0.5, 0.0, 0.5, 0.5))
    )
    left_out = BUNDLE.personal.scores(index, weights, repeat=False)
    assert np.array_equal(left_out, without.personal.scores(index, weights))
    assert not np.array_equal(left_out, BUNDLE.personal.scores(index, weights))
