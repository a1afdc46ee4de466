"""Ids to dense indices: the rows and columns of every matrix and model."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np


class IdMap:
    """Ids to dense indices, append-only: an id keeps its index when new ids arrive,
    so factors of a model trained earlier still line up with a newer matrix."""

    def __init__(self, ids: Iterable[str] = ()) -> None:
        self._ids: list[str] = []
        self._index: dict[str, int] = {}
        for id_ in ids:
            self.add(id_)

    @classmethod
    def of_index(cls, index: dict[str, int]) -> IdMap:
        """The map of `index` (ids to 0, 1, 2... in insertion order), taken over as is:
        a reader that numbered ids itself does not pay for numbering them twice."""
        made = cls()
        made._index = index
        made._ids = list(index)
        return made

    def __getstate__(self) -> list[str]:
        return self._ids  # the index follows from the ids: half the pickle

    def __setstate__(self, ids: list[str]) -> None:
        self._ids = ids
        self._index = dict(zip(ids, range(len(ids)), strict=True))

    def add(self, id_: str) -> int:
        index = self._index.get(id_)
        if index is None:
            index = self._index[id_] = len(self._ids)
            self._ids.append(id_)
        return index

    def add_all(self, ids: list[str]) -> list[int]:
        """`add` for each of `ids` (distinct), in order: their indices, with the new
        ones appended in that order, at C speed rather than a call an id."""
        index = self._index
        fresh = [id_ for id_ in ids if id_ not in index]
        index.update(zip(fresh, range(len(self._ids), len(self._ids) + len(fresh)), strict=True))
        self._ids.extend(fresh)
        return [index[id_] for id_ in ids]

    def get(self, id_: str) -> int | None:
        return self._index.get(id_)

    @property
    def lookup(self) -> Callable[[str], int | None]:
        """`get` without a method call in between, for hot loops."""
        return self._index.get

    def id_of(self, index: int) -> str:
        return self._ids[index]

    @property
    def ids(self) -> list[str]:
        """Every id, by index (the map's own list: not to be changed)."""
        return self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, id_: object) -> bool:
        return id_ in self._index

    def to_array(self) -> np.ndarray:
        return np.array(self._ids, dtype=str)

    @classmethod
    def from_array(cls, array: np.ndarray) -> IdMap:
        return cls(str(x) for x in array)
