"""`tarry train`: read a store's events, fit, evaluate on a holdout, publish if not worse.

The candidate and the model in service are compared on the same holdout (the
latest part of the events) by NDCG@10. The model in service is scored as it is
when it was trained before the holdout starts; when it has already seen the
holdout, its configuration is refitted on the candidate's training part instead,
which is the only comparison that does not flatter it. A candidate more than
`margin` (relative) below the model in service is not published, and the report
says why. The published model is then refitted on every event, so it knows the
newest items.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from threadpoolctl import threadpool_limits

from recommender import experiment
from recommender.bundle import Bundle, TrainingConfig, train_bundle
from recommender.catalog import CatalogBuilder
from recommender.interactions import Interaction, read_stream
from widget_server.models import registry as model_registry
from widget_server.storage import keys

K = 10
MIN_TEST_QUERIES = 20
SEARCH_UP_TO = 200_000  # interactions; beyond, the search runs only with --search
Progress = Callable[[str], None]


class TrainingError(ValueError):
    pass


@dataclasses.dataclass
class TrainReport:
    store_id: str
    published: bool
    version: str | None
    reason: str
    protocol: str | None
    candidate: dict[str, float] | None
    in_service: dict[str, float] | None
    interactions: int
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def read_events(
    redis: Any, store_id: str, progress: Progress
) -> tuple[list[Interaction], CatalogBuilder]:
    catalog = CatalogBuilder()
    interactions: list[Interaction] = []
    for record in read_stream(redis, keys.events(store_id), on_item=catalog.observe_item):
        interactions.append(record)
        if len(interactions) % 500_000 == 0:
            progress(f"read {len(interactions):,} interactions")
    progress(f"read {len(interactions):,} interactions, {len(catalog.items):,} items")
    return interactions, catalog


def _holdout(
    interactions: list[Interaction], config: TrainingConfig
) -> tuple[str, experiment.Task] | None:
    """Session protocol where there are enough test sessions (most store traffic is
    anonymous); the user protocol otherwise; None when neither has enough."""
    for protocol in experiment.PROTOCOLS[::-1]:
        try:
            task = experiment.make_task(interactions, protocol, config.weighting)
        except ValueError:
            continue
        if len(task.relevant) >= MIN_TEST_QUERIES and task.train:
            return protocol, task
    return None


def train_store(redis: Any, data_dir: Path, store_id: str, **options: Any) -> TrainReport:
    """Train, evaluate and maybe publish (see the module docstring); options as in
    `_train_store`."""
    with threadpool_limits(1, "blas"):  # see recommender.pin_blas
        return _train_store(redis, data_dir, store_id, **options)


def _train_store(
    redis: Any,
    data_dir: Path,
    store_id: str,
    *,
    margin: float = 0.05,
    config: TrainingConfig | None = None,
    search: bool | None = None,
    force: bool = False,
    progress: Progress | None = None,
) -> TrainReport:
    say = progress or (lambda _: None)
    started = time.perf_counter()
    if not 0 <= margin < 1:
        raise TrainingError(f"margin: must be at least 0 and below 1, got {margin}")
    interactions, catalog = read_events(redis, store_id, say)
    if not interactions:
        raise TrainingError(f"store {store_id}: no events with items to train on yet")
    in_service = model_registry.load_current(redis, data_dir, store_id)
    if search is None:
        # A store's first model gets the parameters that win on its own data (what
        # `tarry eval` calls `recommended`); later ones keep them unless asked, and
        # big stores skip the search (16 fits) unless asked.
        search = config is None and in_service is None and len(interactions) <= SEARCH_UP_TO
    if config is None:
        config = in_service.config if in_service else experiment.default_config()

    def report(published: bool, version: str | None, reason: str, **extra: Any) -> TrainReport:
        return TrainReport(
            store_id,
            published,
            version,
            reason,
            extra.get("protocol"),
            extra.get("candidate"),
            extra.get("in_service"),
            len(interactions),
            round(time.perf_counter() - started, 2),
        )

    holdout = _holdout(interactions, config)
    evaluation: dict[str, Any] = {}
    candidate: Bundle | None = None
    if holdout is None:
        reason = "too little data for a holdout evaluation; published unevaluated"
        say(reason)
    else:
        protocol, task = holdout
        if search:
            say(f"searching hyper-parameters on a validation split ({protocol} protocol)")
            try:
                config = experiment.search(task.train, protocol, K, say).config  # type: ignore[arg-type]
                task = experiment.make_task(interactions, protocol, config.weighting)  # type: ignore[arg-type]
            except experiment.TooLittleData as exc:
                say(f"search: skipped, {exc}; default parameters")
        built = task.built
        say(f"holdout ({protocol} protocol): {len(task.relevant):,} test queries; fitting")
        candidate = train_bundle(
            task.train, config, known_items=catalog.items, built=built, now_ms=task.cut_ms
        )
        ndcg = f"ndcg@{K}"
        candidate_metrics = experiment.score_bundle(task, built, candidate, K)
        say(f"candidate: {ndcg} {candidate_metrics[ndcg]:.4f}")
        evaluation = {"protocol": protocol, "candidate": candidate_metrics}
        if in_service is not None:
            service_metrics = _score_in_service(in_service, task, built, catalog, say)
            evaluation["in_service"] = service_metrics
            floor = service_metrics[ndcg] * (1 - margin)
            if candidate_metrics[ndcg] < floor:
                worse = (
                    f"candidate {ndcg} {candidate_metrics[ndcg]:.4f} is below the model in "
                    f"service ({in_service.meta.get('version')}: {service_metrics[ndcg]:.4f}) "
                    f"by more than the {margin:.0%} margin"
                )
                if not force:
                    reason = f"not published: {worse}"
                    say(reason)
                    return report(False, None, reason, **evaluation)
                reason = f"published (forced): {worse}"
            else:
                reason = "published"
        else:
            reason = "published"
    say("fitting on every event")
    final = train_bundle(
        interactions,
        config,
        known_items=catalog.items,
        items=in_service.items if in_service is not None else None,
        warm_start=candidate,
    )
    final.meta["evaluation"] = evaluation
    final.meta["last_event_ms"] = max(r.timestamp_ms for r in interactions)
    version = model_registry.publish(redis, data_dir, store_id, final)
    say(f"published {version}")
    return report(True, version, reason, **evaluation)


def _score_in_service(
    bundle: Bundle,
    task: experiment.Task,
    built: Any,
    catalog: CatalogBuilder,
    say: Progress,
) -> dict[str, float]:
    if bundle.meta.get("last_event_ms", bundle.meta.get("trained_at_ms", 0)) < task.cut_ms:
        say(f"model in service ({bundle.meta.get('version')}) has not seen the holdout")
        return experiment.score_bundle(task, built, bundle, K)
    say("model in service has seen the holdout: refitting its configuration to compare")
    refit = train_bundle(
        task.train, bundle.config, known_items=catalog.items, items=built.items, now_ms=task.cut_ms
    )
    return experiment.score_bundle(task, built, refit, K)
