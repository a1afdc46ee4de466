"""A shop's whole mix of traffic against a running `tarry serve`, for a bounded time.

    python benchmarks/load.py [--seconds 60] [--rate 1000] [--stats-rate 1] [--items 2000]
    python benchmarks/load.py --seconds 600      # the 10-minute soak, by hand

Not run by CI: nothing under benchmarks/ is a test.

Method: start a real `tarry serve --workers N` on 127.0.0.1 (`--workers`, default 2:
processes sharing the port, each with its own group commit) with its embedded Redis in a temporary
data directory and the rate limits off (all the load comes from one loopback
address, which the per-address limit would stop at 600 requests a minute). Set up a
shop through its own APIs: the synthetic shop of benchmarks/decide.py (2,000 items)
trained and its model put in service, its catalog imported, showcase slots in the
settings, and four popup rules from the presets.

Then one wrk per route, all at once (one thread each, benchmarks/load.lua), each
paced to its share of `--rate`: 80% `POST /v1/collect` (5 events a request, every id
fresh: page and product views, engagement, carts, orders), 15% `GET /v1/decide`
(product, category, home, cart and search pages with their showcase slots), 5% `GET
/v1/recommendations` (five strategies), and beside them stats reads (overview,
realtime, summary, funnel, breakdown) at `--stats-rate` a second. A 5 s warm-up
of the same mix is discarded.

Prints, per route: requests/s, p50, p95, p99 and max latency, answers other than 200,
socket errors and late sends (a request that left after its slot because every
connection was busy); the server's RSS before and after the measured run, and
every 30 s through it with its growth over the run's second half; Redis' used
memory before and after, and per million events stored (the growth over the run,
divided by the events it stored). Checks: every answer 200, no socket error,
and the events in the store's stream equal to 5 per collect answered (plus at most
those still in flight when wrk stopped); otherwise exit status 1. Writes
benchmarks/results/load.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import redis
from collect import free_port, machine, rss_mib, start, stop, stored_events
from decide import SHOP, call, feed, make_shop, ok, store_settings

from widget_server.models import registry as model_registry

HERE = Path(__file__).resolve().parent
MIX = {"collect": 0.80, "decide": 0.15, "recommendations": 0.05}
EVENTS_PER_REQUEST = 5
WARMUP_S = 5
RSS_EVERY_S = 30  # seconds between samples of the server RSS
PRESETS = ("dont_go", "flash_promo", "last_chance", "welcome_back")
# Enough connections for each route's rate at 50 ms a request, and never fewer than 4.
LATENCY_ALLOWANCE_S = 0.05

Process = subprocess.Popen[bytes]


def connections_for(rate: float) -> int:
    return max(4, math.ceil(rate * LATENCY_ALLOWANCE_S))


def run_mix(
    base: str, rates: dict[str, float], seconds: int, env: dict[str, str]
) -> dict[str, dict[str, Any]]:
    """One wrk per route, all started together; each route's LOAD_JSON line."""
    running = {}
    for route, rate in rates.items():
        command = [
            *("wrk", "-t1", f"-c{connections_for(rate)}", f"-d{seconds}s", "--timeout", "5s"),
            *("-s", str(HERE / "load.lua"), base),
        ]
        route_env = {**env, "LOAD_ROUTE": route, "LOAD_RATE": f"{rate:g}"}
        running[route] = (
            command,
            subprocess.Popen(
                command, env=route_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            ),
        )
    results = {}
    for route, (command, process) in running.items():
        out, err = process.communicate(timeout=seconds + 60)
        found = re.search(rb"^LOAD_JSON (\{.*\})$", out, re.MULTILINE)
        if process.returncode != 0 or found is None:
            raise RuntimeError(
                f"{shlex.join(command)} exited {process.returncode}:\n{err.decode()}"
            )
        result = json.loads(found[1])
        result["target_per_s"] = rates[route]
        result["per_s"] = result["requests"] / (result["duration_us"] / 1e6)
        result["command"] = f"LOAD_ROUTE={route} LOAD_RATE={rates[route]:g} {shlex.join(command)}"
        results[route] = result
    return results


