"""`recommended`: what Tarry serves as personal recommendations.

A weighted blend of five signals, each scaled to [0, 1] by its best item:

- `als`: the visitor's folded-in taste vector against every item (broad, finds items
  no one co-bought with the history yet; long-term taste);
- `cooccurrence`: item-kNN without self-similarity (sharp, local: "people who took
  X also took Y");
- `sknn`: session-kNN (V-SKNN, `sknn.py`): past sessions like the visitor's latest
  items vote for what came next in them (the next click of a short session);
- `trending`: recent popularity, the same ranking as the `trending` showcase (where
  taste drifts, what is bought now is the best guess);
- `repeat`: the visitor's own items again, by weight (shoppers re-buy; a gift
  shop's or grocer's best guess is often last month's basket).

`recency` (a half-life in history positions, None for none) makes the latest items
of a history count more in every signal: the item on screen says more about the
next click than one from last week.

The weights, the recency and the trending half-lives are picked on a validation
split of each store's own data (`recommender.experiment.search`), so where one
signal is best the blend is that signal alone: a store whose customers never re-buy
gets `repeat` 0 (and its served answers leave seen items out), one whose taste
drifts leans on `trending`, one of anonymous sessions on `sknn` and co-occurrence.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from recommender.models.als import ALS
from recommender.models.base import Recommender
from recommender.models.gather import row_positions
from recommender.models.item_knn import ItemKNN
from recommender.models.sknn import SessionKNN

SIGNALS = ("als", "cooccurrence", "sknn", "trending", "repeat")


class Evidence(NamedTuple):
    """One query's signals before they are scaled to the blend's unit: worked out
    once, then added to the whole catalog's scores or to a few items'."""

    history: np.ndarray
    vector: np.ndarray | None  # the ALS fold-in; None where the blend leaves ALS out
    # (blend weight, items reached, each one's score as a share of the best)
    neighbours: tuple[tuple[float, np.ndarray, np.ndarray], ...]
    repeat: np.ndarray | None  # the history's items' repeat shares; None: no repeat signal


@dataclasses.dataclass(frozen=True)
class BlendWeights:
    als: float = 1.0
    cooccurrence: float = 0.5
    repeat: float = 0.5
    trending: float = 0.0
    sknn: float = 0.0
    # A half-life in history positions: at 1, each item counts twice the one before.
    recency: float | None = None

    def __post_init__(self) -> None:
        for name in SIGNALS:
            value = getattr(self, name)
            if not value >= 0 or value == float("inf"):
                raise ValueError(f"blend.{name}: must be finite and not negative, got {value}")
        if not sum(getattr(self, name) for name in SIGNALS) > 0:
            raise ValueError("blend: at least one weight must be positive")
        if self.recency is not None and not 0 < self.recency < float("inf"):
            raise ValueError(f"blend.recency: must be positive (or none), got {self.recency}")

    def only(self, signal: str) -> BlendWeights:
        """This blend with every weight but `signal`'s at 0 (and that one at 1)."""
        if signal not in SIGNALS:
            raise ValueError(f"signal: must be one of {', '.join(SIGNALS)}, got {signal!r}")
        zero = {name: 0.0 for name in SIGNALS}
        return dataclasses.replace(self, **{**zero, signal: 1.0})

    def signals(self) -> list[str]:
        return [name for name in SIGNALS if getattr(self, name) > 0]


def recency_weights(n: int, half_life: float | None) -> np.ndarray | None:
    """Position multipliers of a history of `n` items, oldest first (None: all 1)."""
    if half_life is None or n == 0:
        return None
    multipliers: np.ndarray = np.power(0.5, np.arange(n - 1, -1, -1) / half_life)
    return multipliers


