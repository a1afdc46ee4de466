"""The dashboard: server time of every page for a big store, and the script and
style each page makes a browser download.

    python benchmarks/dashboard.py [--days 90] [--sessions-per-day 100000]
        [--attributed-per-day 4000] [--orders-per-day 500] [--catalog 20000]
        [--requests 60]

1. A store with `--days` days of aggregates in the layout the ingest script writes
   (`benchmarks/stats.py`'s `fill_big_store`: counters per quarter-hour, hour and
   day, visitor HyperLogLogs, breakdowns with 3,000 landing pages), an attribution
   log of `--attributed-per-day` popup and showcase events a day (shown, held out,
   clicks, carts, orders: what the popup and showcase pages read), an order log and
   a session log for retention and cohorts, `--catalog` catalog cards, 20 popup
   rules from the presets (no model: the page then reads an empty index).
2. Signed in through the sign-in form, each page is asked `--requests` times through
   the ASGI app in process (cookie, CSRF-free GETs, templates, the stats functions
   in process), after three warm-up requests, the first of them timed on its own
   (`first`: it reads what no process has kept yet); the preview endpoint is
   posted the rule editor's form.
3. For each page, the gzipped bytes of every script and style sheet it links.

Prints tables and writes benchmarks/results/dashboard.json. Budgets (the dashboard
issue): every page's p95 under 100 ms with 90 days of data; at most 60 KB of
gzipped script and style on any page.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import redis
from _machine import cpu_model
from starlette.testclient import TestClient
from stats import fill_big_store

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from widget_server.admin.rules import add_rule  # noqa: E402
from widget_server.app import create_app  # noqa: E402
from widget_server.dashboard import rule_form, static  # noqa: E402
from widget_server.dashboard.views.preview import popup_css_url  # noqa: E402
from widget_server.popups.presets import PRESETS  # noqa: E402
from widget_server.popups.rulebook import Rulebook  # noqa: E402
from widget_server.popups.schema import Colors  # noqa: E402
from widget_server.settings import Settings  # noqa: E402
from widget_server.storage import keys, stores  # noqa: E402
from widget_server.storage.catalog import upsert_cards  # noqa: E402
from widget_server.storage.connect import run_with_storage  # noqa: E402
from widget_server.storage.embedded_redis import EmbeddedRedis  # noqa: E402

BUDGET_MS = 100.0
BUDGET_BYTES = 60 * 1024
DAY_MS = 86_400_000
UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0"


def _day_start(day: Any) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


def fill_logs(
    client: redis.Redis,
    store_id: str,
    first: Any,
    days: int,
    rules: list[str],
    attributed: int,
    orders: int,
) -> int:
    """The attribution, order and session logs the popup, showcase and retention
    pages read, in the ingest script's formats; returns the events written."""
    rng = random.Random(5)
    written = 0
    hours: dict[int, list[dict[str, Any]]] = {}  # arrival hour -> events
    for d in range(days):
        start = _day_start(first + timedelta(days=d))
        pipe = client.pipeline(transaction=False)
        batch: list[dict[str, Any]] = []
        serial = 0
        # Entries arrive in time order, as the ingest script appends them.
        times = iter(sorted(start + rng.randrange(DAY_MS) for _ in range(attributed)))
        while serial < attributed:
            ts = next(times)
            sid, vid = f"s{d}-{serial}", f"v{rng.randrange(50_000)}"
            rule = rng.choice(rules)
            held = rng.random() < 0.1
            kind = "popup_suppressed" if held else "popup_shown"
            events = [{"type": kind, "popup_id": rule, "variant": "default"}]
            if not held and rng.random() < 0.2:
                events.append({"type": "popup_click", "popup_id": rule, "variant": "default"})
            if rng.random() < 0.3:
                events.append({"type": "showcase_view", "placement": "similar", "rec_id": "r1"})
            if rng.random() < 0.05:
                events.append({"type": "purchase", "value": 42.5, "transaction_id": f"T{sid}",
                               "items": [{"item_id": "i1", "price": 42.5}]})  # fmt: skip
            for offset, event in enumerate(events):
                batch.append({"id": f"a{sid}-{offset}", "ts": ts + offset * 1000, "vid": vid,
                              "sid": sid, **event})  # fmt: skip
            serial += len(events)
            for event in batch:  # each in the hour it arrived (5 s after its ts)
                hours.setdefault((event["ts"] + 5_000) // 3_600_000, []).append(event)
            written += len(batch)
            batch = []
        members = {
            f"T{d}-{n}\tc{rng.randrange(20_000)}\t{rng.randrange(1_000, 20_000)}\t": start
            + rng.randrange(DAY_MS)
            for n in range(orders)
        }
        pipe.zadd(keys.order_log(store_id), members)
        pairs = ";".join(f"v{rng.randrange(50_000)} {start + rng.randrange(DAY_MS)}"
                         for _ in range(orders * 4))  # fmt: skip
        pipe.xadd(keys.session_log(store_id), {"s": pairs}, id=f"{start + DAY_MS - 1}-0")
        pipe.execute()
    # The layout the ingest script appends to, each event after a comma.
    pipe = client.pipeline(transaction=False)
    for hour, events in hours.items():
        stored = "".join("," + json.dumps(e, separators=(",", ":")) for e in events)
        pipe.set(keys.attribution_hour(store_id, hour), stored)
    pipe.execute()
    return written


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {
        "p50": pick(0.5),
        "p95": pick(0.95),
        "p99": pick(0.99),
        "mean": statistics.mean(ordered),
    }


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found
    return found.group(1)


def linked_bytes(html: str) -> tuple[int, list[str]]:
    """Gzipped bytes of the dashboard's own scripts and style sheets the page links."""
    names = re.findall(r'(?:src|href)="/dashboard/static/([^"?]+)\?v=', html)
    wanted = [n for n in dict.fromkeys(names) if n.endswith((".js", ".css"))]
    return sum(len(static.ASSETS[n].gzipped) for n in wanted), wanted


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--sessions-per-day", type=int, default=100_000)
    parser.add_argument("--attributed-per-day", type=int, default=4_000)
    parser.add_argument("--orders-per-day", type=int, default=500)
    parser.add_argument("--catalog", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=60)
    args = parser.parse_args()
    print(f"machine: {cpu_model()}, Python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.from_env({"TARRY_DATA_DIR": tmp, "TARRY_ACCESS_LOG": "false"})
        server = EmbeddedRedis(Path(tmp))
        server.acquire()
        try:
            rows, sizes, setup = run(settings, server, args)
        finally:
            server.release()
    print(f"\n{setup}\n")
    print("| page | first ms | p50 ms | p95 ms | p99 ms | budget |\n|---|---:|---:|---:|---:|---|")
    for row in rows:
        verdict = "PASS" if row["p95"] < BUDGET_MS else "FAIL"
        print(f"| {row['page']} | {row['first']:.0f} | {row['p50']:.1f} | {row['p95']:.1f} | "
              f"{row['p99']:.1f} | {verdict} |")  # fmt: skip
    print("\n| page | script and style, gzipped bytes | files | budget |\n|---|---:|---|---|")
    for page, (size, files) in sizes.items():
        verdict = "PASS" if size <= BUDGET_BYTES else "FAIL"
        print(f"| {page} | {size:,} | {', '.join(files)} | {verdict} |")
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    result = {"setup": setup, "pages": rows,
              "bytes": {page: size for page, (size, _files) in sizes.items()}}  # fmt: skip
    (out / "dashboard.json").write_text(json.dumps(result, indent=2))
    return 0


def run(
    settings: Settings, server: EmbeddedRedis, args: argparse.Namespace
) -> tuple[list[dict[str, Any]], dict[str, tuple[int, list[str]]], str]:
    client = redis.Redis(unix_socket_path=str(server.socket_path))
    store, secret = run_with_storage(
        settings, lambda r: stores.create_store(r, "Big", ["big.example"])
    )
    last = datetime.now(UTC).date()
    first = last - timedelta(days=args.days - 1)
    started = time.perf_counter()
    fill_big_store(client, store.id, first - timedelta(days=args.days + 2), 2 * args.days + 3,
                   args.sessions_per_day)  # fmt: skip

    async def rules_and_catalog(r: Any) -> list[str]:
        book = Rulebook(r, store.id)
        made = []
        for n in range(20):
            preset = list(PRESETS)[n % len(PRESETS)]
            rule = await add_rule(book, {"preset": preset, "holdout": 10, "name": f"Rule {n}"})
            assert not isinstance(rule, list), rule
            made.append(str(rule.id))
        cards = [
            {"item_id": f"i{n}", "name": f"Item {n}", "url": f"https://big.example/p/{n}",
             "image": f"https://big.example/i/{n}.jpg", "price": 10 + n % 90, "currency": "USD",
             "category": f"c{n % 40}"}
            for n in range(args.catalog)
        ]  # fmt: skip
        await upsert_cards(r, store.id, cards)
        return made

    rules = run_with_storage(settings, rules_and_catalog)
    attributed = fill_logs(client, store.id, first - timedelta(days=8), args.days + 8, rules,
                           args.attributed_per_day, args.orders_per_day)  # fmt: skip
    setup = (
        f"Store: {args.days} days (and as many before, for the previous period) of "
        f"{args.sessions_per_day:,} sessions a day in aggregates, {attributed:,} popup and "
        f"showcase events in the attribution log, {args.orders_per_day:,} orders a day, "
        f"{args.catalog:,} catalog cards, 20 rules; written in "
        f"{time.perf_counter() - started:.0f} s. {args.requests} requests per page."
    )
    r_from, r_to = first.isoformat(), last.isoformat()
    pages = [
        ("overview, 30 days", "/dashboard", {}),
        (f"overview, {args.days} days", "/dashboard", {"from": r_from, "to": r_to}),
        (f"overview, {args.days} days, by landing page", "/dashboard",
         {"from": r_from, "to": r_to, "pages": "landing_page", "sources": "utm_campaign"}),
        ("popups, 30 days", "/dashboard/popups", {}),
        ("popup rule editor, 30 days", f"/dashboard/popups/{rules[0]}", {}),
        ("new popup", "/dashboard/popups/new", {}),
        ("showcases, 30 days", "/dashboard/showcases", {}),
        (f"retention, {args.days} days", "/dashboard/retention", {"from": r_from, "to": r_to}),
        ("catalog search", "/dashboard/catalog", {"q": "item 1999"}),
        ("catalog item", "/dashboard/catalog/items/i7", {}),
        ("install", "/dashboard/install", {}),
        ("settings", "/dashboard/settings", {}),
        ("CSV: breakdown by landing page", "/dashboard/csv/breakdown",
         {"from": r_from, "to": r_to, "by": "landing_page"}),
    ]  # fmt: skip
    rows: list[dict[str, Any]] = []
    sizes: dict[str, tuple[int, list[str]]] = {}
    with TestClient(create_app(settings), headers={"user-agent": UA}) as app:
        form = app.get("/dashboard/signin")
        signed = app.post("/dashboard/signin", data={"csrf": _csrf(form.text), "secret_key": secret,
                          "next": "/dashboard"}, follow_redirects=False)  # fmt: skip
        assert signed.status_code == 303, signed.text
        for label, path, params in pages:
            # The first request of a page is timed on its own: it reads what no
            # process has kept yet (the settled part of the popup and showcase
            # walks, the order and session logs, the catalog's search index).
            for warm_up in range(3):
                begun = time.perf_counter()
                answer = app.get(path, params=params)
                if warm_up == 0:
                    first = (time.perf_counter() - begun) * 1000
                assert answer.status_code == 200, (label, answer.status_code, answer.text[:500])
            times = []
            for _ in range(args.requests):
                begun = time.perf_counter()
                answer = app.get(path, params=params)
                times.append((time.perf_counter() - begun) * 1000)
                assert answer.status_code == 200
            rows.append({"page": label, "first": first, **_percentiles(times)})
            if "text/html" in answer.headers["content-type"]:
                sizes[label] = linked_bytes(answer.text)
        editor = app.get(f"/dashboard/popups/{rules[0]}")
        rule = app.get(f"/v1/admin/rules/{rules[0]}", headers={"authorization": f"Bearer {secret}"})
        form = [("csrf", _csrf(editor.text))]
        for name, value in rule_form.to_values(rule.json()).items():
            form += [(name, one) for one in (value if isinstance(value, list) else [value])]
        times = []
        for _ in range(args.requests):
            begun = time.perf_counter()
            answer = app.post(
                "/dashboard/popups/preview",
                content=urlencode(form),
                headers={"content-type": "application/x-www-form-urlencoded"},
            )
            times.append((time.perf_counter() - begun) * 1000)
            assert answer.status_code == 200, answer.text[:500]
        rows.append({"page": "live preview (POST of the editor's form)", "first": times[0],
                     **_percentiles(times)})  # fmt: skip
        # The editor's frames load the preview page's own two sheets as well.
        popup_css = app.get(popup_css_url(Colors())).content
        framed = len(static.ASSETS["preview.css"].gzipped) + len(gzip.compress(popup_css, 9))
        size, files = sizes["popup rule editor, 30 days"]
        sizes["popup rule editor, 30 days"] = (size + framed, [*files, "preview.css", "popup.css"])
    return rows, sizes, setup


if __name__ == "__main__":
    sys.exit(main())
