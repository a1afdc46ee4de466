"""Retention and cohorts on a hand-made population, against figures worked out here.

Period: October 2026 in Europe/London; activity window 365 days. The orders below
go through the real ingest (with the clock of their day: collect itself takes only
the last 47 hours; history arrives by import)."""

from __future__ import annotations

import itertools
import statistics
from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from conftest import BROWSER_UA
from helpers import ingest_in_the_past, make_store, sync_client
from starlette.testclient import TestClient

from widget_server.app import create_app

ZONE = ZoneInfo("Europe/London")
# customer, (device) visitor, local time, amount, currency
ORDERS = [
    ("A", "vA", datetime(2025, 11, 15, 10), 30.00, "USD"),
    ("A", "vA", datetime(2026, 10, 5, 9), 50.00, "USD"),
    ("B", "vB", datetime(2025, 9, 1, 12), 80.00, "USD"),
    ("C", "vC", datetime(2026, 3, 10, 18), 12.50, "USD"),
    ("C", "vC", datetime(2026, 10, 12, 8), 20.00, "USD"),
    ("C", "vC", datetime(2026, 10, 20, 23, 30), 30.00, "EUR"),
    ("D", "vD", datetime(2026, 10, 15, 0, 10), 10.00, None),
    # E buys on a phone, then on a laptop, signed in with one e-mail address.
    ("E", "vE-phone", datetime(2026, 10, 25, 1, 30), 15.00, "USD"),  # the day clocks go back
    ("E", "vE-laptop", datetime(2026, 10, 28, 14), 25.00, "USD"),
    ("F", "vF", datetime(2026, 6, 1, 11), 40.00, "USD"),
    ("G", "vG", datetime(2025, 10, 20, 16), 22.00, "USD"),
]
EMAIL = "Eve.Shopper@Example.com"


def _ms(moment: datetime) -> int:
    return int(moment.replace(tzinfo=ZONE).timestamp() * 1000)


def _batches() -> list[list[dict[str, Any]]]:
    batches = []
    for n, (customer, vid, moment, amount, currency) in enumerate(ORDERS):
        ts = _ms(moment)
        uid = EMAIL if customer == "E" else f"cust-{customer}"
        common = {"vid": vid, "sid": f"s{n}", "uid": uid}
        purchase = {"id": f"p{n}", "type": "purchase", "ts": ts + 60_000, "value": amount,
                    "transaction_id": f"T{n}", **common}  # fmt: skip
        if currency:
            purchase["currency"] = currency
        page = {"id": f"v{n}", "type": "page_view", "ts": ts, "url": "https://shop.example/",
                **common}  # fmt: skip
        batches.append([page, purchase])
    return batches


@pytest.fixture
def shop(settings):
    store, secret = make_store(settings)
    ingest_in_the_past(settings, store.id, _batches())
    ingest_in_the_past(settings, store.id, _batches())  # sent twice: counted once
    with TestClient(create_app(settings), headers={"user-agent": BROWSER_UA}) as client:
        auth = {"authorization": f"Bearer {secret}"}
        response = client.patch(
            "/v1/admin/settings", json={"timezone": "Europe/London", "currency": "USD"},
            headers=auth,
        )  # fmt: skip
        assert response.status_code == 200
        yield client, auth, store


def _get(client: TestClient, auth: dict[str, str], path: str, **params: str) -> Any:
    response = client.get(f"/v1/stats/{path}", params=params, headers=auth)
    assert response.status_code == 200, response.text
    return response.json()


def _orders_by_customer(until: datetime) -> dict[str, list[tuple[datetime, float, str]]]:
    out: dict[str, list[tuple[datetime, float, str]]] = defaultdict(list)
    for customer, _, moment, amount, currency in ORDERS:
        if moment < until:
            out[customer].append((moment, amount, currency or "USD"))
    return out


def _active_at(moment: datetime, days: int) -> set[str]:
    return {
        customer
        for customer, orders in _orders_by_customer(moment).items()
        if any(moment - timedelta(days=days) <= when for when, _, _ in orders)
    }


