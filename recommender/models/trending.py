"""`trending`: what is rising now, not what sold best all year.

Each interaction counts `weight x 0.5^(age / half_life)`, so yesterday's spike
outranks last quarter's bestseller. Two half-lives are blended — hours (what is hot
today) and days (what has been building this week) — so a store with little
traffic still gets a stable list while a busy one reacts within hours. Per-category
trending is the same ranking restricted to a category (a rule, see `serving.py`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from recommender.interactions import DEFAULT_WEIGHTS, IdMap, Interaction

HOUR_MS = 3_600_000


def trending_scores(
    interactions: Iterable[Interaction],
    items: IdMap,
    now_ms: int,
    *,
    half_lives_hours: tuple[float, ...] = (6.0, 72.0),
    horizon_days: float = 14.0,
    weights: Mapping[str, float] = DEFAULT_WEIGHTS,
) -> np.ndarray:
    """A score per item of `items` (unknown items are skipped): the mean over the
    half-lives of each one's share-normalised decayed counts. Events older than
    `horizon_days` or in the future of `now_ms` do not count."""
    if not half_lives_hours:  # the mean over none would be 0 / 0
        raise ValueError("half_lives_hours: at least one half-life is needed")
    for half_life in half_lives_hours:
        if not half_life > 0:
            raise ValueError(f"half_lives_hours: must be positive, got {half_life}")
    oldest = now_ms - horizon_days * 24 * HOUR_MS
    index: list[int] = []
    ages: list[float] = []
    values: list[float] = []
    for record in interactions:
        weight = weights.get(record.event)
        if weight is None or not weight > 0 or not oldest <= record.timestamp_ms <= now_ms:
            continue
        column = items.get(record.item_id)
        if column is None:
            continue
        index.append(column)
        ages.append((now_ms - record.timestamp_ms) / HOUR_MS)
        values.append(weight)
    scores = np.zeros(len(items))
    if not index:
        return scores
    at = np.asarray(index)
    age = np.asarray(ages)
    value = np.asarray(values)
    # Ages from the newest event: each half-life's counts are normalised, so the shares
    # are the same, but a short half-life cannot decay every event to 0.0 (0 / 0).
    age -= age.min()
    for half_life in half_lives_hours:
        decayed = np.bincount(
            at, weights=value * np.power(0.5, age / half_life), minlength=len(items)
        )
        scores += decayed / decayed.sum()
    return scores / len(half_lives_hours)
