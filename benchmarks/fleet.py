"""1,000 stores on one `tarry serve` and a three-node Redis Cluster: memory per store,
`/v1/decide` latency per store size, and how the keys spread over nodes and slots.

    python benchmarks/fleet.py [--stores 1000] [--rate 300] [--duration 30]
                               [--small-cap-mb 256] [--two-workers]

Not run by CI: nothing under benchmarks/ is a test.

Method: a loopback three-master Cluster from the embedded binary
(`widget_server.storage.local_cluster`). Stores come in four size classes, Zipf-like
(a few big shops, a long tail of small ones): 0.3% with 10,000 items, 3% with 2,000,
30% with 500, the rest with 100. Each class's synthetic shop (benchmarks/decide.py's
`make_shop`) is trained once, and that one bundle is published to every store of the
class with `model_registry.publish` (so it sits in Redis chunked, once per store, as
`tarry train` leaves it). Stores and their catalog cards go in through the library
(`create_store`, `upsert_cards`: the CLI would cost a process per store); then a
real `tarry serve` on the Cluster (rate limits off, info-level log) takes four preset
rules per store through `POST /v1/admin/rules` and each store's visitors' sessions
through `POST /v1/collect` (decide.py's `make_visitors` and `events`: about 400
events for a 10,000-item store, 40 for a 100-item one), so that Redis holds each
store's stream, aggregates, sessions and visitors as traffic leaves them.

Decide load: one paced wrk per size class at once (benchmarks/decide.lua), so latency
is per class; the total `--rate` is shared by catalog size (a store with 10,000 items
gets 100 times the traffic of one with 100), each class's pages spread evenly over
its stores. Before the load every store is asked once, so that its model is loaded
(the server's RSS is read before and after each class: RSS per loaded model); a 5 s
warm-up is discarded. Runs: the model cache at its default (1024 MB, more than the
models' sum) and at `--small-cap-mb` (less than the sum: the least recently asked
stores' models are dropped and load again on their next request); `--two-workers`
adds a run with `tarry serve --workers 2`. Model loads and drops during each run
are counted from the server's log.

Memory: every key of every node (SCAN, then `MEMORY USAGE ... SAMPLES 0`), by store
(its hash tag) and size class: the model's bundle chunks, the catalog, the event
stream, visitors and sessions, the rest (aggregates, logs, rules, the store). Key
spread: keys, bytes and stores per node (max / min), the slots used, and every
store's keys on one slot.

Prints the machine (load average before and after: the cores may be shared),
markdown tables with the budget (decide p99 < 15 ms at the total rate, in each
class; memory is reported, not budgeted), writes benchmarks/results/fleet.json,
and exits 1 on any answer other than 200, a store whose keys span two slots, or a
model that never came into service.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import concurrent.futures
import contextlib
import json
import math
import os
import re
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import redis
import redis.asyncio
from collect import free_port, machine, start, stop
from decide import (
    AGENT_HEADERS,
    CURRENCY,
    DOMAIN,
    SHOP,
    Shop,
    call,
    events,
    item_name,
    make_shop,
    make_visitors,
    ok,
    pages,
    run_wrk,
)
from load import PRESETS, server_rss_mib
from redis.crc import key_slot

from widget_server.models import registry as model_registry
from widget_server.storage import catalog, stores
from widget_server.storage.local_cluster import RedisCluster

HERE = Path(__file__).resolve().parent
BUDGET_P99_MS = 15.0
WARMUP_S = 5
DEFAULT_CAP_MB = 1024  # TARRY_MODEL_CACHE_MB's default
SETUP_THREADS = 4  # HTTP clients setting up stores at once
BATCH_EVENTS = 100  # collect's limit per request


@dataclass
class SizeClass:
    name: str
    items: int
    share: float  # of the stores; the last class takes the rest
    visitors: int  # per store; 80% of them have sessions (decide.make_visitors)
    stores: list[Any] = field(default_factory=list)  # (Store, secret key, visitors)
    shop: Shop | None = None
    bundle: Any = None  # trained once, published to each store of the class
    bundle_bytes: int = 0
    train_s: float = 0.0


def size_classes() -> list[SizeClass]:
    return [
        SizeClass("10,000 items", 10_000, 0.003, 40),
        SizeClass("2,000 items", 2_000, 0.03, 20),
        SizeClass("500 items", 500, 0.30, 6),
        SizeClass("100 items", 100, 1.0, 3),
    ]


def assign(classes: list[SizeClass], total: int) -> list[int]:
    counts = [max(1, round(total * c.share)) for c in classes[:-1]]
    return [*counts, total - sum(counts)]


def cards(shop: Shop) -> list[dict[str, Any]]:
    return [
        {
            "item_id": item,
            "name": item_name(item),
            "url": f"{SHOP}/products/{item}",
            "image": f"https://cdn.{DOMAIN}/img/{item}.jpg",
            "price": shop.price[item],
            "currency": CURRENCY,
            "category": shop.category[item],
            "availability": "in stock" if shop.available[item] else "out of stock",
        }
        for item in shop.items
    ]


# -- setup ------------------------------------------------------------------------


async def create_stores(url: str, classes: list[SizeClass], counts: list[int]) -> float:
    """Every store and its catalog, through the library on a Cluster client."""
    started = time.perf_counter()
    client = redis.asyncio.RedisCluster.from_url(url)
    try:
        number = 0
        for size, count in zip(classes, counts, strict=True):
            assert size.shop is not None
            its_cards = cards(size.shop)

            async def one(n: int, its_cards: list[dict[str, Any]] = its_cards) -> Any:
                store, secret = await stores.create_store(
                    client, f"Fleet shop {n}", [f"shop{n:04d}.example", DOMAIN]
                )
                await catalog.upsert_cards(client, store.id, its_cards)
                return store, secret

            for first in range(0, count, 20):
                batch = range(number + first, number + min(count, first + 20))
                size.stores += await asyncio.gather(*(one(n) for n in batch))
            number += count
    finally:
        await client.aclose()
    return time.perf_counter() - started


def publish_models(url: str, classes: list[SizeClass], data_dir: Path) -> float:
    started = time.perf_counter()
    client = redis.RedisCluster.from_url(url)
    try:
        for size in classes:
            bundle = size.bundle
            for store, _ in size.stores:
                model_registry.publish(client, data_dir, store.id, bundle)
            size.bundle_bytes = len(bundle.to_bytes())
            size.bundle = None
    finally:
        client.close()
    return time.perf_counter() - started


def post_rules_and_traffic(base: str, size: SizeClass, seed: int) -> dict[str, int]:
    """Each store's rules (admin API) and its visitors' sessions (collect)."""
    assert size.shop is not None
    shop = size.shop

    def one(index: int) -> tuple[int, int, list[Any]]:
        store, secret = size.stores[index]
        rng = np.random.default_rng([seed, size.items, index])
        rule_ids = [
            ok(
                f"rule {preset}",
                call(f"{base}/v1/admin/rules", "POST", {"preset": preset}, secret),
                201,
            )["id"]
            for preset in PRESETS
        ]
        visitors = make_visitors(shop, argparse.Namespace(visitors=size.visitors), rng)
        sent = events(shop, visitors, rule_ids, int(time.time() * 1000), rng)
        accepted = 0
        for first in range(0, len(sent), BATCH_EVENTS):
            body = {"k": store.public_key, "events": sent[first : first + BATCH_EVENTS]}
            headers = {"User-Agent": AGENT_HEADERS[0], "Origin": SHOP}
            answer = ok(
                "collect",
                call(
                    f"{base}/v1/collect", "POST", body, content_type="text/plain", headers=headers
                ),
            )
            if answer["rejected"]:
                raise RuntimeError(f"collect rejected events: {answer['rejected'][:3]}")
            accepted += answer["accepted"]
        return len(rule_ids), accepted, visitors

    with concurrent.futures.ThreadPoolExecutor(SETUP_THREADS) as pool:
        done = list(pool.map(one, range(len(size.stores))))
    size.stores = [
        (store, secret, visitors)
        for (store, secret), (_, _, visitors) in zip(size.stores, done, strict=True)
    ]
    return {"rules": sum(d[0] for d in done), "events": sum(d[1] for d in done)}


def write_pages(
    size: SizeClass, rate: float, seconds: int, path: Path, rng: np.random.Generator
) -> int:
    """The class's decide pages, its stores taking turns in a shuffled order."""
    assert size.shop is not None
    per_store = math.ceil(rate * seconds * 1.2 / len(size.stores)) + 1
    found = []
    for store, _, visitors in size.stores:
        found += pages(size.shop, visitors, per_store, rng, store.public_key)
    order = rng.permutation(len(found))
    path.write_text("".join(f"{found[i][0]}\t{found[i][1]}\n" for i in order))
    return len(found)


