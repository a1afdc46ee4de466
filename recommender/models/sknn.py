"""`sknn`: session-based k-nearest neighbours, the V-SKNN of Ludewig & Jannach,
"Evaluation of session-based recommendation algorithms" (User Modeling and
User-Adapted Interaction 28, 2018).

A visitor's recent items are compared with past sessions rather than item by item:
the past sessions that share the most with them (the visitor's latest items
weighing most, by V-SKNN's linear decay over positions) vote for their other items,
each with its similarity. Where item-kNN knows that X and Y go together, this knows
that people who looked at X, then Y, then Z went on to W: the next click of a short
anonymous session.

- Sessions are binary rows (session x item), numbered oldest first, so a higher
  number is a more recent session.
- As in V-SKNN, only the `sample` most recent sessions that share an item with the
  history are candidates. Each item keeps its own `sample` most recent sessions,
  which is enough: a candidate is among the most recent sessions of every history
  item it holds (fewer than `sample` sessions sharing an item are more recent), so
  those lists give its exact similarity too, and a query reads at most
  `history x sample` session references, whatever the traffic.
- Similarity is the cosine between the decayed history and the session (the
  history's own norm ranks nothing, so only the session's length divides).
- At most `max_sessions` (the most recent) are kept at all: memory and the per-query
  scratch array stay bounded for a store with years of traffic.

Every step is a numpy gather, mark or `bincount`; no Python loop over sessions or
items.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import scipy.sparse as sp

from recommender.columns import Columns, Interaction, as_columns, recode, renumbered
from recommender.interactions import IdMap
from recommender.models.base import Recommender
from recommender.models.gather import distinct, row_positions

# Only a session's latest items compare it with others: V-SKNN works on sessions,
# and a long-time customer's two hundred items would read thousands of sessions.
HISTORY_ITEMS = 20
# V-SKNN's linear decay over positions, per history length (the latest item counts
# fully, the first 1/n): the same few arrays on every query.
DECAY = [np.arange(1, n + 1) / n for n in range(HISTORY_ITEMS + 1)]
for _decay in DECAY:
    _decay.flags.writeable = False


def sessions_matrix(
    interactions: Iterable[Interaction] | Columns,
    items: IdMap,
    events: frozenset[str] | None = None,
) -> sp.csr_matrix:
    """Binary sessions x items, rows ordered by each session's last event (oldest
    first, sessions that end together in the order they first appear); sessions
    with fewer than two distinct known items are left out (they share nothing with
    another item). `events`: the kinds that count (all if None)."""
    columns = as_columns(interactions)
    chosen = np.arange(len(columns)) if events is None else np.flatnonzero(columns.is_event(events))
    cols = recode(columns.item[chosen], columns.items, items, add=False)
    known = cols >= 0
    chosen, cols = chosen[known], cols[known]
    if not len(chosen):
        return sp.csr_matrix((0, len(items)), dtype=np.float32)
    rows = renumbered(columns.session[chosen])
    n_rows = int(rows.max()) + 1
    last = np.full(n_rows, np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(last, rows, columns.ts[chosen])
    matrix = sp.csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(n_rows, len(items))
    )
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    keep = np.diff(matrix.indptr) >= 2
    order = np.argsort(last, kind="stable")
    order = order[keep[order]]
    return matrix[order]


class SessionKNN(Recommender):
    """Parameters
    ----------
    neighbours : how many of the most similar sessions vote (V-SKNN's k).
    sample : the most recent sessions of each history item that are compared.
    max_sessions : the most recent sessions kept at all.
    """

    def __init__(
        self, neighbours: int = 100, sample: int = 500, max_sessions: int = 200_000
    ) -> None:
        for name, value in (
            ("neighbours", neighbours),
            ("sample", sample),
            ("max_sessions", max_sessions),
        ):
            if value < 1:
                raise ValueError(f"sknn.{name}: must be at least 1, got {value}")
        self.neighbours = neighbours
        self.sample = sample
        self.max_sessions = max_sessions
        self.sessions = sp.csr_matrix((0, 0), dtype=np.float32)
        self.by_item = sp.csr_matrix((0, 0), dtype=np.int32)
        self.lengths = np.zeros(0, dtype=np.float64)

    def fit(self, matrix: sp.csr_matrix) -> SessionKNN:
        """`matrix`: sessions x items (see `sessions_matrix`), oldest session first."""
        sessions = sp.csr_matrix(matrix, dtype=np.float32)
        if sessions.shape[0] > self.max_sessions:
            sessions = sessions[sessions.shape[0] - self.max_sessions :]
        sessions.data[:] = 1.0
        self.install(sessions)
        return self

    def install(self, sessions: sp.csr_matrix) -> None:
        """Take `sessions` (binary, oldest first) as the model: after fitting, or as
        loaded from a bundle. Builds each item's list of its most recent sessions."""
        self.sessions = sessions
        self.n_items = sessions.shape[1]
        self.lengths = np.sqrt(np.maximum(np.diff(sessions.indptr), 1)).astype(np.float64)
        # Item -> sessions, each list ascending (oldest first), cut to its last `sample`.
        by_item = sessions.T.tocsr()
        by_item.sort_indices()
        counts = np.diff(by_item.indptr)
        kept = np.minimum(counts, self.sample)
        ends = by_item.indptr[1:]
        starts = ends - kept
        total = int(kept.sum())
        positions = np.repeat(starts - (np.cumsum(kept) - kept), kept) + np.arange(total)
        indptr = np.concatenate([[0], np.cumsum(kept)]).astype(np.int64)
        indices = by_item.indices[positions].astype(np.int32)
        self.by_item = sp.csr_matrix(
            (np.ones(total, dtype=np.int32), indices, indptr),
            shape=(sessions.shape[1], sessions.shape[0]),
        )

    def neighbour_items(
        self, history: np.ndarray, weights: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(items, scores) reached by the history's nearest sessions, each item
        once: Σ over the k nearest sessions holding it of their similarity."""
        history = np.asarray(history, dtype=np.int64)[-HISTORY_ITEMS:]
        if len(history) == 0 or self.sessions.shape[0] == 0:
            return _nothing()
        w = np.ones(len(history)) if weights is None else np.asarray(weights, np.float64)
        w = w[-len(history) :] * DECAY[len(history)]
        positions, lengths = row_positions(self.by_item.indptr, history)
        if len(positions) == 0:
            return _nothing()
        ids = self.by_item.indices[positions]
        reference_weight = w.repeat(lengths)
        # The `sample` most recent distinct sessions (session numbers grow with time).
        candidates = distinct(ids)[-self.sample :]
        inside = ids >= candidates[0]
        at = candidates.searchsorted(ids[inside])
        dot = np.bincount(at, weights=reference_weight[inside], minlength=len(candidates))
        values = dot / self.lengths[candidates]
        nearest = candidates
        k = self.neighbours
        if len(nearest) > k:
            top = (-values).argpartition(k - 1)[:k]
            nearest, values = nearest[top], values[top]
        keep = values > 0
        nearest, values = nearest[keep], values[keep]
        if len(nearest) == 0:
            return _nothing()
        r_positions, r_lengths = row_positions(self.sessions.indptr, nearest)
        items = self.sessions.indices[r_positions].astype(np.int64)
        scores = np.bincount(items, weights=values.repeat(r_lengths), minlength=self.n_items)
        reached = distinct(items)
        return reached, scores[reached]

    def scores(self, history: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        out = np.full(self.n_items, -np.inf)
        items, values = self.neighbour_items(history, weights)
        out[items] = values
        return out


def _nothing() -> tuple[np.ndarray, np.ndarray]:
    return np.zeros(0, dtype=np.int64), np.zeros(0)
