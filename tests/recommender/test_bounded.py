"""`BestFirst`: the personal blend best first from a part of the catalog's scores.

Whatever the blend, the history, the items blocked and however far a walker goes,
it must give what ranking the full scores gives (`ranked(Personal.scores(...))`
with the blocked items at -inf), item for item and score for score, ties by index;
and for a showcase's worth of items it must score only a part of the catalog, or it
saves nothing. The models here are built from random arrays rather than trained,
so that each example is quick and the awkward cases (long and short factors, ties,
negative scores, items no signal reaches) come up.
"""

from __future__ import annotations

import gc
import itertools
import weakref

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from recommender.models.als import ALS
from recommender.models.bounded import BestFirst
from recommender.models.item_knn import ItemKNN
from recommender.models.personal import BlendWeights, Personal
from recommender.models.ranking import ranked
from recommender.models.sknn import SessionKNN

N_ITEMS = 4_003  # not a whole number of BLAS row groups: the last rows are a part one
FACTORS = 16


def interactions(rng: np.random.Generator, rows: int, per_row: int) -> sp.csr_matrix:
    """Binary rows of items drawn by a power law (a few items in most rows)."""
    popularity = 1.0 / np.arange(1, N_ITEMS + 1) ** 0.8
    items = rng.choice(N_ITEMS, (rows, per_row), p=popularity / popularity.sum())
    matrix = sp.csr_matrix(
        (
            np.ones(items.size, dtype=np.float32),
            (np.repeat(np.arange(rows), per_row), items.ravel()),
        ),
        shape=(rows, N_ITEMS),
    )
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return matrix


def factors_of(rng: np.random.Generator, ties: bool, along: np.ndarray) -> np.ndarray:
    """Item factors whose lengths spread as trained ones do (a long tail of long
    ones); with `ties`, coarse values and repeated rows, so that scores tie; the
    items `along` one direction, so that a history of them folds in to a vector
    along it too, and their ALS scores are their bounds."""
    # Trained factors share a direction (what most visitors like): without one, a
    # random vector's scores are far below the bound, and ALS alone prunes nothing.
    shared = rng.normal(size=FACTORS)
    factors = (rng.normal(size=(N_ITEMS, FACTORS)) + shared) * rng.lognormal(-2, 1, (N_ITEMS, 1))
    if ties:
        factors = np.round(factors, 1)
        factors[rng.integers(0, N_ITEMS, 500)] = factors[rng.integers(0, N_ITEMS, 500)]
    lengths = np.linalg.norm(factors[along], axis=1)
    factors[along] = lengths[:, None] * shared / np.linalg.norm(shared)
    factors[rng.integers(0, N_ITEMS, 5)] = 0.0  # items ALS knows nothing of
    return factors.astype(np.float32)


class Models:
    """One random set of the blend's parts, to put under any blend."""

    def __init__(self, seed: int, ties: bool = False, along: float = 0.0) -> None:
        rng = np.random.default_rng(seed)
        self.along = np.flatnonzero(rng.random(N_ITEMS) < along)
        self.als = ALS(factors=FACTORS, regularization=0.1)
        self.als.set_factors(factors_of(rng, ties, self.along))
        self.knn = ItemKNN(20, include_self=False).fit(interactions(rng, 1_500, 8))
        self.sknn = SessionKNN(50, 200).fit(interactions(rng, 3_000, 4))
        # A few items trend far more than the rest, as recent counts do.
        trending = rng.lognormal(0.0, 2.0, N_ITEMS) * (rng.random(N_ITEMS) < 0.2)
        self.trending = np.round(trending, 1) if ties else trending

    def personal(self, blend: BlendWeights) -> Personal:
        return Personal(self.als, self.knn, blend, sknn=self.sknn, trending=self.trending)


MODELS = [Models(1), Models(2, ties=True), Models(3, along=1.0)]
BLENDS = [
    BlendWeights(),  # the default: ALS, co-occurrence, repeat
    BlendWeights(1.0, 0.5, 0.5, 0.5, 0.5),  # every signal
    BlendWeights(1.0, 0.0, 0.0, 0.0, 0.0),  # ALS alone
    BlendWeights(1.0, 0.0, 0.0, 2.0, 0.0, recency=2.0),  # ALS and trending, recency
    BlendWeights(0.2, 1.0, 1.0, 0.1, 1.0),  # ALS a small part
]


def expected(
    personal: Personal,
    history: np.ndarray,
    weights: np.ndarray,
    blocked: set[int],
    repeat: bool,
    take: int,
) -> list[tuple[int, float, str | None]]:
    scores = personal.scores(history, weights, repeat=repeat)
    scores[list(blocked)] = -np.inf
    return list(itertools.islice(ranked(scores), take))