class Personal(Recommender):
    def __init__(
        self,
        als: ALS,
        knn: ItemKNN,
        blend: BlendWeights | None = None,
        *,
        sknn: SessionKNN | None = None,
        trending: np.ndarray | None = None,
    ) -> None:
        if knn.include_self:
            raise ValueError("knn: the blend weighs repeats itself; use include_self=False")
        self.als = als
        self.knn = knn
        self.blend = blend or BlendWeights()
        self.n_items = als.n_items
        self.sknn = sknn if sknn is not None else SessionKNN()
        if self.sknn.n_items == 0:
            self.sknn.install(sp.csr_matrix((0, self.n_items), dtype=np.float32))
        self.set_trending(np.zeros(self.n_items) if trending is None else trending)

    def set_trending(self, trending: np.ndarray) -> None:
        """The trending scores the `trending` signal follows, as a share of the best."""
        trending = np.asarray(trending, dtype=np.float64)
        best = float(trending.max()) if len(trending) else 0.0
        share = trending / best if best > 0 else np.zeros(len(trending))
        self.trending_share = share.astype(np.float32)
        # Where only trending reaches: 0 for items it knows, -inf for the others.
        self._trending_floor = np.where(share > 0, 0.0, -np.inf).astype(np.float32)
        # Most trending first, and those shares negated (ascending, as searchsorted
        # reads them): how far down a bound on the signal reaches.
        self.by_trending: np.ndarray = np.argsort(-self.trending_share, kind="stable")
        self.trending_keys: np.ndarray = -self.trending_share[self.by_trending].astype(np.float64)

    @classmethod
    def fitted(
        cls,
        matrix: sp.csr_matrix,
        als: ALS | None = None,
        blend: BlendWeights | None = None,
        neighbours: int = 100,
        *,
        sknn: SessionKNN | None = None,
        trending: np.ndarray | None = None,
    ) -> Personal:
        """Fit the item parts on `matrix` (pass an already fitted `als` to reuse it)."""
        if als is None:
            als = ALS().fit(matrix)
        knn = ItemKNN(neighbours, include_self=False).fit(matrix)
        return cls(als, knn, blend, sknn=sknn, trending=trending)

    def fit(self, matrix: sp.csr_matrix) -> Personal:
        self.als.fit(matrix)
        self.knn.fit(matrix)
        self.n_items = matrix.shape[1]
        return self

    def scores(
        self, history: np.ndarray, weights: np.ndarray | None = None, *, repeat: bool = True
    ) -> np.ndarray:
        """Blended scores, in the units of the ALS scores (the ALS part is not rescaled,
        the others are scaled to it: one pass over the catalog less per query);
        -inf for items no signal reaches. `repeat=False` leaves the repeat signal out,
        for a caller that shows none of the history's items (the only ones it scores)."""
        history = np.asarray(history, dtype=np.int64)
        blend = self.blend
        if len(history) == 0:
            if blend.trending > 0:  # nothing known of the visitor: what is rising now
                return self._trending_floor + self.trending_share
            return np.full(self.n_items, -np.inf, dtype=np.float32)
        return self.blended(self.evidence(history, weights, repeat=repeat))

    def blended(self, evidence: Evidence) -> np.ndarray:
        """`scores` from a (non-empty) history's evidence."""
        blend = self.blend
        history = evidence.history
        if evidence.vector is not None:
            scores = self.als.product(evidence.vector)
            best = float(scores.max())
            if best > 0:
                unit = best / blend.als  # what a blend weight of 1 is worth in these scores
            else:
                scores[:] = 0.0  # ALS has no positive evidence: let the others rank
                unit = 1.0
            self.add_trending(scores, unit)
            self.add_neighbours(scores, evidence, unit)
            return scores
        # Without ALS only the items some signal reaches get a score.
        if blend.trending > 0:
            scores = self._trending_floor + blend.trending * self.trending_share
        else:
            scores = np.full(self.n_items, -np.inf, dtype=np.float32)
        for weight, items, share in evidence.neighbours:
            scores[items] = np.maximum(scores[items], 0.0)
            scores[items] += weight * share
        if evidence.repeat is not None:
            scores[history] = np.maximum(scores[history], 0.0)
            np.add.at(scores, history, blend.repeat * evidence.repeat)
        return scores

    def evidence(
        self, history: np.ndarray, weights: np.ndarray | None = None, *, repeat: bool = True
    ) -> Evidence:
        """What a (non-empty) history tells each signal, before the blend's unit (the
        best ALS score) is known."""
        blend = self.blend
        w = np.ones(len(history)) if weights is None else np.asarray(weights, dtype=np.float64)
        emphasis = recency_weights(len(history), blend.recency)
        if emphasis is not None:
            w = w * emphasis
        vector = self.als.fold_in(history, w) if blend.als > 0 else None
        neighbours = []
        for weight, signal in ((blend.cooccurrence, self._cooccurrence), (blend.sknn, self._sknn)):
            if weight == 0:
                continue
            items, values = signal(history, w)
            if len(values):
                # Divide before scaling: 1 / a tiny max would overflow.
                neighbours.append((weight, items, values / values.max()))
        own_share = None
        if repeat and blend.repeat > 0:
            own = np.maximum(w, 0.0)
            best = float(own.max())
            if best > 0:
                own_share = own / best
        return Evidence(history, vector, tuple(neighbours), own_share)

    def add_trending(
        self, scores: np.ndarray, unit: float, items: np.ndarray | None = None
    ) -> None:
        """Add the trending signal to ALS scores, of the whole catalog or of `items`
        (the same arithmetic, so an item scores alike either way)."""
        if self.blend.trending > 0:
            share = self.trending_share if items is None else self.trending_share[items]
            scores += (unit * self.blend.trending) * share

    def add_neighbours(self, scores: np.ndarray, evidence: Evidence, unit: float) -> None:
        """Add the signals that reach only the history's neighbours to the whole
        catalog's ALS scores (with trending)."""
        for items, amounts, accumulate in self.increments(evidence, unit):
            if accumulate:
                np.add.at(scores, items, amounts)
            else:
                scores[items] += amounts

    def increments(
        self, evidence: Evidence, unit: float
    ) -> list[tuple[np.ndarray, np.ndarray, bool]]:
        """What each neighbour signal adds, in the order it is added: (items, amounts,
        whether an item listed twice gets both; else it is listed with the same
        amount each time and gets it once). Each addition is a float32 score plus a
        float64 amount, rounded to float32."""
        parts = [
            (items, (unit * weight) * share, False) for weight, items, share in evidence.neighbours
        ]
        if evidence.repeat is not None:
            parts.append((evidence.history, (unit * self.blend.repeat) * evidence.repeat, True))
        return parts

    def _sknn(self, history: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.sknn.neighbour_items(history, weights)

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
    positions, lengths = row_positions(similarity.indptr, history)
    if len(positions) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    weight = np.asarray(weights, np.float64).repeat(lengths)
    return similarity.indices[positions], similarity.data[positions] * weight
