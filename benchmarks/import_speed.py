"""Import speed: order lines through the parser, and end to end into Redis.

    python benchmarks/import_speed.py [--data ../shared/data] [--repeat 3]

Reads UCI Online Retail (`online-retail/online-retail.csv.gz` under `--data`; get it
from https://archive.ics.uci.edu/dataset/352/online+retail), gunzipped to a
temporary file first so that decompression is not counted:
1. the `orders` parser alone (every row read, orders built, nothing stored);
2. the whole import into an embedded Redis, as `tarry import-events` does it
   (check, the ingest script in import mode, dedupe for good, the order log); and
   the Redis memory the import added, per million orders.
The budgets (the import issue): 200,000 lines a second through the parser, 50,000
end to end, on this machine. Prints a table; writes benchmarks/results/import.json.
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import redis
from _machine import cpu_model

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from widget_server.imports.formats.rows import read  # noqa: E402
from widget_server.imports.pipeline import run_import  # noqa: E402
from widget_server.settings import Settings  # noqa: E402
from widget_server.storage import stores  # noqa: E402
from widget_server.storage.clock import now_ms  # noqa: E402
from widget_server.storage.connect import run_with_storage  # noqa: E402
from widget_server.storage.embedded_redis import EmbeddedRedis  # noqa: E402

PARSER_BUDGET = 200_000
END_TO_END_BUDGET = 50_000


def _lines(path: Path) -> int:
    with path.open("rb") as f:
        return sum(1 for _ in f) - 1  # the header


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    source = args.data / "online-retail" / "online-retail.csv.gz"
    if not source.exists():
        print(
            f"{source} is missing: get online-retail from "
            "https://archive.ics.uci.edu/dataset/352/online+retail (--data DIR)",
            file=sys.stderr,
        )
        return 2
    print(f"machine: {cpu_model()}, Python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory() as tmp:
        plain = Path(tmp) / "online-retail.csv"
        with gzip.open(source, "rb") as packed, plain.open("wb") as out:
            shutil.copyfileobj(packed, out)
        lines = _lines(plain)

        parse_s = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            with plain.open("rb") as f:
                orders = sum(1 for row in read("orders", f, currency="GBP") if row.event)
            parse_s.append(time.perf_counter() - started)

        settings = Settings.from_env({"TARRY_DATA_DIR": tmp})
        server = EmbeddedRedis(Path(tmp))
        server.acquire()
        try:
            client = redis.Redis(unix_socket_path=str(server.socket_path))
            before = client.info("memory")["used_memory"]
            store, _ = run_with_storage(
                settings, lambda r: stores.create_store(r, "I", ["i.example"])
            )

            async def go(r: Any) -> Any:
                with plain.open("rb") as f:
                    return await run_import(
                        r, store, read("orders", f, currency="GBP"), orders_only=True,
                        now_ms=now_ms(), retention_days=90,
                    )  # fmt: skip

            started = time.perf_counter()
            summary = run_with_storage(settings, go)
            import_s = time.perf_counter() - started
            after = client.info("memory")["used_memory"]
        finally:
            server.release()

    best = min(parse_s)
    rows = [
        ("parser (orders)", lines / best, PARSER_BUDGET),
        ("end to end into Redis", lines / import_s, END_TO_END_BUDGET),
    ]
    print(f"\nUCI Online Retail: {lines:,} order lines, {orders:,} orders\n")
    print("| stage | seconds | lines/s | budget | verdict |\n|---|---:|---:|---:|---|")
    for (name, rate, budget), seconds in zip(rows, (best, import_s), strict=True):
        verdict = "PASS" if rate >= budget else "FAIL"
        print(f"| {name} | {seconds:.2f} | {rate:,.0f} | {budget:,} | {verdict} |")
    per_million = (after - before) / max(summary.orders, 1) * 1_000_000
    print(
        f"\nRedis memory added: {(after - before) / 2**20:,.1f} MiB for {summary.orders:,} "
        f"orders: {per_million / 2**20:,.0f} MiB per million orders (stream, order log, "
        "aggregates, order ids)"
    )
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / "import.json").write_text(
        json.dumps(
            {
                "lines": lines,
                "orders": orders,
                "parse_s": parse_s,
                "import_s": import_s,
                "memory_bytes": after - before,
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
