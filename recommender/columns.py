"""Interactions as records and as columns.

An `Interaction` is one visitor touching one item. Training reads millions of
them, so it holds them as `Columns` instead: one numpy array per field (the time,
and codes of the visitor, the session, the event name and the item) and the maps
from those codes back to ids: 22 bytes an interaction rather than a Python object
of five strings, and sessions, weights, trending and baskets are array operations
over them rather than loops. Columns iterate as records, so code that wants
records (a CSV, a test's expectations) still gets them.
"""

from __future__ import annotations

import array
import dataclasses
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TypeVar

import numpy as np

from recommender.ids import IdMap

T = TypeVar("T")


@dataclasses.dataclass(frozen=True, slots=True)
class Interaction:
    """One visitor touching one item: an event, reduced to what the models use."""

    timestamp_ms: int
    visitor_id: str
    session_id: str
    event: str
    item_id: str


@dataclasses.dataclass(frozen=True, eq=False)
class Columns:
    """Interactions as arrays of the same length, ids as codes into the maps."""

    ts: np.ndarray  # int64 ms
    visitor: np.ndarray  # int32 codes into `visitors`
    session: np.ndarray  # int32 codes into `sessions`
    event: np.ndarray  # int16 codes into `events` (a CSV may name many kinds)
    item: np.ndarray  # int32 codes into `items`
    visitors: IdMap
    sessions: IdMap
    events: IdMap
    items: IdMap

    @classmethod
    def coded(
        cls,
        ts: array.array[int],
        visitor: array.array[int],
        session: array.array[int],
        event: array.array[int],
        item: array.array[int],
        codes: tuple[dict[str, int], dict[str, int], dict[str, int], dict[str, int]],
    ) -> Columns:
        """Columns from typed arrays (`array` codes q, i, i, h, i: read without a
        copy) and the visitor, session, event and item codes they were given."""
        visitors, sessions, events, items = codes
        return cls(
            np.frombuffer(ts, dtype=np.int64),
            np.frombuffer(visitor, dtype=np.int32),
            np.frombuffer(session, dtype=np.int32),
            np.frombuffer(event, dtype=np.int16),
            np.frombuffer(item, dtype=np.int32),
            IdMap.of_index(visitors),
            IdMap.of_index(sessions),
            IdMap.of_index(events),
            IdMap.of_index(items),
        )

    def __len__(self) -> int:
        return len(self.ts)

    def then(self, later: Columns) -> Columns:
        """These interactions followed by `later`'s, coded as reading both in turn
        would code them: `later`'s ids new to these maps come after, in the order
        they first appear there. The maps are extended in place."""
        codes = [
            recode(getattr(later, name), getattr(later, maps), getattr(self, maps), add=True)
            for name, maps in (
                ("visitor", "visitors"),
                ("session", "sessions"),
                ("event", "events"),
                ("item", "items"),
            )
        ]
        visitor, session, event, item = (
            np.concatenate([own, more.astype(own.dtype)])
            for own, more in zip(
                (self.visitor, self.session, self.event, self.item), codes, strict=True
            )
        )
        ts = np.concatenate([self.ts, later.ts])
        return Columns(
            ts, visitor, session, event, item, self.visitors, self.sessions, self.events, self.items
        )

    def __iter__(self) -> Iterator[Interaction]:
        visitors, sessions = self.visitors.ids, self.sessions.ids
        events, items = self.events.ids, self.items.ids
        for ts, visitor, session, event, item in zip(
            self.ts.tolist(),
            self.visitor.tolist(),
            self.session.tolist(),
            self.event.tolist(),
            self.item.tolist(),
            strict=True,
        ):
            yield Interaction(ts, visitors[visitor], sessions[session], events[event], items[item])

    def take(self, index: np.ndarray) -> Columns:
        """The interactions at `index` (positions or a mask), in its order; the maps
        are shared, so codes mean the same in both."""
        return dataclasses.replace(
            self,
            ts=self.ts[index],
            visitor=self.visitor[index],
            session=self.session[index],
            event=self.event[index],
            item=self.item[index],
        )

    def per_event(self, value: Callable[[str], T | None], default: T) -> list[T]:
        """`value` of each event name, by event code (`default` where it gives None):
        a table that `np.asarray(table)[columns.event]` spreads over interactions."""
        found = (value(name) for name in self.events.ids)
        return [default if v is None else v for v in found]

    def is_event(self, names: Iterable[str]) -> np.ndarray:
        """A mask: the interactions whose event is one of `names`."""
        wanted = set(names)
        table = np.array([name in wanted for name in self.events.ids], dtype=bool)
        mask: np.ndarray = table[self.event]
        return mask


