"""`tarry train`: read a store's events, fit, evaluate on a holdout, publish if not worse.

The store's data decides two things first (`recommender.profile`): the protocol
the holdout is scored under (`user` where most sessions are returning customers',
`session` where most are first visits; the other when the chosen one has too few
test queries) and whether a visitor's own items may come back (do customers
re-buy?). Both go into the model's `meta.json`; the server's exclusions follow the
repeat decision, and the holdout scores exactly what the server serves (the same
`Showcases` code, rules and exclusions).

The candidate and the model in service are compared on the same holdout (the
latest part of the events) by NDCG@10. The model in service is scored as it is
when it was trained before the holdout starts; when it has already seen the
holdout, its configuration is refitted on the candidate's training part instead,
which is the only comparison that does not flatter it. A candidate more than
`margin` (relative) below the model in service is not published, and the report
says why. The published model is refitted on every event, so it knows the newest
items: starting from the candidate's factors, and beside the candidate's scoring
(a thread), so that the two cores share the work; a fit the verdict rejects is
dropped.

The search (a store's first model, or `--search`) validates on the same split of
the store's events as `tarry eval` does of a file of them, so both pick the same
parameters from the same data; its candidate's holdout figure is then the
validation figure (the one the search maximised).
"""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from redis import Connection, Redis, UnixDomainSocketConnection
from threadpoolctl import threadpool_limits

from recommender import experiment
from recommender.bundle import Bundle, TrainingConfig, train_bundle
from recommender.catalog import CatalogBuilder
from recommender.columns import Columns
from recommender.interactions import read_columns
from recommender.profile import Profile, Protocol, profile
from widget_server.models import registry as model_registry
from widget_server.storage import event_archive, event_entries

K = 10
MIN_TEST_QUERIES = 20
# Interactions; beyond, the search (a dozen fits and some fifty blends scored)
# runs only with --search. A store of UCI Online Retail's size is searched.
SEARCH_UP_TO = 500_000
DEFAULT_MARGIN = 0.05  # how much worse (relative NDCG@10) a candidate may be and still ship
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
    repeat: bool | None = None  # may a visitor's own items come back (from the data)
    profile: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# Streams of at least this many entries are read by two processes, an earlier
# and a later half at once (`stream_part.py`): decoding is Python, one core's
# work, and the second core would otherwise wait (a process costs about a second
# to start).
SPLIT_READ_ENTRIES = 20_000


def read_events(
    redis: Any, store_id: str, progress: Progress, *, split_at: int = SPLIT_READ_ENTRIES
) -> tuple[Columns, CatalogBuilder]:
    catalog = CatalogBuilder()

    def read(start: str = "-", end: str = "+") -> Columns:
        return read_columns(
            event_archive.pages(redis, store_id, start, end),
            event_entries.with_senders,
            on_item=catalog.observe_item,
            progress=lambda count: progress(f"read {count:,} interactions"),
        )

    recipe = _connection_recipe(redis)
    # The entries archived and in the stream, and when the first and last arrived.
    found = event_archive.extent(redis, store_id) if recipe is not None else None
    middle = None
    if found is not None and found[0] >= split_at:
        middle = f"{(found[1] + found[2]) // 2}-0"  # halfway in time
    second = ""  # what the progress line says of the second reader
    if recipe is None or middle is None:
        interactions = read()
    else:
        ask = json.dumps({"connect": recipe, "store": store_id, "start": middle})
        # This very code, whatever the working directory holds: -P puts no directory
        # before the path, which starts with the one this package was imported from.
        command = [sys.executable, "-P", "-m", "widget_server.models.stream_part"]
        root = str(Path(__file__).resolve().parents[2])
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]),
        }
        pipes = subprocess.PIPE
        with subprocess.Popen(command, env=env, stdin=pipes, stdout=pipes, stderr=pipes) as later:
            try:
                # On stdin, not in the arguments: the credentials are not for `ps` to show.
                assert later.stdin is not None
                later.stdin.write(ask.encode() + b"\n")  # one line: it starts at once
                later.stdin.flush()
                interactions = read(end="(" + middle)
                answer, errors = later.communicate()
            finally:
                if later.poll() is None:  # this half failed: the other is of no use
                    later.kill()
        if later.returncode == 0:
            rest, records, peak_kib = pickle.loads(answer)
            for record in records:  # the later half's item facts come after the earlier's
                catalog.observe_item(record)
            second = f" (the later half by a second process, peak RSS {peak_kib / 1024:,.0f} MiB)"
        else:  # slower, but a training that can read its stream does
            failed = errors.decode(errors="replace").strip().splitlines()
            progress(
                f"the second reader failed ({failed[-1] if failed else later.returncode}); "
                "reading the later half here"
            )
            rest = read(start=middle)
        interactions = interactions.then(rest)
    progress(f"read {len(interactions):,} interactions, {len(catalog.items):,} items{second}")
    return interactions, catalog


def _connection_recipe(redis: Any) -> dict[str, Any] | None:
    """What another process needs to connect to the Redis `redis` talks to, where
    that is a plain TCP or Unix socket (None: a cluster, TLS, or anything else,
    which is read in one process)."""
    pool = getattr(redis, "connection_pool", None)
    if not isinstance(redis, Redis) or pool is None:
        return None
    if pool.connection_class not in (Connection, UnixDomainSocketConnection):
        return None
    kwargs = pool.connection_kwargs
    recipe = {k: kwargs[k] for k in ("host", "port", "db", "username", "password") if k in kwargs}
    if pool.connection_class is UnixDomainSocketConnection:
        recipe = {"unix_socket_path": kwargs["path"], **recipe}
    return recipe