def history_of(rng: np.random.Generator, length: int) -> np.ndarray:
    """A history drawn by popularity (as visitors draw), an item sometimes twice."""
    popularity = 1.0 / np.arange(1, N_ITEMS + 1) ** 0.8
    return rng.choice(N_ITEMS, length, p=popularity / popularity.sum())


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    models=st.sampled_from(MODELS),
    blend=st.sampled_from(BLENDS),
    length=st.integers(1, 40),
    repeat=st.booleans(),
    block_history=st.booleans(),
    excluded=st.integers(0, 30),
    take=st.sampled_from([1, 10, 64, 65, 300, 1_000, N_ITEMS]),
)
def test_it_walks_as_the_full_scores_rank(
    seed: int,
    models: Models,
    blend: BlendWeights,
    length: int,
    repeat: bool,
    block_history: bool,
    excluded: int,
    take: int,
) -> None:
    rng = np.random.default_rng(seed)
    personal = models.personal(blend)
    history = history_of(rng, length)
    weights = np.where(rng.random(length) < 0.2, 4.0, 1.0)
    blocked = set(rng.integers(0, N_ITEMS, excluded).tolist())
    if block_history:
        blocked |= set(history.tolist())
    walk = BestFirst(personal, history, weights, blocked, repeat=repeat)
    assert list(itertools.islice(walk, take)) == expected(
        personal, history, weights, blocked, repeat, take
    )


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    blend=st.sampled_from(BLENDS),
    length=st.integers(1, 10),
    take=st.sampled_from([1, 10, 64, 300]),
)
def test_scores_at_their_bounds_walk_as_the_full_scores_rank(
    seed: int, blend: BlendWeights, length: int, take: int
) -> None:
    # With every item along one direction, a history folds in to a vector along it
    # too, and every ALS score is its bound, +-|u| |v|, up to float32 rounding.
    models = MODELS[2]
    history = np.random.default_rng(seed).integers(0, N_ITEMS, length)
    personal = models.personal(blend)
    walk = BestFirst(personal, history, np.ones(length), set(), repeat=True)
    assert list(itertools.islice(walk, take)) == expected(
        personal, history, np.ones(length), set(), True, take
    )


@pytest.mark.parametrize("blend", BLENDS)
def test_a_showcase_stops_short_of_the_catalog(blend: BlendWeights) -> None:
    # Else the property above would only ever test the fall-back to the full pass.
    # (How small a part a trained model needs: test_serving_reference.py. Along one
    # direction, every ALS score is its bound: no bound leaves an item out.)
    for models in MODELS[:2]:
        personal = models.personal(blend)
        rng = np.random.default_rng(7)
        parts = []
        for _ in range(20):
            history = history_of(rng, 20)
            walk = BestFirst(personal, history, np.ones(20), set(history.tolist()), repeat=False)
            list(itertools.islice(walk, 30))
            parts.append(walk.scored / N_ITEMS)
        assert np.median(parts) < 0.5


def test_a_walk_to_the_end_is_every_reached_item_once() -> None:
    personal = MODELS[1].personal(BLENDS[1])
    history = history_of(np.random.default_rng(3), 12)
    walk = BestFirst(personal, history, np.ones(12), set(), repeat=True)
    picks = list(walk)
    assert picks == expected(personal, history, np.ones(12), set(), True, N_ITEMS)
    assert len(picks) == N_ITEMS  # ALS reaches every item
    assert walk.scored == N_ITEMS


def test_a_history_als_knows_nothing_of_ranks_as_the_full_pass_does() -> None:
    # Zero factors fold in to a zero vector: no positive ALS evidence, the full pass
    # ranks by the other signals alone (with ALS at 0), and so must the walk.
    models = MODELS[0]
    unknown = np.flatnonzero(models.als.norms == 0)[:2]
    personal = models.personal(BLENDS[1])
    walk = BestFirst(personal, unknown, np.ones(2), set(), repeat=True)
    assert list(itertools.islice(walk, 50)) == expected(
        personal, unknown, np.ones(2), set(), True, 50
    )


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_weights_too_large_for_float32_rank_as_the_full_pass_does() -> None:
    # Their confidences overflow to inf and the fold-in is no number: no bound holds.
    personal = MODELS[0].personal(BLENDS[0])
    history = np.array([3, 9])
    weights = np.array([1e300, 1.0])
    walk = BestFirst(personal, history, weights, set(), repeat=True)
    assert list(itertools.islice(walk, 20)) == expected(personal, history, weights, set(), True, 20)


def test_a_walk_left_unfinished_is_freed_at_once() -> None:
    # A walk is a generator; one that made a reference cycle with its state would
    # hold its arrays until the cyclic GC ran, and its rounds (every few dozen
    # queries) doubled those queries' latency.
    personal = MODELS[0].personal(BLENDS[1])
    history = history_of(np.random.default_rng(5), 20)
    gc.disable()
    try:
        walk = BestFirst(personal, history, np.ones(20), set(), repeat=True)
        assert len(list(itertools.islice(walk, 10))) == 10
        alive = weakref.ref(walk)
        del walk
        assert alive() is None
    finally:
        gc.enable()


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 10_000), count=st.integers(0, 300), start=st.integers(0, N_ITEMS))
def test_a_few_items_score_bit_for_bit_as_in_the_whole_product(
    seed: int, count: int, start: int
) -> None:
    als = MODELS[0].als
    rng = np.random.default_rng(seed)
    vector = rng.normal(size=FACTORS).astype(np.float32)
    every = als.product(vector)
    items = rng.integers(0, N_ITEMS, count)
    assert np.array_equal(als.partial(vector, items), every[items])
    stop = min(start + count, N_ITEMS)
    assert np.array_equal(als.longest(vector, start, stop), every[als.by_norm[start:stop]])
