"""Throughput and latency of `POST /v1/collect`, against a bare Starlette endpoint.

Method: start a real `tarry serve` (one uvicorn worker, its embedded Redis in a
temporary data directory, rate limits off so load from one address is not
throttled) and, in the same run, a bare Starlette app answering "ok" in plain text
under the same uvicorn settings. Load each with `wrk` (one thread, N keep-alive
connections on loopback): a 2 s warm-up that is discarded, then the measured run.
Collect requests carry 5 events each with unique ids built by benchmarks/collect.lua,
a browser User-Agent and `Content-Type: text/plain`, as the snippet's beacons do.

With `--stores N` (1), the same visitors are dealt out over N stores, as a server
of a fleet sees its traffic: a store's concurrent requests are coalesced into one
script call, so fewer requests a store means more calls. The server's and Redis'
CPU time a request (from /proc) and the requests a script call are printed.

Honesty checks: any non-2xx response or socket error from /v1/collect exits 1, and
so does an event stream (the events in the stores' streams) shorter than 5 x the
requests wrk counted, or longer by more than the requests that were still in flight
when it stopped. Budget (DESIGN.md): collect >= 40% of the bare request rate, p99 < 20 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import redis
import redis.asyncio
from _machine import cpu_seconds

from widget_server.storage import event_archive, event_entries
from widget_server.storage.stores import create_store

HERE = Path(__file__).resolve().parent
EVENTS_PER_REQUEST = 5
WARMUP_S = 2
MIN_RATIO, MAX_P99_MS = 0.40, 20.0
BROWSER_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0 Safari/537.36"
)
_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
_PROBLEM = re.compile(r"error|exception|traceback|critical", re.IGNORECASE)

Process = subprocess.Popen[bytes]


@dataclass
class WrkResult:
    command: str
    requests: int
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int


def parse_wrk(command: str, output: str) -> WrkResult:
    def find(pattern: str) -> str:
        match = re.search(pattern, output, re.MULTILINE)
        if match is None:
            raise ValueError(f"wrk output lacks /{pattern}/:\n{output}")
        return match[1]

    def ms(text: str) -> float:
        match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
        if match is None:
            raise ValueError(f"wrk: cannot read the latency {text!r}")
        return float(match[1]) * _UNITS_MS[match[2]]

    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return WrkResult(
        command=command,
        requests=int(find(r"^\s*(\d+) requests in")),
        requests_per_s=float(find(r"^Requests/sec:\s+([\d.]+)")),
        p50_ms=ms(find(r"^\s+50%\s+(\S+)")),
        p99_ms=ms(find(r"^\s+99%\s+(\S+)")),
        non_2xx=int(non_2xx[1]) if non_2xx else 0,
        socket_errors=sum(int(n) for n in errors.groups()) if errors else 0,
    )


def run_wrk(url: str, seconds: int, connections: int, public_key: str | None) -> WrkResult:
    """One wrk run; with public keys (comma-separated), POST fresh events (a new id
    prefix each run)."""
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s"]
    if public_key:
        command += ["-s", str(HERE / "collect.lua"), url, "--", public_key, secrets.token_hex(6)]
    else:
        command += ["-H", f"User-Agent: {BROWSER_UA}", url]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{shlex.join(command)} exited {done.returncode}:\n{done.stderr}")
    return parse_wrk(shlex.join(command), done.stdout)


def measure(url: str, args: argparse.Namespace, public_key: str | None) -> tuple[int, WrkResult]:
    """Warm up (discarded, but its request count is returned), then measure."""
    warm = run_wrk(url, WARMUP_S, args.connections, public_key)
    return warm.requests, run_wrk(url, args.duration, args.connections, public_key)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(command: list[str], env: dict[str, str], log: Path, ready_url: str) -> Process:
    """Start a server with its output in `log`; return once `ready_url` answers 200."""
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(ready_url, timeout=2) as response:
                if response.status == 200:
                    return process
        except OSError:
            time.sleep(0.1)
    stop(process)
    raise RuntimeError(
        f"{ready_url}: server not ready (exit {process.returncode}):\n{log.read_text()}"
    )


def stop(process: Process) -> None:
    """SIGTERM, so that tarry shuts its embedded Redis down cleanly; SIGKILL if stuck."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def stored_events(db: redis.Redis, store_id: str) -> int:
    """Events the store keeps (its stream, and any hour archived): each entry holds
    one script call's events."""
    pages = event_archive.pages(db, store_id, batch=5000)
    return sum(len(event_entries.events(fields)) for page in pages for _, fields in page)