def as_columns(interactions: Iterable[Interaction] | Columns) -> Columns:
    """`interactions` as columns (columns are returned as they are)."""
    if isinstance(interactions, Columns):
        return interactions
    visitors: dict[str, int] = {}
    sessions: dict[str, int] = {}
    events: dict[str, int] = {}
    items: dict[str, int] = {}
    ts, visitor, session = array.array("q"), array.array("i"), array.array("i")
    event, item = array.array("h"), array.array("i")
    # setdefault's default is worked out before the call: a new id gets the next code.
    for r in interactions:
        ts.append(r.timestamp_ms)
        visitor.append(visitors.setdefault(r.visitor_id, len(visitors)))
        session.append(sessions.setdefault(r.session_id, len(sessions)))
        event.append(events.setdefault(r.event, len(events)))
        item.append(items.setdefault(r.item_id, len(items)))
    return Columns.coded(ts, visitor, session, event, item, (visitors, sessions, events, items))


def distinct(values: np.ndarray) -> np.ndarray:
    """The distinct values, ascending. A sort: on millions of values `np.unique`
    hashes, several times slower."""
    ordered = np.sort(values)
    heads = np.ones(len(ordered), dtype=bool)
    np.not_equal(ordered[1:], ordered[:-1], out=heads[1:])
    kept: np.ndarray = ordered[heads]
    return kept


def first_positions(values: np.ndarray) -> np.ndarray:
    """Where each distinct value first occurs, by value (ascending)."""
    if len(values) and values.dtype.kind in "iu":
        low, high = int(values.min()), int(values.max())
        if low >= 0 and high < 2 * len(values) + 1024:
            # Codes (dense small integers): the least position per value in a table
            # by value, linear where the sort is not (0.05 against 0.6 s at 5M).
            first = np.full(high + 1, len(values), dtype=np.int64)
            np.minimum.at(first, values, np.arange(len(values)))
            found: np.ndarray = first[first < len(values)]
            return found
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    heads = np.ones(len(ordered), dtype=bool)
    np.not_equal(ordered[1:], ordered[:-1], out=heads[1:])
    positions: np.ndarray = order[heads]
    return positions


def first_seen(codes: np.ndarray) -> np.ndarray:
    """The distinct values of `codes` in the order they first appear."""
    ordered: np.ndarray = codes[np.sort(first_positions(codes))]
    return ordered


def is_in(values: np.ndarray, among: np.ndarray) -> np.ndarray:
    """A mask: which `values` are in `among` (distinct and ascending)."""
    if not len(among):
        return np.zeros(len(values), dtype=bool)
    at = np.minimum(np.searchsorted(among, values), len(among) - 1)
    found: np.ndarray = among[at] == values
    return found


def renumbered(codes: np.ndarray) -> np.ndarray:
    """`codes` as 0, 1, 2... in the order the values first appear (int64): the
    numbering `recode` into a new map gives, without a map of their ids."""
    if not len(codes):
        return np.zeros(0, dtype=np.int64)
    order = first_seen(codes)
    table = np.empty(int(codes.max()) + 1, dtype=np.int64)
    table[order] = np.arange(len(order))
    numbered: np.ndarray = table[codes]
    return numbered


def recode(codes: np.ndarray, source: IdMap, target: IdMap, *, add: bool) -> np.ndarray:
    """`codes` of `source`'s ids as indices of `target` (int64). With `add`, ids new
    to `target` are appended in the order they first appear in `codes`, as adding
    them one interaction at a time would; without, they become -1."""
    table = np.full(len(source) + 1, -1, dtype=np.int64)
    ids = source.ids
    if add:
        order = first_seen(codes)
        table[order] = target.add_all([ids[code] for code in order.tolist()])
    else:
        get = target.get
        present = distinct(codes)
        found = [get(ids[code]) for code in present.tolist()]
        table[present] = [-1 if index is None else index for index in found]
    recoded: np.ndarray = table[codes]
    return recoded


def grouped_order(groups: np.ndarray, values: np.ndarray) -> np.ndarray:
    """`np.lexsort((values, groups))` of non-negative integer groups and integer
    values: by group, then value, ties in place. As one int64 key where both fit in
    it side by side, which sorts several times faster."""
    if not len(groups):
        return np.zeros(0, dtype=np.int64)
    low = int(values.min())
    value_bits = max(1, (int(values.max()) - low).bit_length())
    group_bits = max(1, int(groups.max()).bit_length())
    if int(groups.min()) < 0 or value_bits + group_bits > 62:
        return np.lexsort((values, groups))
    key = (groups.astype(np.int64) << np.int64(value_bits)) | (values.astype(np.int64) - low)
    order: np.ndarray = np.argsort(key, kind="stable")
    return order


def group_starts(keys: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
    """Where each run of equal values starts in sorted `keys` (one array, or several
    compared together), the end appended: runs are `starts[i]:starts[i + 1]`."""
    columns = [keys] if isinstance(keys, np.ndarray) else list(keys)
    n = len(columns[0])
    change = np.zeros(n, dtype=bool)
    if n:
        change[0] = True
    for column in columns:
        change[1:] |= column[1:] != column[:-1]
    return np.concatenate([np.flatnonzero(change), [n]])