def setup_shop(
    base: str, store: dict[str, Any], db: redis.Redis, data_dir: Path, items: int
) -> dict[str, Any]:
    started = time.perf_counter()
    shop, bundle = make_shop(argparse.Namespace(items=items, seed=7))
    version = model_registry.publish(db, data_dir, store["store_id"], bundle)
    del bundle
    secret = store["secret_key"]
    imported = ok(
        "catalog import",
        call(
            f"{base}/v1/admin/catalog?format=jsonl",
            "POST",
            feed(shop),
            secret,
            "application/x-ndjson",
        ),
    )
    ok("settings", call(f"{base}/v1/admin/settings", "PUT", store_settings(), secret))
    for preset in PRESETS:
        ok(
            f"rule {preset}",
            call(f"{base}/v1/admin/rules", "POST", {"preset": preset}, secret),
            201,
        )
    # The first request for the store loads its model (servers poll for new versions).
    page = f"{base}/v1/recommendations?k={store['public_key']}&placement=similar&item_id=i1"
    deadline = time.monotonic() + 60
    while ok("recommendations", call(page))["model_version"] != version:
        if time.monotonic() > deadline:
            raise RuntimeError(f"model {version} not in service after 60 s")
        time.sleep(0.5)
    return {
        "items": len(shop.items),
        "catalog_imported": imported["imported"],
        "model_version": version,
        "model_items": shop.model_items,
        "interactions": shop.interactions,
        "setup_s": round(time.perf_counter() - started, 1),
    }


def run(args: argparse.Namespace, data_dir: Path, procs: list[Process]) -> dict[str, Any]:
    python, env = sys.executable, dict(os.environ)
    port, tarry_dir = free_port(), data_dir / "tarry"
    env.pop("TARRY_REDIS_URL", None)
    env.update(
        TARRY_DATA_DIR=str(tarry_dir),
        TARRY_HOST="127.0.0.1",
        TARRY_PORT=str(port),
        TARRY_ACCESS_LOG="false",
        TARRY_LOG_LEVEL="warning",
        TARRY_RATE_LIMIT_IP="0",
        TARRY_RATE_LIMIT_VISITOR="0",
    )
    domain = SHOP.removeprefix("https://")
    create = shlex.split(f"-m widget_server store create --name Load --domain {domain} --json")
    created = subprocess.run([python, *create], env=env, capture_output=True, text=True, check=True)
    store = json.loads(created.stdout)
    log = data_dir / "tarry.log"
    procs.append(
        tarry := start(
            [python, "-m", "widget_server", "serve", "--workers", str(args.workers)],
            env,
            log,
            f"http://127.0.0.1:{port}/readyz",
        )
    )
    base = f"http://127.0.0.1:{port}"
    db = redis.Redis(unix_socket_path=str(tarry_dir / "redis.sock"))
    shop = setup_shop(base, store, db, tarry_dir, args.items)

    rates = {route: args.rate * share for route, share in MIX.items()}
    rates["stats"] = args.stats_rate
    wrk_env = {
        **os.environ,
        "LOAD_KEY": store["public_key"],
        "LOAD_SECRET": store["secret_key"],
        "LOAD_ITEMS": str(shop["items"]),
        "LOAD_ORIGIN": SHOP,
    }
    run_mix(base, rates, WARMUP_S, {**wrk_env, "LOAD_TAG": "warm-" + secrets.token_hex(4)})

    rss_before, events_before = server_rss_mib(tarry.pid), stored_events(db, store["store_id"])
    memory_before = int(db.info("memory")["used_memory"])
    # The server's RSS every RSS_EVERY_S seconds through the run: growth that levels
    # off (allocator arenas, bounded caches filling) is told apart from a leak.
    samples: list[tuple[float, float]] = []
    done = threading.Event()

    def sample() -> None:
        begun = time.monotonic()
        while not done.wait(RSS_EVERY_S):
            samples.append((round(time.monotonic() - begun), server_rss_mib(tarry.pid)))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    routes = run_mix(base, rates, args.seconds, {**wrk_env, "LOAD_TAG": secrets.token_hex(6)})
    done.set()
    sampler.join()
    time.sleep(1)  # what was still in flight when wrk stopped
    rss_after, events_after = server_rss_mib(tarry.pid), stored_events(db, store["store_id"])
    memory_after = int(db.info("memory")["used_memory"])
    db.close()
    stop(tarry)

    added = events_after - events_before
    answered = routes["collect"]["statuses"].get("200", 0)
    in_flight = connections_for(rates["collect"]) * EVENTS_PER_REQUEST
    logs = log.read_text(errors="replace")
    return {
        "machine": machine(),
        "command": shlex.join(["python", *sys.argv]),
        "seconds": args.seconds,
        "workers": args.workers,
        "warmup_s": WARMUP_S,
        "rate": args.rate,
        "shop": shop,
        "routes": routes,
        "requests_per_s": sum(r["per_s"] for r in routes.values()),
        "events_per_s": answered * EVENTS_PER_REQUEST / args.seconds,
        "rss_mib": {"before": rss_before, "after": rss_after, "samples": samples},
        "redis_used_memory": {"before": memory_before, "after": memory_after},
        "events": {
            "stored_before": events_before,
            "added": added,
            "expected": answered * EVENTS_PER_REQUEST,
        },
        "events_check_ok": answered * EVENTS_PER_REQUEST
        <= added
        <= answered * EVENTS_PER_REQUEST + in_flight,
        "redis_mib_per_million_events": (memory_after - memory_before)
        / max(1, added)
        * 1e6
        / 2**20,
        "server_log_problems": [
            line
            for line in logs.splitlines()
            if re.search(r"error|exception|traceback", line, re.I)
        ],
    }


