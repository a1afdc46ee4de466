"""`als`: implicit-feedback matrix factorisation (`implicit`'s ALS) with a fast fold-in.

Serving personal recommendations to a visitor the model never saw (most store
traffic is anonymous) needs a user vector from a handful of items. That is one
regularised least-squares solve, the same one ALS does per user while training:

    (YᵀY + λI + Σ_h (c_h - 1) y_h y_hᵀ) x = Σ_h c_h y_h

`YᵀY + λI` is the same for every visitor, so it is computed once (`gram`); each
query only adds its few history rows and solves a factors x factors system. The
answer equals `implicit`'s `recalculate_user=True` (a test checks it) at less cost.

BLAS runs on one thread: `implicit` is ~40x slower on small solves otherwise, and
a server answers many small queries rather than one large one.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import scipy.sparse as sp
from scipy.linalg import lapack
from threadpoolctl import threadpool_limits

from recommender.models.base import Recommender

Scaling = Literal["confidence", "bm25", "tfidf"]
ROW_GROUP = 16  # rows BLAS scores together (a multiple of any x86 kernel's group)
# Conjugate-gradient steps per factor update: implicit's 3, or 2 from 32 factors
# up (the default is 64). 2 cost a fifth less an iteration, and where
# `benchmarks/model_quality.py` measured them (its search fits 32, 64 and 128
# factors) they scored alike: recommended NDCG@10 0.372 / 0.148 on UCI Online
# Retail (user / session) and 0.402 / 0.377 on the synthetic shop, against 0.370 /
# 0.148 and 0.403 / 0.363 with 3. A test's toy shop of 4 factors and two item
# groups ranked an item of the wrong group third with 2, whatever the iterations:
# small systems keep 3.
CG_STEPS, FEW_FACTORS_CG_STEPS, MANY_FACTORS = 2, 3, 32
# A fit that starts from factors fitted on most of the same data (the holdout
# candidate) runs 1 / WARM_DIVISOR of the iterations, at least WARM_MIN_ITERATIONS:
# 2 of 15 score within 0.0013 NDCG@10 of 5 and of a fit from scratch
# (`benchmarks/warm_start.py`).
WARM_DIVISOR = 6
WARM_MIN_ITERATIONS = 2


class ItemWeights:
    """Turns raw interaction weights into ALS confidences, for the training matrix and
    for one visitor's history alike (the fold-in must see what training saw).

    `confidence`: alpha x value. `bm25` / `tfidf`: each value is also scaled by how
    rare the item is (idf), and `bm25` saturates heavy users' values with the usual
    K1 / B document-length normalisation, so bestsellers and bulk buyers weigh less.
    """

    def __init__(self, scaling: Scaling = "confidence", alpha: float = 1.0) -> None:
        if scaling not in ("confidence", "bm25", "tfidf"):
            raise ValueError(f"scaling: must be confidence, bm25 or tfidf, got {scaling!r}")
        if not alpha > 0:
            raise ValueError(f"alpha: must be positive, got {alpha}")
        self.scaling = scaling
        self.alpha = alpha
        self.idf = np.zeros(0, dtype=np.float32)
        self.mean_length = 1.0
        self.k1, self.b = 1.2, 0.75

    def fit(self, matrix: sp.csr_matrix) -> ItemWeights:
        n_users = max(matrix.shape[0], 1)
        users_per_item = np.bincount(matrix.indices, minlength=matrix.shape[1])
        self.idf = np.log1p(n_users / (1.0 + users_per_item)).astype(np.float32)
        lengths = np.diff(matrix.indptr)
        self.mean_length = float(lengths[lengths > 0].mean()) if lengths.any() else 1.0
        return self

    def _row(self, items: np.ndarray, values: np.ndarray) -> np.ndarray:
        values = np.asarray(values, dtype=np.float32)
        if self.scaling == "confidence":
            scaled: np.ndarray = values * self.alpha
            return scaled
        idf: np.ndarray = self.idf[items] if len(self.idf) else np.ones(len(items), np.float32)
        if self.scaling == "tfidf":
            scaled = np.sqrt(values) * idf * self.alpha
            return scaled
        norm = self.k1 * (1.0 - self.b + self.b * len(items) / self.mean_length)
        scaled = values * (self.k1 + 1.0) / (norm + values) * idf * self.alpha
        return scaled

    def matrix(self, matrix: sp.csr_matrix) -> sp.csr_matrix:
        """Every row as `history` scales it, bit for bit, in one pass over the data."""
        out = matrix.astype(np.float32, copy=True)
        values = out.data
        if self.scaling == "confidence":
            out.data = values * self.alpha
            return out
        idf = self.idf[out.indices] if len(self.idf) else np.ones(len(values), np.float32)
        if self.scaling == "tfidf":
            out.data = np.sqrt(values) * idf * self.alpha
            return out
        lengths = np.diff(out.indptr).astype(np.float64)
        # Worked out in float64 and rounded to float32, as `_row`'s Python float is
        # when it meets the float32 values.
        norm = (self.k1 * (1.0 - self.b + self.b * lengths / self.mean_length)).astype(np.float32)
        norm = np.repeat(norm, np.diff(out.indptr))
        out.data = values * (self.k1 + 1.0) / (norm + values) * idf * self.alpha
        return out

    def history(self, items: np.ndarray, values: np.ndarray) -> np.ndarray:
        return self._row(items, values)


class ALS(Recommender):
    """Parameters
    ----------
    factors, regularization, iterations : as in `implicit.als.AlternatingLeastSquares`.
    alpha : confidence scale of an interaction's weight.
    scaling : `confidence`, `bm25` or `tfidf`; see `ItemWeights`.
    """

    def __init__(
        self,
        factors: int = 64,
        regularization: float = 0.05,
        alpha: float = 2.0,
        iterations: int = 15,
        scaling: Scaling = "confidence",
        random_state: int = 42,
    ) -> None:
        if factors < 1:
            raise ValueError(f"factors: must be at least 1, got {factors}")
        if regularization < 0:
            raise ValueError(f"regularization: must not be negative, got {regularization}")
        if iterations < 1:
            raise ValueError(f"iterations: must be at least 1, got {iterations}")
        self.factors = factors
        self.regularization = regularization
        self.iterations = iterations
        self.random_state = random_state
        self.weights = ItemWeights(scaling, alpha)
        self.item_factors: np.ndarray
        self.gram: np.ndarray
        self.set_factors(np.zeros((0, factors), dtype=np.float32))

    def params(self) -> dict[str, object]:
        return {
            "factors": self.factors,
            "regularization": self.regularization,
            "alpha": self.weights.alpha,
            "iterations": self.iterations,
            "scaling": self.weights.scaling,
        }

    def fit(self, matrix: sp.csr_matrix, start: np.ndarray | None = None) -> ALS:
        """Fit on `matrix`. `start`: item factors to start from (a model fitted on
        most of the same data), which converges in a sixth of the iterations
        (`benchmarks/warm_start.py`)."""
        from implicit.cpu.als import AlternatingLeastSquares

        self.weights.fit(matrix)
        confidence = self.weights.matrix(matrix)
        iterations = self.iterations
        if start is not None:
            if start.shape != (matrix.shape[1], self.factors):
                raise ValueError(
                    f"start: must be items x factors {(matrix.shape[1], self.factors)}, "
                    f"got {start.shape}"
                )
            iterations = max(WARM_MIN_ITERATIONS, self.iterations // WARM_DIVISOR)
        with threadpool_limits(1, "blas"):
            model = AlternatingLeastSquares(
                factors=self.factors,
                regularization=self.regularization,
                alpha=1.0,  # applied by ItemWeights, so fold-in and training agree
                iterations=iterations,
                random_state=self.random_state,
            )
            # Not a constructor argument in implicit 0.7.
            many = self.factors >= MANY_FACTORS
            model.cg_steps = CG_STEPS if many else FEW_FACTORS_CG_STEPS
            if start is not None:
                model.item_factors = np.ascontiguousarray(start, dtype=np.float32)
            model.fit(confidence, show_progress=False)
        self.set_factors(np.ascontiguousarray(model.item_factors, dtype=np.float32))
        return self

    def set_factors(self, item_factors: np.ndarray) -> None:
        """Install item factors (after training, or loaded from an artefact)."""
        n, factors = item_factors.shape
        # Held in a buffer of whole row groups, zeros after the last item: OpenBLAS
        # scores a group of rows alike wherever it sits, but the last few rows of a
        # product that leaves an incomplete group get another kernel, with another
        # rounding. So `product` (every item), `partial` (a few) and `longest` (a
        # stretch of the norm order), each padded alike, give an item the very same
        # float32 score, and pruned rankings equal full ones.
        self._rows = _padded(item_factors, n, factors)
        self.item_factors = self._rows[:n]
        self.n_items = n
        self.factors = factors
        gram = self.item_factors.T.astype(np.float64) @ self.item_factors.astype(np.float64)
        gram += self.regularization * np.eye(self.factors)
        self.gram = gram
        norms = np.sqrt(np.square(self.item_factors, dtype=np.float64).sum(axis=1))
        self.norms: np.ndarray = norms
        # Longest factors first (the items a vector's score can reach highest), their
        # lengths negated (ascending, as searchsorted reads them), each item's place
        # in that order, and the factors in that order: scoring the longest few reads
        # one stretch of memory rather than rows scattered over the catalog.
        self.by_norm: np.ndarray = np.argsort(-norms, kind="stable")
        self.norm_keys: np.ndarray = -norms[self.by_norm]
        self.norm_rank = np.empty(n, dtype=np.int64)
        self.norm_rank[self.by_norm] = np.arange(n)
        self._longest_rows = _padded(self.item_factors[self.by_norm], n, factors)
        self.finite = bool(np.isfinite(norms).all())

    def fold_in(self, history: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        """The user vector ALS would learn for a visitor with this history."""
        history = np.asarray(history, dtype=np.int64)
        if len(history) == 0:
            return np.zeros(self.factors, dtype=np.float32)
        values = np.ones(len(history)) if weights is None else np.asarray(weights)
        confidence = self.weights.history(history, values).astype(np.float64)
        rows = self.item_factors[history].astype(np.float64)
        a = self.gram + (rows.T * (confidence - 1.0)) @ rows
        b = rows.T @ confidence
        # The system is symmetric positive definite: a Cholesky solve (LAPACK posv)
        # without numpy.linalg's per-call checks, which cost more than the solve.
        _, solution, info = lapack.dposv(a, b, lower=False)
        if info != 0:
            solution = np.linalg.lstsq(a, b, rcond=None)[0]  # singular: regularization 0
        vector: np.ndarray = solution.astype(np.float32)
        return vector

    def scores(self, history: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        if len(history) == 0:
            return np.full(self.n_items, -np.inf, dtype=np.float32)
        return self.product(self.fold_in(history, weights))

    def product(self, vector: np.ndarray) -> np.ndarray:
        """Every item's score against a user vector."""
        scores: np.ndarray = (self._rows @ vector)[: self.n_items]
        return scores

    def partial(self, vector: np.ndarray, items: np.ndarray) -> np.ndarray:
        """The scores `product` gives `items`, bit for bit, reading only their rows."""
        count = len(items)
        padding = -count % ROW_GROUP
        if padding:  # any rows: their scores are dropped
            items = np.concatenate([items, np.zeros(padding, dtype=items.dtype)])
        scores: np.ndarray = (self._rows[items] @ vector)[:count]
        return scores

    def longest(self, vector: np.ndarray, start: int, stop: int) -> np.ndarray:
        """The scores `product` gives the items `by_norm[start:stop]`, bit for bit."""
        end = start + -(-(stop - start) // ROW_GROUP) * ROW_GROUP
        scores: np.ndarray = (self._longest_rows[start:end] @ vector)[: stop - start]
        return scores

    def similar_items(self, item: int) -> np.ndarray:
        """Cosine similarity of every item's factors to `item`'s."""
        norms = np.linalg.norm(self.item_factors, axis=1)
        norms[norms == 0] = 1.0
        similarity: np.ndarray = (self.item_factors @ self.item_factors[item]) / (
            norms * norms[item]
        )
        return similarity


def _padded(rows: np.ndarray, n: int, factors: int) -> np.ndarray:
    """`rows` as float32 in a buffer of whole row groups and one group more (a
    stretch that starts anywhere still ends inside it), zeros after the last."""
    buffer = np.zeros((-(-n // ROW_GROUP) * ROW_GROUP + ROW_GROUP, factors), dtype=np.float32)
    buffer[:n] = rows
    return buffer