def _holdout(
    interactions: Columns,
    config: TrainingConfig,
    data_profile: Profile,
    protocol: Protocol | None = None,
) -> tuple[Protocol, experiment.Task] | None:
    """The protocol `protocol` names, else the data's (`data_profile.protocol`), or the
    other where that one has too few test queries; None when neither has enough."""
    first = protocol or data_profile.protocol
    order = [first] if protocol else [first, *(p for p in experiment.PROTOCOLS if p != first)]
    for chosen in order:
        try:
            task = experiment.make_task(
                interactions, chosen, config.weighting, data_profile=data_profile
            )
        except ValueError:
            continue
        if len(task.relevant) >= MIN_TEST_QUERIES and len(task.train):
            return chosen, task
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
    margin: float = DEFAULT_MARGIN,
    config: TrainingConfig | None = None,
    search: bool | None = None,
    force: bool = False,
    protocol: Protocol | None = None,
    progress: Progress | None = None,
    model_store_url: str | None = None,
) -> TrainReport:
    say = progress or (lambda _: None)
    started = time.perf_counter()
    if not 0 <= margin < 1:
        raise TrainingError(f"margin: must be at least 0 and below 1, got {margin}")
    interactions, catalog = read_events(redis, store_id, say)
    if not len(interactions):
        raise TrainingError(f"store {store_id}: no events with items to train on yet")
    if protocol is not None and protocol not in experiment.PROTOCOLS:
        raise TrainingError(f"protocol: must be user or session, got {protocol!r}")
    data_profile = profile(interactions)
    say(f"data: {data_profile.describe()}")
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
            data_profile.repeat,
            data_profile.to_json(),
        )

    holdout = _holdout(interactions, config, data_profile, protocol)
    evaluation: dict[str, Any] = {}

    def fit_final(candidate: Bundle | None) -> Bundle:
        return train_bundle(
            interactions,
            config,
            known_items=catalog.items,
            items=in_service.items if in_service is not None else None,
            warm_start=candidate,
            data_profile=data_profile,
        )

    if holdout is None:
        reason = "too little data for a holdout evaluation; published unevaluated"
        say(reason)
        say("fitting on every event")
        final = fit_final(None)
    else:
        chosen, task = holdout
        if search:
            say(f"searching hyper-parameters on a validation split ({chosen} protocol)")
            try:
                found = experiment.search(interactions, chosen, K, say, data_profile=data_profile)
                config = found.config
                task = experiment.make_task(
                    interactions, chosen, config.weighting, data_profile=data_profile
                )
            except experiment.TooLittleData as exc:
                say(f"search: skipped, {exc}; default parameters")
        built = task.built
        say(f"holdout ({chosen} protocol): {len(task.relevant):,} test queries; fitting")
        candidate = train_bundle(
            task.train,
            config,
            known_items=catalog.items,
            built=built,
            now_ms=task.cut_ms,
            data_profile=data_profile,
        )
        # The final fit does not wait for the verdict: it runs beside the scoring,
        # which is Python answering one query at a time, while the fit is mostly
        # ALS, sparse products and sorts that let go of the GIL: two cores busy
        # where one was. Its result is only published if the verdict says so.
        say("fitting on every event, while the candidate is scored")
        with ThreadPoolExecutor(1, thread_name_prefix="tarry-final-fit") as pool:
            fitting = pool.submit(fit_final, candidate)
            verdict = _verdict(
                in_service, chosen, task, built, candidate, catalog, margin, force, say
            )
            final = fitting.result()
        publish, reason, evaluation = verdict
        if not publish:
            return report(False, None, reason, **evaluation)
    final.meta["evaluation"] = evaluation
    final.meta["protocol"] = evaluation.get("protocol", data_profile.protocol)
    final.meta["last_event_ms"] = int(interactions.ts.max())
    version = model_registry.publish(redis, data_dir, store_id, final, object_url=model_store_url)
    say(f"published {version}")
    return report(True, version, reason, **evaluation)


def _verdict(
    in_service: Bundle | None,
    chosen: Protocol,
    task: experiment.Task,
    built: Any,
    candidate: Bundle,
    catalog: CatalogBuilder,
    margin: float,
    force: bool,
    say: Progress,
) -> tuple[bool, str, dict[str, Any]]:
    """The candidate's holdout figures against the model in service's: whether to
    publish (not when it is worse by more than `margin`, unless forced), why, and
    the evaluation for the report and the model's meta."""
    ndcg = f"ndcg@{K}"
    candidate_metrics = experiment.score_bundle(task, built, candidate, K)
    say(f"candidate: {ndcg} {candidate_metrics[ndcg]:.4f}")
    evaluation: dict[str, Any] = {"protocol": chosen, "candidate": candidate_metrics}
    if in_service is None:
        return True, "published", evaluation
    service_metrics = _score_in_service(in_service, task, built, catalog, say)
    evaluation["in_service"] = service_metrics
    if candidate_metrics[ndcg] >= service_metrics[ndcg] * (1 - margin):
        return True, "published", evaluation
    worse = (
        f"candidate {ndcg} {candidate_metrics[ndcg]:.4f} is below the model in "
        f"service ({in_service.meta.get('version')}: {service_metrics[ndcg]:.4f}) "
        f"by more than the {margin:.0%} margin"
    )
    if force:
        return True, f"published (forced): {worse}", evaluation
    reason = f"not published: {worse}"
    say(reason)
    return False, reason, evaluation


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
        task.train,
        bundle.config,
        known_items=catalog.items,
        items=built.items,
        now_ms=task.cut_ms,
        data_profile=task.profile,
    )
    return experiment.score_bundle(task, built, refit, K)
