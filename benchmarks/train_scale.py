"""Training at scale: `train_store` end to end from Redis, time and peak memory by size.

    python benchmarks/train_scale.py [--sizes 250000,1000000,5000000] [--limit 600]
                                     [--blas-threads 1] [--seed 0]
    python benchmarks/train_scale.py --one 1000000 [--profile /tmp/train.prof]

The budget (from `DESIGN.md`): training on 5 M interactions takes under 60 s on
2 cores, end to end from Redis.

Each size runs in its own process (`--one N`), so that its peak RSS
(`getrusage` maxrss) is that of one training and nothing else: it starts a fresh
embedded Redis in a temporary `TARRY_DATA_DIR`, creates a store, and has another
process (`--write`, setup, not timed) fill the store's event stream as the ingest
script does under load (several requests a call): entries of 50 events in its
layout, field `events` a JSON array of `{id, type, ts, items: [{item_id,
item_name, item_category}]}` and field `who` naming each run's device, visitor and
session (`storage/event_entries.py`; time-ordered events of many visitors, so
nearly one run an event, the most a reader has to decode). It then
waits for Redis' background saves to finish, saves once, and times
`train_store(redis, data_dir, store_id)` with the store's defaults (no model in
service yet, so no comparison with one), reading from the same embedded Redis.
With `--archived` the entries get the ids a server receiving the events live
would have given them (when their first event happened), and every hour is
archived before the training (storage/event_archive.py), as a server leaves a
store's past: the layout a store with a month of events has in production.

The shop: N / 50 items (at least 100, at most 200,000) in categories of about 250,
Zipf-like popularity (exponent 0.9); N / 20 visitors, each at least one event and
the rest by a Pareto activity (a few heavy users); sessions of about 6 events over
30 days, each keeping to one of its visitor's two favourite categories for 70% of
its items; views, carts and purchases 85 / 10 / 5%, one item per event. It is
generated with numpy in about 3 s for 5 M (`recommender.synthetic` takes 10 s for
1 M and grows with visitors x items, so it is not used here).

A training still running after `--limit` seconds (600) is stopped (SIGALRM) and
reported as a lower bound, with how far its evaluation got. `--blas-threads 1`
sets OPENBLAS_NUM_THREADS=1 for the runs: what pinning BLAS to one thread in
`train_store` would give (its evaluation answers one query at a time, where
OpenBLAS' threads cost more than they save on two busy cores).

Phases are timed by wrapping the library's own functions for the run (nothing is
changed in them): read (`read_events`, with the `XRANGE` calls inside), the
data's profile, holdout split, candidate fit (matrix, ALS with its confidence weights, item-kNN,
bought-together, trending, catalog), evaluation, the final fit on every event,
and publish. `train_store`'s progress lines are kept with their times as well.
The final fit runs beside the evaluation (a thread), so those two overlap; the
table says by how much. Past 20,000 entries a second process reads the stream's
later half during the read; its peak RSS is reported on its own (it exits before
the fits, where this process has its peak).

Prints the machine, two markdown tables (sizes with peak RSS per interaction, and
where the time goes) and the verdict on the budget (printed, not asserted), and writes
benchmarks/results/train_scale.json.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import gc
import json
import os
import platform
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from _machine import cpu_model

from widget_server.storage import event_entries

BUDGET_SECONDS = 60.0
BUDGET_INTERACTIONS = 5_000_000
EVENTS_PER_ENTRY = 50
ENTRIES_PER_PIPELINE = 500
ITEMS_PER_CATEGORY = 250
MAX_ITEMS = 200_000
EVENTS_PER_SESSION = 6
DAYS = 30
DAY_MS = 86_400_000
NOW_MS = 1_767_225_600_000  # 2026-01-01 UTC: the newest event is just before it
SESSION_MS = 30 * 60_000
TYPES = ("view_item", "add_to_cart", "purchase")
TYPE_SHARES = (0.85, 0.10, 0.05)
MIB = 1024 * 1024


# -- the shop ------------------------------------------------------------------


def shop(n: int, seed: int) -> dict[str, np.ndarray]:
    """`n` interactions as columns (ts, user, session, type, item, and each item's
    category), sorted by time."""
    rng = np.random.default_rng(seed)
    n_items = min(max(n // 50, 100), MAX_ITEMS)
    n_categories = max(1, n_items // ITEMS_PER_CATEGORY)
    n_users = max(1, min(n, n // 20))
    category = rng.integers(0, n_categories, n_items)
    popularity = 1.0 / (rng.permutation(n_items) + 1.0) ** 0.9
    # items ordered by category: a draw within one category is a searchsorted
    order = np.argsort(category, kind="stable")
    cumulative = np.cumsum(popularity[order])
    cumulative /= cumulative[-1]
    mass = np.bincount(category, weights=popularity, minlength=n_categories) / popularity.sum()
    start = np.concatenate([[0.0], np.cumsum(mass)[:-1]])

    # every visitor at least once, the rest by a heavy-tailed activity
    activity = np.cumsum(rng.pareto(1.5, n_users) + 1.0)
    extra = np.searchsorted(activity, rng.random(n - n_users) * activity[-1])
    user = np.sort(np.concatenate([np.arange(n_users), np.minimum(extra, n_users - 1)]))
    per_user = np.bincount(user, minlength=n_users)
    sessions = 1 + per_user // EVENTS_PER_SESSION
    first = np.cumsum(sessions) - sessions
    session = first[user] + (rng.random(n) * sessions[user]).astype(np.int64)
    n_sessions = int(sessions.sum())
    session_user = np.repeat(np.arange(n_users), sessions)

    favourites = rng.integers(0, n_categories, (n_users, 2))
    session_category = favourites[session_user, rng.integers(0, 2, n_sessions)]
    cats = session_category[session]
    in_category = rng.random(n) < 0.7
    low = np.where(in_category, start[cats], 0.0)
    width = np.where(in_category, mass[cats], 1.0)
    position = np.searchsorted(cumulative, low + rng.random(n) * width, side="right")
    item = order[np.minimum(position, n_items - 1)]

    session_start = NOW_MS - SESSION_MS - (rng.random(n_sessions) * DAYS * DAY_MS).astype(np.int64)
    ts = session_start[session] + (rng.random(n) * SESSION_MS).astype(np.int64)
    kind = rng.choice(len(TYPES), n, p=TYPE_SHARES)
    by_time = np.argsort(ts, kind="stable")
    return {
        "ts": ts[by_time],
        "user": user[by_time],
        "session": session[by_time],
        "type": kind[by_time],
        "item": item[by_time],
        "category": category,
    }


def entries(columns: dict[str, np.ndarray]) -> Iterator[tuple[str, str]]:
    """The stream entries' fields in the layout the ingest script writes
    (`storage/event_entries.py`): `events`, a JSON array of EVENTS_PER_ENTRY events
    without their senders, and `who`, the runs of (device, vid, sid) they came from."""
    category = columns["category"].tolist()
    items = [
        f'{{"item_id":"i{i}","item_name":"Product {i}","item_category":"c{c}"}}'
        for i, c in enumerate(category)
    ]
    event = '{"id":"e%d","type":"%s","ts":%d,"items":[%s]}'
    ts, user, session, kind, item = (
        columns[name].tolist() for name in ("ts", "user", "session", "type", "item")
    )
    for lo in range(0, len(ts), EVENTS_PER_ENTRY):
        hi = min(lo + EVENTS_PER_ENTRY, len(ts))
        events = ",".join(
            [event % (n, TYPES[kind[n]], ts[n], items[item[n]]) for n in range(lo, hi)]
        )
        senders = (("desktop", f"v{user[n]:015x}", f"s{session[n]:015x}") for n in range(lo, hi))
        yield f"[{events}]", event_entries.runs(senders)


def write(redis: Any, stream: str, n: int, seed: int, arrived: bool = False) -> dict[str, Any]:
    """Fill the stream; `arrived`: each entry's id is when its first event happened,
    as a server receiving the events live would have written it, not now."""
    started = time.perf_counter()
    columns = shop(n, seed)
    generated = time.perf_counter()
    pipe = redis.pipeline(transaction=False)
    count, last, ts = 0, 0, columns["ts"].tolist()
    for count, (events, who) in enumerate(entries(columns), start=1):
        if arrived:
            last = max(last + 1, ts[(count - 1) * EVENTS_PER_ENTRY])
            pipe.xadd(stream, {"events": events, "who": who}, id=f"{last}-0")
        else:
            pipe.xadd(stream, {"events": events, "who": who})
        if count % ENTRIES_PER_PIPELINE == 0:
            pipe.execute()
    pipe.execute()
    return {
        "interactions": n,
        "entries": count,
        "users": len(np.unique(columns["user"])),
        "sessions": len(np.unique(columns["session"])),
        "items_touched": len(np.unique(columns["item"])),
        "generate_s": round(generated - started, 2),
        "write_s": round(time.perf_counter() - generated, 2),
    }


# -- phases --------------------------------------------------------------------


class Phases:
    """Inclusive seconds and calls per nested label ("fit final/als/weights")."""

    def __init__(self) -> None:
        # One stack a thread: train_store fits the final model beside the scoring.
        self._local = threading.local()
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    @property
    def stack(self) -> list[str]:
        stack: list[str] | None = getattr(self._local, "stack", None)
        if stack is None:
            stack = self._local.stack = []
        return stack

    def wrap(self, label: str | Callable[..., str], fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            self.stack.append(label(*args, **kwargs) if callable(label) else label)
            path = "/".join(self.stack)
            self.seconds.setdefault(path, 0.0)  # rows in the order the phases start
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[path] = self.seconds.get(path, 0.0) + time.perf_counter() - started
                self.calls[path] = self.calls.get(path, 0) + 1
                self.stack.pop()

        return timed

    def patch(self, owner: Any, name: str, label: str | Callable[..., str]) -> None:
        """Time `owner.name` under `label` (a classmethod is timed bound, as it is called)."""
        fn = getattr(owner, name, None)
        if fn is None:
            print(f"note: {owner.__name__}.{name} not found, not timed", file=sys.stderr)
            return
        raw = owner.__dict__.get(name) if isinstance(owner, type) else None
        timed = self.wrap(label, fn)
        setattr(owner, name, staticmethod(timed) if isinstance(raw, classmethod) else timed)

    def rounded(self) -> dict[str, dict[str, float]]:
        return {
            path: {"s": round(s, 3), "calls": self.calls[path]} for path, s in self.seconds.items()
        }


def instrument(phases: Phases, redis: Any) -> None:
    from recommender import bundle, catalog, experiment
    from recommender.models import als, item_knn, together
    from widget_server.models import registry as model_registry
    from widget_server.models import training

    def fit_label(*_: Any, **kwargs: Any) -> str:
        # train_store fits the candidate up to the holdout's cut, then on every event
        return "fit candidate" if kwargs.get("now_ms") is not None else "fit final"

    for owner, name, label in (
        (training, "read_events", "read"),
        (training, "profile", "profile"),
        (training, "_holdout", "split"),
        (experiment, "search", "search"),
        (training, "train_bundle", fit_label),
        (experiment, "score_bundle", "evaluate"),
        (model_registry, "publish", "publish"),
        # inside the split
        (experiment, "session_split", "session_split"),
        (experiment, "user_split", "user_split"),
        (experiment, "build_matrix", "matrices"),
        # inside a fit
        (bundle, "build_matrix", "matrix"),
        (als.ALS, "fit", "als"),
        (als.ItemWeights, "matrix", "weights"),
        (item_knn.ItemKNN, "fit", "knn"),
        (bundle, "baskets_matrix", "baskets"),
        (bundle, "bought_together", "bought_together"),
        (together, "top_per_row", "top_per_row"),
        (bundle, "trending_scores", "trending"),
        (catalog.Catalog, "build", "catalog"),
        # inside the evaluation and the publishing
        (experiment.Showcases, "answer", "answers"),
        (experiment, "evaluate", "metrics"),
        (bundle.Bundle, "save", "save"),
    ):
        phases.patch(owner, name, label)
    redis.xrange = phases.wrap("xrange", redis.xrange)


# -- one size, in its own process ------------------------------------------------


def settle(redis: Any) -> None:
    """Let the writes' background saves finish, then save once, so that no fork of
    Redis competes with the training for the two cores."""
    while True:
        info = redis.info("persistence")
        busy = ("rdb_bgsave_in_progress", "aof_rewrite_in_progress", "aof_rewrite_scheduled")
        if not any(info.get(key) for key in busy):
            break
        time.sleep(0.2)
    redis.save()


class Interrupted(BaseException):
    """The time limit ran out (SIGALRM) or the run was stopped (SIGTERM); a
    BaseException, so that no `except Exception` in the library swallows it."""


def _interrupt(signum: int, frame: Any) -> None:
    raise Interrupted(signal.Signals(signum).name)


def archive_all(settings: Any, store_id: str) -> tuple[float, int]:
    """Archive every hour of the store's stream (setup, not timed): seconds, hours."""
    from widget_server.storage import event_archive
    from widget_server.storage.connect import run_with_storage

    started = time.perf_counter()
    hours = run_with_storage(
        settings,
        lambda r: event_archive.archive(
            r, store_id, now_ms=int(time.time() * 1000), retention_ms=10 * 365 * DAY_MS,
            max_hours=10**6,
        ),
    )  # fmt: skip
    return round(time.perf_counter() - started, 1), hours