# -- the server and its log -----------------------------------------------------------

LOADED = re.compile(r"store (\w+): model (v\d+) in service \(([\d.]+) MB in memory\)")
DROPPED = re.compile(r"store (\w+): model (v\d+) dropped from memory")
PROBLEM = re.compile(r"error|exception|traceback|critical", re.IGNORECASE)


class Tarry:
    def __init__(self, env: dict[str, str], log: Path, workers: int, cap_mb: int) -> None:
        self.port, self.log, self.workers, self.cap_mb = free_port(), log, workers, cap_mb
        self.env = {**env, "TARRY_PORT": str(self.port), "TARRY_MODEL_CACHE_MB": str(cap_mb)}
        self.base = f"http://127.0.0.1:{self.port}"
        self.read_to = 0
        command = [sys.executable, "-m", "widget_server", "serve", "--workers", str(workers)]
        self.process = start(command, self.env, log, f"{self.base}/readyz")

    def rss(self) -> float:
        return server_rss_mib(self.process.pid)

    def new_log(self) -> str:
        """What the server logged since the last call."""
        text = self.log.read_text(errors="replace")
        new, self.read_to = text[self.read_to :], len(text)
        return new


def warm(server: Tarry, size: SizeClass, asks: int = 1) -> dict[str, Any]:
    """Ask each store of the class for a page `asks` times (one page loads its model)."""
    first = []
    for store, _, visitors in size.stores:
        assert size.shop is not None
        rng = np.random.default_rng(len(first))
        first.append(pages(size.shop, visitors, 1, rng, store.public_key)[0])
    before = server.rss()

    def one(page: tuple[int, str]) -> bool:
        body = ok("decide", call(server.base + page[1], headers={"User-Agent": AGENT_HEADERS[0]}))
        return body["model_version"] is not None

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(SETUP_THREADS) as pool:
        served = list(pool.map(one, first * asks))
    return {
        "stores": len(size.stores),
        "seconds": round(time.perf_counter() - started, 1),
        "without_model": served.count(False),
        "rss_before_mib": before,
        "rss_after_mib": server.rss(),
    }


