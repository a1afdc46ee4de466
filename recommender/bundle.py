"""A model bundle: everything a store's showcases need, trained together, saved as one
versioned artefact.

One item index space (`items`, append-only ids) is shared by every part: ALS
factors, the co-occurrence neighbours, the session-kNN sessions, the bought-together
pairs, popularity, trending and the catalog. Sparse parts stay sparse (items x
neighbours), so a store with a million items never holds a dense items x items
matrix.

A bundle also knows the visitors it was trained on (`users`): each one's latest
`KNOWN_ITEMS` items, oldest first, with the weights the training matrix gave them.
A returning visitor whose page sends nothing is answered from that history (the
fold-in of a visitor's own training row is the vector ALS learnt for them, and the
other signals need the items themselves), merged with what they did since.

`repeat` (in `meta.json`, with the data's profile that decided it) says whether a
visitor's own items may come back in `recommended`; the serving rules follow it.

On disk a bundle is a directory with `arrays.npz` (numbers only, loaded without
pickle) and `meta.json` (parameters, metrics, provenance); `to_bytes` makes the
same two one archive, for a store with no directories (the server keeps bundles in
Redis).
"""

from __future__ import annotations

import dataclasses
import io
import itertools
import json
import time
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from recommender.catalog import Catalog, ItemInfo
from recommender.columns import Columns, as_columns, grouped_order
from recommender.history import History
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
from recommender.models.sknn import SessionKNN, sessions_matrix
from recommender.models.together import baskets_matrix, bought_together
from recommender.models.trending import trending_scores
from recommender.profile import Profile, profile

FORMAT = 2
# Format 1 bundles predate known visitors, session-kNN and the repeat decision: they
# load with none of those and keep serving as they did (repeats allowed).
READABLE_FORMATS = (1, 2)
KNOWN_ITEMS = 200  # per known visitor: their latest items
# The member of `to_bytes` archives that holds what `save` writes as meta.json.
META_MEMBER = "meta_json"


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
    trending_half_lives: tuple[float, ...] = (6.0, 72.0)  # hours
    sknn_neighbours: int = 100
    sknn_sample: int = 500

    def trending_horizon_days(self) -> float:
        """How far back trending reads: two weeks, or four of its longest half-lives."""
        return max(14.0, 4 * max(self.trending_half_lives) / 24)

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
        out["trending_half_lives"] = list(self.trending_half_lives)  # as JSON reads back
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
        if "trending_half_lives" in values:  # JSON has lists, the config tuples
            values["trending_half_lives"] = tuple(values["trending_half_lives"])
        return cls(weighting=weighting, blend=blend, **values)