def one(
    n: int, seed: int, limit: int, profile: Path | None, archived: bool = False
) -> dict[str, Any]:
    from widget_server.models.training import train_store
    from widget_server.settings import Settings
    from widget_server.storage import event_archive, keys, stores
    from widget_server.storage.connect import run_with_storage, sync_storage

    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGALRM, _interrupt)
    tmp = Path(tempfile.mkdtemp(prefix="tarry-scale-"))
    try:
        settings = Settings.from_env({"TARRY_DATA_DIR": str(tmp)})
        with sync_storage(settings) as redis:
            store, _ = run_with_storage(
                settings, lambda r: stores.create_store(r, "Scale shop", ["scale.example"])
            )
            command = [sys.executable, __file__, "--write", str(n), "--store", store.id]
            command += ["--data-dir", str(tmp), "--seed", str(seed)]
            command += ["--archived"] if archived else []
            writer = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)
            setup = json.loads(writer.stdout.splitlines()[-1])
            settle(redis)
            setup["redis_used_mib"] = round(redis.info("memory")["used_memory"] / MIB, 1)
            found = event_archive.extent(redis, store.id)
            setup["stream_entries"] = found[0] if found else 0
            gc.collect()

            phases = Phases()
            instrument(phases, redis)
            lines: list[tuple[float, str]] = []
            before_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            load_before = os.getloadavg()[0]
            profiler = cProfile.Profile() if profile else None
            started = time.perf_counter()

            def progress(line: str) -> None:
                at = time.perf_counter() - started
                lines.append((round(at, 2), line))
                print(f"  [{n:,}] {at:7.1f} s  {line}", file=sys.stderr, flush=True)

            report = None
            signal.alarm(limit)
            try:
                if profiler:
                    profiler.enable()
                report = train_store(redis, settings.data_dir, store.id, progress=progress)
            except Interrupted as stop:
                progress(f"stopped by {stop}: the limit is {limit} s")
            finally:
                signal.alarm(0)
                total = time.perf_counter() - started
                if profiler:
                    profiler.disable()
                    profiler.dump_stats(profile)
            peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            load_after = os.getloadavg()[0]
            version = report.version if report else None
            meta = json.loads(redis.hget(keys.models(store.id), version or "") or "{}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {
        "interactions": n,
        "items": meta.get("items", setup["items_touched"]),
        "users": meta.get("users", setup["users"]),
        "finished": report is not None,
        "limit_s": limit,
        "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
        "setup": setup,
        "total_s": round(total, 2),
        "phases": phases.rounded(),
        "progress": lines,
        "peak_rss_mib": round(peak_mib, 1),
        # The process that reads the stream's later half, beside this one.
        "reader_peak_rss_mib": reader_peak_mib(lines),
        "rss_before_training_mib": round(before_mib, 1),
        # a shared machine: other processes' load changes every number above
        "load_average_1min": [round(load_before, 2), round(load_after, 2)],
        "report": report.to_json() if report else None,
        "profiled": profile is not None,
    }


