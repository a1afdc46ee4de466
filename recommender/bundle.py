"""A model bundle: everything a store's showcases need, trained together, saved as one
versioned artefact.

One item index space (`items`, append-only ids) is shared by every part: ALS
factors, the co-occurrence neighbours, the bought-together pairs, popularity,
trending and the catalog. Sparse parts stay sparse (items x neighbours), so a store
with a million items never holds a dense items x items matrix.

On disk a bundle is a directory with `arrays.npz` (numbers only, loaded without
pickle) and `meta.json` (parameters, metrics, provenance).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from recommender.catalog import Catalog, ItemInfo
from recommender.interactions import (
    IdMap,
    Interaction,
    InteractionMatrix,
    Weighting,
    build_matrix,
)
from recommender.models.als import ALS
from recommender.models.item_knn import ItemKNN
from recommender.models.personal import BlendWeights, Personal
from recommender.models.together import baskets_matrix, bought_together
from recommender.models.trending import trending_scores

FORMAT = 1


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    """Everything that decides what a bundle learns (the search tunes some of it)."""

    weighting: Weighting = dataclasses.field(default_factory=Weighting)
    factors: int = 64
    regularization: float = 0.05
    alpha: float = 1.0
    iterations: int = 15
    scaling: str = "bm25"
    neighbours: int = 50
    blend: BlendWeights = dataclasses.field(default_factory=BlendWeights)
    together_min_support: int = 2
    together_min_lift: float = 1.0

    def als(self) -> ALS:
        return ALS(
            self.factors,
            self.regularization,
            self.alpha,
            self.iterations,
            self.scaling,  # type: ignore[arg-type]
        )

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["weighting"] = {
            "weights": dict(self.weighting.weights),
            "half_life_days": self.weighting.half_life_days,
            "damped": sorted(self.weighting.damped),
        }
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TrainingConfig:
        values = dict(data)
        w = values.pop("weighting")
        weighting = Weighting(w["weights"], w["half_life_days"], frozenset(w["damped"]))
        blend = BlendWeights(**values.pop("blend"))
        return cls(weighting=weighting, blend=blend, **values)


@dataclasses.dataclass
class Bundle:
    items: IdMap
    personal: Personal
    together: sp.csr_matrix
    popularity: np.ndarray
    trending: np.ndarray
    catalog: Catalog
    config: TrainingConfig
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def als(self) -> ALS:
        return self.personal.als

    @property
    def knn(self) -> ItemKNN:
        return self.personal.knn

    # -- persistence ----------------------------------------------------------

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=False)
        arrays: dict[str, np.ndarray] = {
            "items": self.items.to_array(),
            "item_factors": self.als.item_factors,
            "idf": self.als.weights.idf,
            "popularity": self.popularity,
            "trending": self.trending,
            "category_of": self.catalog.category_of,
            "categories": np.array(self.catalog.categories, dtype=str),
            "available": self.catalog.available,
            "names": np.array(self.catalog.names, dtype=str),
        }
        for name, matrix in (("knn", self.knn.similarity), ("together", self.together)):
            arrays[f"{name}_data"] = matrix.data
            arrays[f"{name}_indices"] = matrix.indices
            arrays[f"{name}_indptr"] = matrix.indptr
        np.savez(directory / "arrays.npz", **arrays)  # type: ignore[arg-type]
        meta = {
            **self.meta,
            "format": FORMAT,
            "config": self.config.to_json(),
            "mean_length": self.als.weights.mean_length,
        }
        (directory / "meta.json").write_text(json.dumps(meta, indent=1, sort_keys=True))

    @classmethod
    def load(cls, directory: Path) -> Bundle:
        meta = json.loads((directory / "meta.json").read_text())
        if meta.get("format") != FORMAT:
            raise ValueError(f"{directory}: format {meta.get('format')!r}, expected {FORMAT}")
        config = TrainingConfig.from_json(meta["config"])
        with np.load(directory / "arrays.npz", allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in stored.files}
        n = len(arrays["items"])

        def csr(name: str) -> sp.csr_matrix:
            parts = (arrays[f"{name}_data"], arrays[f"{name}_indices"], arrays[f"{name}_indptr"])
            return sp.csr_matrix(parts, shape=(n, n))

        als = config.als()
        als.weights.idf = arrays["idf"]
        als.weights.mean_length = float(meta["mean_length"])
        als.set_factors(arrays["item_factors"])
        knn = ItemKNN(config.neighbours, include_self=False)
        knn.similarity = csr("knn")
        knn.n_items = n
        catalog = Catalog(
            [str(c) for c in arrays["categories"]],
            arrays["category_of"],
            arrays["available"],
            [str(x) for x in arrays["names"]],
        )
        return cls(
            IdMap.from_array(arrays["items"]),
            Personal(als, knn, config.blend),
            csr("together"),
            arrays["popularity"],
            arrays["trending"],
            catalog,
            config,
            meta,
        )


def train_bundle(
    interactions: Sequence[Interaction],
    config: TrainingConfig | None = None,
    *,
    known_items: Mapping[str, ItemInfo] | None = None,
    items: IdMap | None = None,
    now_ms: int | None = None,
    warm_start: Bundle | None = None,
    built: InteractionMatrix | None = None,
) -> Bundle:
    """Fit every part on `interactions`. Pass the `items` map of the bundle in service
    so existing items keep their indices (new ones are appended). `warm_start`: a
    bundle fitted with the same configuration on most of the same data (the holdout
    candidate); ALS starts from its item factors and needs fewer iterations.
    `built`: the matrix of exactly these interactions under `config.weighting`,
    decayed to `now_ms` (an evaluation task's), instead of building it again."""
    config = config or TrainingConfig()
    if not interactions:
        raise ValueError("interactions: none to train on")
    started = time.perf_counter()
    now_ms = now_ms if now_ms is not None else max(r.timestamp_ms for r in interactions)
    if built is None:
        items = IdMap.from_array(items.to_array()) if items is not None else IdMap()
        built = build_matrix(interactions, config.weighting, now_ms=now_ms, items=items)
    elif items is not None:
        raise ValueError("items: pass either items or a built matrix, not both")
    matrix = built.matrix
    if matrix.nnz == 0:
        kinds = ", ".join(sorted(config.weighting.weights))
        raise ValueError(f"interactions: none of a weighted kind ({kinds}) to train on")
    als = config.als().fit(matrix, start=_start_factors(warm_start, built.items, config))
    personal = Personal.fitted(matrix, als, config.blend, config.neighbours)
    together = bought_together(
        baskets_matrix(interactions, built.items),
        min_support=config.together_min_support,
        min_lift=config.together_min_lift,
    )
    popularity = np.asarray((matrix > 0).sum(axis=0)).ravel().astype(np.float64)
    trending = trending_scores(interactions, built.items, now_ms)
    catalog = Catalog.build(built.items, known_items or {})
    meta = {
        "trained_at_ms": now_ms,
        "interactions": len(interactions),
        "users": matrix.shape[0],
        "items": matrix.shape[1],
        "train_seconds": round(time.perf_counter() - started, 3),
    }
    return Bundle(built.items, personal, together, popularity, trending, catalog, config, meta)


def _start_factors(warm: Bundle | None, items: IdMap, config: TrainingConfig) -> np.ndarray | None:
    """`warm`'s item factors laid out for `items` (small random ones for items it
    does not know), or None when it cannot help (no bundle, other factor count)."""
    if warm is None or warm.als.factors != config.factors:
        return None
    rng = np.random.default_rng(len(items))
    start = (rng.random((len(items), config.factors)) * 0.01).astype(np.float32)
    old = [warm.items.get(items.id_of(i)) for i in range(len(items))]
    known = np.array([i for i, o in enumerate(old) if o is not None], dtype=np.int64)
    if len(known):
        start[known] = warm.als.item_factors[[o for o in old if o is not None]]
    return start
