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


def user_split(
    interactions: Sequence[Interaction], test_fraction: float = 0.2, *, repeats: bool = True
) -> UserSplit:
    """Global time split: the last `test_fraction` of interactions (by time) are the
    test part; returning users' later items are what a model should predict. Items
    bought again count (repeat purchase is real behaviour a store wants predicted)
    unless `repeats` is off: then only items new to the user are, and users with
    none are left out."""
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
    if not repeats:
        had: dict[str, set[str]] = {}
        for r in train:
            had.setdefault(r.visitor_id, set()).add(r.item_id)
        relevant = {u: new for u, items in relevant.items() if (new := items - had[u])}
    return UserSplit(train, relevant, cut)


@dataclasses.dataclass
class SessionSplit:
    """`train`: interactions of sessions that started before the cut, up to the cut;
    for each test session (started at or after it), `history`: its events up to its
    split point, and `relevant`: the items it went on to touch (with `repeats`, also
    those it had touched before and took again; without, only new ones)."""

    train: list[Interaction]
    history: dict[str, list[Interaction]]
    relevant: dict[str, set[str]]
    cut_ms: int


def session_split(
    interactions: Sequence[Interaction],
    test_fraction: float = 0.2,
    history_fraction: float = 0.5,
    *,
    repeats: bool = False,
) -> SessionSplit:
    """Session protocol, for anonymous traffic: the model is trained on sessions that
    started before the cut and never sees a test session's own past; each test session
    with at least two distinct items is cut in time at `history_fraction` of its
    distinct items (at least one on each side), and the model predicts the rest from
    the first part alone. Events after the cut of sessions that started before it
    belong to neither part, so nothing from the test period leaks into training.
    `repeats`: first-part items touched again after the split point are relevant too
    (for a store whose answers may show a visitor's own items)."""
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction: must be between 0 and 1, got {test_fraction}")
    if not 0 < history_fraction < 1:
        raise ValueError(f"history_fraction: must be between 0 and 1, got {history_fraction}")
    if not interactions:
        raise ValueError("interactions: empty")
    ordered = sorted(interactions, key=lambda r: r.timestamp_ms)  # stable: file order on ties
    starts: dict[str, int] = {}
    for r in ordered:
        starts.setdefault(r.session_id, r.timestamp_ms)
    times = np.array(sorted(starts.values()))
    cut = int(np.quantile(times, 1 - test_fraction))
    train = [r for r in ordered if starts[r.session_id] < cut and r.timestamp_ms < cut]
    events: dict[str, list[Interaction]] = {}
    for r in ordered:
        if starts[r.session_id] >= cut:
            events.setdefault(r.session_id, []).append(r)
    history: dict[str, list[Interaction]] = {}
    relevant: dict[str, set[str]] = {}
    for session, records in events.items():
        distinct = list(dict.fromkeys(r.item_id for r in records))
        if len(distinct) < 2:
            continue
        split_at = min(max(1, round(len(distinct) * history_fraction)), len(distinct) - 1)
        first = set(distinct[:split_at])
        boundary = next(i for i, r in enumerate(records) if r.item_id not in first)
        history[session] = records[:boundary]
        later = {r.item_id for r in records[boundary:]} if repeats else set()
        relevant[session] = set(distinct[split_at:]) | later
    return SessionSplit(train, history, relevant, cut)
