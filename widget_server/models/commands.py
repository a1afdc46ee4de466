"""`tarry eval`, `tarry train` and `tarry model`: the recommender's commands."""

from __future__ import annotations

import argparse
import collections
import json
import sys
import time
from typing import Any

from widget_server.models import training
from widget_server.settings import Settings


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class CommandError(ValueError):
    """A user error: printed as `tarry: <message>`, exit status 2."""


def run_eval(settings: Settings, args: argparse.Namespace) -> int:
    from recommender import experiment
    from recommender.datasets import otto_sessions
    from recommender.interactions import DEFAULT_WEIGHTS, read_csv

    if args.k < 1:
        raise CommandError(f"--k: must be at least 1, got {args.k}")
    try:
        if args.events.removesuffix(".gz").endswith((".jsonl", ".ndjson")):
            interactions = list(otto_sessions(args.events))  # the OTTO data set's sessions
        else:
            interactions = list(read_csv(args.events))
    except FileNotFoundError:
        raise CommandError(f"--events: no such file: {args.events}") from None
    except ValueError as exc:
        raise CommandError(f"--events: {exc}") from None
    kinds = collections.Counter(r.event for r in interactions)
    used = ", ".join(f"{kinds[k]:,} {k}" for k in sorted(kinds) if k in DEFAULT_WEIGHTS)
    ignored = ", ".join(f"{kinds[k]:,} {k}" for k in sorted(kinds) if k not in DEFAULT_WEIGHTS)
    _progress(f"eval: {len(interactions):,} interactions from {args.events}: {used or 'none'}")
    if ignored:
        _progress(f"eval: ignored (not an item event the models weigh): {ignored}")
    try:
        result = experiment.run(
            interactions,
            args.protocol,
            args.k,
            config=experiment.default_config() if args.no_search else None,
            progress=_progress,
        )
    except ValueError as exc:
        raise CommandError(f"--events: {exc}") from None
    if args.json:
        print(json.dumps(result))
    else:
        split: dict[str, Any] = result["split"]
        print(
            f"protocol {split['protocol']}: {split['test_queries']:,} test "
            f"{'users' if split['protocol'] == 'user' else 'sessions'}, "
            f"{split['train_interactions']:,} training interactions, {split['items']:,} items\n"
        )
        print(experiment.table(result))
    return 0


def run_train(settings: Settings, args: argparse.Namespace) -> int:
    from widget_server.storage.connect import sync_storage

    _require_store(settings, args.store)
    with sync_storage(settings) as redis:
        report = training.train_store(
            redis,
            settings.data_dir,
            args.store,
            margin=args.margin,
            search=args.search,
            force=args.force,
            protocol=None if args.protocol == "auto" else args.protocol,
            progress=_progress,
            model_store_url=settings.model_store_url,
        )
    if args.json:
        print(json.dumps(report.to_json()))
    else:
        print(report.reason if not report.published else f"published {report.version}")
    return 0 if report.published else 3


def _require_store(settings: Settings, store_id: str) -> None:
    """Every command that takes a store answers an unknown one alike: `StoreError`."""
    from widget_server.storage import stores
    from widget_server.storage.connect import run_with_storage

    run_with_storage(settings, lambda r: stores.require_store(r, store_id))