def reader_peak_mib(lines: list[tuple[float, str]]) -> float | None:
    """The peak RSS of the process that read the stream's later half, as
    `read_events` reports it (None: the stream was read in one process)."""
    for _, line in lines:
        found = re.search(r"second process, peak RSS ([\d,]+) MiB", line)
        if found:
            return float(found[1].replace(",", ""))
    return None


# -- the run -------------------------------------------------------------------


def machine() -> dict[str, Any]:
    import implicit
    from threadpoolctl import threadpool_info

    model = cpu_model()
    blas = sorted(
        {
            f"{pool.get('internal_api')} {pool.get('version')} ({pool.get('architecture')})"
            for pool in threadpool_info()
            if pool.get("user_api") == "blas"
        }
    )
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    return {
        "cpus": os.cpu_count(),
        "cpu": model,
        "memory_gib": round(memory, 1),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "implicit": implicit.__version__,
        "blas": blas,
    }


def split_seconds(result: dict[str, Any]) -> dict[str, float]:
    """read / fit+evaluate / publish, from the timed phases; the rest of the total
    (loading the model in service, the newest timestamp) goes with fit+evaluate."""
    phases = result["phases"]
    read = phases.get("read", {}).get("s", 0.0)
    publish = phases.get("publish", {}).get("s", 0.0)
    total = result["total_s"]
    return {"read": read, "fit_evaluate": total - read - publish, "publish": publish}