def model_events(text: str) -> dict[str, Any]:
    loaded = LOADED.findall(text)
    return {
        "loads": len(loaded),
        "drops": len(DROPPED.findall(text)),
        "loaded_mb": {store: float(mb) for store, _, mb in loaded},
        "problems": [line for line in text.splitlines() if PROBLEM.search(line)],
    }


def measure(
    server: Tarry,
    classes: list[SizeClass],
    rates: dict[str, float],
    files: dict[str, Path],
    duration: int,
) -> dict[str, Any]:
    """A warm-up, then one paced wrk per size class at once."""
    url = f"{server.base}/v1/decide"

    def connections(rate: float) -> int:
        # Room for a model load (a few hundred ms) without sending late.
        return max(8, math.ceil(rate * 0.1))

    def load(seconds: int, offset_s: int) -> dict[str, Any]:
        with concurrent.futures.ThreadPoolExecutor(len(classes)) as pool:
            running = {
                c.name: pool.submit(
                    run_wrk,
                    url,
                    seconds,
                    connections(rates[c.name]),
                    files[c.name],
                    max(1, round(rates[c.name])),
                    int(rates[c.name] * offset_s),
                )
                for c in classes
            }
            return {name: job.result() for name, job in running.items()}

    load(WARMUP_S, 0)
    server.new_log()
    rss_before, load_before = server.rss(), os.getloadavg()
    by_class = load(duration, WARMUP_S)
    rss_after = server.rss()
    return {
        "workers": server.workers,
        "cap_mb": server.cap_mb,
        "classes": by_class,
        "models": model_events(server.new_log()),
        "rss_mib": {"before": rss_before, "after": rss_after},
        "load_average": {"before": load_before[0], "after": os.getloadavg()[0]},
    }


