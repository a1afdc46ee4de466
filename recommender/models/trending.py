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

from recommender.columns import Columns, Interaction, as_columns, recode
from recommender.interactions import DEFAULT_WEIGHTS, IdMap

HOUR_MS = 3_600_000


def trending_scores(
    interactions: Iterable[Interaction] | Columns,
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
    columns = as_columns(interactions)
    weight = np.array(columns.per_event(weights.get, 0.0), dtype=np.float64)
    value = weight[columns.event]
    counted = np.flatnonzero((value > 0) & (oldest <= columns.ts) & (columns.ts <= now_ms))
    column = recode(columns.item[counted], columns.items, items, add=False)
    known = column >= 0
    counted, at = counted[known], column[known]
    scores = np.zeros(len(items))
    if not len(at):
        return scores
    age = (now_ms - columns.ts[counted]) / HOUR_MS
    value = value[counted]
    # Ages from the newest event: each half-life's counts are normalised, so the shares
    # are the same, but a short half-life cannot decay every event to 0.0 (0 / 0).
    age -= age.min()
    for half_life in half_lives_hours:
        decayed = np.bincount(
            at, weights=value * np.power(0.5, age / half_life), minlength=len(items)
        )
        scores += decayed / decayed.sum()
    return scores / len(half_lives_hours)
