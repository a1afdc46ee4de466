"""Filling the demo store, once per data directory: the year of history through the
import, the last 40 hours' shoppers through the running server's `/v1/collect`,
then a model trained as `tarry train` trains one.

The simulated year ends at the store's anchor (kept in Redis), so a start that was
stopped halfway and run again makes the same events, and what is already in is
counted once.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from widget_server.demo import store as demo_store
from widget_server.demo.history import import_file, write_ga4, write_orders
from widget_server.demo.journeys import Walk
from widget_server.demo.live import Batch, Collector, send_all
from widget_server.demo.onsite import Tarry
from widget_server.demo.products import SHOP, catalog
from widget_server.demo.setup import Admin, configure
from widget_server.demo.shoppers import shopper
from widget_server.demo.timeline import Visit, lay_out
from widget_server.imports.pipeline import Summary
from widget_server.models.training import train_store
from widget_server.popups.schema import Rule, StoreSettings
from widget_server.settings import Settings
from widget_server.storage.clock import MAX_EVENT_AGE_MS
from widget_server.storage.connect import open_storage, sync_storage

HOUR_MS = 3_600_000
LIVE_MS = 40 * HOUR_MS  # younger than the collector's 47 hours, with room for a slow start
WEB_HISTORY_MS = 28 * 24 * HOUR_MS  # the GA4 export's weeks
assert LIVE_MS < MAX_EVENT_AGE_MS


class Stopped(Exception):
    """The demo is shutting down: stop filling."""


class Progress:
    """A tqdm bar on a terminal; elsewhere one line when the step is done."""

    def __init__(self, what: str, total: int, unit: str) -> None:
        self.what, self.total, self.unit = what, total, unit
        self.started = time.monotonic()
        self.bar: Any = None
        self.lock = threading.Lock()
        if sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=what, unit=f" {unit}", file=sys.stderr, leave=True)

    def update(self, n: int) -> None:
        if self.bar is not None:
            with self.lock:
                self.bar.update(n)

    def to(self, n: int) -> None:
        if self.bar is not None:
            self.update(n - self.bar.n)

    def close(self, said: str = "") -> None:
        if self.bar is not None:
            if said:
                self.bar.set_postfix_str(said, refresh=False)
            self.bar.close()
        else:
            seconds = time.monotonic() - self.started
            print(f"{self.what}: {said or f'{self.total:,} {self.unit}'} ({seconds:.1f} s)")


class Seeder:
    def __init__(
        self,
        settings: Settings,
        demo: demo_store.DemoStore,
        secret_key: str,
        server_url: str,
        stop: threading.Event,
    ) -> None:
        self.settings = settings
        self.demo = demo
        self.store = demo.store
        self.server_url = server_url
        self.shop_url = server_url + "/demo"
        self.admin = Admin(server_url, secret_key)
        self.stop = stop
        self.catalog = catalog()

    def check(self) -> None:
        if self.stop.is_set():
            raise Stopped

    # -- the steps -----------------------------------------------------------

    def wait_for_server(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check()
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(self.server_url + "/readyz", timeout=2) as answer,
            ):
                if answer.status == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"the server did not answer at {self.server_url} within {timeout:.0f} s")

    def run(self) -> None:
        """Set the store up (every start) and fill it (once)."""
        self.wait_for_server()
        rules = configure(self.admin, self.catalog, self.shop_url, first=not self.demo.seeded)
        if self.demo.seeded:
            return
        print("Filling the demo store with a year of simulated history (this start only):")
        anchor = self.demo.anchor_ms
        visits = self.simulate(anchor)
        live_from, web_from = anchor - LIVE_MS, anchor - WEB_HISTORY_MS
        self.import_history(
            [v for v in visits if v.start_ms < web_from],
            [v for v in visits if web_from <= v.start_ms < live_from],
            anchor,
        )
        # A first start stopped halfway and run again hours later cannot send what has
        # become too old for the collector: those visits are left out.
        sendable = max(live_from, time.time_ns() // 1_000_000 - MAX_EVENT_AGE_MS + HOUR_MS)
        self.send_live([v for v in visits if v.start_ms >= sendable], rules, anchor)
        self.train()
        asyncio.run(self._mark_seeded())

    def simulate(self, anchor: int) -> list[Visit]:
        from recommender.synthetic import generate

        started = time.monotonic()
        visits = lay_out(generate(SHOP), SHOP, anchor)
        self.check()
        print(f"  simulated a year: {len(visits):,} visits ({time.monotonic() - started:.1f} s)")
        return visits

    def walks(self, visits: Sequence[Visit], anchor: int, onsite: Tarry | None) -> Iterator[Walk]:
        for visit in visits:
            yield Walk(shopper(visit.visitor), visit, self.catalog, self.server_url, anchor, onsite)

    def import_history(self, orders: list[Visit], web: list[Visit], anchor: int) -> None:
        with tempfile.TemporaryDirectory(prefix="tarry-demo-") as folder:
            ga4_file = Path(folder) / "ga4-export.jsonl"
            with ga4_file.open("wb") as out:
                write_ga4(self.walks(web, anchor, None), out)
            self.check()
            self._import(ga4_file, "ga4", f"  sessions of 4 weeks ({len(web):,})", "events")
            orders_file = Path(folder) / "orders-export.csv"
            with orders_file.open("w", newline="") as out:
                count = write_orders(orders, self.catalog, out)
            self.check()
            self._import(orders_file, "orders", f"  orders before them ({count:,})", "orders")

    def _import(self, path: Path, fmt: str, what: str, unit: str) -> None:
        lines = sum(1 for _ in path.open("rb"))
        progress = Progress(what, lines, "lines")

        def report(summary: Summary) -> None:
            self.check()
            progress.to(summary.lines)

        async def run() -> Summary:
            storage = await open_storage(self.settings)
            try:
                return await import_file(
                    storage.client,
                    self.store,
                    path,
                    fmt,
                    now_ms=time.time_ns() // 1_000_000,
                    retention_days=self.settings.event_retention_days,
                    progress=report,
                )
            finally:
                await storage.close()

        summary = asyncio.run(run())
        counted = summary.orders if unit == "orders" else summary.events
        progress.close(f"{counted:,} {unit} imported")
        if summary.bad:
            raise RuntimeError(f"the demo's {fmt} export had bad rows: {summary.first_errors[:3]}")

    def send_live(self, visits: list[Visit], rules_json: list[dict[str, Any]], anchor: int) -> None:
        rules = [Rule.model_validate(r) for r in rules_json]
        onsite = Tarry(
            rules, StoreSettings.model_validate(self.admin.call("GET", "/v1/admin/settings"))
        )
        per_shopper: dict[int, list[Batch]] = {}
        for walk in self.walks(sorted(visits, key=lambda v: v.start_ms), anchor, onsite):
            batches = per_shopper.setdefault(walk.visit.visitor, [])
            batches += [(walk.shopper, events) for events in walk.pages_events()]
        lanes = list(per_shopper.values())
        pages = sum(map(len, lanes))
        progress = Progress(f"  visits of the last 40 hours ({len(visits):,})", pages, "pages")
        collector = Collector(self.server_url, self.store.public_key, self.stop)
        sent = send_all(collector, lanes, progress.update)
        self.check()
        progress.close(f"{sent:,} events sent")

    def train(self) -> None:
        started = time.monotonic()
        with sync_storage(self.settings) as redis:
            report = train_store(
                redis,
                self.settings.data_dir,
                self.store.id,
                search=False,
                model_store_url=self.settings.model_store_url,
            )
        took = time.monotonic() - started
        print(
            f"  trained the recommender on {report.interactions:,} interactions: "
            f"{report.version} ({took:.1f} s)"
        )

    async def _mark_seeded(self) -> None:
        storage = await open_storage(self.settings)
        try:
            await demo_store.mark_seeded(storage.client)
        finally:
            await storage.close()


def seed_in_thread(
    seeder: Seeder, done: Callable[[BaseException | None], None]
) -> threading.Thread:
    def run() -> None:
        try:
            seeder.run()
        except Stopped:
            done(None)
        except BaseException as exc:  # reported by the command, which stops the server
            done(exc)
        else:
            done(None)

    thread = threading.Thread(target=run, name="tarry-demo-seed")
    thread.start()
    return thread
