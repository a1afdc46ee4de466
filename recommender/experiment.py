"""Evaluation protocols and the hyper-parameter search, as `tarry eval` runs them.

Both protocols are temporal (the model sees only the past):

- `user`: a global time split; each returning user's later items (repeats
  included) are predicted from everything the user did before the cut.
- `session`: sessions starting in the last part of the time range; each one's later
  items are predicted from its first items alone (the visitor is anonymous), the
  model having been trained only on earlier sessions. Items already in the session
  are not recommended back.

The search never looks at the test part: it splits the training part again by the
same protocol, fits every candidate on the earlier part and picks by NDCG@k on the
later part (validation). The winner is then refitted on the whole training part and
scored once on the test part, next to the baselines, by the same code.

`recommended` is scored through `serving.Showcases` — the exact code path, rules and
fallbacks a storefront gets.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Literal

import numpy as np
from threadpoolctl import threadpool_limits

from recommender.bundle import Bundle, TrainingConfig, train_bundle
from recommender.evaluation import evaluate
from recommender.interactions import (
    DEFAULT_WEIGHTS,
    Interaction,
    InteractionMatrix,
    Weighting,
    build_matrix,
)
from recommender.models import ItemKNN, Popular, Recommender
from recommender.models.personal import BlendWeights
from recommender.serving import Query, Rules, Showcases
from recommender.splits import session_split, user_split

Protocol = Literal["user", "session"]
PROTOCOLS: tuple[Protocol, ...] = ("user", "session")
Progress = Callable[[str], None]


@dataclasses.dataclass
class Task:
    """One split made ready for scoring: training interactions, and per query
    (user or session) the history to answer from and the items to find."""

    train: list[Interaction]
    history: dict[str, tuple[list[str], list[float]]]
    relevant: dict[str, set[str]]
    exclude_history: bool
    cut_ms: int
    built: InteractionMatrix  # `train` under the task's weighting, decayed to the cut


MAX_TEST_QUERIES = 10_000


def _sample(relevant: dict[str, set[str]], limit: int | None) -> dict[str, set[str]]:
    """At most `limit` test queries, a seeded random sample: enough for a standard
    error of NDCG around 0.003, and evaluation time that stops growing with traffic."""
    if limit is None or len(relevant) <= limit:
        return relevant
    keys = sorted(relevant)
    chosen = np.random.default_rng(0).choice(len(keys), limit, replace=False)
    return {keys[i]: relevant[keys[i]] for i in sorted(chosen.tolist())}


def make_task(
    interactions: Sequence[Interaction],
    protocol: Protocol,
    weighting: Weighting,
    max_queries: int | None = MAX_TEST_QUERIES,
) -> Task:
    if protocol == "user":
        split = user_split(interactions)
        relevant = _sample(split.relevant, max_queries)
        built = build_matrix(split.train, weighting, now_ms=split.cut_ms)
        history = {}
        for user in relevant:
            row = built.matrix.getrow(built.users.get(user))
            ids = [built.items.id_of(int(i)) for i in row.indices]
            history[user] = (ids, row.data.astype(float).tolist())
        return Task(split.train, history, relevant, False, split.cut_ms, built)
    if protocol == "session":
        ssplit = session_split(interactions)
        relevant = _sample(ssplit.relevant, max_queries)
        # One matrix for every test session's first part, a row per session; no
        # decay within a session's few minutes (the page sends plain weights too).
        records = [
            dataclasses.replace(r, visitor_id=session)
            for session in relevant
            for r in ssplit.history[session]
        ]
        weights = dataclasses.replace(weighting, half_life_days=None)
        built = build_matrix(records, weights)
        history = {}
        for session in relevant:
            row_index = built.users.get(session)
            if row_index is None:
                continue
            row = built.matrix.getrow(row_index)
            if row.nnz:
                ids = [built.items.id_of(int(i)) for i in row.indices]
                history[session] = (ids, row.data.astype(float).tolist())
        relevant = {s: r for s, r in relevant.items() if s in history}
        train = build_matrix(ssplit.train, weighting, now_ms=ssplit.cut_ms)
        return Task(ssplit.train, history, relevant, True, ssplit.cut_ms, train)
    raise ValueError(f"protocol: must be user or session, got {protocol!r}")


def _metrics(
    task: Task,
    built: InteractionMatrix,
    k: int,
    answer: Callable[[list[str], list[float]], list[str]],
) -> dict[str, float]:
    users_per_item = np.asarray((built.matrix > 0).sum(axis=0)).ravel()
    share = users_per_item / max(built.matrix.shape[0], 1)
    popularity = {built.items.id_of(i): float(p) for i, p in enumerate(share)}
    recommended = {q: answer(*task.history[q]) for q in task.relevant}
    return evaluate(
        recommended,
        task.relevant,
        k=k,
        catalog_size=max(len(built.items), 1),
        popularity=popularity,
    )


def score_model(
    task: Task, built: InteractionMatrix, model: Recommender, k: int
) -> dict[str, float]:
    def answer(ids: list[str], weights: list[float]) -> list[str]:
        found = [(built.items.get(i), w) for i, w in zip(ids, weights, strict=True)]
        known = [(i, w) for i, w in found if i is not None]
        history = np.array([i for i, _ in known], dtype=np.int64)
        exclude = history if task.exclude_history else None
        got = model.recommend(history, k, weights=np.array([w for _, w in known]), exclude=exclude)
        return [built.items.id_of(i) for i, _ in got]

    return _metrics(task, built, k, answer)


def score_bundle(task: Task, built: InteractionMatrix, bundle: Bundle, k: int) -> dict[str, float]:
    showcases = Showcases(bundle)

    def answer(ids: list[str], weights: list[float]) -> list[str]:
        rules = Rules(exclude_purchased=False, exclude_history=task.exclude_history)
        query = Query("recommended", n=k, history=ids, history_weights=weights)
        return [pick.item_id for pick in showcases.answer(query, rules)]

    return _metrics(task, built, k, answer)


# -- search -------------------------------------------------------------------

ALS_GRID: tuple[dict[str, Any], ...] = (
    {"factors": 32, "regularization": 0.1, "alpha": 1.0, "scaling": "bm25"},
    {"factors": 64, "regularization": 0.05, "alpha": 1.0, "scaling": "bm25"},
    {"factors": 128, "regularization": 0.1, "alpha": 1.0, "scaling": "bm25"},
    {"factors": 64, "regularization": 0.05, "alpha": 2.0, "scaling": "confidence"},
    {"factors": 128, "regularization": 0.05, "alpha": 1.0, "scaling": "confidence"},
)
ITERATIONS_GRID = (15, 30)
BLEND_GRID = tuple(
    BlendWeights(a, c, r)
    for a, c, r in (
        (1, 0, 0),
        (1, 0.5, 0),
        (1, 1, 0),
        (0.5, 1, 0),
        (0.25, 1, 0),
        (1, 0.5, 0.5),
        (0.5, 1, 0.5),
        (0.25, 1, 0.5),
        (1, 1, 1),
        (0.5, 1, 1),
        (0.25, 1, 1),
        (1, 0.5, 1),
        (0, 1, 1),
        (0, 1, 0),
    )
)
FLAT_WEIGHTS = {"view_item": 1.0, "add_to_cart": 2.0, "begin_checkout": 2.0, "purchase": 3.0}


def _weightings(interactions: Sequence[Interaction]) -> list[Weighting]:
    """Event-weight candidates; only worth searching when there are several kinds."""
    kinds = {r.event for r in interactions} & set(DEFAULT_WEIGHTS)
    default = Weighting(half_life_days=None)
    if len(kinds) < 2:
        return [default]
    return [default, Weighting(FLAT_WEIGHTS, half_life_days=None)]


def _candidates(interactions: Sequence[Interaction]) -> Iterator[TrainingConfig]:
    for weighting in _weightings(interactions):
        for als in ALS_GRID:
            yield TrainingConfig(weighting=weighting, **als)


@dataclasses.dataclass
class SearchResult:
    config: TrainingConfig
    validation_ndcg: float
    tried: list[dict[str, Any]]


def search(
    interactions: Sequence[Interaction],
    protocol: Protocol,
    k: int = 10,
    progress: Progress | None = None,
) -> SearchResult:
    """Pick ALS parameters, event weights, iterations and blend weights by NDCG@k on
    validation: `interactions` must be the training part only, which is split again
    by the same protocol."""
    say = progress or (lambda _: None)
    metric = f"ndcg@{k}"
    tried: list[dict[str, Any]] = []
    best: tuple[float, TrainingConfig] | None = None
    tasks: dict[int, Task] = {}

    def consider(config: TrainingConfig) -> float:
        nonlocal best
        key = id(config.weighting)
        if key not in tasks:
            tasks[key] = _validation_task(interactions, protocol, config.weighting)
        task = tasks[key]
        bundle = train_bundle(task.train, config, built=task.built, now_ms=task.cut_ms)
        value = score_bundle(task, task.built, bundle, k)[metric]
        tried.append({"config": config.to_json(), metric: value})
        if best is None or value > best[0]:
            best = (value, config)
        return value

    # ALS parameters and event weights with a middle blend, then iterations, then
    # the blend itself for the winner: a handful of fits rather than a full grid.
    middle = BlendWeights(1, 0.5, 0.5)
    for config in _candidates(interactions):
        value = consider(dataclasses.replace(config, blend=middle))
        say(f"search: {_describe(config)} → validation {metric} {value:.4f}")
    assert best is not None
    for iterations in ITERATIONS_GRID:
        if iterations != best[1].iterations:
            config = dataclasses.replace(best[1], iterations=iterations)
            say(f"search: iterations {iterations} → validation {metric} {consider(config):.4f}")
    als_best = best[1]
    for blend in BLEND_GRID:
        if blend != als_best.blend:
            value = consider(dataclasses.replace(als_best, blend=blend))
            say(f"search: blend {_blend(blend)} → validation {metric} {value:.4f}")
    return SearchResult(best[1], best[0], tried)


class TooLittleData(ValueError):
    """The training part is too small to split again for validation."""


def _validation_task(
    interactions: Sequence[Interaction], protocol: Protocol, weighting: Weighting
) -> Task:
    try:
        task = make_task(interactions, protocol, weighting)
    except ValueError as exc:
        raise TooLittleData(str(exc)) from None
    if not task.relevant or not task.train:
        unit = "users" if protocol == "user" else "sessions"
        raise TooLittleData(f"no validation {unit} with something to predict")
    return task


KNN_NEIGHBOURS = (20, 50, 100)


def tune_item_knn(
    interactions: Sequence[Interaction],
    protocol: Protocol,
    k: int,
    weighting: Weighting,
    say: Progress,
) -> int:
    """The item_knn baseline's neighbourhood size, by validation NDCG@k on a split
    of the training part (as for Tarry's own models: a baseline left at a poor
    setting would flatter them)."""
    task = _validation_task(interactions, protocol, weighting)
    built = task.built
    best = (-1.0, KNN_NEIGHBOURS[-1])
    for neighbours in KNN_NEIGHBOURS:
        model = ItemKNN(neighbours=neighbours).fit(built.matrix)
        value = score_model(task, built, model, k)[f"ndcg@{k}"]
        say(f"search: item_knn with {neighbours} neighbours → validation ndcg@{k} {value:.4f}")
        best = max(best, (value, neighbours))
    return best[1]


def _describe(config: TrainingConfig) -> str:
    weights = "flat" if dict(config.weighting.weights) == FLAT_WEIGHTS else "default"
    return (
        f"factors {config.factors}, reg {config.regularization}, alpha {config.alpha}, "
        f"{config.scaling}, {weights} event weights"
    )


def _blend(blend: BlendWeights) -> str:
    return f"als {blend.als} + cooccurrence {blend.cooccurrence} + repeat {blend.repeat}"


# -- the whole evaluation ------------------------------------------------------


def run(
    interactions: Sequence[Interaction],
    protocol: Protocol = "user",
    k: int = 10,
    *,
    config: TrainingConfig | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Baselines, ALS and `recommended` on the test part; `config` skips the search."""
    if k < 1:
        raise ValueError(f"k: must be at least 1, got {k}")
    with threadpool_limits(1, "blas"):  # see recommender.pin_blas
        return _run(interactions, protocol, k, config, progress)


