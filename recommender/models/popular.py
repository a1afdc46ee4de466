"""`popular`: the items most users interacted with; the baseline every model must beat."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recommender.models.base import Recommender


class Popular(Recommender):
    def __init__(self) -> None:
        self.popularity = np.zeros(0)

    def fit(self, matrix: sp.csr_matrix) -> Popular:
        # Users who touched each item, not summed weights: one heavy buyer is one user.
        self.popularity = np.asarray((matrix > 0).sum(axis=0)).ravel().astype(np.float64)
        self.n_items = matrix.shape[1]
        return self

    def scores(self, history: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        return self.popularity.copy()