def run_model_list(settings: Settings, args: argparse.Namespace) -> int:
    from widget_server.models import registry as model_registry
    from widget_server.storage.connect import sync_storage

    _require_store(settings, args.store)
    with sync_storage(settings) as redis:
        found = model_registry.versions(redis, args.store)
        problem = model_registry.index_problem(redis, settings.data_dir, args.store)
    if problem is not None:
        print(f"tarry: {problem}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(found))
        return 0
    if not found:
        print(
            f"store {args.store}: no model yet; train one with `tarry train --store {args.store}`"
        )
        return 0
    for meta in found:
        evaluation = meta.get("evaluation") or {}
        ndcg = (evaluation.get("candidate") or {}).get("ndcg@10")
        quality = f"ndcg@10 {ndcg:.4f} ({evaluation.get('protocol')})" if ndcg else "unevaluated"
        published = time.strftime("%Y-%m-%d %H:%M", time.gmtime(meta["published_at_ms"] / 1000))
        mark = "*" if meta["current"] else " "
        print(
            f"{mark} {meta['version']:>5}  {published}  {meta['interactions']:>10,} interactions  "
            f"{meta['items']:>8,} items  {quality}"
        )
    return 0


def run_model_rollback(settings: Settings, args: argparse.Namespace) -> int:
    from widget_server.models import registry as model_registry
    from widget_server.storage.connect import sync_storage

    _require_store(settings, args.store)
    with sync_storage(settings) as redis:
        version = model_registry.rollback(redis, settings.data_dir, args.store, args.to)
    print(f"store {args.store}: model {version} in service")
    return 0


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    evaluate = commands.add_parser(
        "eval",
        help="score every model and baseline on a CSV of events",
        description="Temporal evaluation of popular, item_knn, recommended and each of "
        "its signals alone (als, cooccurrence, sknn, trending, repeat). "
        "CSV columns: timestamp, visitor_id, optional session_id (else 30-minute "
        "sessions), event (GA4 names, or view/addtocart/transaction), item_id; or the "
        "OTTO data set's sessions as JSON lines (.jsonl). Progress goes to stderr.",
    )
    evaluate.add_argument(
        "--events",
        required=True,
        help="events: CSV (.csv, .csv.gz) or OTTO sessions (.jsonl, .jsonl.gz)",
    )
    evaluate.add_argument(
        "--protocol",
        choices=["user", "session"],
        default="user",
        help="user: predict returning users' later items; session: predict anonymous "
        "sessions' later items from their first ones (default: user)",
    )
    evaluate.add_argument("--k", type=int, default=10, help="cut-off of the metrics (default 10)")
    evaluate.add_argument("--json", action="store_true", help="print exactly one JSON object")
    evaluate.add_argument(
        "--no-search",
        action="store_true",
        help="skip the hyper-parameter search and use the defaults (faster)",
    )
    evaluate.set_defaults(run=run_eval)

    train = commands.add_parser(
        "train",
        help="train a store's model from its events and publish it if it is not worse",
        description="Reads the store's events from Redis, fits every model, scores the "
        "candidate and the model in service on the same holdout, and publishes the "
        "candidate unless it is worse by more than the margin. Exit status 3: not published.",
    )
    train.add_argument("--store", required=True, metavar="STORE_ID")
    train.add_argument(
        "--margin",
        type=float,
        default=training.DEFAULT_MARGIN,
        help="refuse a candidate whose holdout NDCG@10 is this much (relative) below "
        f"the model in service (default {training.DEFAULT_MARGIN})",
    )
    train.add_argument(
        "--search",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="search hyper-parameters on a validation split first (default: for a "
        f"store's first model, up to {training.SEARCH_UP_TO:,} interactions; later "
        "models keep theirs)",
    )
    train.add_argument("--force", action="store_true", help="publish even if worse")
    train.add_argument(
        "--protocol",
        choices=["auto", "user", "session"],
        default="auto",
        help="the holdout's protocol (default auto: user where most sessions are returning "
        "customers', session where most are first visits)",
    )
    train.add_argument("--json", action="store_true", help="print the report as JSON")
    train.set_defaults(run=run_train)

    model = commands.add_parser("model", help="list or roll back a store's model versions")
    model_commands = model.add_subparsers(dest="model_command", required=True, metavar="ACTION")
    listing = model_commands.add_parser("list", help="list kept versions, newest first")
    listing.add_argument("--store", required=True, metavar="STORE_ID")
    listing.add_argument("--json", action="store_true", help="print a JSON array")
    listing.set_defaults(run=run_model_list)
    back = model_commands.add_parser("rollback", help="put an older version back in service")
    back.add_argument("--store", required=True, metavar="STORE_ID")
    back.add_argument("--to", metavar="VERSION", help="the version (default: the previous one)")
    back.set_defaults(run=run_model_rollback)