def _run(
    interactions: Sequence[Interaction],
    protocol: Protocol,
    k: int,
    config: TrainingConfig | None,
    progress: Progress | None,
) -> dict[str, Any]:
    say = progress or (lambda _: None)
    found = None
    knn_neighbours = KNN_NEIGHBOURS[-1]
    if config is None:
        # The search sees only the training part; it splits that again to validate.
        training_part = make_task(interactions, protocol, Weighting()).train
        try:
            found = search(training_part, protocol, k, progress)
            config = found.config
            # The baseline gets the same care: its neighbourhood size is tuned too.
            knn_neighbours = tune_item_knn(training_part, protocol, k, config.weighting, say)
        except TooLittleData as exc:
            say(f"search: skipped, {exc}; default parameters")
            config = default_config()
    task = make_task(interactions, protocol, config.weighting)
    if not task.relevant:
        raise ValueError(f"interactions: no test {protocol}s with something to predict")
    built = task.built
    models: dict[str, dict[str, float]] = {}
    baselines: dict[str, Recommender] = {
        "popular": Popular(),
        "item_knn": ItemKNN(neighbours=knn_neighbours),
    }
    for name, model in baselines.items():
        started = time.perf_counter()
        model.fit(built.matrix)
        fit_s = time.perf_counter() - started
        models[name] = {**score_model(task, built, model, k), "fit_s": fit_s}
        say(f"{name}: ndcg@{k} {models[name][f'ndcg@{k}']:.4f}")
    started = time.perf_counter()
    bundle = train_bundle(task.train, config, built=built, now_ms=task.cut_ms)
    fit_s = time.perf_counter() - started
    models["als"] = {**score_model(task, built, bundle.als, k), "fit_s": fit_s}
    say(f"als: ndcg@{k} {models['als'][f'ndcg@{k}']:.4f}")
    models["recommended"] = {**score_bundle(task, built, bundle, k), "fit_s": fit_s}
    say(f"recommended: ndcg@{k} {models['recommended'][f'ndcg@{k}']:.4f}")
    split: dict[str, Any] = {
        "protocol": protocol,
        "cut_ms": task.cut_ms,
        "train_interactions": len(task.train),
        "test_queries": len(task.relevant),
        "users": built.matrix.shape[0],
        "items": built.matrix.shape[1],
    }
    if found is not None:
        say(
            f"chosen on validation (ndcg@{k} {found.validation_ndcg:.4f}): {_describe(config)}, "
            f"iterations {config.iterations}, blend {_blend(config.blend)}"
        )
    return {"k": k, "split": split, "models": models}


def default_config() -> TrainingConfig:
    """What `tarry train` uses when nothing better is known: the winner of the
    validation search most often across the data sets in the README."""
    return TrainingConfig(weighting=Weighting(half_life_days=None))


def metric_columns(k: int) -> list[str]:
    return [f"ndcg@{k}", f"precision@{k}", f"recall@{k}", f"map@{k}", f"hit_rate@{k}", "coverage"]


def table(result: Mapping[str, Any]) -> str:
    """The result as a markdown table, one row per model."""
    k = result["k"]
    columns = [*metric_columns(k), "mean_popularity"]
    lines = [
        "| model | " + " | ".join(columns) + " | fit s |",
        "|---|" + "---:|" * (len(columns) + 1),
    ]
    for name, m in result["models"].items():
        cells = " | ".join(f"{m[c]:.3f}" for c in columns)
        lines.append(f"| {name} | {cells} | {m['fit_s']:.1f} |")
    return "\n".join(lines)