def errors(route: dict[str, Any]) -> int:
    return (
        route["requests"]
        - route["statuses"].get("200", 0)
        + route["socket_errors"]
        + route["timeouts"]
    )


def server_rss_mib(pid: int) -> float:
    """The RSS of the server and of its worker processes, together."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    workers = [int(c) for c in children.read_text().split()] if children.exists() else []
    return round(rss_mib(pid) + sum(rss_mib(w) for w in workers), 1)


def _rss_lines(samples: list[tuple[float, float]]) -> list[str]:
    """The RSS series, and its growth over the run's second half."""
    if len(samples) < 4:
        return []
    half = samples[len(samples) // 2 :]
    series = ", ".join(f"{mib:.0f}" for _, mib in samples)
    return [
        f"server RSS every {RSS_EVERY_S} s (MiB): {series}",
        f"server RSS over the second half: {half[0][1]:.1f} -> {half[-1][1]:.1f} MiB "
        f"({half[-1][1] - half[0][1]:+.1f} MiB in {half[-1][0] - half[0][0]:.0f} s)",
    ]


def report(r: dict[str, Any]) -> str:
    m, shop = r["machine"], r["shop"]
    lines = [
        f"machine: nproc {m['nproc']}, {m['cpu']}, Python {m['python']}, {m['platform']}",
        f"server: tarry serve --workers {r['workers']}",
        f"load: {m['wrk']}, one wrk per route at once, {r['seconds']} s measured after a "
        f"{r['warmup_s']} s warm-up; {r['rate']:,} requests/s in the mix plus stats reads",
        f"shop: {shop['items']:,} items, model {shop['model_version']} "
        f"({shop['interactions']:,} interactions), 4 preset rules, 3 showcase slots",
        "",
        "| route | target/s | requests/s | p50 ms | p95 ms | p99 ms | max ms | errors | late |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, route in r["routes"].items():
        lat = {k: v / 1000 for k, v in route["latency_us"].items()}
        lines.append(
            f"| {name} | {route['target_per_s']:,.0f} | {route['per_s']:,.1f} | {lat['p50']:.2f} "
            f"| {lat['p95']:.2f} | {lat['p99']:.2f} | {lat['max']:.1f} | {errors(route)} "
            f"| {route['late']} |"
        )
    events, mem = r["events"], r["redis_used_memory"]
    lines += [
        "",
        f"throughput: {r['requests_per_s']:,.0f} requests/s, "
        f"{r['events_per_s']:,.0f} events/s stored",
        f"server RSS: {r['rss_mib']['before']} MiB before, {r['rss_mib']['after']} MiB after",
        *_rss_lines(r["rss_mib"]["samples"]),
        f"Redis used memory: {mem['before'] / 2**20:.1f} MiB before, "
        f"{mem['after'] / 2**20:.1f} MiB after: "
        f"{r['redis_mib_per_million_events']:,.0f} MiB per million events stored",
        f"events stored in the run: {events['added']:,}; collect answered "
        f"{events['expected']:,}: {'OK' if r['events_check_ok'] else 'MISMATCH'}",
        f"command: {r['command']}",
    ]
    lines += [f"server log: {line}" for line in r["server_log_problems"][:20]]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=60, help="measured seconds (60)")
    parser.add_argument(
        "--rate",
        type=int,
        default=1000,
        help="collect, decide and recommendation requests per second (1000)",
    )
    parser.add_argument("--stats-rate", type=float, default=1.0, help="stats reads per second (1)")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes (2)")
    parser.add_argument(
        "--items", type=int, default=2000, help="items in the synthetic shop (2000)"
    )
    parser.add_argument(
        "--json", type=Path, default=HERE / "results" / "load.json", help="results file"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        parser.error("wrk is not installed (apt-get install wrk)")
    if args.seconds < 1 or args.rate < 1:
        parser.error("--seconds and --rate must be at least 1")

    data_dir = Path(tempfile.mkdtemp(prefix="tarry-load-"))
    procs: list[Process] = []
    try:
        result = run(args, data_dir, procs)
    finally:
        for process in procs:
            stop(process)
        sock = data_dir / "tarry" / "redis.sock"
        if sock.exists():  # the server died without shutting its Redis down
            with contextlib.suppress(redis.RedisError):
                redis.Redis(unix_socket_path=str(sock), socket_timeout=2).shutdown(nosave=True)
        shutil.rmtree(data_dir, ignore_errors=True)

    print(report(result))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.json}")
    if any(errors(route) for route in result["routes"].values()):
        print("FAILED: some requests got no 200; these numbers do not count", file=sys.stderr)
        return 1
    if not result["events_check_ok"]:
        print("FAILED: stored events do not match the collect requests answered", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
