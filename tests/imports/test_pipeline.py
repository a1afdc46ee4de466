"""An import counts past orders on their own days, exactly once, whatever happens.

The UCI Online Retail sample (tests/data) goes through the real import, with the
CLI and over HTTP; the figures the statistics endpoints then give are computed
here from the file itself, with the csv module."""

from __future__ import annotations

import csv
import gzip
import io
from collections import defaultdict
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import BROWSER_UA
from helpers import make_store, run_with_redis, sync_client
from processes import run_cli
from starlette.testclient import TestClient

from widget_server.app import create_app
from widget_server.imports import pipeline
from widget_server.imports.formats.rows import read
from widget_server.storage import keys, stores
from widget_server.storage.clock import now_ms

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "online-retail-sample.csv.gz"


def expected_orders() -> dict[str, dict[str, Any]]:
    """The sample's orders as the import must count them: an invoice is an order
    unless it is a cancellation (a leading C) or a return (a negative quantity);
    its lines of positive price and quantity make its value."""
    lines: dict[str, list[dict[str, str]]] = defaultdict(list)
    with gzip.open(SAMPLE, "rt", encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            lines[row["InvoiceNo"]].append(row)
    orders = {}
    for invoice, rows in lines.items():
        if invoice.startswith("C") or any(float(r["Quantity"]) < 0 for r in rows):
            continue
        kept = [r for r in rows if float(r["Quantity"]) > 0 and float(r["UnitPrice"]) > 0]
        if not kept:
            continue
        cents = sum(round(float(r["Quantity"]) * float(r["UnitPrice"]) * 100) for r in kept)
        when = datetime.fromisoformat(rows[0]["InvoiceDate"]).replace(tzinfo=UTC)
        customer = rows[0]["CustomerID"].removesuffix(".0")
        orders[invoice] = {"cents": cents, "when": when, "customer": customer}
    return orders


@pytest.fixture
def shop(settings, cli_env):
    store, secret = make_store(settings)
    return settings, store, secret


def _overview(client: TestClient, secret: str, first: str, last: str) -> dict[str, Any]:
    response = client.get(
        "/v1/stats/overview",
        params={"from": first, "to": last},
        headers={"authorization": f"Bearer {secret}"},
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_the_cli_imports_orders_once_on_their_days(shop, capsys) -> None:
    settings, store, secret = shop
    args = ["import-events", "--store", store.id, str(SAMPLE), "--currency", "GBP", "--json"]
    code, out, _ = run_cli(capsys, *args)
    assert code == 0, out
    first = __import__("json").loads(out)
    orders = expected_orders()
    assert first["format"] == "orders"
    assert first["imported"]["orders"] == len(orders)
    assert first["already_there"] == 0
    assert first["customers"] == len({o["customer"] for o in orders.values() if o["customer"]})

    code, out, _ = run_cli(capsys, *args)  # the same file again: nothing new
    again = __import__("json").loads(out)
    assert again["imported"] == {"events": 0, "orders": 0}
    assert again["already_there"] == first["imported"]["events"]

    with TestClient(create_app(settings), headers={"user-agent": BROWSER_UA}) as client:
        auth = {"authorization": f"Bearer {secret}"}
        assert (
            client.patch("/v1/admin/settings", json={"currency": "GBP"}, headers=auth).status_code
            == 200
        )
        december = [o for o in orders.values() if o["when"].date() < date(2011, 1, 1)]
        got = _overview(client, secret, "2010-12-01", "2010-12-31")
        assert got["figures"]["orders"]["value"] == len(december)
        assert got["revenue_minor"] == sum(o["cents"] for o in december)
        assert got["figures"]["sessions"]["value"] == 0  # orders are not web sessions
        one_day = date(2010, 12, 1)
        day = [o for o in orders.values() if o["when"].date() == one_day]
        series = client.get(
            "/v1/stats/timeseries", headers=auth,
            params={"from": "2010-12-01", "to": "2010-12-03", "interval": "day"},
        ).json()  # fmt: skip
        assert series["rows"][0]["orders"] == len(day)
        assert series["rows"][0]["revenue"] == pytest.approx(sum(o["cents"] for o in day) / 100)
        retention = client.get(
            "/v1/stats/retention", headers=auth, params={"from": "2011-01-01", "to": "2011-12-31"}
        ).json()["figures"]
        in_2011 = [o for o in orders.values() if o["when"].year == 2011 and o["customer"]]
        assert retention["customers"] == len({o["customer"] for o in in_2011})
        firsts: dict[str, datetime] = {}
        for o in orders.values():
            if o["customer"]:
                firsts[o["customer"]] = min(firsts.get(o["customer"], o["when"]), o["when"])
        new = {o["customer"] for o in in_2011 if firsts[o["customer"]].year == 2011}
        assert retention["new_customers"] == len(new)


def test_an_interrupted_import_run_again_counts_as_one_run(shop, monkeypatch) -> None:
    settings, store, _ = shop
    other, _ = make_store(settings)
    monkeypatch.setattr(pipeline, "BATCH_EVENTS", 7)

    def run(target: stores.Store, stop_after: int | None) -> pipeline.Summary | None:
        batches = [0]

        def progress(summary: pipeline.Summary) -> None:
            batches[0] += 1
            if stop_after is not None and batches[0] == stop_after:
                raise KeyboardInterrupt

        async def go(redis: Any) -> pipeline.Summary:
            with gzip.open(SAMPLE, "rb") as f:
                rows = read("orders", io.BufferedReader(f), currency="GBP")  # type: ignore[arg-type]
                return await pipeline.run_import(
                    redis, target, rows, orders_only=True, now_ms=now_ms(),
                    retention_days=90, progress=progress,
                )  # fmt: skip

        try:
            return run_with_redis(settings, go)
        except KeyboardInterrupt:
            return None

    assert run(store, stop_after=3) is None  # Ctrl-C after three batches
    partial = _orders_logged(settings, store.id)
    assert 0 < len(partial) < len(expected_orders())
    resumed = run(store, stop_after=None)
    assert resumed is not None and resumed.already == len(partial)
    clean = run(other, stop_after=None)
    assert clean is not None
    assert _orders_logged(settings, store.id) == _orders_logged(settings, other.id)
    assert _counters(settings, store.id) == _counters(settings, other.id)


def _orders_logged(settings, store_id: str) -> list[tuple[bytes, float]]:
    with sync_client(settings) as r:
        return r.zrange(keys.order_log(store_id), 0, -1, withscores=True)


def _counters(settings, store_id: str) -> dict[str, dict[bytes, bytes]]:
    prefix = keys.store_prefix(store_id)
    out = {}
    with sync_client(settings) as r:
        for key in r.scan_iter(match=prefix + keys.DAY + "*"):
            if not key.endswith(keys.VISITORS.encode()):
                out[key.decode()[len(prefix) :]] = r.hgetall(key)
    return out


SHOPIFY = Path(__file__).resolve().parents[1] / "data" / "imports" / "shopify-orders.csv"


def test_a_shopify_export_counts_as_worked_out_by_hand(shop, capsys) -> None:
    """tests/data/imports/shopify-orders.csv, by hand (its README): #1001 is paid in
    INR at 14:07:33 +0530 on 5 March; #1002 refunded and #1003 voided count for
    nothing; #1004 is 80.00 less 25.50 refunded = 54.50 USD at 21:15 -0500 on 6 March,
    which is 7 March in UTC; #1005 is a bad row (its date); #1006 counts its Total,
    40.00 USD at 08:00 -0500 on 7 March, and its second line is a bad row (its
    quantity); #1007 is 18.00 EUR without a customer. The store's currency is USD."""
    settings, store, secret = shop
    args = ["import-events", "--store", store.id, str(SHOPIFY), "--json"]
    code, out, _ = run_cli(capsys, *args)
    assert code == 0, out
    summary = __import__("json").loads(out)
    assert summary["format"] == "shopify"
    assert summary["imported"]["orders"] == 4
    assert summary["skipped"] == {"refunded order": 1, "voided order": 1}
    assert [e["line"] for e in summary["errors"]] == [10, 13]
    assert summary["customers"] == 3
    _, again, _ = run_cli(capsys, *args)
    assert __import__("json").loads(again)["imported"] == {"events": 0, "orders": 0}

    with TestClient(create_app(settings), headers={"user-agent": BROWSER_UA}) as client:
        auth = {"authorization": f"Bearer {secret}"}

        def day_rows(zone: str) -> dict[str, tuple[int, float]]:
            assert (
                client.patch(
                    "/v1/admin/settings", json={"timezone": zone, "currency": "USD"}, headers=auth
                ).status_code
                == 200
            )
            rows = client.get(
                "/v1/stats/timeseries", headers=auth,
                params={"from": "2024-03-05", "to": "2024-03-08"},
            ).json()["rows"]  # fmt: skip
            return {r["period"]: (r["orders"], r["revenue"]) for r in rows}

        assert day_rows("America/New_York") == {
            "2024-03-05": (0, 0.0), "2024-03-06": (1, 54.5),
            "2024-03-07": (1, 40.0), "2024-03-08": (0, 0.0),
        }  # fmt: skip
        assert day_rows("UTC")["2024-03-07"] == (2, 94.5)
        week = _overview(client, secret, "2024-03-05", "2024-03-08")
        assert week["revenue_minor"] == 5450 + 4000
        others = week["other_currencies"]
        assert sorted((o["currency"], o["orders"], o["revenue"]) for o in others) == [
            ("EUR", 1, 18.0), ("INR", 1, 2448.0),
        ]  # fmt: skip
        retention = client.get(
            "/v1/stats/retention", headers=auth, params={"from": "2024-03-01", "to": "2024-03-31"}
        ).json()["figures"]
        assert (retention["customers"], retention["new_customers"]) == (3, 3)
        assert retention["orders"] == 4  # the EUR order has no customer, but is an order


GA4 = Path(__file__).resolve().parents[1] / "data" / "imports" / "ga4-events.jsonl"


def test_a_ga4_export_counts_its_sessions_on_their_day(shop, capsys) -> None:
    """tests/data/imports/ga4-events.jsonl, by hand: one session of visitor
    1197596843.1709625599 on 5 March 2024 from 08:00 UTC, landing from a newsletter
    (utm_source=news): a page view, a product view, a cart addition, a purchase of
    25.00 EUR and 10 s of engagement; session_start and scroll are not used; line
    8 is not JSON; line 9 has no visitor."""
    settings, store, secret = shop
    code, out, _ = run_cli(capsys, "import-events", "--store", store.id, str(GA4), "--json")
    assert code == 0, out
    summary = __import__("json").loads(out)
    assert summary["format"] == "ga4"
    assert summary["imported"] == {"events": 5, "orders": 1}
    assert [e["line"] for e in summary["errors"]] == [8]
    with TestClient(create_app(settings), headers={"user-agent": BROWSER_UA}) as client:
        auth = {"authorization": f"Bearer {secret}"}
        settings_ok = client.patch("/v1/admin/settings", json={"currency": "EUR"}, headers=auth)
        assert settings_ok.status_code == 200
        day = _overview(client, secret, "2024-03-05", "2024-03-05")["figures"]
        assert (day["sessions"]["value"], day["page_views"]["value"]) == (1, 1)
        assert (day["orders"]["value"], day["revenue"]["value"]) == (1, 25.0)
        assert day["engaged_sessions"]["value"] == 1  # a cart addition and a purchase
        assert day["conversion_rate"]["value"] == 1.0
        assert (
            _overview(client, secret, "2024-03-04", "2024-03-04")["figures"]["sessions"]["value"]
            == 0
        )
        funnel = client.get(
            "/v1/stats/funnel", headers=auth, params={"from": "2024-03-05", "to": "2024-03-05"}
        ).json()["rows"]
        # No begin_checkout in the export: a closed funnel stops at the cart.
        assert [r["sessions"] for r in funnel] == [1, 1, 1, 0, 0]
        channels = client.get(
            "/v1/stats/breakdown", headers=auth,
            params={"by": "utm_source", "from": "2024-03-05", "to": "2024-03-05"},
        ).json()["rows"]  # fmt: skip
        assert [(r["value"], r["sessions"]) for r in channels] == [("news", 1)]
        # Never today's live traffic.
        assert client.get("/v1/stats/realtime", headers=auth).json()["visitors"] == 0
