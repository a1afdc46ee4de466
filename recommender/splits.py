"""Temporal splits for evaluation: the model sees only the past."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from recommender.interactions import Interaction


@dataclasses.dataclass
class UserSplit:
    """`train`: interactions before the cut; `relevant`: for each user seen in
    training, the items they interacted with after it."""

    train: list[Interaction]
    relevant: dict[str, set[str]]
    cut_ms: int


def user_split(interactions: Sequence[Interaction], test_fraction: float = 0.2) -> UserSplit:
    """Global time split: the last `test_fraction` of interactions (by time) are the
    test part; returning users' later items are what a model should predict. Items
    bought again count: repeat purchase is real behaviour a store wants predicted."""
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction: must be between 0 and 1, got {test_fraction}")
    if not interactions:
        raise ValueError("interactions: empty")
    times = np.array([r.timestamp_ms for r in interactions])
    cut = int(np.quantile(times, 1 - test_fraction))
    train = [r for r in interactions if r.timestamp_ms < cut]
    known = {r.visitor_id for r in train}
    relevant: dict[str, set[str]] = {}
    for r in interactions:
        if r.timestamp_ms >= cut and r.visitor_id in known:
            relevant.setdefault(r.visitor_id, set()).add(r.item_id)
    return UserSplit(train, relevant, cut)
