"""Statistics: what the aggregates cost in Redis, and how fast the stats API reads them.

    python benchmarks/stats.py [--sessions-per-day 100000] [--days 90] [--queries 200]
    python benchmarks/stats.py --memory-only     # part 1 alone, in seconds

1. Memory per store and day, from real traffic: a day of `--small-sessions` varied
   sessions (views, products, carts, orders, engagement, seven channels, 40 landing
   pages; event, visitor and session ids of 22 characters as the snippet makes them,
   e-mail addresses as the `uid` of orders) goes through the real ingest script;
   the aggregate keys it wrote (counters per quarter-hour, hour and day, their
   visitor HyperLogLogs, the breakdowns and their rankings) are measured with
   MEMORY USAGE, next to the stream, the duplicate ids and the logs; then the
   stream again once its hours are archived (storage/event_archive.py). The same
   day is measured a second time with every field the snippet sends
   (`with_snippet_fields`). Budget (issue 18): stream, aggregates and duplicate ids
   together at most 250 bytes an event.
2. Read latency for a big store: `--days` days of `--sessions-per-day` sessions in
   the aggregate layout the ingest script writes (sessions by time of day, channels,
   devices, page types, 300 referrers, 60 campaigns and 3,000 landing pages by
   Zipf's law; visitor HyperLogLogs of the right sizes). Writing 9 M sessions through
   the ingest would take an hour and prove nothing more: what a read costs depends on
   the buckets and their fields, which are the same. Each endpoint is then asked
   `--queries` times over the whole range through the ASGI app (secret key, routing,
   JSON), for a store in Asia/Kathmandu (+5:45: the most edge buckets) and one in UTC.

Prints tables and writes benchmarks/results/stats.json. Budget (the statistics
issue): p99 under 50 ms for overview, timeseries, breakdown and funnel over 90 days.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import redis
from _machine import cpu_model
from starlette.testclient import TestClient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from widget_server.app import create_app  # noqa: E402
from widget_server.collect.events import decode_event  # noqa: E402
from widget_server.collect.ingest import ATTRIBUTED_TYPES, Context, Ingestor  # noqa: E402
from widget_server.demo.traffic import a_day_of_sessions  # noqa: E402
from widget_server.settings import Settings  # noqa: E402
from widget_server.storage import event_archive, event_entries, keys, stores  # noqa: E402
from widget_server.storage.clock import utc_day  # noqa: E402
from widget_server.storage.connect import run_with_storage  # noqa: E402
from widget_server.storage.embedded_redis import EmbeddedRedis  # noqa: E402

BUDGET_MS = 50.0
BUDGET_BYTES_PER_EVENT = 250
# What issue 18's memory budget covers: what every stored event costs for as long as
# it is kept (session states expire in 30 minutes, visitor records are per visitor).
BUDGETED = ("stream", "aggregates", "duplicate ids")
QUARTER_MS = 900_000
CHANNELS = ["direct", "organic_search", "paid_search", "social", "email", "referral", "other"]
CHANNEL_P = [0.35, 0.3, 0.1, 0.1, 0.06, 0.07, 0.02]


def _zipf(n: int, s: float = 1.1) -> np.ndarray:
    weights = 1 / np.arange(1, n + 1) ** s
    return weights / weights.sum()


DIMENSIONS: dict[str, tuple[list[str], np.ndarray]] = {
    "pt": (["home", "product", "category", "search", "cart", "other"],
           np.array([0.3, 0.35, 0.2, 0.05, 0.05, 0.05])),
    "dv": (["desktop", "mobile", "tablet"], np.array([0.4, 0.55, 0.05])),
    "ch": (CHANNELS, np.array(CHANNEL_P)),
    "rf": (["(direct)"] + [f"site{i}.example" for i in range(299)], _zipf(300)),
    "us": (["(not set)"] + [f"source{i}" for i in range(39)], _zipf(40)),
    "um": (["(not set)", "cpc", "email", "social", "referral", "display"],
           np.array([0.7, 0.1, 0.06, 0.08, 0.04, 0.02])),
    "uc": (["(not set)"] + [f"campaign-{i}" for i in range(59)], _zipf(60)),
    "lp": (["/"] + [f"/products/item-{i}" for i in range(2999)], _zipf(3000, 1.0)),
}  # fmt: skip


# -- 1. memory per store-day from real traffic ---------------------------------------


_WORDS = [
    "linen", "wool", "canvas", "leather", "cotton", "denim", "silk", "shirt", "scarf",
    "tote", "belt", "socks", "jacket", "cap", "apron", "natural", "navy", "olive",
]  # fmt: skip


def with_snippet_fields(batch: list[dict[str, Any]], rng: random.Random) -> list[Any]:
    """A session's events as the snippet sends them: the page's address and type on
    every event (a session moves from its landing page to other pages), the title
    and referrer of page views, and a product's facts as JSON-LD gives them (name,
    category, brand, price, availability, image and address) on views and carts."""
    out: list[dict[str, Any]] = []
    url = batch[0].get("url", "https://shop.example/")
    page_type = batch[0].get("page_type", "other")
    for at, sent in enumerate(batch):
        event = dict(sent)
        if event["type"] == "page_view" and at > 0:
            page_type = rng.choice(["product", "category", "home", "search"])
            url = f"https://shop.example/{page_type}s/{rng.choice(_WORDS)}-{rng.randrange(400)}"
        event["url"], event["page_type"] = url, page_type
        if event["type"] == "page_view":
            words = " ".join(rng.choice(_WORDS).title() for _ in range(3))
            event["title"] = f"{words} | Shop Example"
            event.setdefault("ref", "")
        for item in event.get("items") or []:
            n = int(item["item_id"][1:])
            version = 1_700_000_000 + n * 977
            name = f"{_WORDS[n % 18].title()} {_WORDS[n * 7 % 18]} {_WORDS[n * 11 % 18]} no. {n}"
            slug = name.lower().replace(" ", "-").replace(".", "")
            item.update(
                item_name=name, item_category=f"Apparel > {_WORDS[n % 5].title()}",
                item_brand="Shop Example", price=round(9.5 + n * 1.37, 2),
                availability="https://schema.org/InStock",
                image=f"https://cdn.shop.example/s/files/1/0612/products/{slug}_800x.jpg?v={version}",
                url=f"https://shop.example/products/{slug}",
            )  # fmt: skip
            event["currency"] = "EUR"
        out.append(event)
    return out


def measure_memory(settings: Settings, n_sessions: int, every_field: bool) -> dict[str, Any]:
    """What a day of traffic costs Redis while its events are in the stream, and
    once their hours are archived: the entries are laid out in the stream by
    arrival (the first event of each request), as a day of requests would have
    written them, then moved by the archiving every server runs."""
    rng = random.Random(1)
    day = datetime.now(UTC).date() - timedelta(days=1)
    day_start = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)
    batches = a_day_of_sessions(n_sessions, day_start, rng)
    if every_field:
        batches = [with_snippet_fields(b, rng) for b in batches]

    async def run(r: Any) -> str:
        store, _ = await stores.create_store(r, "Memory", ["shop.example"])
        ingestor = Ingestor(r, retention_days=90, rate_limit_ip=0, rate_limit_visitor=0)
        for batch in sorted(batches, key=lambda b: b[0]["ts"]):
            decoded = [decode_event(json.dumps(e).encode()) for e in batch]
            ctx = Context(store.id, batch[-1]["ts"] + 60_000, 0, "desktop", "ih", store.salt)
            await ingestor.ingest(decoded, ctx)
        return store.id

    store_id = run_with_storage(settings, run)
    client = redis.Redis(unix_socket_path=str(EmbeddedRedis(settings.data_dir).socket_path))
    stream = keys.events(store_id)
    # The ingest ran just now: give each entry the arrival its first event had.
    entries = client.xrange(stream)
    client.delete(stream)
    last = 0
    for _, fields in entries:
        at = max(last + 1, event_entries.events(fields)[0]["ts"])
        client.xadd(stream, fields, id=f"{at}-0")
        last = at
    live = _memory_groups(client, store_id)
    now = int(time.time() * 1000)
    hours = run_with_storage(
        settings,
        lambda r: event_archive.archive(r, store_id, now_ms=now, retention_ms=90 * 86_400_000),
    )
    archived = _memory_groups(client, store_id)
    client.flushall()
    events = sum(len(b) for b in batches)
    return {"sessions": n_sessions, "events": events, "every_field": every_field,
            "hours_archived": hours, "bytes": live, "bytes_archived": archived}  # fmt: skip


def _memory_groups(client: redis.Redis, store_id: str) -> dict[str, int]:
    groups: dict[str, int] = {}
    prefix = keys.store_prefix(store_id)
    for key in client.scan_iter(match=prefix + "*", count=1000):
        name = key.decode()[len(prefix) :]
        kind = name.split(":", 1)[0]
        group = {
            "q": "aggregates", "h": "aggregates", "day": "aggregates", "dq": "aggregates",
            "dd": "aggregates", "dw": "aggregates", "dz": "aggregates", "dzw": "aggregates",
            "dzm": "aggregates", "events": "stream", "seen": "duplicate ids",
            "live": "realtime", "sessions": "session log", "orders": "order log",
            "ah": "attribution log",
        }.get(kind, "other (visitors, sessions, catalog)")  # fmt: skip
        groups[group] = groups.get(group, 0) + int(client.memory_usage(key, samples=0) or 0)
    return groups


# -- 2. read latency for a big store -------------------------------------------------


def _fields(rng: np.random.Generator, sessions: int) -> tuple[dict[str, int], dict[str, int]]:
    """One quarter-hour's counters and its breakdown fields, as ingest would write."""
    engaged = int(rng.binomial(sessions, 0.55))
    converted = int(rng.binomial(sessions, 0.025))
    orders = converted + int(rng.binomial(converted, 0.05))
    main = {
        "sessions": sessions, "single_page_sessions": sessions - engaged + int(
            rng.binomial(engaged, 0.3)), "engaged_sessions": engaged,
        "purchase_sessions": converted, "page_views": int(sessions * 3.2),
        "product_views": int(sessions * 1.4), "add_to_carts": int(sessions * 0.12),
        "checkouts": int(sessions * 0.05), "events": int(sessions * 7.5),
        "engaged_ms": sessions * 41_000, "funnel_1": int(sessions * 0.5),
        "funnel_2": int(sessions * 0.1), "funnel_3": int(sessions * 0.04),
        "funnel_4": converted, "purchases": orders, "orders:USD": orders,
        "revenue:USD": orders * 4_250, "revenue_minor": orders * 4_250,
    }  # fmt: skip
    dims: dict[str, int] = {}
    for code, (values, p) in DIMENSIONS.items():
        counts = rng.multinomial(sessions, p)
        for index in np.nonzero(counts)[0]:
            n = int(counts[index])
            value = values[index]
            base = f"{code}\t{value}\t"
            e = int(rng.binomial(n, 0.55))
            c = int(rng.binomial(n, 0.025))
            dims[base + "s"] = n
            dims[base + "e"] = e
            dims[base + "1"] = n - e
            if c:
                dims[base + "c"] = c
                dims[base + "o:USD"] = c
                dims[base + "r:USD"] = c * 4_250
    return main, dims


