"""Per-day aggregates and the rates derived from them, on hand-made sessions."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import msgspec
import pytest
from helpers import event, make_store, run_with_redis
from starlette.testclient import TestClient

from widget_server.analytics import aggregates
from widget_server.settings import Settings


def today() -> date:
    return datetime.now(UTC).date()


def summary(settings: Settings, store_id: str, first: date, last: date) -> Any:
    """The summary as the stats API encodes it (for a store in US dollars)."""
    figures = run_with_redis(
        settings, lambda r: aggregates.summary(r, store_id, first, last, "USD")
    )
    return msgspec.to_builtins(figures)


def hand_made_sessions() -> list[dict]:
    """Seven sessions, each with a known engaged / converted outcome."""
    return [
        # a: one page view -> bounce
        event("page_view", sid="a", vid="v1"),
        # b: two page views -> engaged
        event("page_view", sid="b", vid="v2"),
        event("page_view", sid="b", vid="v2"),
        # c: one page view and 12 s of engagement -> engaged
        event("page_view", sid="c", vid="v3"),
        event("engagement", sid="c", vid="v3", engaged_ms=12_000),
        # d: one page view and only 5 s of engagement -> bounce
        event("page_view", sid="d", vid="v4"),
        event("engagement", sid="d", vid="v4", engaged_ms=5_000),
        # e: a product view and an add to cart -> engaged
        event("view_item", sid="e", vid="v5", items=[{"item_id": "sku-1"}]),
        event("add_to_cart", sid="e", vid="v5", items=[{"item_id": "sku-1"}]),
        # f: one page view and a purchase -> engaged and converted
        event("page_view", sid="f", vid="v1"),
        event("purchase", sid="f", vid="v1", value=50.0, transaction_id="T-1"),
        # g: the same order reported again from another session -> converted, no revenue
        event("purchase", sid="g", vid="v6", value=50.0, transaction_id="T-1"),
    ]


def test_rates_follow_the_definitions_exactly(client: TestClient, settings: Settings) -> None:
    store, secret = make_store(settings)
    events = hand_made_sessions()
    response = client.post("/v1/collect", json={"k": store.public_key, "events": events})
    assert response.json()["accepted"] == len(events)

    figures = summary(settings, store.id, today(), today())
    assert figures["sessions"] == 7
    assert figures["engaged_sessions"] == 5  # b, c, e, f, g
    assert figures["purchase_sessions"] == 2  # f, g
    assert figures["bounce_rate"] == pytest.approx(1 - 5 / 7)
    assert figures["conversion_rate"] == pytest.approx(2 / 7)
    assert figures["page_views"] == 6
    assert figures["product_views"] == 1
    assert figures["add_to_carts"] == 1
    assert figures["purchases"] == 1
    assert figures["revenue"] == 50.0
    assert figures["visitors"] == 6

    # The stats API answers the same figures to the secret key holder.
    stats = client.get(
        "/v1/stats/summary",
        params={"from": today().isoformat(), "to": today().isoformat()},
        headers={"authorization": f"Bearer {secret}"},
    )
    assert stats.status_code == 200
    body = stats.json()
    assert body["sessions"] == 7 and body["bounce_rate"] == pytest.approx(2 / 7)
    assert body["conversion_rate"] == pytest.approx(2 / 7)


def test_a_range_adds_days_and_counts_visitors_once(client, settings) -> None:
    store, _ = make_store(settings)
    yesterday_ms = int((datetime.now(UTC) - timedelta(days=1)).timestamp() * 1000)
    yesterday = today() - timedelta(days=1)
    batch = [
        event("page_view", sid="old1", vid="alice", ts=yesterday_ms),
        event("page_view", sid="old2", vid="bob", ts=yesterday_ms),
        event("page_view", sid="old2", vid="bob", ts=yesterday_ms + 1000),
        event("page_view", sid="new1", vid="alice"),
        event("page_view", sid="new2", vid="carol"),
    ]
    assert (
        client.post("/v1/collect", json={"k": store.public_key, "events": batch}).json()["accepted"]
        == 5
    )
    both = summary(settings, store.id, yesterday, today())
    assert both["sessions"] == 4
    assert both["engaged_sessions"] == 1
    assert both["visitors"] == 3  # alice on both days counts once
    assert [d["sessions"] for d in both["days"]] == [2, 2]
    only_yesterday = summary(settings, store.id, yesterday, yesterday)
    assert only_yesterday["visitors"] == 2
    assert only_yesterday["bounce_rate"] == pytest.approx(0.5)


def test_a_session_counts_on_the_day_it_started(client, settings) -> None:
    store, _ = make_store(settings)
    yesterday_ms = int((datetime.now(UTC) - timedelta(days=1)).timestamp() * 1000)
    batch = [
        event("page_view", sid="late", vid="owl", ts=yesterday_ms),
        event("purchase", sid="late", vid="owl", value=10.0, transaction_id="T-owl"),
    ]
    client.post("/v1/collect", json={"k": store.public_key, "events": batch})
    yesterday = today() - timedelta(days=1)
    days = summary(settings, store.id, yesterday, today())
    before, after = days["days"]
    assert before["sessions"] == 1
    assert before["engaged_sessions"] == 1 and before["purchase_sessions"] == 1
    assert after["sessions"] == 0 and after["purchases"] == 1  # the order itself is today's
    assert after["revenue_minor"] == 1000


def test_each_day_has_its_revenue_as_a_decimal(client, settings) -> None:
    store, secret = make_store(settings)
    yesterday_ms = int((datetime.now(UTC) - timedelta(days=1)).timestamp() * 1000)
    batch = [
        event("purchase", sid="a", vid="a", value=12.34, transaction_id="T-a", ts=yesterday_ms),
        event("purchase", sid="b", vid="b", value=0.5, transaction_id="T-b"),
        event("purchase", sid="c", vid="c", value=20.0, transaction_id="T-c"),
    ]
    client.post("/v1/collect", json={"k": store.public_key, "events": batch})
    yesterday = today() - timedelta(days=1)
    body = client.get(
        "/v1/stats/summary",
        params={"from": yesterday.isoformat(), "to": today().isoformat()},
        headers={"authorization": f"Bearer {secret}"},
    ).json()
    assert [(d["day"], d["revenue_minor"], d["revenue"]) for d in body["days"]] == [
        (yesterday.isoformat(), 1234, 12.34),
        (today().isoformat(), 2050, 20.5),
    ]
    assert body["revenue"] == sum(d["revenue"] for d in body["days"]) == 32.84
    # Every counter is in the totals and in each day, under the same name.
    counters = set(aggregates.COUNTERS)
    assert counters == {
        "sessions", "engaged_sessions", "purchase_sessions", "page_views", "product_views",
        "add_to_carts", "purchases", "revenue_minor", "events", "bots",
    }  # fmt: skip
    assert set(body) == counters | {
        "store_id", "from", "to", "visitors", "revenue", "currency", "bounce_rate",
        "conversion_rate", "days",
    }  # fmt: skip
    assert all(set(day) == counters | {"day", "revenue"} for day in body["days"])
    assert (body["store_id"], body["events"], body["purchases"]) == (store.id, 3, 3)


def test_revenue_is_a_decimal_of_the_stores_currency(client, settings) -> None:
    store, secret = make_store(settings)
    auth = {"authorization": f"Bearer {secret}"}
    assert client.patch("/v1/admin/settings", json={"currency": "JPY"}, headers=auth).is_success
    order = event("purchase", value=1500, currency="JPY", transaction_id="T-yen")
    client.post("/v1/collect", json={"k": store.public_key, "events": [order]})
    body = client.get("/v1/stats/summary", headers=auth).json()
    # A yen has no minor unit: 1500 yen are 1500 minor units, not 15.00.
    assert (body["revenue_minor"], body["revenue"], body["currency"]) == (1500, 1500.0, "JPY")
    assert (body["days"][-1]["revenue_minor"], body["days"][-1]["revenue"]) == (1500, 1500.0)


def test_empty_range_has_no_rates(settings) -> None:
    store, _ = make_store(settings)
    figures = summary(settings, store.id, today(), today())
    assert figures["sessions"] == 0
    assert figures["bounce_rate"] is None and figures["conversion_rate"] is None


def test_stats_api_checks_key_and_dates(client, settings) -> None:
    store, secret = make_store(settings)
    assert client.get("/v1/stats/summary").status_code == 401
    wrong = client.get("/v1/stats/summary", headers={"authorization": "Bearer sk_x"})
    assert wrong.status_code == 401
    assert wrong.json()["error"].startswith("authorization:")
    public = client.get(
        "/v1/stats/summary", headers={"authorization": f"Bearer {store.public_key}"}
    )
    assert public.status_code == 401
    auth = {"authorization": f"Bearer {secret}"}
    bad = client.get("/v1/stats/summary", params={"from": "yesterday"}, headers=auth)
    assert bad.status_code == 400
    assert bad.json() == {"error": "from: must be a date as YYYY-MM-DD, got 'yesterday'"}
    backwards = client.get(
        "/v1/stats/summary", params={"from": "2026-01-02", "to": "2026-01-01"}, headers=auth
    )
    assert backwards.json() == {"error": "to: must not be before from"}
    default = client.get("/v1/stats/summary", headers=auth).json()
    assert len(default["days"]) == 7 and default["to"] == today().isoformat()
