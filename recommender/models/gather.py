"""Array steps the neighbourhood signals share on every query: reading a few CSR
rows at once and the distinct values of what they hold. Both touch only the few
thousand entries a query reads, never an array the size of the catalog or of the
kept sessions: a pass over one costs more than the rest of the signal.

Per-query code here and in the signals and the walker calls array methods
(`a.repeat`, `a.cumsum`, `a.sort`) rather than the `np.` functions that wrap them:
a query runs right after the scoring pass has flushed the CPU caches, where each
wrapper's Python frame costs microseconds to fetch back."""

from __future__ import annotations

import numpy as np


def row_positions(indptr: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where every stored entry of `rows` sits in a CSR matrix's `indices` and
    `data` (row after row, each in its stored order), and each row's length."""
    starts = indptr[rows]
    ends = indptr[rows + 1]
    lengths = ends - starts
    if len(lengths) == 0:
        return np.zeros(0, dtype=np.int64), lengths
    ends_in_output = lengths.cumsum()
    # Entry p of the output belongs to the row whose span covers it, and sits as far
    # before that row's end in the matrix as it does before its end in the output.
    positions = np.arange(ends_in_output[-1]) + (ends - ends_in_output).repeat(lengths)
    return positions, lengths


def distinct(values: np.ndarray) -> np.ndarray:
    """The distinct values, ascending. A sort of what the query read: marks in a
    catalog- or session-sized array cost several times more to read back
    (`np.flatnonzero`), and `np.unique` hashes first."""
    ordered = values.copy()
    ordered.sort()
    first = np.empty(len(ordered), dtype=bool)
    first[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    return ordered[first]