def more_stores(socket_path: Path, count: int) -> list[dict[str, str]]:
    """`count` stores more, made as `tarry store create` makes them (one process for
    all of them: a command each would take a second each)."""

    async def create() -> list[dict[str, str]]:
        db = redis.asyncio.Redis(unix_socket_path=str(socket_path))
        try:
            made = [
                await create_store(db, f"Bench {n}", [f"bench{n}.example"]) for n in range(count)
            ]
        finally:
            await db.aclose()
        return [{"store_id": store.id, "public_key": store.public_key} for store, _ in made]

    return asyncio.run(create())


def script_calls(db: redis.Redis) -> int:
    """Scripts Redis has run: the ingest script, nearly all of them here."""
    stats = db.info("commandstats")
    return sum(
        int(stats.get(name, {}).get("calls", 0)) for name in ("cmdstat_evalsha", "cmdstat_eval")
    )


def rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    return round(int(match[1]) / 1024, 1) if match else float("nan")


def machine() -> dict[str, Any]:
    model = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.MULTILINE)
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split()
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": model[1].strip() if model else platform.processor() or "unknown",
        "python": platform.python_version(),
        "platform": platform.platform(),
        "wrk": " ".join(wrk[:2]),
    }


def run(args: argparse.Namespace, data_dir: Path, procs: list[Process]) -> dict[str, Any]:
    python, env = sys.executable, dict(os.environ)
    bare_port, bare_log = free_port(), data_dir / "bare.log"
    bare_cmd = [python, str(HERE / "_bare_app.py"), str(bare_port)]
    procs.append(bare := start(bare_cmd, env, bare_log, f"http://127.0.0.1:{bare_port}/readyz"))
    _, bare_result = measure(f"http://127.0.0.1:{bare_port}/", args, None)
    bare_rss = rss_mib(bare.pid)
    stop(bare)

    port, tarry_log, tarry_dir = free_port(), data_dir / "tarry.log", data_dir / "tarry"
    env.pop("TARRY_REDIS_URL", None)
    env.update(
        TARRY_DATA_DIR=str(tarry_dir),
        TARRY_PORT=str(port),
        TARRY_ACCESS_LOG="false",
        TARRY_LOG_LEVEL="warning",
        TARRY_RATE_LIMIT_IP="0",
        TARRY_RATE_LIMIT_VISITOR="0",
    )
    create = shlex.split("-m widget_server store create --name Bench --domain bench.example --json")
    created = subprocess.run([python, *create], env=env, capture_output=True, text=True, check=True)
    store = json.loads(created.stdout)
    serve = [python, "-m", "widget_server", "serve"]
    procs.append(tarry := start(serve, env, tarry_log, f"http://127.0.0.1:{port}/readyz"))
    url = f"http://127.0.0.1:{port}"
    sock = tarry_dir / "redis.sock"
    stores = [store, *more_stores(sock, args.stores - 1)]
    public_keys = ",".join(s["public_key"] for s in stores)
    with contextlib.closing(redis.Redis(unix_socket_path=str(sock))) as db:
        redis_pid = int(db.info("server")["process_id"])
        warm = run_wrk(f"{url}/v1/collect", WARMUP_S, args.connections, public_keys)
        warm_requests = warm.requests
        cpu0 = cpu_seconds(tarry.pid), cpu_seconds(redis_pid)
        calls0 = script_calls(db)
        collect = run_wrk(f"{url}/v1/collect", args.duration, args.connections, public_keys)
        cpu1 = cpu_seconds(tarry.pid), cpu_seconds(redis_pid)
        calls = script_calls(db) - calls0
        tarry_rss = rss_mib(tarry.pid)
        with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:
            metrics = response.read().decode()
        pattern = r'^tarry_events_total\{outcome="(\w+)"\} (\S+)'
        outcomes = {m[1]: int(float(m[2])) for m in re.finditer(pattern, metrics, re.MULTILINE)}
        stored = sum(stored_events(db, s["store_id"]) for s in stores)
        redis_memory = str(db.info("memory")["used_memory_human"])
    stop(tarry)

    expected = EVENTS_PER_REQUEST * (warm_requests + collect.requests)
    in_flight = EVENTS_PER_REQUEST * args.connections * 2  # answered after wrk stopped counting
    logs = bare_log.read_text(errors="replace") + tarry_log.read_text(errors="replace")
    return {
        "machine": machine(),
        "command": shlex.join(["python", *sys.argv]),
        "connections": args.connections,
        "stores": args.stores,
        "duration_s": args.duration,
        "warmup_s": WARMUP_S,
        "bare": asdict(bare_result),
        "collect": asdict(collect),
        "ratio": collect.requests_per_s / bare_result.requests_per_s,
        "events_expected": expected,
        "events_stored": stored,
        "events_check_ok": expected <= stored <= expected + in_flight,
        "server_event_outcomes": outcomes,
        "rss_mib": {"bare": bare_rss, "tarry": tarry_rss},
        # CPU a request and script calls a request, over the measured run
        "cpu_ms_per_request": {
            "tarry": 1000 * (cpu1[0] - cpu0[0]) / max(collect.requests, 1),
            "redis": 1000 * (cpu1[1] - cpu0[1]) / max(collect.requests, 1),
        },
        "requests_per_script_call": collect.requests / max(calls, 1),
        "redis_used_memory": redis_memory,
        "server_log_problems": [line for line in logs.splitlines() if _PROBLEM.search(line)],
    }