def bytes_per_interaction(result: dict[str, Any]) -> float:
    """Peak RSS over interactions: what each one costs the training at its peak."""
    return float(result["peak_rss_mib"] * MIB / result["interactions"])


def table(results: list[dict[str, Any]]) -> str:
    """One row per size; a run stopped at the limit shows lower bounds (≥)."""
    lines = [
        "| interactions | items | users | read s | fit+evaluate s | publish s | total s "
        "| peak RSS MiB | RSS B per interaction | reader process peak RSS MiB "
        "| s per M interactions |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        s = split_seconds(r)
        at_least = "" if r["finished"] else "≥ "
        per_million = r["total_s"] / r["interactions"] * 1e6
        helper = r.get("reader_peak_rss_mib")
        reader = "-" if helper is None else f"{helper:,.0f}"
        lines.append(
            f"| {r['interactions']:,} | {r['items']:,} | {r['users']:,} | {s['read']:.1f} "
            f"| {at_least}{s['fit_evaluate']:.1f} | {s['publish']:.1f} "
            f"| {at_least}{r['total_s']:.1f} | {r['peak_rss_mib']:,.0f} "
            f"| {bytes_per_interaction(r):,.0f} | {reader} | {at_least}{per_million:.1f} |"
        )
    return "\n".join(lines)


def phase_table(results: list[dict[str, Any]]) -> str:
    """Seconds per phase and size: the top-level phases, and inside each the parts
    that were timed (indented); `other` is what no timed part covers."""
    paths = list(dict.fromkeys(p for r in results for p in r["phases"]))
    head = " | ".join(f"{r['interactions']:,}" for r in results)
    lines = [f"| phase (s) | {head} |", "|---|" + "---:|" * len(results)]
    for path in paths:
        depth = path.count("/")
        name = "&nbsp;&nbsp;" * depth + path.rsplit("/", 1)[-1]
        cells = []
        for r in results:
            phase = r["phases"].get(path)
            if phase is None:
                cells.append("-")
            elif phase["calls"] > 1:
                cells.append(f"{phase['s']:.1f} ({phase['calls']:,} calls)")
            else:
                cells.append(f"{phase['s']:.1f}")
        lines.append(f"| {name} | {' | '.join(cells)} |")
    covered = [sum(p["s"] for k, p in r["phases"].items() if "/" not in k) for r in results]
    left = [r["total_s"] - c for r, c in zip(results, covered, strict=True)]
    lines.append(f"| other | {' | '.join(f'{max(0.0, x):.1f}' for x in left)} |")
    # The final fit runs beside the evaluation: their seconds add up to more than
    # the time they took together.
    if any(x < 0 for x in left):
        overlap = " | ".join(f"{max(0.0, -x):.1f}" for x in left)
        lines.append(f"| side by side (counted twice above) | {overlap} |")
    totals = " | ".join(f"{r['total_s']:.1f}" for r in results)
    lines.append(f"| **total** | {totals} |")
    return "\n".join(lines)


def evaluation_pace(result: dict[str, Any]) -> str | None:
    """For a run stopped during the evaluation: how far it got, and what the whole
    evaluation would take at that pace."""
    answers = result["phases"].get("evaluate/answers")
    queries = next(
        (int(m.group(1).replace(",", "")) for _, line in result["progress"]
         if (m := re.search(r"([\d,]+) test queries", line))),
        None,
    )  # fmt: skip
    if result["finished"] or answers is None or queries is None:
        return None
    each = answers["s"] / answers["calls"]
    return (
        f"stopped in the evaluation after answering {answers['calls']:,} of {queries:,} "
        f"test queries ({each * 1000:.1f} ms each): at that pace the evaluation alone "
        f"takes about {each * queries:,.0f} s"
    )


def verdict(results: list[dict[str, Any]]) -> str:
    at = [r for r in results if r["interactions"] >= BUDGET_INTERACTIONS]
    if at:
        r = min(at, key=lambda r: r["interactions"])
        seconds, how = r["total_s"], f"measured at {r['interactions']:,}"
        if not r["finished"]:
            how = f"at {r['interactions']:,}: stopped at the {r['limit_s']} s limit, unfinished"
    else:
        r = max(results, key=lambda r: r["interactions"])
        seconds = r["total_s"] / r["interactions"] * BUDGET_INTERACTIONS
        how = f"extrapolated linearly from {r['interactions']:,}"
    status = "PASS" if r["finished"] and seconds < BUDGET_SECONDS else "FAIL"
    bound = "" if r["finished"] else "more than "
    line = (
        f"Budget: {bound}{seconds:.1f} s for {BUDGET_INTERACTIONS:,} interactions ({how}) "
        f"(< {BUDGET_SECONDS:.0f} s: {status}; {bound}{seconds / BUDGET_SECONDS:.1f}x the budget)"
    )
    pace = evaluation_pace(r)
    return f"{line}; {pace}" if pace else line


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--sizes",
        default="250000,1000000,5000000",
        help="interactions per run, comma-separated",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--limit", type=int, default=600, help="seconds of training per size before it is stopped"
    )
    parser.add_argument(
        "--blas-threads",
        type=int,
        help="set OPENBLAS_NUM_THREADS for the runs (default: as the environment has it)",
    )
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/train_scale.json"))
    parser.add_argument("--one", type=int, metavar="N", help="run one size; print its JSON")
    parser.add_argument("--profile", type=Path, help="with --one: cProfile train_store to this")
    parser.add_argument(
        "--archived",
        action="store_true",
        help="train from a store whose past hours are archived, as a server leaves them "
        "(storage/event_archive.py), rather than from a stream that holds everything",
    )
    parser.add_argument("--write", type=int, metavar="N", help=argparse.SUPPRESS)
    parser.add_argument("--store", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.write is not None:  # setup, in its own process: fill a store's stream
        from widget_server.settings import Settings
        from widget_server.storage import keys
        from widget_server.storage.connect import sync_storage

        settings = Settings.from_env({"TARRY_DATA_DIR": args.data_dir})
        with sync_storage(settings) as redis:
            stream = keys.events(args.store)
            written = write(redis, stream, args.write, args.seed, arrived=args.archived)
        if args.archived:
            written["archive_s"], written["hours_archived"] = archive_all(settings, args.store)
        print(json.dumps(written))
        return
    if args.one is not None:
        print(json.dumps(one(args.one, args.seed, args.limit, args.profile, args.archived)))
        return

    started = time.perf_counter()
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    env = dict(os.environ)
    if args.blas_threads is not None:
        env["OPENBLAS_NUM_THREADS"] = str(args.blas_threads)
    results = []
    for n in sizes:
        print(f"{n:,} interactions: writing the stream, then training", file=sys.stderr)
        command = [sys.executable, __file__, "--one", str(n), "--seed", str(args.seed)]
        command += ["--limit", str(args.limit)] + (["--archived"] if args.archived else [])
        child = subprocess.run(command, env=env, check=True, stdout=subprocess.PIPE, text=True)
        result = json.loads(child.stdout.splitlines()[-1])
        setup = result["setup"]
        print(
            f"  [{n:,}] setup: generated in {setup['generate_s']} s, written in "
            f"{setup['write_s']} s ({setup['stream_entries']:,} entries, Redis "
            f"{setup['redis_used_mib']:,} MiB"
            + (f", {setup['hours_archived']} hours archived" if "hours_archived" in setup else "")
            + f"); trained in {result['total_s']} s; load "
            f"average {result['load_average_1min'][0]} before, {result['load_average_1min'][1]} "
            "after",
            file=sys.stderr,
        )
        results.append(result)

    info = machine()
    info["openblas_num_threads"] = env.get("OPENBLAS_NUM_THREADS")
    command = "python benchmarks/train_scale.py" + "".join(f" {a}" for a in sys.argv[1:])
    seconds = time.perf_counter() - started
    threads = info["openblas_num_threads"]
    print(
        f"\n{info['cpus']} CPUs ({info['cpu']}), {info['memory_gib']} GiB, "
        f"Python {info['python']}, numpy {info['numpy']}, implicit {info['implicit']}; "
        f"BLAS {', '.join(info['blas'])}; OPENBLAS_NUM_THREADS {threads or 'unset'}\n"
    )
    print(table(results))
    loads = ", ".join(
        f"{r['interactions']:,}: {r['load_average_1min'][0]} / {r['load_average_1min'][1]}"
        for r in results
    )
    print(f"\nload average (1 min) before / after each training: {loads} ({info['cpus']} CPUs)")
    print("\nWhere the time goes (seconds; indented rows are parts of the row above):\n")
    print(phase_table(results))
    print(f"\n{verdict(results)}")
    print(f"\ncommand: {command} ({seconds:.0f} s in all, setup included)")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "command": command,
        "machine": info,
        "budget_seconds": BUDGET_SECONDS,
        "verdict": verdict(results),
        "results": results,
        "seconds": round(seconds, 1),
    }
    args.json.write_text(json.dumps(payload, indent=1))


if __name__ == "__main__":
    main()
