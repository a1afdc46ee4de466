"""`/v1/stats/popups` and `/v1/stats/showcases`: per rule, variant and placement,
against what the events sent through `/v1/collect` say, worked out here."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import BROWSER_UA
from helpers import make_store
from starlette.testclient import TestClient

from widget_server.app import create_app
from widget_server.storage.clock import now_ms

HOUR = 3_600_000
NEWSLETTER = {
    "name": "Newsletter",
    "template": "email_capture",
    "trigger": {"type": "scroll_depth", "percent": 50},
    "content": {"headline": "10% off for your e-mail", "button_text": "Subscribe"},
}


def ev(n: list[int], type_: str, vid: str, sid: str, ts: int, **fields: Any) -> dict[str, Any]:
    n[0] += 1
    return {"id": f"c{n[0]}", "type": type_, "vid": vid, "sid": sid, "ts": ts,
            "url": "https://shop.example/p", **fields}  # fmt: skip


@pytest.fixture
def world(settings):
    store, secret = make_store(settings)
    auth = {"authorization": f"Bearer {secret}"}
    with TestClient(create_app(settings), headers={"user-agent": BROWSER_UA}) as client:
        rule = client.post("/v1/admin/rules", json={"preset": "dont_go"}, headers=auth).json()["id"]
        capture = client.post("/v1/admin/rules", json=NEWSLETTER, headers=auth).json()["id"]
        assert client.patch(
            "/v1/admin/settings",
            json={"attribution_window_days": 1, "showcases": [
                {"slot": "home-top", "strategy": "trending", "selector": "#main"}]},
            headers=auth,
        ).status_code == 200  # fmt: skip
        yield client, auth, store, rule, capture


def test_popups_per_rule_and_variant(world) -> None:
    client, auth, store, rule, capture = world
    now = now_ms()
    t0 = now - 6 * HOUR
    n = [0]
    pid = {"popup_id": rule}
    events = [
        # v1: shown variant A, clicks it, buys in the same session: credit by click.
        ev(n, "popup_shown", "v1", "a", t0, variant="A", **pid),
        ev(n, "popup_click", "v1", "a", t0 + 60_000, variant="A", **pid),
        ev(n, "purchase", "v1", "a", t0 + 300_000, value=50.0, transaction_id="T1"),
        # v2: shown B, buys two hours later in another session: credit by view.
        ev(n, "popup_shown", "v2", "b", t0, variant="B", **pid),
        ev(n, "purchase", "v2", "b2", t0 + 2 * HOUR, value=30.0, transaction_id="T2"),
        # v3: clicked 40 hours before buying: outside the 1-day window, no credit.
        ev(n, "popup_shown", "v3", "c", now - 40 * HOUR, variant="A", **pid),
        ev(n, "popup_click", "v3", "c", now - 40 * HOUR + 1000, variant="A", **pid),
        ev(n, "purchase", "v3", "c2", now - HOUR, value=20.0, transaction_id="T3"),
        # v4, v5: the holdout; v4 buys.
        ev(n, "popup_suppressed", "v4", "d", t0, **pid),
        ev(n, "purchase", "v4", "d", t0 + 60_000, value=10.0, transaction_id="T4"),
        ev(n, "popup_suppressed", "v5", "e", t0, **pid),
        # v6: shown A and closed it.
        ev(n, "popup_shown", "v6", "f", t0, variant="A", **pid),
        ev(n, "popup_close", "v6", "f", t0 + 5000, variant="A", **pid),
        # T1 again (a reloaded thank-you page): one order.
        ev(n, "purchase", "v1", "a", t0 + 400_000, value=50.0, transaction_id="T1"),
        ev(n, "popup_shown", "v7", "g", t0, popup_id=capture),
    ]
    response = client.post("/v1/collect", json={"k": store.public_key, "events": events})
    assert response.json()["accepted"] == len(events)
    signup = {"k": store.public_key, "vid": "v7", "popup_id": capture, "email": "a@b.example"}
    assert client.post("/v1/subscribe", json=signup).status_code == 200

    got = client.get("/v1/stats/popups", headers=auth).json()
    assert got["attribution_window_days"] == 1
    rows = {row["rule_id"]: row for row in got["rows"]}
    dont_go = rows[rule]
    # Sessions shown: a, b, c (40 h ago is inside the default 7-day range), f.
    assert (dont_go["shown"], dont_go["suppressed"], dont_go["clicks"], dont_go["closes"]) == (
        4, 2, 2, 1
    )  # fmt: skip
    assert dont_go["click_through_rate"] == pytest.approx(2 / 4)
    assert (dont_go["orders_by_click"], dont_go["revenue_by_click"]) == (1, 50.0)
    assert (dont_go["orders_by_view"], dont_go["revenue_by_view"]) == (1, 30.0)
    assert dont_go["revenue_per_impression"] == pytest.approx(80.0 / 4)
    variants = {v["variant"]: v for v in dont_go["variants"]}
    assert (variants["A"]["shown"], variants["A"]["orders"], variants["A"]["revenue"]) == (
        3,
        1,
        50.0,
    )
    assert (variants["B"]["shown"], variants["B"]["orders"], variants["B"]["revenue"]) == (
        1,
        1,
        30.0,
    )
    # Lift: sessions shown that bought after it (a) against held out that did (d).
    lift = dont_go["lift"]
    assert lift["treatment"] == {"sessions": 4, "conversions": 1, "rate": 0.25}
    assert lift["holdout"] == {"sessions": 2, "conversions": 1, "rate": 0.5}
    assert lift["verdict"] == "not enough data yet"
    assert variants["B"]["lift"]["treatment"]["sessions"] == 1
    assert variants["B"]["lift"]["holdout"]["sessions"] == 2
    assert rows[capture]["signups"] == 1 and rows[capture]["shown"] == 1
    assert dont_go["signups"] == 0

    csv = client.get("/v1/stats/popups?format=csv", headers=auth)
    assert csv.content.decode("utf-8-sig").splitlines()[0].startswith("rule_id,name,template")


def test_showcases_per_placement(world) -> None:
    client, auth, store, _, _ = world
    now = now_ms()
    t0 = now - 3 * HOUR
    n = [0]
    item = [{"item_id": "sku-9", "price": 12.0, "quantity": 2}]
    events = [
        ev(n, "showcase_view", "v1", "a", t0, placement="home-top", rec_id="r1"),
        ev(n, "showcase_click", "v1", "a", t0 + 1000, placement="home-top", rec_id="r1",
           items=[{"item_id": "sku-9"}]),
        ev(n, "add_to_cart", "v1", "a", t0 + 2000, items=item),
        ev(n, "purchase", "v1", "a", t0 + 3000, value=30.0, transaction_id="S1",
           items=[*item, {"item_id": "other", "price": 6.0}]),
        ev(n, "showcase_view", "v2", "b", t0, placement="home-top", rec_id="r2"),
        ev(n, "showcase_suppressed", "v3", "c", t0, placement="home-top"),
        ev(n, "purchase", "v3", "c", t0 + 5000, value=20.0, transaction_id="S2"),
    ]  # fmt: skip
    assert client.post("/v1/collect", json={"k": store.public_key, "events": events}).json()[
        "accepted"
    ] == len(events)
    got = client.get("/v1/stats/showcases", headers=auth).json()
    (row,) = got["rows"]
    assert row["placement"] == "home-top" and row["strategy"] == "trending"
    assert (row["views"], row["clicks"], row["add_to_carts"], row["orders"]) == (2, 1, 1, 1)
    assert row["click_through_rate"] == pytest.approx(1 / 2)
    assert row["revenue"] == pytest.approx(24.0)  # the clicked item's line: 2 x 12
    assert row["share_of_revenue"] == pytest.approx(24.0 / 50.0)
    assert row["lift"]["holdout"] == {"sessions": 1, "conversions": 1, "rate": 1.0}


def test_popup_revenue_is_in_the_store_currency_without_decimals(world) -> None:
    """A yen store: an order of 4,200 JPY credited to a popup is 4,200, in minor
    units too (the yen has none), not a hundred times that."""
    client, auth, store, rule, _ = world
    assert client.patch(
        "/v1/admin/settings", json={"currency": "JPY"}, headers=auth
    ).status_code == 200  # fmt: skip
    t0 = now_ms() - 3 * HOUR
    n = [0]
    events = [
        ev(n, "popup_shown", "v1", "a", t0, popup_id=rule, variant="A"),
        ev(n, "popup_click", "v1", "a", t0 + 1_000, popup_id=rule, variant="A"),
        ev(n, "purchase", "v1", "a", t0 + 2_000, value=4200.0, currency="JPY",
           transaction_id="JP1"),
    ]  # fmt: skip
    assert (
        client.post("/v1/collect", json={"k": store.public_key, "events": events}).json()[
            "accepted"
        ]
        == 3
    )
    rows = client.get("/v1/stats/popups", headers=auth).json()["rows"]
    row = next(r for r in rows if r["rule_id"] == rule)
    assert (row["orders"], row["revenue"], row["revenue_by_click"]) == (1, 4200, 4200)