# -- what Redis holds -------------------------------------------------------------------

STORE_KEY = re.compile(rb"^t:\{([a-z0-9]{12})\}:(.*)$", re.DOTALL)


def part_of(rest: bytes) -> str:
    if rest.startswith(b"model:chunk:"):
        return "model bundle"
    if rest.startswith(b"catalog"):
        return "catalog"
    if rest == b"events":
        return "event stream"
    if rest.startswith((b"v:", b"vi:", b"ci:", b"sess:")):
        return "visitors, sessions"
    return "aggregates, logs, rules"


PARTS = ("model bundle", "catalog", "event stream", "visitors, sessions", "aggregates, logs, rules")


def scan_cluster(cluster: RedisCluster) -> dict[str, Any]:
    """Every key of every node with its MEMORY USAGE, by node and by store."""
    nodes = []
    by_store: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    keys_by_store: collections.Counter[str] = collections.Counter()
    slots_of: dict[str, set[int]] = collections.defaultdict(set)
    node_of: dict[str, set[int]] = collections.defaultdict(set)
    other = collections.Counter[str]()
    for index, port in enumerate(cluster.ports):
        with redis.Redis(host="127.0.0.1", port=port) as node:
            names = list(node.scan_iter(count=5000))
            sizes: list[int] = []
            for first in range(0, len(names), 2000):
                pipe = node.pipeline(transaction=False)
                for name in names[first : first + 2000]:
                    pipe.memory_usage(name, samples=0)
                sizes += [int(s or 0) for s in pipe.execute()]
            info = node.info("memory")
            owned = sum(
                hi - lo + 1
                for row in node.cluster("slots")
                if row[2][1] == port
                for lo, hi in [(row[0], row[1])]
            )
        stores_here = set()
        for name, size in zip(names, sizes, strict=True):
            found = STORE_KEY.match(name)
            if found is None:
                other["keys"] += 1
                other["bytes"] += size
                continue
            store_id = found[1].decode()
            stores_here.add(store_id)
            by_store[store_id][part_of(found[2])] += size
            keys_by_store[store_id] += 1
            slots_of[store_id].add(key_slot(name))
            node_of[store_id].add(index)
        nodes.append(
            {
                "port": port,
                "slots_owned": owned,
                "keys": len(names),
                "bytes": sum(sizes),
                "used_memory": int(info["used_memory"]),
                "stores": len(stores_here),
            }
        )
    used = collections.Counter(min(s) for s in slots_of.values())
    return {
        "nodes": nodes,
        "by_store": {s: dict(parts) for s, parts in by_store.items()},
        "keys_by_store": dict(keys_by_store),
        "stores_on_more_than_one_slot": sorted(s for s, v in slots_of.items() if len(v) > 1),
        "stores_on_more_than_one_node": sorted(s for s, v in node_of.items() if len(v) > 1),
        "slots_used": len(used),
        "slots_shared_by_stores": sum(1 for n in used.values() if n > 1),
        "global_keys": dict(other),
    }