def test_retention_figures_follow_their_definitions(shop) -> None:
    client, auth, _ = shop
    start, end = datetime(2026, 10, 1), datetime(2026, 11, 1)
    got = _get(client, auth, "retention", **{"from": "2026-10-01", "to": "2026-10-31"})
    figures = got["figures"]

    history = _orders_by_customer(end)
    in_period = {c: [o for o in orders if o[0] >= start] for c, orders in history.items()}
    in_period = {c: orders for c, orders in in_period.items() if orders}
    new = {c for c in in_period if min(o[0] for o in history[c]) >= start}
    assert (sorted(in_period), sorted(new)) == (["A", "C", "D", "E"], ["D", "E"])
    s, e = _active_at(start, 365), _active_at(end, 365)
    assert (sorted(s), sorted(e)) == (["A", "C", "F", "G"], ["A", "C", "D", "E", "F"])

    orders = [o for c in in_period.values() for o in c]
    usd = [amount for _, amount, currency in orders if currency == "USD"]
    gaps = []
    for customer_orders in history.values():
        times = sorted(when for when, _, _ in customer_orders)
        gaps += [
            (_ms(b) - _ms(a)) / 86_400_000  # real time: aware datetimes of one zone
            for a, b in itertools.pairwise(times)  # subtract as wall clocks
            if b >= start
        ]
    assert figures["customers"] == len(in_period)
    assert figures["new_customers"] == len(new)
    assert figures["returning_customers"] == len(in_period) - len(new)
    assert figures["orders"] == len(orders)
    assert figures["purchase_frequency"] == pytest.approx(len(orders) / len(in_period))
    assert figures["repeat_customer_rate"] == pytest.approx(
        sum(1 for c in in_period if len(history[c]) >= 2) / len(in_period)
    )
    assert figures["revenue"] == pytest.approx(sum(usd))
    assert figures["average_order_value"] == pytest.approx(sum(usd) / len(usd))
    assert figures["median_days_between_orders"] == pytest.approx(statistics.median(gaps))
    assert (figures["customers_at_start"], figures["customers_at_end"]) == (len(s), len(e))
    assert figures["customer_retention_rate"] == pytest.approx((len(e) - len(new)) / len(s) * 100)

    # Lifetime value over the year up to the period's end; lifetime from churn.
    year_start = end - timedelta(days=365)
    year = [(c, o) for c, orders in history.items() for o in orders if o[0] >= year_start]
    year_usd = [o[1] for _, o in year if o[2] == "USD"]
    year_customers = {c for c, _ in year}
    s_year = _active_at(year_start, 365)
    new_year = {c for c in year_customers if min(o[0] for o in history[c]) >= year_start}
    churn = 1 - (len(_active_at(end, 365)) - len(new_year)) / len(s_year)
    lifetime = min(10.0, 1 / churn)
    aov_year = sum(year_usd) / len(year_usd)
    assert figures["customer_lifetime_value"] == pytest.approx(
        aov_year * len(year) / len(year_customers) * lifetime, abs=0.01
    )
    response = client.patch("/v1/admin/settings", json={"customer_lifetime_years": 3}, headers=auth)
    assert response.status_code == 200
    again = _get(client, auth, "retention", **{"from": "2026-10-01", "to": "2026-10-31"})
    assert again["figures"]["customer_lifetime_value"] == pytest.approx(
        aov_year * len(year) / len(year_customers) * 3, abs=0.01
    )


def _month_offset(a: date, b: date) -> int:
    return (b.year - a.year) * 12 + b.month - a.month


def test_order_cohorts_by_first_order_month(shop) -> None:
    client, auth, _ = shop
    got = _get(client, auth, "cohorts", of="orders", by="month",
               **{"from": "2025-09-01", "to": "2026-10-31"})  # fmt: skip
    months: dict[str, set[date]] = defaultdict(set)
    for customer, _, moment, _, _ in ORDERS:
        months[customer].add(moment.date().replace(day=1))
    cohorts: dict[date, list[str]] = defaultdict(list)
    for customer, seen in months.items():
        cohorts[min(seen)].append(customer)
    want = []
    for first in sorted(cohorts):
        members = cohorts[first]
        later = [_month_offset(first, m) for c in members for m in months[c] if m > first]
        horizon = max(later, default=0)
        want.append(
            {
                "cohort": first.isoformat(),
                "size": len(members),
                "returned": [later.count(k) / len(members) for k in range(1, horizon + 1)],
            }
        )
    assert [{k: r[k] for k in ("cohort", "size", "returned")} for r in got["rows"]] == want
    # CSV: one row a cohort, a column a later month.
    response = client.get(
        "/v1/stats/cohorts", headers=auth,
        params={"of": "orders", "from": "2025-09-01", "to": "2026-10-31", "format": "csv"},
    )  # fmt: skip
    lines = response.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("cohort,size,+1")
    assert len(lines) == 1 + len(want)


def test_visitor_cohorts_by_first_visit_week(shop) -> None:
    client, auth, _ = shop
    got = _get(client, auth, "cohorts", of="visitors", by="week",
               **{"from": "2025-09-01", "to": "2026-10-31"})  # fmt: skip
    weeks: dict[str, set[date]] = defaultdict(set)
    for _, vid, moment, _, _ in ORDERS:
        day = moment.date()
        weeks[vid].add(day - timedelta(days=day.weekday()))
    firsts = defaultdict(list)
    for vid, seen in weeks.items():
        firsts[min(seen)].append(vid)
    assert [(r["cohort"], r["size"]) for r in got["rows"]] == [
        (d.isoformat(), len(v)) for d, v in sorted(firsts.items())
    ]
    returning = {r["cohort"]: r["returned_count"] for r in got["rows"]}
    # vA first came the week of 2025-11-10 and came back the week of 2026-10-05.
    later = (date(2026, 10, 5) - date(2025, 11, 10)).days // 7
    assert returning["2025-11-10"] == [0] * (later - 1) + [1]


