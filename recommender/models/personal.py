"""`recommended`: what Tarry serves as personal recommendations.

A weighted blend of three signals, each scaled to [0, 1] by its best item:

- `als`: the visitor's folded-in taste vector against every item (broad, finds items
  no one co-bought with the history yet);
- `cooccurrence`: item-kNN without self-similarity (sharp, local: "people who took
  X also took Y" — strongest on short anonymous sessions);
- `repeat`: the visitor's own items again, by weight (shoppers re-buy; a gift
  shop's or grocer's best guess is often last month's basket).

The blend weights are picked on a validation split (`recommender.search`), so a
store whose customers never re-buy gets `repeat` 0 and one whose traffic is all
anonymous sessions leans on co-occurrence. Any weight may be 0; with only `als`
it is plain ALS.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.sparse as sp

from recommender.models.als import ALS
from recommender.models.base import Recommender
from recommender.models.item_knn import ItemKNN


@dataclasses.dataclass(frozen=True)
class BlendWeights:
    als: float = 1.0
    cooccurrence: float = 0.5
    repeat: float = 0.5

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if not value >= 0:
                raise ValueError(f"blend.{field.name}: must not be negative, got {value}")
        if not self.als + self.cooccurrence + self.repeat > 0:
            raise ValueError("blend: at least one weight must be positive")


class Personal(Recommender):
    def __init__(self, als: ALS, knn: ItemKNN, blend: BlendWeights | None = None) -> None:
        if knn.include_self:
            raise ValueError("knn: the blend weighs repeats itself; use include_self=False")
        self.als = als
        self.knn = knn
        self.blend = blend or BlendWeights()
        self.n_items = als.n_items

    @classmethod
    def fitted(
        cls,
        matrix: sp.csr_matrix,
        als: ALS | None = None,
        blend: BlendWeights | None = None,
        neighbours: int = 100,
    ) -> Personal:
        """Fit both parts on `matrix` (pass an already fitted `als` to reuse it)."""
        if als is None:
            als = ALS().fit(matrix)
        return cls(als, ItemKNN(neighbours, include_self=False).fit(matrix), blend)

    def fit(self, matrix: sp.csr_matrix) -> Personal:
        self.als.fit(matrix)
        self.knn.fit(matrix)
        self.n_items = matrix.shape[1]
        return self

    def scores(self, history: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        """Blended scores, in the units of the ALS scores (the ALS part is not rescaled,
        the others are scaled to it: one pass over the catalog less per query);
        -inf for items no signal reaches."""
        history = np.asarray(history, dtype=np.int64)
        if len(history) == 0:
            return np.full(self.n_items, -np.inf, dtype=np.float32)
        w = np.ones(len(history)) if weights is None else np.asarray(weights, dtype=np.float64)
        blend = self.blend
        unit = 1.0  # what a blend weight of 1 is worth in these scores
        if blend.als > 0:
            scores = self.als.scores(history, w)
            best = float(scores.max())
            if best > 0:
                unit = best / blend.als
            else:
                scores[:] = 0.0  # ALS has no positive evidence: let the others rank
        else:
            scores = np.full(self.n_items, -np.inf, dtype=np.float32)
        if blend.cooccurrence > 0:
            items, values = self._cooccurrence(history, w)
            if len(values):
                if blend.als == 0:
                    scores[items] = 0.0
                # Divide before scaling: 1 / a tiny max would overflow.
                scores[items] += (unit * blend.cooccurrence) * (values / values.max())
        if blend.repeat > 0:
            own = np.maximum(w, 0.0)
            best = float(own.max())
            if best > 0:
                if blend.als == 0:
                    scores[history] = np.maximum(scores[history], 0.0)
                np.add.at(scores, history, (unit * blend.repeat) * (own / best))
        return scores

    def _cooccurrence(
        self, history: np.ndarray, weights: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Σ_h w_h · sim(h, i) for the items i near the history, one entry per stored
        neighbour (an item near several history items appears several times, with
        its full sum each time, so a fancy-index assignment still adds it once)."""
        items, values = _gathered(self.knn.similarity, history, weights)
        if len(items) == 0:
            return items, values
        # A dense sum is cheaper than sorting out the duplicates (np.unique).
        summed = np.bincount(items, weights=values, minlength=self.n_items)[items]
        if not summed.max() > 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        return items, summed


def neighbour_scores(
    similarity: sp.csr_matrix, history: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Σ_h w_h · sim(h, i) for the items i near the history, as (items, scores):
    a sparse sum over the history's rows, without a pass over the whole catalog."""
    items, values = _gathered(similarity, history, weights)
    if len(items) == 0:
        return items, values
    unique, inverse = np.unique(items, return_inverse=True)
    return unique, np.bincount(inverse, weights=values)


def _gathered(
    similarity: sp.csr_matrix, history: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Every stored neighbour of every history row, with its similarity times that
    row's weight (an item near several history items appears once per row)."""
    starts = similarity.indptr[history]
    lengths = similarity.indptr[history + 1] - starts
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    # Positions of every stored neighbour of every history row, gathered at once.
    positions = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths) + np.arange(total)
    weight = np.repeat(np.asarray(weights, np.float64), lengths)
    return similarity.indices[positions], similarity.data[positions] * weight
