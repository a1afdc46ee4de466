"""The interface every model answers to, so evaluation and serving treat them alike."""

from __future__ import annotations

import abc

import numpy as np
import scipy.sparse as sp


class Recommender(abc.ABC):
    """Fits on a users x items matrix; recommends from a history of item indices."""

    n_items: int = 0

    @abc.abstractmethod
    def fit(self, matrix: sp.csr_matrix) -> Recommender:
        """Learn from `matrix` (users x items, non-negative weights)."""

    @abc.abstractmethod
    def scores(self, history: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        """A score for every item, given the item indices a visitor interacted with;
        -inf where the model has no evidence (such items are never recommended)."""

    def recommend(
        self,
        history: np.ndarray,
        n: int,
        *,
        weights: np.ndarray | None = None,
        exclude: np.ndarray | None = None,
    ) -> list[tuple[int, float]]:
        """The `n` best items as (index, score), best first, never an excluded one."""
        if n < 1:
            raise ValueError(f"n: must be at least 1, got {n}")
        scores = self.scores(np.asarray(history, dtype=np.int64), weights).astype(np.float64)
        if exclude is not None and len(exclude):
            scores[np.asarray(exclude, dtype=np.int64)] = -np.inf
        n = min(n, len(scores))
        top = np.argpartition(-scores, n - 1)[:n]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(i), float(scores[i])) for i in top if np.isfinite(scores[i])]