@dataclasses.dataclass
class KnownUsers:
    """The visitors a bundle was trained on, and each one's latest items (a CSR row
    per visitor: item indices oldest first, and their weights)."""

    ids: IdMap = dataclasses.field(default_factory=IdMap)
    rows: sp.csr_matrix = dataclasses.field(
        default_factory=lambda: sp.csr_matrix((0, 0), dtype=np.float32)
    )

    def history(self, visitor: str) -> tuple[np.ndarray, np.ndarray] | None:
        """(item indices, weights) of a known visitor, oldest first; None if unknown."""
        row = self.ids.get(visitor)
        if row is None:
            return None
        span = slice(self.rows.indptr[row], self.rows.indptr[row + 1])
        return self.rows.indices[span].astype(np.int64), self.rows.data[span].astype(np.float64)

    @classmethod
    def of(cls, built: InteractionMatrix, keep: int = KNOWN_ITEMS) -> KnownUsers:
        """Each row of `built`'s matrix in the order its items were last touched,
        cut to the latest `keep`."""
        matrix = built.matrix
        lengths = np.diff(matrix.indptr)
        row_of = np.repeat(np.arange(matrix.shape[0]), lengths)
        last = built.last_ms if len(built.last_ms) == matrix.nnz else np.zeros(matrix.nnz)
        order = grouped_order(row_of, np.asarray(last, dtype=np.int64))
        position = np.arange(matrix.nnz) - np.repeat(matrix.indptr[:-1], lengths)
        kept = position >= np.repeat(lengths - keep, lengths)
        chosen = order[kept]
        counts = np.minimum(lengths, keep)
        indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        rows = sp.csr_matrix(
            (matrix.data[chosen], matrix.indices[chosen], indptr), shape=matrix.shape
        )
        return cls(built.users, rows)


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
    users: KnownUsers = dataclasses.field(default_factory=KnownUsers)
    repeat: bool = True  # may a visitor's own items come back in `recommended`

    @property
    def als(self) -> ALS:
        return self.personal.als

    @property
    def knn(self) -> ItemKNN:
        return self.personal.knn

    @property
    def sknn(self) -> SessionKNN:
        return self.personal.sknn

    def known_history(self, visitor: str) -> History | None:
        """A known visitor's training history as item ids and weights, oldest first."""
        found = self.users.history(visitor)
        if found is None:
            return None
        id_of = self.items.id_of
        return [id_of(i) for i in found[0].tolist()], found[1].tolist()

    def variant(
        self,
        config: TrainingConfig,
        *,
        knn: ItemKNN | None = None,
        trending: np.ndarray | None = None,
    ) -> Bundle:
        """The same fitted ALS and sessions under `config`'s blend and session-kNN
        settings, with `knn` and `trending` refitted by the caller where those
        settings changed: what the search compares, without refitting ALS."""
        sknn = self.sknn
        if (config.sknn_neighbours, config.sknn_sample) != (sknn.neighbours, sknn.sample):
            sknn = SessionKNN(config.sknn_neighbours, config.sknn_sample)
            sknn.install(self.sknn.sessions)
        trending = self.trending if trending is None else trending
        personal = Personal(self.als, knn or self.knn, config.blend, sknn=sknn, trending=trending)
        return dataclasses.replace(self, personal=personal, trending=trending, config=config)

    # -- persistence ----------------------------------------------------------

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=False)
        np.savez(directory / "arrays.npz", **self._arrays())  # type: ignore[arg-type]
        meta = json.dumps(self._stored_meta(), indent=1, sort_keys=True)
        (directory / "meta.json").write_text(meta)

    def to_bytes(self) -> bytes:
        """The bundle as one archive: the arrays `save` writes to `arrays.npz`, and
        its `meta.json` as one more member (UTF-8 bytes), so that it can be stored
        where there are no directories (Redis) and read back without pickle."""
        meta = json.dumps(self._stored_meta(), sort_keys=True).encode()
        buffer = io.BytesIO()
        arrays = {**self._arrays(), META_MEMBER: np.frombuffer(meta, dtype=np.uint8)}
        np.savez(buffer, **arrays)  # type: ignore[arg-type]
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, source: str = "bundle") -> Bundle:
        """The bundle `to_bytes` made; `source` names it in errors."""
        try:
            stored = np.load(io.BytesIO(data), allow_pickle=False)
            if not isinstance(stored, np.lib.npyio.NpzFile):
                raise ValueError("one array, not an archive")
            with stored:
                arrays = {name: stored[name] for name in stored.files}
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
            raise ValueError(f"{source}: not a bundle archive ({exc})") from None
        if META_MEMBER not in arrays:
            raise ValueError(f"{source}: not a bundle archive (no {META_MEMBER} member)")
        meta = json.loads(arrays.pop(META_MEMBER).tobytes())
        _check_format(meta, source)
        return cls._assemble(meta, arrays)

    @classmethod
    def load(cls, directory: Path) -> Bundle:
        meta = json.loads((directory / "meta.json").read_text())
        _check_format(meta, str(directory))
        # The file opened here, not by np.load: a truncated archive makes np.load
        # raise before it hands its own file handle back, leaving it open.
        with (
            (directory / "arrays.npz").open("rb") as file,
            np.load(file, allow_pickle=False) as stored,
        ):
            arrays = {name: stored[name] for name in stored.files}
        return cls._assemble(meta, arrays)

    def _arrays(self) -> dict[str, np.ndarray]:
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
        for name, matrix in (
            ("knn", self.knn.similarity),
            ("together", self.together),
            ("users", self.users.rows),
            ("sessions", self.sknn.sessions),
        ):
            arrays[f"{name}_data"] = matrix.data
            arrays[f"{name}_indices"] = matrix.indices
            arrays[f"{name}_indptr"] = matrix.indptr
        arrays["user_ids"], arrays["user_offsets"] = _pack(self.users.ids)
        return arrays

    def _stored_meta(self) -> dict[str, Any]:
        return {
            **self.meta,
            "format": FORMAT,
            "config": self.config.to_json(),
            "mean_length": self.als.weights.mean_length,
            "repeat": self.repeat,
            "sessions": int(self.sknn.sessions.shape[0]),
        }

    @classmethod
    def _assemble(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Bundle:
        config = TrainingConfig.from_json(meta["config"])
        n = len(arrays["items"])

        def csr(name: str, rows: int = n) -> sp.csr_matrix:
            parts = (arrays[f"{name}_data"], arrays[f"{name}_indices"], arrays[f"{name}_indptr"])
            return sp.csr_matrix(parts, shape=(rows, n))

        users = KnownUsers(IdMap([]), sp.csr_matrix((0, n), dtype=np.float32))
        sknn = SessionKNN(config.sknn_neighbours, config.sknn_sample)
        if meta["format"] >= 2:
            ids = _unpack(arrays["user_ids"], arrays["user_offsets"])
            users = KnownUsers(ids, csr("users", len(ids)))
            sknn.install(csr("sessions", int(meta["sessions"])))
        else:
            sknn.install(sp.csr_matrix((0, n), dtype=np.float32))

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
            Personal(als, knn, config.blend, sknn=sknn, trending=arrays["trending"]),
            csr("together"),
            arrays["popularity"],
            arrays["trending"],
            catalog,
            config,
            meta,
            users,
            bool(meta.get("repeat", True)),
        )


