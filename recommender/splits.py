"""Temporal splits for evaluation: the model sees only the past.

Both work on columns (`recommender.columns`): the parts are index arrays over the
interactions, and only the test queries' item sets become Python objects.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping

import numpy as np

from recommender.columns import (
    Columns,
    Interaction,
    as_columns,
    distinct,
    first_positions,
    first_seen,
    group_starts,
    is_in,
)


def _grouped(codes: np.ndarray, size: int, by: np.ndarray | None = None) -> np.ndarray:
    """Positions that put `codes` into runs of equal codes, the runs in the order
    their code first appears (in `by`, a sequence holding every code, if given)
    and each run in its original order."""
    rank = np.empty(size, dtype=np.int64)
    seen = first_seen(codes if by is None else by)
    rank[seen] = np.arange(len(seen))
    grouped: np.ndarray = np.argsort(rank[codes], kind="stable")
    return grouped


def _sets(
    groups: np.ndarray,
    items: np.ndarray,
    group_ids: list[str],
    item_ids: list[str],
    size: int,
    by: np.ndarray | None = None,
) -> dict[str, set[str]]:
    """Each group's set of item ids, groups in the order they first appear (in
    `by`, if given)."""
    if not len(groups):
        return {}
    order = _grouped(groups, size, by)
    groups, names = groups[order], [item_ids[i] for i in items[order].tolist()]
    bounds = group_starts(groups).tolist()
    heads = groups[bounds[:-1]].tolist()
    return {
        group_ids[g]: set(names[a:b])
        for g, a, b in zip(heads, bounds[:-1], bounds[1:], strict=True)
    }


@dataclasses.dataclass
class UserSplit:
    """`train`: interactions before the cut; `relevant`: for each user seen in
    training, the items they interacted with after it."""

    train: Columns
    relevant: dict[str, set[str]]
    cut_ms: int


def user_split(
    interactions: Iterable[Interaction] | Columns,
    test_fraction: float = 0.2,
    *,
    repeats: bool = True,
) -> UserSplit:
    """Global time split: the last `test_fraction` of interactions (by time) are the
    test part; returning users' later items are what a model should predict. Items
    bought again count (repeat purchase is real behaviour a store wants predicted)
    unless `repeats` is off: then only items new to the user are, and users with
    none are left out."""
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction: must be between 0 and 1, got {test_fraction}")
    columns = as_columns(interactions)
    if not len(columns):
        raise ValueError("interactions: empty")
    cut = int(np.quantile(columns.ts, 1 - test_fraction))
    before = columns.ts < cut
    known = np.zeros(len(columns.visitors), dtype=bool)
    known[columns.visitor[before]] = True
    later = np.flatnonzero(~before & known[columns.visitor])
    visitor, item = columns.visitor[later], columns.item[later]
    returning = visitor  # the order of `relevant`: as they return
    if not repeats:
        n_items = len(columns.items)
        had = distinct(columns.visitor[before].astype(np.int64) * n_items + columns.item[before])
        new = ~is_in(visitor.astype(np.int64) * n_items + item, had)
        visitor, item = visitor[new], item[new]
    ids = columns.visitors.ids
    relevant = _sets(visitor, item, ids, columns.items.ids, len(ids), returning)
    return UserSplit(columns.take(np.flatnonzero(before)), relevant, cut)


class SessionStarts(Mapping[str, list[Interaction]]):
    """Each test session's events up to its split point, as records, made when
    asked for (only the sampled sessions ever are)."""

    def __init__(self, columns: Columns, spans: dict[str, tuple[int, int]], order: np.ndarray):
        self._columns = columns
        self._spans = spans
        self._order = order

    def __getitem__(self, session: str) -> list[Interaction]:
        start, stop = self._spans[session]
        return list(self._columns.take(self._order[start:stop]))

    def __iter__(self) -> Iterator[str]:
        return iter(self._spans)

    def __len__(self) -> int:
        return len(self._spans)


@dataclasses.dataclass
class SessionSplit:
    """`train`: interactions of sessions that started before the cut, up to the cut;
    for each test session (started at or after it), `history`: its events up to its
    split point, and `relevant`: the items it went on to touch (with `repeats`, also
    those it had touched before and took again; without, only new ones)."""

    train: Columns
    history: Mapping[str, list[Interaction]]
    relevant: dict[str, set[str]]
    cut_ms: int


def session_split(
    interactions: Iterable[Interaction] | Columns,
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
    columns = as_columns(interactions)
    if not len(columns):
        raise ValueError("interactions: empty")
    by_time = np.argsort(columns.ts, kind="stable")  # stable: stream order on ties
    n_sessions = len(columns.sessions)
    starts = np.full(n_sessions, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(starts, columns.session, columns.ts)
    cut = int(np.quantile(np.sort(starts[distinct(columns.session)]), 1 - test_fraction))
    started = starts[columns.session[by_time]]
    train = by_time[(started < cut) & (columns.ts[by_time] < cut)]

    # Test sessions' events: grouped by session (sessions by their first event),
    # in time order within each.
    test = by_time[started >= cut]
    test = test[_grouped(columns.session[test], n_sessions)]
    session, item = columns.session[test], columns.item[test]
    bounds = group_starts(session)
    heads, lengths = bounds[:-1], np.diff(bounds)
    group = np.repeat(np.arange(len(heads)), lengths)
    # An item's first event in its session, and its rank among the session's items.
    key = session.astype(np.int64) * len(columns.items) + item
    is_first = np.zeros(len(test), dtype=bool)
    is_first[first_positions(key)] = True
    firsts = np.cumsum(is_first)
    rank = firsts - 1 - (firsts[heads] - 1)[group]
    items_in = np.add.reduceat(is_first, heads) if len(heads) else np.zeros(0, dtype=np.int64)
    split_at = np.minimum(np.maximum(1, np.round(items_in * history_fraction)), items_in - 1)
    scored = items_in >= 2
    # The history ends at the first event of the first item after the split point.
    ends = is_first & (rank == split_at[group]) & scored[group]
    boundary = np.zeros(len(heads), dtype=np.int64)
    boundary[group[ends]] = np.flatnonzero(ends)
    after = np.arange(len(test)) >= boundary[group]
    wanted = scored[group] & (after if repeats else is_first & (rank >= split_at[group]))
    ids = columns.sessions.ids
    relevant = _sets(session[wanted], item[wanted], ids, columns.items.ids, n_sessions)
    spans = {
        ids[code]: (a, b)
        for code, a, b in zip(
            session[heads[scored]].tolist(),
            heads[scored].tolist(),
            boundary[scored].tolist(),
            strict=True,
        )
    }
    return SessionSplit(columns.take(train), SessionStarts(columns, spans, test), relevant, cut)