def fill_big_store(
    client: redis.Redis, store_id: str, first: date, days: int, per_day: int
) -> float:
    rng = np.random.default_rng(7)
    started = time.perf_counter()
    day0 = int(datetime(first.year, first.month, first.day, tzinfo=UTC).timestamp() * 1000)
    shape = np.array([0.3, 0.2, 0.15, 0.1, 0.1, 0.2, 0.4, 0.7, 1.0, 1.2, 1.3, 1.4,
                      1.4, 1.4, 1.3, 1.3, 1.3, 1.4, 1.5, 1.6, 1.6, 1.4, 1.0, 0.6])  # fmt: skip
    quarter_share = np.repeat(shape, 4) / np.repeat(shape, 4).sum()
    visitor_pool = per_day * 30
    week_dims: dict[tuple[int, str], dict[str, int]] = {}
    for d in range(days):
        start_q = (day0 + d * 86_400_000) // QUARTER_MS
        day_name = utc_day(day0 + d * 86_400_000)
        per_quarter = rng.multinomial(per_day, quarter_share)
        day_main: dict[str, int] = {}
        day_dims: dict[str, dict[str, int]] = {}
        hour_main: dict[int, dict[str, int]] = {}
        pipe = client.pipeline(transaction=False)
        for i, sessions in enumerate(per_quarter):
            q = start_q + i
            main, dims = _fields(rng, int(sessions))
            pipe.hset(keys.quarter(store_id, q), mapping=main)
            if dims:
                pipe.hset(keys.dims_quarter(store_id, q), mapping=dims)
            ids = rng.integers(0, visitor_pool, int(sessions) * 7 // 10)
            pipe.pfadd(keys.visitors_of(keys.quarter(store_id, q)), *ids.tolist())
            hour = hour_main.setdefault(q // 4, {})
            for field, n in main.items():
                hour[field] = hour.get(field, 0) + n
                day_main[field] = day_main.get(field, 0) + n
            for field, n in dims.items():
                code, value, metric = field.split("\t")
                day_dims.setdefault(code, {})
                name = f"{value}\t{metric}"
                day_dims[code][name] = day_dims[code].get(name, 0) + n
        for h, fields in hour_main.items():
            pipe.hset(keys.hour(store_id, h), mapping=fields)
            quarters = [keys.visitors_of(keys.quarter(store_id, 4 * h + k)) for k in range(4)]
            pipe.pfmerge(keys.visitors_of(keys.hour(store_id, h)), *quarters)
        pipe.hset(keys.day(store_id, day_name), mapping=day_main)
        hours = [keys.visitors_of(keys.hour(store_id, h)) for h in hour_main]
        pipe.pfmerge(keys.visitors_of(keys.day(store_id, day_name)), *hours)
        for code, fields in day_dims.items():
            values = {f.split("\t")[0] for f in fields}
            pipe.hset(
                keys.dims_day(store_id, day_name, code), mapping={**fields, "\t#": len(values)}
            )
            ranks = {f[:-2]: n for f, n in fields.items() if f.endswith("\ts")}
            pipe.zadd(keys.dims_rank(store_id, day_name, code), ranks)
            week = ((day0 + d * 86_400_000) // 86_400_000 + 3) // 7
            for value, n in ranks.items():
                pipe.zincrby(keys.dims_rank_week(store_id, week, code), n, value)
            month = day_name[:7]
            for value, n in ranks.items():
                pipe.zincrby(keys.dims_rank_month(store_id, month, code), n, value)
            weekly = week_dims.setdefault((week, code), {})
            for name, n in fields.items():
                weekly[name] = weekly.get(name, 0) + n
        pipe.execute()
    pipe = client.pipeline(transaction=False)
    for (week, code), fields in week_dims.items():
        pipe.hset(keys.dims_week(store_id, week, code), mapping=fields)
    pipe.execute()
    return time.perf_counter() - started


def fill_raw_store(client: redis.Redis, store_id: str, events: int, days: int) -> int:
    """`events` events over the last `days` days in the stream (popups, showcases,
    carts, orders among page views), and the order and session logs they imply."""
    rng = random.Random(3)
    now = int(time.time() * 1000)
    start = now - days * 86_400_000
    per_session = 7.7  # the mix below, on average
    sessions = int(events / per_session)
    pipe = client.pipeline(transaction=False)
    batch: list[str] = []
    hours: dict[int, list[str]] = {}  # arrival hour -> what attribution reads
    orders = 0
    starts: list[str] = []
    serial = 0
    for n in range(sessions):
        vid, sid = f"v{rng.randrange(sessions // 3)}", f"s{n}"
        t = start + rng.randrange(days * 86_400_000 - 3_600_000)
        starts.append(f"{vid} {t}")
        # A mix as a shop sees it: page views, product views, engagement; a carousel
        # on most sessions' pages, a popup in a quarter of them (a tenth held out).
        kinds = ["page_view"] * rng.randrange(2, 7) + ["view_item"] * rng.randrange(1, 3)
        kinds.append("engagement")
        if rng.random() < 0.6:
            kinds.append("showcase_view")
            if rng.random() < 0.1:
                kinds.append("showcase_click")
        if rng.random() < 0.25:
            held = rng.random() < 0.1
            kinds.append("popup_suppressed" if held else "popup_shown")
            if not held and rng.random() < 0.2:
                kinds.append("popup_click")
        if rng.random() < 0.08:
            kinds.append("add_to_cart")
        bought = rng.random() < 0.03
        if bought:
            kinds.append("purchase")
        for kind in kinds:
            serial += 1
            event: dict[str, Any] = {"id": f"e{serial}", "type": kind, "ts": t, "vid": vid,
                                     "sid": sid}  # fmt: skip
            if kind.startswith("popup"):
                event.update(popup_id=f"r{rng.randrange(5)}", variant=rng.choice("AB"))
            elif kind.startswith("showcase"):
                event.update(placement="home", rec_id=f"x{n}", items=[{"item_id": "i1"}])
            elif kind in ("add_to_cart", "view_item"):
                event["items"] = [{"item_id": "i1", "price": 12.0}]
            elif kind == "purchase":
                orders += 1
                event.update(
                    value=42.0, transaction_id=f"T{n}", items=[{"item_id": "i1", "price": 42.0}]
                )
                pipe.zadd(keys.order_log(store_id), {f"T{n}\t{vid}\t4200\t": t})
            if kind == "page_view":
                event["url"] = f"https://raw.example/products/p{rng.randrange(3000)}"
                event["title"] = "A product page of the shop"
            stored = json.dumps(event, separators=(",", ":"))
            batch.append(stored[:-1] + ',"rt":1,"dev":"desktop","ih":"0123456789abcdef"}')
            if kind in ATTRIBUTED_TYPES:
                # What the ingest script keeps of it for attribution: no server
                # fields, and a view's items left out (nothing reads them).
                kept = event if kind != "showcase_view" else {**event, "items": None}
                compact = {k: v for k, v in kept.items() if v is not None}
                hours.setdefault((t + 5_000) // 3_600_000, []).append(
                    json.dumps(compact, separators=(",", ":"))
                )
            t += 20_000
        if len(batch) >= 200:
            pipe.xadd(keys.events(store_id), {"events": "[" + ",".join(batch) + "]"})
            batch = []
            if len(pipe) > 500:
                pipe.execute()
    if batch:
        pipe.xadd(keys.events(store_id), {"events": "[" + ",".join(batch) + "]"})
    # The layout the ingest script appends to, each event after a comma.
    for hour, stored_events in hours.items():
        pipe.set(keys.attribution_hour(store_id, hour), "," + ",".join(stored_events))
    for i in range(0, len(starts), 500):
        pipe.xadd(keys.session_log(store_id), {"s": ";".join(starts[i : i + 500])})
    pipe.execute()
    return serial


def time_raw_reads(settings: Settings, secret: str, n: int) -> list[dict[str, Any]]:
    last = datetime.now(UTC).date()
    first = last - timedelta(days=29)
    rows = []
    auth = {"authorization": f"Bearer {secret}"}
    with TestClient(create_app(settings)) as client:
        raw_queries: list[tuple[str, dict[str, str]]] = [
            ("popups", {}),
            ("showcases", {}),
            ("retention", {}),
            ("cohorts", {"of": "orders"}),
            ("cohorts", {"of": "visitors", "by": "week"}),
        ]
        for path, params in raw_queries:
            params = {"from": str(first), "to": str(last), **params}
            times = []
            for _ in range(n):
                started = time.perf_counter()
                response = client.get(f"/v1/stats/{path}", params=params, headers=auth)
                times.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, response.text
            label = path + "".join(
                f" {k}={v}" for k, v in params.items() if k not in ("from", "to")
            )
            # The first answer reads what no process has kept yet (the settled part
            # of the popup and showcase walks, the order and session logs).
            rows.append({"query": label, "first": times[0], **_percentiles(times[1:] or times)})
    return rows


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {
        "p50": pick(0.5),
        "p95": pick(0.95),
        "p99": pick(0.99),
        "mean": statistics.mean(ordered),
    }


def time_reads(
    settings: Settings, secret: str, first: date, last: date, zone: str, n: int
) -> list[dict[str, Any]]:
    queries = [
        ("overview", {}),
        ("timeseries", {"interval": "day"}),
        ("timeseries", {"interval": "week"}),
        ("breakdown", {"by": "channel"}),
        ("breakdown", {"by": "landing_page", "limit": "20"}),
        ("funnel", {}),
    ]
    rows = []
    auth = {"authorization": f"Bearer {secret}"}
    with TestClient(create_app(settings)) as client:
        assert (
            client.patch("/v1/admin/settings", json={"timezone": zone}, headers=auth).status_code
            == 200
        )
        for path, params in queries:
            params = {"from": str(first), "to": str(last), **params}
            for _ in range(3):  # warm-up
                assert (
                    client.get(f"/v1/stats/{path}", params=params, headers=auth).status_code == 200
                )
            times = []
            for _ in range(n):
                started = time.perf_counter()
                response = client.get(f"/v1/stats/{path}", params=params, headers=auth)
                times.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200
            label = path + "".join(
                f" {k}={v}" for k, v in params.items() if k not in ("from", "to")
            )
            rows.append({"query": label, "zone": zone, **_percentiles(times)})
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions-per-day", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--small-sessions", type=int, default=2_000)
    parser.add_argument("--raw-events", type=int, default=1_000_000)
    parser.add_argument("--raw-queries", type=int, default=5)
    parser.add_argument("--memory-only", action="store_true", help="part 1 alone")
    args = parser.parse_args()

    print(f"machine: {cpu_model()}, Python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.from_env({"TARRY_DATA_DIR": tmp, "TARRY_ACCESS_LOG": "false"})
        server = EmbeddedRedis(Path(tmp))
        server.acquire()
        try:
            memory = [measure_memory(settings, args.small_sessions, e) for e in (False, True)]
            for measured in memory:
                print_memory(measured)
            if args.memory_only:
                return write_results({"memory": memory})

            client = redis.Redis(unix_socket_path=str(server.socket_path))
            store, secret = run_with_storage(
                settings, lambda r: stores.create_store(r, "Big", ["big.example"])
            )
            last = datetime.now(UTC).date() - timedelta(days=1)
            first = last - timedelta(days=args.days - 1)
            seconds = fill_big_store(client, store.id, first - timedelta(days=2), args.days + 4,
                                     args.sessions_per_day)  # fmt: skip
            used = client.info("memory")["used_memory"]
            print(f"\n2. Big store: {args.days + 4} days x {args.sessions_per_day:,} sessions "
                  f"written in {seconds:.0f} s; Redis uses {used / 2**20:,.0f} MiB "
                  f"({used / (args.days + 4) / 2**20:.1f} MiB a day)\n")  # fmt: skip
            rows = []
            for zone in ("Asia/Kathmandu", "UTC"):
                rows += time_reads(settings, secret, first, last, zone, args.queries)
            print(f"| query ({args.days} days) | zone | p50 ms | p95 ms | p99 ms | budget |")
            print("|---|---|---:|---:|---:|---|")
            for row in rows:
                verdict = "PASS" if row["p99"] < BUDGET_MS else "FAIL"
                print(f"| {row['query']} | {row['zone']} | {row['p50']:.1f} | {row['p95']:.1f} | "
                      f"{row['p99']:.1f} | {verdict} |")  # fmt: skip
            raw_store, raw_secret = run_with_storage(
                settings, lambda r: stores.create_store(r, "Raw", ["raw.example"])
            )
            written = fill_raw_store(client, raw_store.id, args.raw_events, 30)
            raw_rows = time_raw_reads(settings, raw_secret, args.raw_queries)
            print(f"\n3. Reports read from raw events and logs: a store with {written:,} events "
                  "in 30 days (budget: under 1 s for 30 days):\n")  # fmt: skip
            print("| query (30 days) | first ms | then p50 ms | then max ms | budget |\n"
                  "|---|---:|---:|---:|---|")  # fmt: skip
            for row in raw_rows:
                verdict = "PASS" if max(row["first"], row["p99"]) < 1000 else "FAIL"
                print(f"| {row['query']} | {row['first']:.0f} | {row['p50']:.0f} | "
                      f"{row['p99']:.0f} | {verdict} |")  # fmt: skip
        finally:
            server.release()
    rows += [{"zone": "-", **r} for r in raw_rows]
    return write_results({"memory": memory, "reads": rows})


def print_memory(memory: dict[str, Any]) -> None:
    fields = "every field the snippet sends" if memory["every_field"] else "the fields above"
    print(f"\n1. Redis memory of one store-day of real traffic ({memory['sessions']:,} "
          f"sessions, {memory['events']:,} events; {fields}), with the events in the "
          f"stream, then with {memory['hours_archived']} hours archived:\n")  # fmt: skip
    live, archived, n = memory["bytes"], memory["bytes_archived"], memory["events"]
    print("| what | bytes | per event | archived: bytes | per event |\n|---|---:|---:|---:|---:|")
    for group in sorted(live, key=lambda g: -live[g]):
        print(f"| {group} | {live[group]:,} | {live[group] / n:.0f} | "
              f"{archived.get(group, 0):,} | {archived.get(group, 0) / n:.0f} |")  # fmt: skip
    for name, groups in (("in the stream", live), ("archived", archived)):
        per_event = sum(groups.get(group, 0) for group in BUDGETED) / n
        verdict = "PASS" if per_event <= BUDGET_BYTES_PER_EVENT else "FAIL"
        print(f"{' + '.join(BUDGETED)}, {name}: {per_event:.0f} bytes an event; "
              f"budget {BUDGET_BYTES_PER_EVENT} B: {verdict}")  # fmt: skip


def write_results(results: dict[str, Any]) -> int:
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / "stats.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