def report(r: dict[str, Any]) -> str:
    m, bare, collect, rss = r["machine"], r["bare"], r["collect"], r["rss_mib"]
    cpu = r["cpu_ms_per_request"]
    ratio_ok, p99_ok = r["ratio"] >= MIN_RATIO, collect["p99_ms"] < MAX_P99_MS
    events_per_s = collect["requests_per_s"] * EVENTS_PER_REQUEST
    over = f", {r['stores']:,} stores" if r["stores"] > 1 else ""
    lines = [
        f"machine: nproc {m['nproc']}, {m['cpu']}, Python {m['python']}, {m['platform']}",
        f"load: {m['wrk']}, 1 thread, {r['connections']} connections, "
        f"{r['duration_s']} s measured after a {r['warmup_s']} s warm-up",
        "",
        "| endpoint | requests/s | events/s | p50 ms | p99 ms | non-2xx | ratio to bare |",
        "|---|---:|---:|---:|---:|---:|---:|",
        f"| bare Starlette plain text | {bare['requests_per_s']:,.0f} | - "
        f"| {bare['p50_ms']:.2f} | {bare['p99_ms']:.2f} | {bare['non_2xx']} | 1.00 |",
        f"| /v1/collect ({EVENTS_PER_REQUEST} events/request{over}) | "
        f"{collect['requests_per_s']:,.0f} "
        f"| {events_per_s:,.0f} | {collect['p50_ms']:.2f} | {collect['p99_ms']:.2f} "
        f"| {collect['non_2xx']} | {r['ratio']:.2f} |",
        "",
        f"command: {r['command']}",
        f"collect load: {collect['command']}",
        "",
        f"budget: collect >= {MIN_RATIO:.0%} of bare requests/s: {r['ratio']:.1%} "
        + ("PASS" if ratio_ok else "FAIL"),
        f"budget: collect p99 < {MAX_P99_MS:.0f} ms: {collect['p99_ms']:.2f} ms "
        + ("PASS" if p99_ok else "FAIL"),
        "",
        f"events stored (in the stream): {r['events_stored']:,}; "
        f"wrk counted {r['events_expected']:,} "
        f"(warm-up included): {'OK' if r['events_check_ok'] else 'MISMATCH'}",
        f"server event outcomes (/metrics): {r['server_event_outcomes']}",
        f"socket errors: bare {bare['socket_errors']}, collect {collect['socket_errors']}",
        f"CPU a request: tarry {cpu['tarry']:.3f} ms, Redis {cpu['redis']:.3f} ms; "
        f"{r['requests_per_script_call']:.1f} requests a script call (coalesced by store)",
        f"RSS after the run: bare {rss['bare']} MiB, tarry {rss['tarry']} MiB; "
        f"embedded Redis used_memory {r['redis_used_memory']}",
    ]
    lines += [f"server log: {line}" for line in r["server_log_problems"][:20]]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (32)")
    parser.add_argument("--duration", type=int, default=10, help="measured seconds (10)")
    parser.add_argument(
        "--stores", type=int, default=1, help="stores the requests are spread over (1)"
    )
    parser.add_argument(
        "--json", type=Path, default=HERE / "results" / "collect.json", help="results file"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        parser.error("wrk is not installed (apt-get install wrk)")
    if not 1 <= args.stores <= 2000:
        parser.error("--stores: from 1 to 2000 (their keys go on wrk's command line)")

    data_dir = Path(tempfile.mkdtemp(prefix="tarry-bench-"))
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
    if result["collect"]["non_2xx"] or result["collect"]["socket_errors"]:
        print("FAILED: /v1/collect answered errors; these numbers do not count", file=sys.stderr)
        return 1
    if not result["events_check_ok"]:
        print("FAILED: stored events do not match the requests sent", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
