"""Evaluation protocols and the hyper-parameter search, as `tarry eval` runs them.

Both protocols are temporal (the model sees only the past):

- `user`: a global time split; each returning user's later items (repeats
  included) are predicted from everything the user did before the cut.
- `session`: sessions starting in the last part of the time range; each one's later
  items are predicted from its first items alone (the visitor is anonymous), the
  model having been trained only on earlier sessions.

Whether a visitor's own items may come back is decided from the data
(`recommender.profile`: do customers re-buy?) and holds for every model alike: with
repeats, an item seen before and taken again is a hit; without, seen items are
neither recommended nor counted. A user's history is the one the bundle keeps of
each visitor it was trained on, and a session's is built from its events the way
the server builds it from the events it stores (`recommender.history`).

The search never looks at the test part: it splits the training part again by the
same protocol, fits every candidate on the earlier part and picks by NDCG@k on the
later part (validation). The winner is then refitted on the whole training part and
scored once on the test part, next to the baselines, by the same code.

`recommended` and each of its signals alone (`als`, `cooccurrence`, `sknn`,
`trending`, `repeat`) are scored through `serving.Showcases` with the server's
default rules — the exact code path, rules, exclusions and fallbacks a storefront
gets.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from recommender import history as histories
from recommender.bundle import Bundle, KnownUsers, TrainingConfig, train_bundle
from recommender.columns import Columns, as_columns, distinct
from recommender.evaluation import evaluate
from recommender.interactions import (
    DEFAULT_WEIGHTS,
    Interaction,
    InteractionMatrix,
    Weighting,
    build_matrix,
)
from recommender.models import ItemKNN, Popular, Recommender
from recommender.models.personal import SIGNALS, BlendWeights
from recommender.models.trending import trending_scores
from recommender.profile import Profile, Protocol, profile
from recommender.serving import Query, Rules, Showcases
from recommender.splits import session_split, user_split

PROTOCOLS: tuple[Protocol, ...] = ("user", "session")
Progress = Callable[[str], None]
SERVED_RULES = Rules()  # what the server applies when a page asks for nothing else


@dataclasses.dataclass
class Task:
    """One split made ready for scoring: training interactions, and per query
    (user or session) the history to answer from and the items to find. Under the
    user protocol a query is a visitor the bundle knows (`visitors`): its history is
    their row of `built`, as the bundle keeps it."""

    train: Columns
    history: dict[str, tuple[list[str], list[float]]]
    relevant: dict[str, set[str]]
    exclude_history: bool
    cut_ms: int
    built: InteractionMatrix  # `train` under the task's weighting, decayed to the cut
    visitors: bool = False
    profile: Profile | None = None


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
    interactions: Iterable[Interaction] | Columns,
    protocol: Protocol,
    weighting: Weighting,
    max_queries: int | None = MAX_TEST_QUERIES,
    *,
    data_profile: Profile | None = None,
) -> Task:
    """The split of `interactions` under `protocol`; repeats as `data_profile` (by
    default the profile of `interactions`) decides."""
    columns = as_columns(interactions)
    data_profile = data_profile or profile(columns)
    repeats = data_profile.repeat
    if protocol == "user":
        split = user_split(columns, repeats=repeats)
        relevant = _sample(split.relevant, max_queries)
        built = build_matrix(split.train, weighting, now_ms=split.cut_ms)
        known = KnownUsers.of(built)
        history = {}
        for user in relevant:
            found = known.history(user)
            if found is not None and len(found[0]):  # None: seen, but no weighted event
                ids = [built.items.id_of(i) for i in found[0].tolist()]
                history[user] = (ids, found[1].tolist())
        relevant = {u: r for u, r in relevant.items() if u in history}
        return Task(
            split.train, history, relevant, not repeats, split.cut_ms, built, True, data_profile
        )
    if protocol == "session":
        ssplit = session_split(columns, repeats=repeats)
        relevant = _sample(ssplit.relevant, max_queries)
        # A session's start as the server keeps it: its latest events, read the way
        # the server reads the ones it stores (no decay within a session's minutes).
        history = {}
        for session in relevant:
            records = ssplit.history[session][-histories.MAX_STORED :]
            started = histories.from_events(
                ((r.item_id, r.event, r.timestamp_ms) for r in records), weighting
            )
            if started[0]:
                history[session] = started
        relevant = {s: r for s, r in relevant.items() if s in history}
        train = build_matrix(ssplit.train, weighting, now_ms=ssplit.cut_ms)
        return Task(
            ssplit.train, history, relevant, not repeats, ssplit.cut_ms, train, False, data_profile
        )
    raise ValueError(f"protocol: must be user or session, got {protocol!r}")


def _metrics(
    task: Task,
    built: InteractionMatrix,
    k: int,
    answer: Callable[[str, list[str], list[float]], list[str]],
) -> dict[str, float]:
    users_per_item = np.asarray((built.matrix > 0).sum(axis=0)).ravel()
    share = users_per_item / max(built.matrix.shape[0], 1)
    popularity = {built.items.id_of(i): float(p) for i, p in enumerate(share)}
    recommended = {q: answer(q, *task.history[q]) for q in task.relevant}
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
    def answer(_: str, ids: list[str], weights: list[float]) -> list[str]:
        found = [(built.items.get(i), w) for i, w in zip(ids, weights, strict=True)]
        known = [(i, w) for i, w in found if i is not None]
        history = np.array([i for i, _ in known], dtype=np.int64)
        exclude = history if task.exclude_history else None
        got = model.recommend(history, k, weights=np.array([w for _, w in known]), exclude=exclude)
        return [built.items.id_of(i) for i, _ in got]

    return _metrics(task, built, k, answer)


def score_bundle(task: Task, built: InteractionMatrix, bundle: Bundle, k: int) -> dict[str, float]:
    """`recommended` as the server answers it: the server's rules, and a known
    visitor asked for by id alone (the bundle brings their history)."""
    showcases = Showcases(bundle)

    def answer(query_id: str, ids: list[str], weights: list[float]) -> list[str]:
        if task.visitors:
            query = Query("recommended", n=k, visitor=query_id)
        else:
            query = Query("recommended", n=k, history=ids, history_weights=weights)
        return [pick.item_id for pick in showcases.answer(query, SERVED_RULES)]

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
# Each signal's own settings, tried with the signal alone; the winner's are kept
# for blending. Trending half-lives in hours: a day and three, a week and a month,
# a month and a year (close to all-time popularity).
TRENDING_GRID: tuple[tuple[float, ...], ...] = (
    (6.0, 72.0),
    (24.0, 168.0),
    (168.0, 720.0),
    (720.0, 8760.0),
)
NEIGHBOURS_GRID = (20, 50, 100)
SKNN_GRID = ((50, 500), (200, 500), (100, 2000))  # (neighbours, sample)
WEIGHT_STEPS = (0.0, 0.25, 0.5, 1.0, 2.0)  # a signal's weight against the others'
RECENCY_GRID = (None, 1.0, 3.0, 10.0)  # history half-lives in items
HALF_LIFE_DAYS_GRID = (30.0,)  # event decay tried on the best ALS (None is the default)
FLAT_WEIGHTS = {"view_item": 1.0, "add_to_cart": 2.0, "begin_checkout": 2.0, "purchase": 3.0}


def _weightings(interactions: Columns) -> list[Weighting]:
    """Event-weight candidates; only worth searching when there are several kinds."""
    present = distinct(interactions.event).tolist()
    kinds = {interactions.events.id_of(code) for code in present} & set(DEFAULT_WEIGHTS)
    default = Weighting(half_life_days=None)
    if len(kinds) < 2:
        return [default]
    return [default, Weighting(FLAT_WEIGHTS, half_life_days=None)]


def _candidates(interactions: Columns) -> Iterator[TrainingConfig]:
    for weighting in _weightings(interactions):
        for als in ALS_GRID:
            yield TrainingConfig(weighting=weighting, **als)


@dataclasses.dataclass
class SearchResult:
    config: TrainingConfig
    validation_ndcg: float
    tried: list[dict[str, Any]]
    # Each signal alone, with its best settings: what `tarry eval` shows as its row.
    components: dict[str, TrainingConfig] = dataclasses.field(default_factory=dict)


def middle_blend(repeats: bool) -> BlendWeights:
    return BlendWeights(1, 0.5, 0.5 if repeats else 0.0)


def components(config: TrainingConfig, repeats: bool) -> dict[str, TrainingConfig]:
    """Each signal of `config`'s blend alone (with `config`'s settings for it);
    `repeat` only where repeats are allowed."""
    return {
        signal: dataclasses.replace(config, blend=config.blend.only(signal))
        for signal in SIGNALS
        if repeats or signal != "repeat"
    }


class _Variants:
    """Bundles that differ from one fitted bundle only in what is cheap to change
    (the blend, session-kNN settings, the co-occurrence neighbours, the trending
    half-lives): the parts that did change are refitted once each and kept."""

    def __init__(self, bundle: Bundle, task: Task) -> None:
        self.bundle = bundle
        self.task = task
        self._knn: dict[int, ItemKNN] = {bundle.config.neighbours: bundle.knn}
        self._trending: dict[tuple[float, ...], np.ndarray] = {
            bundle.config.trending_half_lives: bundle.trending
        }

    def of(self, config: TrainingConfig) -> Bundle:
        knn = self._knn.get(config.neighbours)
        if knn is None:
            knn = ItemKNN(config.neighbours, include_self=False).fit(self.task.built.matrix)
            self._knn[config.neighbours] = knn
        trending = self._trending.get(config.trending_half_lives)
        if trending is None:
            trending = trending_scores(
                self.task.train,
                self.task.built.items,
                self.task.cut_ms,
                half_lives_hours=config.trending_half_lives,
                horizon_days=config.trending_horizon_days(),
            )
            self._trending[config.trending_half_lives] = trending
        return self.bundle.variant(config, knn=knn, trending=trending)


def search(
    interactions: Iterable[Interaction] | Columns,
    protocol: Protocol,
    k: int = 10,
    progress: Progress | None = None,
    *,
    data_profile: Profile | None = None,
) -> SearchResult:
    """Pick ALS parameters, event weights, iterations, each signal's settings and the
    blend by NDCG@k on validation: `interactions` must be the training part only,
    which is split again by the same protocol. Repeats follow `data_profile` (by
    default the profile of `interactions`)."""
    say = progress or (lambda _: None)
    columns = as_columns(interactions)
    data_profile = data_profile or profile(columns)
    repeats = data_profile.repeat
    metric = f"ndcg@{k}"
    tried: list[dict[str, Any]] = []
    best: tuple[float, TrainingConfig] | None = None
    tasks: dict[tuple[Any, ...], Task] = {}
    best_fit: list[tuple[Bundle, Task]] = []  # the fitted bundle of the best fit so far

    def task_of(weighting: Weighting) -> Task:
        key = (tuple(sorted(weighting.weights.items())), weighting.half_life_days)
        if key not in tasks:
            tasks[key] = _validation_task(columns, protocol, weighting, data_profile)
        return tasks[key]

    def score(config: TrainingConfig, bundle: Bundle, task: Task) -> float:
        nonlocal best
        value = score_bundle(task, task.built, bundle, k)[metric]
        tried.append({"config": config.to_json(), metric: value})
        if best is None or value > best[0]:
            best = (value, config)
        return value

    def fit(config: TrainingConfig) -> float:
        task = task_of(config.weighting)
        bundle = train_bundle(
            task.train, config, built=task.built, now_ms=task.cut_ms, data_profile=data_profile
        )
        value = score(config, bundle, task)
        if best is not None and best[1] is config:
            best_fit[:] = [(bundle, task)]
        return value

    # ALS parameters and event weights with a middle blend, then iterations and the
    # events' decay: a handful of fits rather than a full grid.
    for config in _candidates(columns):
        value = fit(dataclasses.replace(config, blend=middle_blend(repeats)))
        say(f"search: {_describe(config)} → validation {metric} {value:.4f}")
    assert best is not None
    for iterations in ITERATIONS_GRID:
        if iterations != best[1].iterations:
            config = dataclasses.replace(best[1], iterations=iterations)
            say(f"search: iterations {iterations} → validation {metric} {fit(config):.4f}")
    for days in HALF_LIFE_DAYS_GRID:
        weighting = dataclasses.replace(best[1].weighting, half_life_days=days)
        config = dataclasses.replace(best[1], weighting=weighting)
        say(f"search: events decayed with a {days:g}-day half-life → {metric} {fit(config):.4f}")

    # Each signal alone, on the best ALS fit, with each of its own settings: the
    # blend can always fall back to the best of them.
    assert best is not None
    base, task = best_fit[0]
    variants = _Variants(base, task)

    def consider(config: TrainingConfig) -> float:
        return score(config, variants.of(config), task)

    als_value, als_config = best
    singles: dict[str, tuple[float, TrainingConfig]] = {}
    for signal, alone in components(als_config, repeats).items():
        options = [alone]
        if signal == "cooccurrence":
            options = [dataclasses.replace(alone, neighbours=n) for n in NEIGHBOURS_GRID]
        elif signal == "sknn":
            options = [
                dataclasses.replace(alone, sknn_neighbours=n, sknn_sample=m) for n, m in SKNN_GRID
            ]
        elif signal == "trending":
            options = [dataclasses.replace(alone, trending_half_lives=h) for h in TRENDING_GRID]
        for option in options:
            value = consider(option)
            say(f"search: {signal} alone, {_settings(option, signal)} → {metric} {value:.4f}")
            if signal not in singles or value > singles[signal][0]:
                singles[signal] = (value, option)

    # The blend: every signal's settings as it won alone, from the best start (a
    # signal alone, or the middle blend), then each weight in turn (twice round at
    # most), then the recent-item emphasis of the whole.
    start_value, start = max([*singles.values(), (als_value, als_config)], key=lambda p: p[0])
    shared = dataclasses.replace(
        start,
        neighbours=singles["cooccurrence"][1].neighbours,
        sknn_neighbours=singles["sknn"][1].sknn_neighbours,
        sknn_sample=singles["sknn"][1].sknn_sample,
        trending_half_lives=singles["trending"][1].trending_half_lives,
    )
    if shared != start:
        start_value = consider(shared)
    current = (start_value, shared)
    signals = [s for s in SIGNALS if repeats or s != "repeat"]
    for _ in range(2):
        improved = False
        for signal in signals:
            for step in WEIGHT_STEPS:
                blend = current[1].blend
                if step == getattr(blend, signal):
                    continue
                weights: dict[str, float] = {name: getattr(blend, name) for name in SIGNALS}
                weights[signal] = step
                if not sum(weights.values()) > 0:
                    continue
                option = dataclasses.replace(
                    current[1],
                    blend=dataclasses.replace(blend, **weights),
                )
                value = consider(option)
                say(f"search: blend {_blend(option.blend)} → {metric} {value:.4f}")
                if value > current[0]:
                    current, improved = (value, option), True
        if not improved:
            break
    for emphasis in RECENCY_GRID:
        if emphasis != current[1].blend.recency:
            option = dataclasses.replace(
                current[1], blend=dataclasses.replace(current[1].blend, recency=emphasis)
            )
            value = consider(option)
            say(f"search: blend with recency {emphasis} → {metric} {value:.4f}")
            if value > current[0]:
                current = (value, option)
    assert best is not None
    return SearchResult(
        best[1], best[0], tried, {signal: config for signal, (_, config) in singles.items()}
    )


class TooLittleData(ValueError):
    """The training part is too small to split again for validation."""


# Below this many validation queries the search would pick parameters by noise (with
# one query, every candidate scores 0 or 1); the defaults are the better guess.
MIN_VALIDATION_QUERIES = 20


def _validation_task(
    interactions: Columns,
    protocol: Protocol,
    weighting: Weighting,
    data_profile: Profile | None = None,
) -> Task:
    try:
        task = make_task(interactions, protocol, weighting, data_profile=data_profile)
    except ValueError as exc:
        raise TooLittleData(str(exc)) from None
    unit = "users" if protocol == "user" else "sessions"
    if not len(task.train):
        raise TooLittleData(f"no validation {unit}: the training part has nothing before its cut")
    if len(task.relevant) < MIN_VALIDATION_QUERIES:
        raise TooLittleData(
            f"{len(task.relevant)} validation {unit} with something to predict, "
            f"fewer than the {MIN_VALIDATION_QUERIES} a search needs"
        )
    return task


def nothing_to_predict(interactions: Iterable[Interaction] | Columns, protocol: Protocol) -> str:
    """Why a data set has no test query under `protocol`, in one sentence."""
    columns = as_columns(interactions)
    visitors = len(distinct(columns.visitor))
    sessions = len(distinct(columns.session))
    size = f"{len(columns):,} interactions of {visitors:,} visitors"
    if protocol == "user":
        return (
            f"too little data to evaluate: {size}, and none of the visitors seen before "
            "the cut (the latest 20% of interactions are the test part) comes back "
            "after it, so the user protocol has nothing to predict"
        )
    return (
        f"too little data to evaluate: {size} in {sessions:,} sessions, and none of the "
        "latest 20% of sessions (the test part) has two or more distinct items, so the "
        "session protocol has nothing to predict"
    )


KNN_NEIGHBOURS = (20, 50, 100)


def tune_item_knn(
    interactions: Columns,
    protocol: Protocol,
    k: int,
    weighting: Weighting,
    say: Progress,
    data_profile: Profile | None = None,
) -> tuple[int, bool]:
    """The item_knn baseline's neighbourhood size, and whether an item counts as its
    own neighbour (which ranks a visitor's own items first: right where they come
    back, a waste of slots where they do not), by validation NDCG@k on a split of
    the training part (as for Tarry's own models: a baseline left at a poor setting
    would flatter them)."""
    task = _validation_task(interactions, protocol, weighting, data_profile)
    built = task.built
    # Where seen items are excluded anyway, self-similarity changes nothing.
    selves = (True,) if task.exclude_history else (True, False)
    best = (-1.0, KNN_NEIGHBOURS[-1], True)
    for include_self in selves:
        for neighbours in KNN_NEIGHBOURS:
            model = ItemKNN(neighbours=neighbours, include_self=include_self).fit(built.matrix)
            value = score_model(task, built, model, k)[f"ndcg@{k}"]
            itself = "" if include_self else ", not its own neighbour"
            say(
                f"search: item_knn with {neighbours} neighbours{itself} → "
                f"validation ndcg@{k} {value:.4f}"
            )
            if value > best[0]:
                best = (value, neighbours, include_self)
    return best[1], best[2]


def _describe(config: TrainingConfig) -> str:
    weights = "flat" if dict(config.weighting.weights) == FLAT_WEIGHTS else "default"
    days = config.weighting.half_life_days
    decay = f", a {days:g}-day half-life" if days is not None else ""
    return (
        f"factors {config.factors}, reg {config.regularization}, alpha {config.alpha}, "
        f"{config.scaling}, {weights} event weights{decay}"
    )


def _blend(blend: BlendWeights) -> str:
    parts = " + ".join(f"{name} {getattr(blend, name):g}" for name in blend.signals())
    return parts + (f", recency {blend.recency:g}" if blend.recency is not None else "")


def _settings(config: TrainingConfig, signal: str) -> str:
    if signal == "cooccurrence":
        return f"{config.neighbours} neighbours"
    if signal == "sknn":
        return f"{config.sknn_neighbours} neighbours of {config.sknn_sample} sessions"
    if signal == "trending":
        return "half-lives " + "/".join(f"{h:g}" for h in config.trending_half_lives) + " h"
    return "as fitted"


# -- the whole evaluation ------------------------------------------------------


def run(
    interactions: Iterable[Interaction] | Columns,
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
        return _run(as_columns(interactions), protocol, k, config, progress)


def _run(
    interactions: Columns,
    protocol: Protocol,
    k: int,
    config: TrainingConfig | None,
    progress: Progress | None,
) -> dict[str, Any]:
    say = progress or (lambda _: None)
    found = None
    knn_neighbours, knn_self = KNN_NEIGHBOURS[-1], True
    data_profile = profile(interactions)
    say(f"data: {data_profile.describe()}")
    if config is None:
        # The search sees only the training part; it splits that again to validate.
        # Data with nothing to test is said before minutes of searching.
        probe = make_task(interactions, protocol, Weighting(), data_profile=data_profile)
        if not probe.relevant:
            raise ValueError(nothing_to_predict(interactions, protocol))
        training_part = probe.train
        try:
            found = search(training_part, protocol, k, progress, data_profile=data_profile)
            config = found.config
            # The baseline gets the same care: its neighbourhood size is tuned too.
            knn_neighbours, knn_self = tune_item_knn(
                training_part, protocol, k, config.weighting, say, data_profile
            )
        except TooLittleData as exc:
            say(f"search: skipped, {exc}; default parameters")
            config = default_config()
    task = make_task(interactions, protocol, config.weighting, data_profile=data_profile)
    if not task.relevant:
        raise ValueError(nothing_to_predict(interactions, protocol))
    built = task.built
    models: dict[str, dict[str, float]] = {}
    baselines: dict[str, Recommender] = {
        "popular": Popular(),
        "item_knn": ItemKNN(neighbours=knn_neighbours, include_self=knn_self),
    }
    for name, model in baselines.items():
        started = time.perf_counter()
        model.fit(built.matrix)
        fit_s = time.perf_counter() - started
        models[name] = {**score_model(task, built, model, k), "fit_s": fit_s}
        say(f"{name}: ndcg@{k} {models[name][f'ndcg@{k}']:.4f}")
    started = time.perf_counter()
    bundle = train_bundle(
        task.train, config, built=built, now_ms=task.cut_ms, data_profile=data_profile
    )
    fit_s = time.perf_counter() - started
    # Each signal alone, as the search found it best (or with the given settings),
    # through the served path like `recommended` itself.
    singles = found.components if found is not None else {}
    variants = _Variants(bundle, task)
    for signal, default in components(config, data_profile.repeat).items():
        alone = variants.of(singles.get(signal, default))
        models[signal] = {**score_bundle(task, built, alone, k), "fit_s": fit_s}
        say(f"{signal}: ndcg@{k} {models[signal][f'ndcg@{k}']:.4f}")
    models["recommended"] = {**score_bundle(task, built, bundle, k), "fit_s": fit_s}
    say(f"recommended: ndcg@{k} {models['recommended'][f'ndcg@{k}']:.4f}")
    split: dict[str, Any] = {
        "protocol": protocol,
        "cut_ms": task.cut_ms,
        "train_interactions": len(task.train),
        "test_queries": len(task.relevant),
        "users": built.matrix.shape[0],
        "items": built.matrix.shape[1],
        "repeat": data_profile.repeat,
        "profile": data_profile.to_json(),
    }
    if found is not None:
        say(
            f"chosen on validation (ndcg@{k} {found.validation_ndcg:.4f}): {_describe(config)}, "
            f"iterations {config.iterations}, blend {_blend(config.blend)}"
        )
    return {"k": k, "split": split, "models": models, "config": config.to_json()}


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