def _check_format(meta: Mapping[str, Any], source: str) -> None:
    if meta.get("format") not in READABLE_FORMATS:
        raise ValueError(f"{source}: format {meta.get('format')!r}, expected {FORMAT}")


def _pack(ids: IdMap) -> tuple[np.ndarray, np.ndarray]:
    """Ids as one UTF-8 byte array and offsets: a fixed-width string array would
    spend the longest id's width on every one of a million visitors."""
    encoded = [ids.id_of(i).encode() for i in range(len(ids))]
    offsets = np.concatenate([[0], np.cumsum([len(e) for e in encoded])]).astype(np.int64)
    return np.frombuffer(b"".join(encoded), dtype=np.uint8), offsets


def _unpack(blob: np.ndarray, offsets: np.ndarray) -> IdMap:
    data = blob.tobytes()
    bounds = offsets.tolist()
    return IdMap(data[a:b].decode() for a, b in itertools.pairwise(bounds))


def train_bundle(
    interactions: Iterable[Interaction] | Columns,
    config: TrainingConfig | None = None,
    *,
    known_items: Mapping[str, ItemInfo] | None = None,
    items: IdMap | None = None,
    now_ms: int | None = None,
    warm_start: Bundle | None = None,
    built: InteractionMatrix | None = None,
    data_profile: Profile | None = None,
) -> Bundle:
    """Fit every part on `interactions`. Pass the `items` map of the bundle in service
    so existing items keep their indices (new ones are appended). `warm_start`: a
    bundle fitted with the same configuration on most of the same data (the holdout
    candidate); ALS starts from its item factors and needs fewer iterations.
    `built`: the matrix of exactly these interactions under `config.weighting`,
    decayed to `now_ms` (an evaluation task's), instead of building it again.
    `data_profile`: what decides repeats (default: the profile of `interactions`)."""
    config = config or TrainingConfig()
    columns = as_columns(interactions)
    if not len(columns):
        raise ValueError("interactions: none to train on")
    started = time.perf_counter()
    now_ms = now_ms if now_ms is not None else int(columns.ts.max())
    if built is None:
        items = IdMap.from_array(items.to_array()) if items is not None else IdMap()
        built = build_matrix(columns, config.weighting, now_ms=now_ms, items=items)
    elif items is not None:
        raise ValueError("items: pass either items or a built matrix, not both")
    matrix = built.matrix
    if matrix.nnz == 0:
        kinds = ", ".join(sorted(config.weighting.weights))
        raise ValueError(f"interactions: none of a weighted kind ({kinds}) to train on")
    data_profile = data_profile or profile(columns)
    als = config.als().fit(matrix, start=_start_factors(warm_start, built.items, config))
    trending = trending_scores(
        columns,
        built.items,
        now_ms,
        half_lives_hours=config.trending_half_lives,
        horizon_days=config.trending_horizon_days(),
    )
    sknn = SessionKNN(config.sknn_neighbours, config.sknn_sample).fit(
        sessions_matrix(columns, built.items, frozenset(config.weighting.weights))
    )
    personal = Personal.fitted(
        matrix, als, config.blend, config.neighbours, sknn=sknn, trending=trending
    )
    together = bought_together(
        baskets_matrix(columns, built.items),
        min_support=config.together_min_support,
        min_lift=config.together_min_lift,
    )
    popularity = np.asarray((matrix > 0).sum(axis=0)).ravel().astype(np.float64)
    catalog = Catalog.build(built.items, known_items or {})
    meta = {
        "trained_at_ms": now_ms,
        "interactions": len(columns),
        "users": matrix.shape[0],
        "items": matrix.shape[1],
        "profile": data_profile.to_json(),
        "train_seconds": round(time.perf_counter() - started, 3),
    }
    return Bundle(
        built.items,
        personal,
        together,
        popularity,
        trending,
        catalog,
        config,
        meta,
        KnownUsers.of(built),
        data_profile.repeat,
    )


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