def memory_by_class(scan: dict[str, Any], classes: list[SizeClass]) -> list[dict[str, Any]]:
    rows = []
    for size in classes:
        ids = [store.id for store, *_ in size.stores]
        parts = {
            part: statistics.fmean(scan["by_store"].get(i, {}).get(part, 0) for i in ids)
            for part in PARTS
        }
        totals = [sum(scan["by_store"].get(i, {}).values()) for i in ids]
        rows.append(
            {
                "class": size.name,
                "stores": len(ids),
                "keys_per_store": statistics.fmean(scan["keys_by_store"].get(i, 0) for i in ids),
                "bytes_per_store": parts,
                "total_per_store": statistics.fmean(totals),
                "total": sum(totals),
                "bundle_bytes": size.bundle_bytes,
            }
        )
    return rows


# -- the run ----------------------------------------------------------------------------


def run(args: argparse.Namespace, data_dir: Path, held: list[Any]) -> dict[str, Any]:
    load_before = os.getloadavg()
    started = time.perf_counter()
    cluster = RedisCluster(data_dir / "cluster")
    held.append(cluster)
    cluster.start()

    classes = size_classes()
    counts = assign(classes, args.stores)
    for size in classes:
        began = time.perf_counter()
        size.shop, size.bundle = make_shop(argparse.Namespace(items=size.items, seed=args.seed))
        size.train_s = round(time.perf_counter() - began, 1)
    tarry_dir = data_dir / "tarry"
    create_s = asyncio.run(create_stores(cluster.url, classes, counts))
    publish_s = publish_models(cluster.url, classes, tarry_dir)

    env = dict(os.environ)
    env.update(
        TARRY_REDIS_URL=cluster.url,
        TARRY_REDIS_CLUSTER="yes",
        TARRY_DATA_DIR=str(tarry_dir),
        TARRY_ACCESS_LOG="false",
        TARRY_LOG_LEVEL="info",
        TARRY_RATE_LIMIT_IP="0",
        TARRY_RATE_LIMIT_VISITOR="0",
    )
    server = Tarry(env, data_dir / "tarry-default.log", 1, DEFAULT_CAP_MB)
    held.append(server.process)
    began = time.perf_counter()
    setup = {c.name: post_rules_and_traffic(server.base, c, args.seed) for c in classes}
    traffic_s = time.perf_counter() - began

    weight = {c.name: c.items * len(c.stores) for c in classes}
    rates = {name: args.rate * w / sum(weight.values()) for name, w in weight.items()}
    rng = np.random.default_rng(args.seed + 1)
    files = {c.name: data_dir / f"pages-{c.items}.tsv" for c in classes}
    for size in classes:
        write_pages(size, rates[size.name], WARMUP_S + args.duration, files[size.name], rng)

    # every store's model in memory, smallest stores first: RSS per loaded model
    server.new_log()
    warmed = {c.name: warm(server, c) for c in reversed(classes)}
    loaded = model_events(server.new_log())
    runs = [measure(server, classes, rates, files, args.duration)]
    stop(server.process)

    scan = scan_cluster(cluster)

    server = Tarry(env, data_dir / "tarry-capped.log", 1, args.small_cap_mb)
    held.append(server.process)
    for size in reversed(classes):
        warm(server, size)
    runs.append(measure(server, classes, rates, files, args.duration))
    stop(server.process)
    if args.two_workers:
        server = Tarry(env, data_dir / "tarry-two.log", 2, DEFAULT_CAP_MB)
        held.append(server.process)
        for size in reversed(classes):
            warm(server, size, asks=3)
        runs.append(measure(server, classes, rates, files, args.duration))
        stop(server.process)

    footprint = {
        c.name: statistics.fmean(loaded["loaded_mb"].get(s.id, math.nan) for s, *_ in c.stores)
        for c in classes
    }
    return {
        "machine": machine(),
        "load_average": {"before": load_before[0], "after": os.getloadavg()[0]},
        "command": shlex.join(["python", *sys.argv]),
        "seconds": round(time.perf_counter() - started),
        "rate": args.rate,
        "duration_s": args.duration,
        "warmup_s": WARMUP_S,
        "classes": [
            {
                "name": c.name,
                "items": c.items,
                "stores": len(c.stores),
                "model_items": c.shop.model_items if c.shop else 0,
                "interactions": c.shop.interactions if c.shop else 0,
                "train_s": c.train_s,
                "bundle_bytes": c.bundle_bytes,
                "rate": rates[c.name],
                **setup[c.name],
            }
            for c in classes
        ],
        "setup_s": {
            "stores_and_catalogs": round(create_s, 1),
            "publish": round(publish_s, 1),
            "rules_and_traffic": round(traffic_s, 1),
        },
        "warm": warmed,
        "models_loaded_at_warm_up": loaded["loads"],
        "footprint_mb": footprint,
        "models_sum_mb": sum(footprint[c.name] * len(c.stores) for c in classes),
        "runs": runs,
        "memory": memory_by_class(scan, classes),
        "spread": {k: v for k, v in scan.items() if k not in ("by_store", "keys_by_store")},
    }


