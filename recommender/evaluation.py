"""Ranking metrics at k, computed the same way for every model and baseline.

Each metric takes, per test user (or test session), the ranked list a model
recommended and the set of items the user went on to interact with. Users with
nothing relevant are skipped by the caller (they cannot be scored).

Definitions (k is the cut-off; rel(i) is 1 when the i-th recommendation is relevant):
- precision@k = hits in the top k / k
- recall@k    = hits in the top k / min(k, |relevant|)  (so a perfect list scores 1)
- hit rate@k  = 1 when at least one of the top k is relevant
- NDCG@k      = sum rel(i) / log2(i + 1) over i = 1..k, divided by the same sum for
                an ideal list (all relevant items first)
- MAP@k       = mean over the relevant positions i <= k of precision@i, divided by
                min(k, |relevant|)
- coverage    = distinct items recommended to anyone / catalog size
- popularity  = mean training popularity (share of users who interacted) of what is
                recommended: lower means less "just the bestsellers"
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence


def _check_k(k: int) -> None:
    if k < 1:
        raise ValueError(f"k: must be at least 1, got {k}")


def precision_at_k(recommended: Sequence[str], relevant: set[str], k: int) -> float:
    _check_k(k)
    return sum(1 for item in recommended[:k] if item in relevant) / k


def recall_at_k(recommended: Sequence[str], relevant: set[str], k: int) -> float:
    _check_k(k)
    if not relevant:
        raise ValueError("relevant: empty; a user with nothing relevant cannot be scored")
    hits = sum(1 for item in recommended[:k] if item in relevant)
    return hits / min(k, len(relevant))


def hit_rate_at_k(recommended: Sequence[str], relevant: set[str], k: int) -> float:
    _check_k(k)
    return 1.0 if any(item in relevant for item in recommended[:k]) else 0.0


def ndcg_at_k(recommended: Sequence[str], relevant: set[str], k: int) -> float:
    _check_k(k)
    if not relevant:
        raise ValueError("relevant: empty; a user with nothing relevant cannot be scored")
    dcg = sum(
        1.0 / math.log2(position + 2)
        for position, item in enumerate(recommended[:k])
        if item in relevant
    )
    ideal = sum(1.0 / math.log2(position + 2) for position in range(min(k, len(relevant))))
    return dcg / ideal


def map_at_k(recommended: Sequence[str], relevant: set[str], k: int) -> float:
    _check_k(k)
    if not relevant:
        raise ValueError("relevant: empty; a user with nothing relevant cannot be scored")
    hits = 0
    total = 0.0
    for position, item in enumerate(recommended[:k], start=1):
        if item in relevant:
            hits += 1
            total += hits / position
    return total / min(k, len(relevant))


def coverage(recommendations: Iterable[Sequence[str]], catalog_size: int, k: int) -> float:
    if catalog_size < 1:
        raise ValueError(f"catalog_size: must be at least 1, got {catalog_size}")
    distinct = {item for recommended in recommendations for item in recommended[:k]}
    return len(distinct) / catalog_size


def mean_popularity(
    recommendations: Iterable[Sequence[str]], popularity: Mapping[str, float], k: int
) -> float:
    shown = [
        popularity.get(item, 0.0) for recommended in recommendations for item in recommended[:k]
    ]
    return sum(shown) / len(shown) if shown else 0.0


def evaluate(
    recommendations: Mapping[str, Sequence[str]],
    relevant: Mapping[str, set[str]],
    *,
    k: int,
    catalog_size: int,
    popularity: Mapping[str, float],
) -> dict[str, float]:
    """Every metric, averaged over the users that have something relevant."""
    _check_k(k)
    users = [user for user, items in relevant.items() if items]
    if not users:
        raise ValueError("relevant: no user has a relevant item; nothing to evaluate")
    lists = [recommendations.get(user, ()) for user in users]
    per_user = {
        "precision": precision_at_k,
        "recall": recall_at_k,
        "ndcg": ndcg_at_k,
        "map": map_at_k,
        "hit_rate": hit_rate_at_k,
    }
    metrics = {
        f"{name}@{k}": sum(
            metric(recommended, relevant[user], k)
            for user, recommended in zip(users, lists, strict=True)
        )
        / len(users)
        for name, metric in per_user.items()
    }
    metrics["coverage"] = coverage(lists, catalog_size, k)
    metrics["mean_popularity"] = mean_popularity(lists, popularity, k)
    metrics["users"] = float(len(users))
    return metrics