def test_a_customer_on_two_devices_counts_once_and_no_address_is_stored(shop, settings) -> None:
    client, auth, store = shop
    got = _get(client, auth, "retention", **{"from": "2026-10-25", "to": "2026-10-31"})
    assert got["figures"]["customers"] == 1  # E, on a phone and a laptop
    assert got["figures"]["orders"] == 2
    with sync_client(settings) as r:
        for key in r.scan_iter(match=f"t:{{{store.id}}}:*"):
            kind = r.type(key).decode()
            dump = r.dump(key) or b""
            assert b"example.com" not in dump.lower(), (key, kind)


def test_what_a_process_kept_of_the_order_log_follows_imports_and_erasures(settings) -> None:
    """Orders over two days old are read once per process (`customers._orders`),
    and an answer is kept for the reading it came from (`customers._answers`); an
    import of past orders, or an erasure, makes the next answer read them again,
    so it never misses or keeps one."""
    from datetime import UTC

    from widget_server.analytics import customers

    store, secret = make_store(settings)
    auth = {"authorization": f"Bearer {secret}"}
    today = datetime.now(UTC).date()

    def orders_file(rows: list[tuple[str, str, int]]) -> bytes:
        lines = ["order_id,sku,qty,price,date,customer_id"]
        for order, customer, days_ago in rows:
            day = today - timedelta(days=days_ago)
            lines.append(f"{order},A,1,10.00,{day.isoformat()}T12:00:00,{customer}")
        return ("\n".join(lines) + "\n").encode()

    params = {"from": str(today - timedelta(days=29)), "to": str(today)}
    with TestClient(create_app(settings), headers={"user-agent": BROWSER_UA}) as client:

        def customers_of_the_period() -> int:
            answer = client.get("/v1/stats/retention", params=params, headers=auth)
            assert answer.status_code == 200, answer.text
            return int(answer.json()["figures"]["customers"])

        first = orders_file([("1", "c1", 20), ("2", "c2", 10)])
        imported = client.post("/v1/admin/import?format=orders", content=first, headers=auth)
        assert imported.json()["imported"]["orders"] == 2, imported.text
        assert customers_of_the_period() == 2
        assert len(customers._orders[store.id].items) == 2
        answers = len(customers._answers)
        assert customers_of_the_period() == 2 and len(customers._answers) == answers  # kept

        more = orders_file([("3", "c3", 15), ("4", "c1", 5)])
        assert client.post(
            "/v1/admin/import?format=orders", content=more, headers=auth
        ).json()["imported"]["orders"] == 2  # fmt: skip
        assert customers_of_the_period() == 3  # c1, c2, c3

        assert client.delete("/v1/admin/visitors/c2", headers=auth).status_code == 200
        assert customers_of_the_period() == 2
        assert len(customers._orders[store.id].items) == 3


def test_what_a_process_kept_of_the_session_log_grows_with_it(settings) -> None:
    """The session log is read once per entry (`customers._starts`): a later answer
    reads only the entries after, and one after an erasure reads it all again."""
    from widget_server.analytics import customers
    from widget_server.storage.clock import now_ms
    from widget_server.storage.connect import run_with_storage

    store, secret = make_store(settings)
    auth = {"authorization": f"Bearer {secret}"}
    now = now_ms()

    def visit(vid: str, ts: int) -> dict[str, Any]:
        return {"id": f"{vid}-{ts}", "type": "page_view", "ts": ts, "vid": vid, "sid": vid,
                "url": "https://shop.example/"}  # fmt: skip

    def starts() -> list[tuple[str, int]]:
        return run_with_storage(settings, lambda r: customers.session_starts(r, store.id))

    with TestClient(create_app(settings), headers={"user-agent": BROWSER_UA}) as client:
        first = [visit("v1", now - 3_000), visit("v2", now - 2_000)]
        client.post("/v1/collect", json={"k": store.public_key, "events": first})
        assert starts() == [("v1", now - 3_000), ("v2", now - 2_000)]
        kept = customers._starts[store.id]
        client.post("/v1/collect", json={"k": store.public_key, "events": [visit("v3", now)]})
        assert starts() == [("v1", now - 3_000), ("v2", now - 2_000), ("v3", now)]
        assert customers._starts[store.id].items[:2] == kept.items  # only the new entry read
        assert kept.items == [("v1", now - 3_000), ("v2", now - 2_000)]  # left unchanged
        assert client.delete("/v1/admin/visitors/v1", headers=auth).status_code == 200
        assert sorted(starts()) == [("v2", now - 2_000), ("v3", now)]
