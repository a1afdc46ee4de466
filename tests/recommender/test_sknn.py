"""Session-kNN (V-SKNN): the nearest past sessions vote for what came next in them,
vectorised and bounded, and equal to the textbook loop over sessions."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from recommender.interactions import IdMap, Interaction
from recommender.models.sknn import HISTORY_ITEMS, SessionKNN, sessions_matrix


def sessions(*rows: list[int], items: int = 8) -> sp.csr_matrix:
    """Binary sessions x items, oldest session first."""
    dense = np.zeros((len(rows), items), dtype=np.float32)
    for r, row in enumerate(rows):
        dense[r, row] = 1
    return sp.csr_matrix(dense)


def reference(
    matrix: sp.csr_matrix, history: list[int], weights: list[float], k: int, sample: int
) -> np.ndarray:
    """V-SKNN written the slow way: a loop over sessions and items."""
    dense = matrix.toarray() > 0
    n_sessions, n_items = dense.shape
    history = history[-HISTORY_ITEMS:]
    weights = weights[-len(history) :]
    decay = [w * (p + 1) / len(history) for p, w in enumerate(weights)]
    sharing = [s for s in range(n_sessions) if any(dense[s, item] for item in history)]
    candidates = sharing[-sample:]  # the most recent sessions sharing an item
    similarity = {}
    for s in candidates:
        dot = sum(d for item, d in zip(history, decay, strict=True) if dense[s, item])
        similarity[s] = dot / np.sqrt(max(dense[s].sum(), 1))
    nearest = sorted(similarity, key=lambda s: -similarity[s])[:k]
    scores = np.full(n_items, -np.inf)
    for s in nearest:
        if similarity[s] <= 0:
            continue
        for item in np.flatnonzero(dense[s]):
            scores[item] = max(scores[item], 0.0) + similarity[s]
    return scores


def test_the_sessions_most_like_the_history_vote_for_what_came_next() -> None:
    # Item 0 then 1 was followed by 2 twice; 0 alone went on to 5 once.
    model = SessionKNN(neighbours=10).fit(sessions([0, 1, 2], [0, 1, 2], [0, 5], [3, 4]))
    scores = model.scores(np.array([0, 1]))
    assert np.argmax(np.where(np.isin(np.arange(8), [0, 1]), -np.inf, scores)) == 2
    assert scores[2] > scores[5] > -np.inf
    # Items no neighbouring session holds have no evidence.
    assert scores[3] == -np.inf and scores[4] == -np.inf and scores[6] == -np.inf


def test_the_latest_history_item_counts_most() -> None:
    # Sessions with 0 went to 6; sessions with 1 went to 7. The visitor saw 0, then 1.
    model = SessionKNN(neighbours=10).fit(sessions([0, 6], [1, 7]))
    scores = model.scores(np.array([0, 1]))
    assert scores[7] > scores[6]
    assert model.scores(np.array([1, 0]))[6] > model.scores(np.array([1, 0]))[7]


def test_only_the_most_recent_sessions_sharing_an_item_are_compared() -> None:
    # Item 0's old sessions go to 1; its recent ones to 2. With a sample of 2, only
    # the two most recent sessions holding 0 are candidates.
    model = SessionKNN(neighbours=10, sample=2).fit(
        sessions([0, 1], [0, 1], [0, 1], [0, 2], [0, 2])
    )
    scores = model.scores(np.array([0]))
    assert scores[2] > 0 and scores[1] == -np.inf


def test_at_most_k_sessions_vote() -> None:
    model = SessionKNN(neighbours=1).fit(sessions([0, 1, 2], [0, 3]))
    scores = model.scores(np.array([0]))
    # Cosine: the shorter session [0, 3] is the nearest; only it votes.
    assert scores[3] > 0 and scores[1] == -np.inf and scores[2] == -np.inf


def test_max_sessions_keeps_the_most_recent() -> None:
    model = SessionKNN(max_sessions=2).fit(sessions([0, 1], [0, 2], [0, 3]))
    assert model.sessions.shape[0] == 2
    scores = model.scores(np.array([0]))
    assert scores[1] == -np.inf and scores[2] > 0 and scores[3] > 0


def test_an_empty_history_or_an_empty_model_reaches_nothing() -> None:
    model = SessionKNN().fit(sessions([0, 1]))
    assert np.all(model.scores(np.array([], dtype=np.int64)) == -np.inf)
    empty = SessionKNN()
    empty.install(sp.csr_matrix((0, 4), dtype=np.float32))
    assert np.all(empty.scores(np.array([1])) == -np.inf)


@pytest.mark.parametrize("name", ["neighbours", "sample", "max_sessions"])
def test_settings_must_be_positive(name: str) -> None:
    with pytest.raises(ValueError, match=f"sknn.{name}: must be at least 1"):
        SessionKNN(**{name: 0})


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    history=st.lists(st.integers(0, 9), min_size=1, max_size=25),
    k=st.integers(1, 8),
    sample=st.integers(1, 12),
)
def test_equals_the_textbook_loop(seed: int, history: list[int], k: int, sample: int) -> None:
    rng = np.random.default_rng(seed)
    rows = [sorted(set(rng.integers(0, 10, rng.integers(2, 6)).tolist())) for _ in range(30)]
    rows = [r for r in rows if len(r) >= 2]
    matrix = sessions(*rows, items=10)
    weights = rng.integers(1, 5, len(history)).astype(float).tolist()
    model = SessionKNN(neighbours=k, sample=sample).fit(matrix)
    got = model.scores(np.array(history), np.array(weights))
    want = reference(matrix, history, weights, k, sample)
    # Ties at the k-th similarity may be broken either way: compare where both agree
    # on which sessions are in, i.e. when the k-th and the next differ.
    finite = np.isfinite(want)
    if _untied(matrix, history, weights, k, sample):
        assert np.array_equal(np.isfinite(got), finite)
        assert np.allclose(got[finite], want[finite])


def _untied(
    matrix: sp.csr_matrix, history: list[int], weights: list[float], k: int, sample: int
) -> bool:
    """Whether the k-th and (k+1)-th nearest sessions have different similarities."""
    dense = matrix.toarray() > 0
    history = history[-HISTORY_ITEMS:]
    w = weights[-len(history) :]
    decay = [x * (p + 1) / len(history) for p, x in enumerate(w)]
    sharing = [s for s in range(len(dense)) if any(dense[s, item] for item in history)]
    candidates = sharing[-sample:]
    values = sorted(
        (
            sum(d for item, d in zip(history, decay, strict=True) if dense[s, item])
            / np.sqrt(dense[s].sum())
            for s in candidates
        ),
        reverse=True,
    )
    return len(values) <= k or not np.isclose(values[k - 1], values[k])


def test_sessions_matrix_orders_by_last_event_and_drops_single_items() -> None:
    records = [
        Interaction(30, "v1", "late", "view_item", "a"),
        Interaction(10, "v2", "early", "view_item", "a"),
        Interaction(11, "v2", "early", "add_to_cart", "b"),
        Interaction(31, "v1", "late", "view_item", "c"),
        Interaction(20, "v3", "single", "view_item", "b"),
        Interaction(21, "v3", "single", "view_item", "b"),
        Interaction(40, "v4", "unknown", "view_item", "zzz"),
        Interaction(41, "v4", "unknown", "page_view", "a"),
    ]
    items = IdMap(["a", "b", "c"])
    matrix = sessions_matrix(records, items, frozenset({"view_item", "add_to_cart"}))
    # "single" has one distinct item, "unknown" one known item of a counted kind.
    assert matrix.toarray().tolist() == [[1, 1, 0], [1, 0, 1]]
