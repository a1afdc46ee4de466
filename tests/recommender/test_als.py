"""ALS: the fold-in answers as implicit's own recalculation does, and weighting options work."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from recommender.models import als
from recommender.models.als import ALS, ItemWeights
from recommender.models.personal import BlendWeights, Personal


def matrix(seed: int = 0, users: int = 300, items: int = 80) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    dense = (rng.random((users, items)) < 0.08) * rng.integers(1, 9, (users, items))
    return sp.csr_matrix(dense.astype(np.float32))


@pytest.fixture(scope="module")
def fitted() -> ALS:
    return ALS(factors=16, regularization=0.1, alpha=1.0, iterations=5, scaling="confidence").fit(
        matrix()
    )


@pytest.mark.parametrize("size", [1, 5, 20])
def test_fold_in_equals_implicits_recalculate_user(fitted: ALS, size: int) -> None:
    from implicit.cpu.als import AlternatingLeastSquares

    rng = np.random.default_rng(size)
    history = np.sort(rng.choice(80, size, replace=False))
    values = rng.integers(1, 9, size).astype(np.float32)
    row = sp.csr_matrix((values, (np.zeros(size, dtype=int), history)), shape=(1, 80))
    with threadpool_limits(1, "blas"):
        reference = AlternatingLeastSquares(factors=16, regularization=0.1, alpha=1.0)
        reference.item_factors = fitted.item_factors
        expected = reference.recalculate_user(0, row)
    got = fitted.fold_in(history, values)
    assert np.abs(expected).max() > 0.01  # a real vector, not zeros on both sides
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-4)


def test_scores_rank_the_items_of_a_planted_group_first() -> None:
    # users 0-99 take items 0-9, users 100-199 take items 10-19
    rows, cols = [], []
    rng = np.random.default_rng(1)
    for user in range(200):
        base = 0 if user < 100 else 10
        for item in rng.choice(10, 4, replace=False):
            rows.append(user)
            cols.append(base + item)
    data = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(200, 20))
    model = ALS(factors=2, iterations=15).fit(data)  # two tastes, two factors
    top = [i for i, _ in model.recommend(np.array([12, 15]), 5, exclude=np.array([12, 15]))]
    assert all(10 <= i < 20 for i in top)
    similar = model.similar_items(3)
    assert similar[:10].mean() > similar[10:].mean()


@pytest.mark.parametrize("scaling", ["confidence", "bm25", "tfidf"])
def test_every_scaling_trains_and_folds_in_consistently(scaling: str) -> None:
    data = matrix(2)
    model = ALS(factors=8, iterations=3, scaling=scaling).fit(data)  # type: ignore[arg-type]
    row = data.getrow(5)
    vector = model.fold_in(row.indices, row.data)
    assert vector.shape == (8,) and np.isfinite(vector).all()
    # The history's confidences are the same numbers training used for that row.
    trained = model.weights.matrix(data).getrow(5).data
    np.testing.assert_allclose(model.weights.history(row.indices, row.data), trained, rtol=1e-6)


def test_bm25_weighs_rare_items_above_bestsellers() -> None:
    data = sp.csr_matrix(np.array([[1, 1], [1, 0], [1, 0], [1, 0]], dtype=np.float32))
    weights = ItemWeights("bm25").fit(data)
    common, rare = weights.history(np.array([0, 1]), np.array([1.0, 1.0]))
    assert rare > common


def test_bad_parameters_name_the_field() -> None:
    with pytest.raises(ValueError, match="factors"):
        ALS(factors=0)
    with pytest.raises(ValueError, match="regularization"):
        ALS(regularization=-1)
    with pytest.raises(ValueError, match="scaling"):
        ItemWeights("log")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="alpha"):
        ItemWeights(alpha=0)
    with pytest.raises(ValueError, match=r"blend\.repeat"):
        BlendWeights(repeat=-1)


def test_empty_history_has_no_evidence(fitted: ALS) -> None:
    assert fitted.recommend(np.array([], dtype=np.int64), 5) == []
    personal = Personal.fitted(matrix(), fitted)
    assert personal.recommend(np.array([], dtype=np.int64), 5) == []


def test_blend_with_only_repeat_returns_the_visitors_own_items(fitted: ALS) -> None:
    personal = Personal.fitted(matrix(), fitted, BlendWeights(als=0, cooccurrence=0, repeat=1))
    got = personal.recommend(np.array([7, 3]), 5, weights=np.array([1.0, 8.0]))
    assert [i for i, _ in got[:2]] == [3, 7]  # heavier first


def test_a_warm_start_converges_in_a_sixth_of_the_iterations() -> None:
    data = matrix(4, users=400, items=60)
    fresh = ALS(factors=8, iterations=15).fit(data)
    warm = ALS(factors=8, iterations=15).fit(data, start=fresh.item_factors)
    ran = max(als.WARM_MIN_ITERATIONS, 15 // als.WARM_DIVISOR)
    assert ran == 2
    cold = ALS(factors=8, iterations=ran).fit(data)  # as many iterations as the warm one ran
    agree_warm = agree_cold = 0.0
    for user in range(0, 400, 10):
        row = data.getrow(user)
        expected = {i for i, _ in fresh.recommend(row.indices, 5, weights=row.data)}
        agree_warm += len(
            expected & {i for i, _ in warm.recommend(row.indices, 5, weights=row.data)}
        )
        agree_cold += len(
            expected & {i for i, _ in cold.recommend(row.indices, 5, weights=row.data)}
        )
    assert agree_warm > agree_cold  # starting near the answer beats starting from noise
    assert agree_warm / (40 * 5) > 0.8
    with pytest.raises(ValueError, match="start: must be items x factors"):
        ALS(factors=8).fit(data, start=np.zeros((3, 8), dtype=np.float32))
