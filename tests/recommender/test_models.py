"""Every model honours the same contract; each baseline does what it says."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from recommender.models import ItemKNN, Popular, Recommender

MODELS = [Popular, lambda: ItemKNN(neighbours=3)]


def random_matrix(seed: int, users: int = 30, items: int = 12) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    dense = (rng.random((users, items)) < 0.25) * rng.integers(1, 9, (users, items))
    return sp.csr_matrix(dense.astype(np.float32))


@pytest.mark.parametrize("make", MODELS)
@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    history=st.lists(st.integers(0, 11), max_size=5),
    exclude=st.lists(st.integers(0, 11), max_size=8),
    n=st.integers(1, 15),
)
def test_contract(make, seed, history, exclude, n) -> None:
    model: Recommender = make().fit(random_matrix(seed))
    got = model.recommend(np.array(history, dtype=np.int64), n, exclude=np.array(exclude))
    items = [i for i, _ in got]
    assert len(got) <= n
    assert not set(items) & set(exclude)  # filters are never violated
    assert len(items) == len(set(items))
    scores = [s for _, s in got]
    assert scores == sorted(scores, reverse=True)
    assert all(0 <= i < 12 for i in items)


def test_popular_counts_users_not_weights() -> None:
    # item 2: one user with a huge weight; item 0: two users; item 1: three users
    matrix = sp.csr_matrix(np.array([[1, 1, 90], [1, 1, 0], [0, 1, 0]], dtype=np.float32))
    model = Popular().fit(matrix)
    assert model.recommend(np.array([]), 3) == [(1, 3.0), (0, 2.0), (2, 1.0)]
    assert model.recommend(np.array([]), 2, exclude=np.array([1])) == [(0, 2.0), (2, 1.0)]


def test_item_knn_finds_items_bought_together() -> None:
    # items 0 and 1 always together; 2 and 3 together; 4 alone
    matrix = sp.csr_matrix(
        np.array(
            [[1, 1, 0, 0, 0], [1, 1, 0, 0, 0], [0, 0, 1, 1, 0], [0, 0, 1, 1, 1]], dtype=np.float32
        )
    )
    model = ItemKNN(include_self=False).fit(matrix)
    assert model.recommend(np.array([0]), 1)[0][0] == 1
    assert model.recommend(np.array([2]), 1)[0][0] == 3
    assert model.recommend(np.array([0]), 5, exclude=np.array([0])) == [(1, pytest.approx(1.0))]
    assert model.similarity[0, 1] == pytest.approx(1.0)  # cosine of identical columns
    assert model.recommend(np.array([], dtype=np.int64), 3) == []  # no evidence, no guess


def test_item_knn_keeps_only_the_nearest_neighbours() -> None:
    model = ItemKNN(neighbours=2, include_self=False).fit(random_matrix(1, users=200, items=40))
    assert np.diff(model.similarity.indptr).max() == 2
    with_self = ItemKNN(neighbours=2).fit(random_matrix(1, users=200, items=40))
    assert np.diff(with_self.similarity.indptr).max() == 3  # the two nearest and itself
    with pytest.raises(ValueError, match="neighbours: must be at least 1"):
        ItemKNN(neighbours=0)


def test_item_knn_counts_an_item_as_its_own_neighbour_by_default() -> None:
    # Repeat purchases: a visitor's own items rank first, then their neighbours.
    matrix = sp.csr_matrix(np.array([[1, 1, 0], [1, 1, 0], [0, 1, 1]], dtype=np.float32))
    with_self = ItemKNN().fit(matrix)
    assert [i for i, _ in with_self.recommend(np.array([0]), 2)] == [0, 1]
    without = ItemKNN(include_self=False).fit(matrix)
    assert [i for i, _ in without.recommend(np.array([0]), 2)] == [1]