# -- the report -------------------------------------------------------------------------


def errors(x: dict[str, Any]) -> int:
    return int(x.get("non_2xx_3xx", 0) + x.get("socket_errors", 0) + x.get("other_status", 0))


def mib(n: float) -> str:
    return f"{n / 2**20:,.2f}"


def passes(x: dict[str, Any], rate: float) -> bool:
    return x["p99_ms"] < BUDGET_P99_MS and x["requests_per_s"] >= 0.97 * rate and not errors(x)


def report(r: dict[str, Any]) -> list[str]:
    m = r["machine"]
    rates = {c["name"]: c["rate"] for c in r["classes"]}
    lines = [
        f"machine: nproc {m['nproc']}, {m['cpu']}, Python {m['python']}, {m['platform']}, "
        f"{m['wrk']}; load average {r['load_average']['before']:.2f} before, "
        f"{r['load_average']['after']:.2f} after ({r['seconds']} s in all)",
        "",
        "| size class | stores | model items | bundle MiB | interactions | rules | events "
        "| decide/s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in r["classes"]:
        lines.append(
            f"| {c['name']} | {c['stores']:,} | {c['model_items']:,} | {mib(c['bundle_bytes'])} "
            f"| {c['interactions']:,} | {c['rules']:,} | {c['events']:,} | {c['rate']:.1f} |"
        )
    s = r["setup_s"]
    lines += [
        "",
        f"setup: stores and catalogs {s['stores_and_catalogs']} s (library, on the Cluster), "
        f"models published {s['publish']} s, rules and collect traffic "
        f"{s['rules_and_traffic']} s (HTTP)",
        "",
    ]
    for run in r["runs"]:
        ev = run["models"]
        lines += [
            f"decide, tarry serve --workers {run['workers']}, TARRY_MODEL_CACHE_MB="
            f"{run['cap_mb']} (models' sum {r['models_sum_mb']:,.0f} MB): {r['rate']}/s for "
            f"{r['duration_s']} s; model loads {ev['loads']}, drops {ev['drops']} during the "
            f"run; server RSS {run['rss_mib']['before']} MiB before, "
            f"{run['rss_mib']['after']} MiB after; load average "
            f"{run['load_average']['before']:.2f} -> {run['load_average']['after']:.2f}",
            "",
            f"| size class | target/s | requests/s | p50 ms | p90 ms | p99 ms | max ms | errors "
            f"| late | budget p99 < {BUDGET_P99_MS:.0f} ms |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        for name, x in run["classes"].items():
            verdict = "PASS" if passes(x, rates[name]) else "FAIL"
            lines.append(
                f"| {name} | {rates[name]:.0f} | {x['requests_per_s']:.1f} | {x['p50_ms']:.2f} "
                f"| {x['p90_ms']:.2f} | {x['p99_ms']:.2f} | {x['max_ms']:.1f} | {errors(x)} "
                f"| {x['late']} | {verdict} |"
            )
        worst = max(x["p99_ms"] for x in run["classes"].values())
        all_pass = all(passes(x, rates[n]) for n, x in run["classes"].items())
        lines += [
            "",
            f"budget: p99 < {BUDGET_P99_MS:.0f} ms at {r['rate']} requests/s in every class "
            f"(so over all of them): worst {worst:.2f} ms " + ("PASS" if all_pass else "FAIL"),
            "",
        ]
        lines += [f"server log: {line}" for line in ev["problems"][:10]]
    lines += [
        "Redis memory per store (MEMORY USAGE of its keys; MiB):",
        "",
        "| size class | keys | model bundle | catalog | event stream | visitors, sessions "
        "| aggregates, logs, rules | total | all stores | server RSS per loaded model "
        "| model in memory (footprint) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in r["memory"]:
        name, b = row["class"], row["bytes_per_store"]
        w = r["warm"][name]
        rss = (w["rss_after_mib"] - w["rss_before_mib"]) / max(1, w["stores"])
        lines.append(
            f"| {name} | {row['keys_per_store']:.0f} | "
            + " | ".join(mib(b[p]) for p in PARTS)
            + f" | {mib(row['total_per_store'])} | {mib(row['total'])} | {rss:.2f} "
            f"| {r['footprint_mb'][name]:.2f} |"
        )
    sp = r["spread"]
    nodes = sp["nodes"]
    lines += [
        "",
        "| node | slots | keys | MiB (MEMORY USAGE) | used_memory MiB | stores |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for n in nodes:
        lines.append(
            f"| :{n['port']} | {n['slots_owned']:,} | {n['keys']:,} | {mib(n['bytes'])} "
            f"| {mib(n['used_memory'])} | {n['stores']:,} |"
        )

    def ratio(what: str, shown: Any = "{:,}".format) -> str:
        values = [n[what] for n in nodes]
        low, high = shown(min(values)), shown(max(values))
        return f"{low} to {high} (max / min {max(values) / max(1, min(values)):.2f})"

    lines += [
        "",
        f"spread over the nodes: keys {ratio('keys')}; MiB {ratio('bytes', mib)}; "
        f"stores {ratio('stores')}",
        f"slots: {sp['slots_used']:,} of 16,384 used by the stores ({sp['slots_shared_by_stores']}"
        f" shared by two or more); stores whose keys span more than one slot: "
        f"{len(sp['stores_on_more_than_one_slot'])}, more than one node: "
        f"{len(sp['stores_on_more_than_one_node'])}; global keys "
        f"{sp['global_keys'].get('keys', 0)} ({mib(sp['global_keys'].get('bytes', 0))} MiB)",
        f"command: {r['command']}",
    ]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--stores", type=int, default=1000, help="stores (1000)")
    parser.add_argument("--rate", type=int, default=300, help="decide requests/s in all (300)")
    parser.add_argument("--duration", type=int, default=30, help="measured seconds a run (30)")
    parser.add_argument(
        "--small-cap-mb",
        type=int,
        default=256,
        help="TARRY_MODEL_CACHE_MB of the second run, below the models' sum (256)",
    )
    parser.add_argument(
        "--two-workers", action="store_true", help="also a run of tarry serve --workers 2"
    )
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument(
        "--json", type=Path, default=HERE / "results" / "fleet.json", help="results file"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        parser.error("wrk is not installed (apt-get install wrk)")
    if args.stores < len(size_classes()):
        parser.error(f"--stores: at least {len(size_classes())} (one per size class)")

    data_dir = Path(tempfile.mkdtemp(prefix="tarry-fleet-"))
    held: list[Any] = []
    try:
        result = run(args, data_dir, held)
    finally:
        for thing in reversed(held):
            with contextlib.suppress(Exception):
                if isinstance(thing, RedisCluster):
                    thing.stop()
                else:
                    stop(thing)
        shutil.rmtree(data_dir, ignore_errors=True)

    print("\n".join(report(result)))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.json}")
    bad = sum(errors(x) for run in result["runs"] for x in run["classes"].values())
    if bad:
        print(f"FAILED: {bad} decide answers were not 200", file=sys.stderr)
        return 1
    if any(w["without_model"] for w in result["warm"].values()):
        print("FAILED: some stores answered without their model", file=sys.stderr)
        return 1
    spread = result["spread"]
    if spread["stores_on_more_than_one_slot"]:
        print("FAILED: some stores' keys span more than one slot", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
