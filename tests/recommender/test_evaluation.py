"""Ranking metrics against values computed by hand on tiny examples."""

from __future__ import annotations

import math

import pytest

from recommender.evaluation import (
    coverage,
    evaluate,
    hit_rate_at_k,
    map_at_k,
    mean_popularity,
    ndcg_at_k,
    precision_at_k,
    recall_at_k,
)

# Relevant: a and c. Recommended: a (hit), b, c (hit), d.
RECOMMENDED = ["a", "b", "c", "d"]
RELEVANT = {"a", "c"}


def test_precision_recall_hit_rate() -> None:
    assert precision_at_k(RECOMMENDED, RELEVANT, 3) == pytest.approx(2 / 3)
    assert precision_at_k(RECOMMENDED, RELEVANT, 1) == 1.0
    assert recall_at_k(RECOMMENDED, RELEVANT, 3) == 1.0
    assert recall_at_k(RECOMMENDED, RELEVANT, 2) == pytest.approx(1 / 2)
    assert recall_at_k(RECOMMENDED, {"a", "c", "x", "y"}, 2) == pytest.approx(1 / 2)
    assert hit_rate_at_k(RECOMMENDED, RELEVANT, 1) == 1.0
    assert hit_rate_at_k(["b", "d"], RELEVANT, 2) == 0.0


def test_ndcg_by_hand() -> None:
    # DCG = 1/log2(2) + 1/log2(4) = 1.5; ideal = 1/log2(2) + 1/log2(3)
    assert ndcg_at_k(RECOMMENDED, RELEVANT, 3) == pytest.approx(1.5 / (1 + 1 / math.log2(3)))
    assert ndcg_at_k(["a", "c"], RELEVANT, 2) == pytest.approx(1.0)
    assert ndcg_at_k(["b", "d"], RELEVANT, 2) == 0.0


def test_map_by_hand() -> None:
    # hits at 1 and 3: (1/1 + 2/3) / min(3, 2)
    assert map_at_k(RECOMMENDED, RELEVANT, 3) == pytest.approx((1 + 2 / 3) / 2)
    assert map_at_k(["b", "a"], {"a"}, 2) == pytest.approx(1 / 2)


def test_coverage_and_popularity() -> None:
    lists = [["a", "b"], ["a", "c"]]
    assert coverage(lists, catalog_size=10, k=2) == pytest.approx(3 / 10)
    assert coverage(lists, catalog_size=10, k=1) == pytest.approx(1 / 10)
    assert mean_popularity(lists, {"a": 0.5, "b": 0.1}, k=2) == pytest.approx((0.5 + 0.1 + 0.5) / 4)


def test_evaluate_averages_over_scorable_users() -> None:
    result = evaluate(
        {"u1": RECOMMENDED, "u2": ["x"], "u3": ["a"]},
        {"u1": RELEVANT, "u2": {"x", "y"}, "u3": set()},  # u3 cannot be scored
        k=2,
        catalog_size=6,
        popularity={"a": 1.0},
    )
    assert result["users"] == 2
    assert result["precision@2"] == pytest.approx((1 / 2 + 1 / 2) / 2)
    assert result["hit_rate@2"] == 1.0
    assert result["recall@2"] == pytest.approx((1 / 2 + 1 / 2) / 2)


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="k: must be at least 1"):
        precision_at_k(RECOMMENDED, RELEVANT, 0)
    with pytest.raises(ValueError, match="relevant: empty"):
        ndcg_at_k(RECOMMENDED, set(), 3)
    with pytest.raises(ValueError, match="nothing to evaluate"):
        evaluate({}, {"u": set()}, k=3, catalog_size=1, popularity={})
