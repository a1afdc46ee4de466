"""`item_knn`: item-to-item cosine similarity on co-occurrence, the neighbourhood
baseline. Only each item's `neighbours` most similar items are kept, so memory
grows with items x neighbours, never items x items.

As in the textbook method (and `implicit`'s `CosineRecommender`), an item is its own
nearest neighbour (similarity 1) unless `include_self=False`: items a visitor already
touched score highly, which is right for repeat purchases. The personal blend turns
that off and weighs the repeat signal on its own."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recommender.models.base import Recommender


def top_per_row(similar: sp.csr_matrix, keep: int) -> sp.csr_matrix:
    rows, cols, vals = [], [], []
    for row in range(similar.shape[0]):
        start, end = similar.indptr[row], similar.indptr[row + 1]
        if start == end:
            continue
        data = similar.data[start:end]
        index = similar.indices[start:end]
        if len(data) > keep:
            best = np.argpartition(-data, keep - 1)[:keep]
            data, index = data[best], index[best]
        rows.append(np.full(len(data), row))
        cols.append(index)
        vals.append(data)
    if not rows:
        return sp.csr_matrix(similar.shape, dtype=np.float32)
    return sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=similar.shape,
        dtype=np.float32,
    )


class ItemKNN(Recommender):
    def __init__(self, neighbours: int = 100, include_self: bool = True) -> None:
        if neighbours < 1:
            raise ValueError(f"neighbours: must be at least 1, got {neighbours}")
        self.neighbours = neighbours
        self.include_self = include_self
        self.similarity = sp.csr_matrix((0, 0), dtype=np.float32)

    def fit(self, matrix: sp.csr_matrix) -> ItemKNN:
        binary = (matrix > 0).astype(np.float32).tocsc()
        norms = np.sqrt(np.asarray(binary.sum(axis=0)).ravel())
        norms[norms == 0] = 1.0
        normalised = binary @ sp.diags(1.0 / norms)
        similar = (normalised.T @ normalised).tocsr()
        similar.setdiag(0)  # an item is not its own neighbour
        similar.eliminate_zeros()
        self.similarity = top_per_row(similar, self.neighbours)
        if self.include_self:
            identity = sp.identity(matrix.shape[1], dtype=np.float32, format="csr")
            self.similarity = (self.similarity + identity).tocsr()
        self.n_items = matrix.shape[1]
        return self

    def scores(self, history: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        if len(history) == 0:
            return np.full(self.n_items, -np.inf)
        w = np.ones(len(history)) if weights is None else np.asarray(weights, dtype=np.float64)
        scores = np.asarray(self.similarity[history].T @ w).ravel()
        scores[scores <= 0] = -np.inf  # no neighbour of anything seen: no evidence
        return scores
