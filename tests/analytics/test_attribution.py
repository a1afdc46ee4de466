"""Attribution and lift on hand-made event logs, every figure worked out by hand."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from helpers import event, make_store, now_ms
from scipy.stats import norm
from starlette.testclient import TestClient

from widget_server.analytics import attribution
from widget_server.analytics.attribution import Credit, ShowcaseCredit
from widget_server.analytics.lift import (
    LIFTS,
    LOWERS,
    NO_CLEAR_DIFFERENCE,
    NOT_ENOUGH_DATA,
    Group,
    compare,
    newcombe_interval,
    two_proportion_p_value,
)
from widget_server.settings import Settings

T = 1_750_000_000_000  # a fixed moment; offsets below are in ms
MIN = 60_000
HOUR = 3_600_000


def ev(type_: str, sid: str, ts: int, **fields: Any) -> dict[str, Any]:
    """An event of visitor `v<sid>` (unless given) in session `sid`."""
    fields.setdefault("vid", "v" + sid)
    return event(type_, sid=sid, ts=ts, **fields)


def popup(type_: str, sid: str, ts: int, popup_id: str, variant: str | None = None) -> Any:
    fields = {"popup_id": popup_id} | ({"variant": variant} if variant else {})
    return ev(type_, sid, T + ts, **fields)


def buy(sid: str, ts: int, value: float, tx: str | None, **fields: Any) -> dict[str, Any]:
    tx_field = {"transaction_id": tx} if tx else {}
    return ev("purchase", sid, T + ts, value=value, **tx_field, **fields)


def popup_log() -> list[dict[str, Any]]:
    retry_without_tx = buy("s8", 10, 10.0, None)
    log = [
        # s1: shown A, clicked A, cart, bought T1 -> click credit to p1/A; then T1
        # is sent again (a retry with a new event id): counted once.
        popup("popup_shown", "s1", 0, "p1", "A"),
        popup("popup_click", "s1", 10, "p1", "A"),
        ev("add_to_cart", "s1", T + 20, items=[{"item_id": "sku-1"}]),
        buy("s1", 30, 100.0, "T1"),
        buy("s1", 31, 100.0, "T1"),
        # s2: shown B, never clicked, bought T2 -> view credit to p1/B
        popup("popup_shown", "s2", 0, "p1", "B"),
        buy("s2", 50, 40.0, "T2"),
        # s3: bought T3 *before* being shown and clicking -> no credit at all
        buy("s3", 5, 70.0, "T3"),
        popup("popup_shown", "s3", 10, "p1", "A"),
        popup("popup_click", "s3", 20, "p1", "A"),
        # s4: clicked p1/A, then p2, then bought T4 -> last click: p2 only
        popup("popup_shown", "s4", 0, "p1", "A"),
        popup("popup_click", "s4", 10, "p1", "A"),
        popup("popup_shown", "s4", 20, "p2"),
        popup("popup_click", "s4", 30, "p2"),
        buy("s4", 40, 25.0, "T4"),
        # s5: held out of p1 (variant A), bought T5 -> holdout conversion, no credit
        popup("popup_suppressed", "s5", 0, "p1", "A"),
        buy("s5", 10, 60.0, "T5"),
        # s6: shown B and closed it
        popup("popup_shown", "s6", 0, "p1", "B"),
        popup("popup_close", "s6", 5, "p1", "B"),
        # s7: shown p2, then T1 reported again from here -> already counted: nothing
        popup("popup_shown", "s7", 90, "p2"),
        buy("s7", 100, 100.0, "T1"),
        # s8: clicked p2, two purchases without a transaction id (each its own
        # order, by event id), the first one delivered twice (same event id)
        popup("popup_shown", "s8", 0, "p2"),
        popup("popup_click", "s8", 5, "p2"),
        retry_without_tx,
        dict(retry_without_tx),
        buy("s8", 20, 5.0, None),
    ]
    return log[::-1]  # out of order on purpose: the functions sort by ts


def test_popup_click_and_view_credit() -> None:
    reports = attribution.popup_attribution(popup_log())
    assert list(reports) == ["p1", "p2"]
    p1 = reports["p1"].total
    assert (p1.shown, p1.clicked, p1.closed, p1.suppressed) == (
        5,  # s1 s2 s3 s4 s6
        3,  # s1 s3 s4
        1,  # s6
        1,  # s5
    )
    assert p1.click_rate == pytest.approx(3 / 5)
    # Click: s1 only (s3 bought before clicking; s4's last click was p2).
    assert p1.click == Credit(sessions=1, add_to_carts=1, purchases=1, revenue=100.0)
    # View: s2 only; kept apart from click credit.
    assert p1.view == Credit(sessions=1, add_to_carts=0, purchases=1, revenue=40.0)

    variants = reports["p1"].variants
    assert list(variants) == ["A", "B"]
    a, b = variants["A"], variants["B"]
    assert (a.shown, a.clicked, a.closed, a.suppressed) == (3, 3, 0, 1)  # s1 s3 s4 / s5
    assert a.click == p1.click and a.view == Credit(0, 0, 0, 0.0)
    assert (b.shown, b.clicked, b.closed, b.suppressed) == (2, 0, 1, 0)  # s2 s6
    assert b.click == Credit(0, 0, 0, 0.0) and b.view == p1.view

    p2 = reports["p2"].total
    assert (p2.shown, p2.clicked) == (3, 2)  # s4 s7 s8 / s4 s8
    # T4 (25) + two orders without transaction id in s8 (10 + 5) = 40; s7's T1 is
    # the order already counted in s1.
    assert p2.click == Credit(sessions=2, add_to_carts=0, purchases=3, revenue=40.0)
    assert p2.view == Credit(0, 0, 0, 0.0)
    assert list(reports["p2"].variants) == [attribution.NONE]


def test_popup_lift_groups() -> None:
    lifts = attribution.popup_lift(popup_log())
    p1 = lifts["p1"]
    # Treatment: s1 s2 s3 s4 s6 shown; bought after being shown: s1 s2 s4 (s3 before).
    assert (p1.treatment.sessions, p1.treatment.conversions) == (5, 3)
    # Holdout: s5, bought.
    assert (p1.holdout.sessions, p1.holdout.conversions) == (1, 1)
    assert p1.difference == pytest.approx(3 / 5 - 1 / 1)
    assert p1.relative_difference == pytest.approx((3 / 5 - 1) / 1)
    assert p1.verdict == NOT_ENOUGH_DATA
    # p2: s4 and s8 bought after being shown; s7's order was counted elsewhere.
    p2 = lifts["p2"]
    assert (p2.treatment.sessions, p2.treatment.conversions, p2.holdout.sessions) == (3, 2, 0)
    assert p2.difference is None and p2.p_value is None and p2.verdict == NOT_ENOUGH_DATA


def test_a_session_in_both_groups_counts_as_treated() -> None:
    log = [
        popup("popup_suppressed", "x", 0, "p1"),
        buy("x", 5, 10.0, "TX"),  # before it was shown: no treatment conversion
        popup("popup_shown", "x", 10, "p1"),
        popup("popup_suppressed", "y", 0, "p1"),
    ]
    lift = attribution.popup_lift(log)["p1"]
    assert (lift.treatment.sessions, lift.treatment.conversions) == (1, 0)
    assert (lift.holdout.sessions, lift.holdout.conversions) == (1, 0)


def test_events_before_the_range_are_context_only() -> None:
    log = [
        popup("popup_shown", "s1", 0, "p1"),
        popup("popup_click", "s1", 10, "p1"),
        buy("s1", 30, 100.0, "T1"),
        buy("s1", 40, 100.0, "T1"),  # a repeat inside the range of an order before it
        buy("s1", 50, 7.0, "T2"),
        buy("s1", 60, 9.0, "T3"),  # after the range
    ]
    report = attribution.popup_attribution(log, start_ms=T + 35, end_ms=T + 55)["p1"]
    assert (report.total.shown, report.total.clicked) == (0, 0)  # before the range
    assert report.total.click == Credit(sessions=1, add_to_carts=0, purchases=1, revenue=7.0)
    # The session was treated before the range: it is not in the lift.
    assert report.lift.treatment.sessions == 0


def showcase_click(sid: str, ts: int, placement: str, rec: str, item: str, **kw: Any) -> Any:
    return ev(
        "showcase_click",
        sid,
        T + ts,
        placement=placement,
        rec_id=rec,
        items=[{"item_id": item}],
        **kw,
    )


def showcase_log() -> list[dict[str, Any]]:
    return [
        # va: views and clicks X on home (r1) in a1; buys X in another session 23 h
        # later -> credited: 2 x 30 = 60 of the order's 65.
        ev("showcase_view", "a1", T, vid="va", placement="home", rec_id="r1"),
        showcase_click("a1", MIN, "home", "r1", "X", vid="va"),
        buy(
            "a2",
            MIN + 23 * HOUR,
            65.0,
            "T10",
            vid="va",
            items=[
                {"item_id": "X", "price": 30.0, "quantity": 2},
                {"item_id": "Y", "price": 5.0},
            ],
        ),
        # vb: clicks Z on pdp (r2); buys Z in another session 25 h later -> too late
        ev("showcase_view", "b1", T, vid="vb", placement="pdp", rec_id="r2"),
        showcase_click("b1", MIN, "pdp", "r2", "Z", vid="vb"),
        buy("b2", MIN + 25 * HOUR, 40.0, "T11", vid="vb", items=[{"item_id": "Z"}]),
        # vc clicks X on home (r3); vd, another visitor, buys X -> not credited
        ev("showcase_view", "c1", T, vid="vc", placement="home", rec_id="r3"),
        showcase_click("c1", MIN, "home", "r3", "X", vid="vc"),
        buy("d1", HOUR, 20.0, "T12", vid="vd", items=[{"item_id": "X"}, {"item_id": "W"}]),
        # ve: clicks Q on pdp (r2), adds it to the cart, buys Q and R; R has a price
        # and Q has none, so the value is split evenly: 30 / 2 = 15 for Q. Then the
        # order is reported again (new event id): counted once.
        ev("showcase_view", "e1", T, vid="ve", placement="pdp", rec_id="r2"),
        showcase_click("e1", MIN, "pdp", "r2", "Q", vid="ve"),
        ev("add_to_cart", "e1", T + 2 * MIN, vid="ve", items=[{"item_id": "Q"}]),
        buy(
            "e1",
            5 * MIN,
            30.0,
            "T13",
            vid="ve",
            items=[{"item_id": "Q"}, {"item_id": "R", "price": 10.0}],
        ),
        buy("e1", 6 * MIN, 30.0, "T13", vid="ve", items=[{"item_id": "Q"}]),
        # vf buys X, then clicks X on home -> the click came after: not credited
        buy("f1", 0, 8.0, "T14", vid="vf", items=[{"item_id": "X", "price": 8.0}]),
        showcase_click("f1", MIN, "home", "r4", "X", vid="vf"),
        # vg is held out of the home showcase and buys
        ev("showcase_suppressed", "g1", T, vid="vg", placement="home"),
        buy("g1", MIN, 12.0, "T15", vid="vg"),
    ]


def test_showcase_credit_window_visitor_and_split() -> None:
    report = attribution.showcase_attribution(showcase_log())
    assert list(report.placements) == ["home", "pdp"]
    home, pdp = report.placements["home"], report.placements["pdp"]
    assert (home.views, home.clicks, home.view_sessions, home.click_sessions) == (
        2,  # a1 c1
        3,  # a1 c1 f1
        2,
        3,
    )
    assert home.suppressed == 1  # g1
    assert home.click_rate == pytest.approx(3 / 2)
    # Only va's X, 23 h after the click: 2 x 30.0 = 60.0 of order T10.
    assert home.credit == ShowcaseCredit(
        add_to_carts=0, purchases=1, items_purchased=1, revenue=60.0
    )
    assert home.rec_ids == {"r1": home.credit}
    # pdp: vb's Z 25 h later is not credited; ve's Q: one cart addition and 15.0.
    assert (pdp.views, pdp.clicks, pdp.suppressed) == (2, 2, 0)
    assert pdp.credit == ShowcaseCredit(
        add_to_carts=1, purchases=1, items_purchased=1, revenue=15.0
    )
    assert pdp.rec_ids == {"r2": pdp.credit}


def test_showcase_lift_all_placements_and_each() -> None:
    report = attribution.showcase_attribution(showcase_log())
    # Treatment: sessions with a showcase view, a1 b1 c1 e1; bought in them: e1.
    # Holdout: g1, bought. (a2, b2, d1 and f1 saw no showcase and are in neither.)
    overall = report.lift
    assert (overall.treatment.sessions, overall.treatment.conversions) == (4, 1)
    assert (overall.holdout.sessions, overall.holdout.conversions) == (1, 1)
    assert overall.difference == pytest.approx(1 / 4 - 1)
    home = report.placements["home"].lift
    assert (home.treatment.sessions, home.treatment.conversions) == (2, 0)  # a1 c1
    assert (home.holdout.sessions, home.holdout.conversions) == (1, 1)  # g1
    pdp = report.placements["pdp"].lift
    assert (pdp.treatment.sessions, pdp.treatment.conversions) == (2, 1)  # b1 e1
    assert pdp.holdout.sessions == 0 and pdp.verdict == NOT_ENOUGH_DATA


def _purchase(**fields: Any) -> attribution.StoredEvent:
    base = {"id": "e1", "type": "purchase", "ts": 0, "vid": "v1", "sid": "s1"}
    return attribution.as_events([{**base, **fields}])[0]


def test_line_revenues() -> None:
    priced = _purchase(value=99.0, items=[{"item_id": "a", "price": 2.5, "quantity": 3}])
    assert attribution.line_revenues_minor(priced) == [750]  # 2.5 x 3, not the value
    default_quantity = _purchase(items=[{"item_id": "a", "price": 4.0}])
    assert attribution.line_revenues_minor(default_quantity) == [400]
    unpriced = _purchase(value=10.0, items=[{"item_id": "a"}, {"item_id": "b", "price": 1.0}])
    assert attribution.line_revenues_minor(unpriced) == [500, 500]  # 10 / 2
    assert attribution.line_revenues_minor(_purchase(items=[{"item_id": "a"}])) == [0]


# -- lift statistics -----------------------------------------------------------------


def test_lift_textbook_example() -> None:
    """Newcombe (1998), Statistics in Medicine 17:873, table II, example (a): 56/70
    against 48/80; his method 10 (hybrid score) gives 0.0524 to 0.3339."""
    lift = compare(Group(70, 56), Group(80, 48))
    assert lift.treatment.rate == pytest.approx(0.8) and lift.holdout.rate == pytest.approx(0.6)
    assert lift.difference == pytest.approx(0.2)
    assert lift.relative_difference == pytest.approx(0.2 / 0.6)
    assert lift.ci_low == pytest.approx(0.0524, abs=5e-5)
    assert lift.ci_high == pytest.approx(0.3339, abs=5e-5)
    # Pooled z-test, worked independently: p = 104/150.
    pooled = 104 / 150
    z = 0.2 / math.sqrt(pooled * (1 - pooled) * (1 / 70 + 1 / 80))
    assert z == pytest.approx(2.6501, abs=1e-4)
    assert lift.p_value == pytest.approx(2 * norm.sf(z), abs=1e-6)
    assert lift.p_value == pytest.approx(0.008045, abs=1e-6)
    # Significant, but 70 and 80 sessions are under the minimum per group.
    assert lift.verdict == NOT_ENOUGH_DATA
    assert lift.to_json()["ci95"] == [lift.ci_low, lift.ci_high]


@pytest.mark.parametrize(
    ("x1", "n1", "x2", "n2", "low", "high"),
    [
        (9, 10, 3, 10, 0.1705, 0.8090),  # Newcombe's example (c)
        (5, 56, 0, 29, -0.0381, 0.1926),  # example (e): a zero count
    ],
)
def test_newcombe_interval(x1: int, n1: int, x2: int, n2: int, low: float, high: float) -> None:
    got = newcombe_interval(x1, n1, x2, n2)
    assert got == pytest.approx((low, high), abs=5e-5)


def test_verdicts() -> None:
    # 60/1000 against 40/1000: pooled 0.05, z = 0.02 / sqrt(0.05 * 0.95 * 0.002) = 2.052
    up = compare(Group(1000, 60), Group(1000, 40))
    z = 0.02 / math.sqrt(0.05 * 0.95 * 0.002)
    assert up.p_value == pytest.approx(2 * norm.sf(z), abs=1e-9)
    assert up.p_value == pytest.approx(0.040174, abs=1e-6)
    assert up.verdict == LIFTS
    assert up.relative_difference == pytest.approx(0.5)  # 0.02 / 0.04
    assert compare(Group(1000, 40), Group(1000, 60)).verdict == LOWERS
    # 50/1000 against 45/1000: z = 0.005 / sqrt(0.0475 * 0.9525 * 0.002) = 0.52, p = 0.60
    assert compare(Group(1000, 50), Group(1000, 45)).verdict == NO_CLEAR_DIFFERENCE
    # Enough sessions, but 2 + 2 conversions are fewer than 5.
    assert compare(Group(200, 2), Group(200, 2)).verdict == NOT_ENOUGH_DATA
    # 99 sessions in the holdout: under the minimum whatever the rates.
    assert compare(Group(1000, 500), Group(99, 1)).verdict == NOT_ENOUGH_DATA
    # No conversions anywhere: no difference and no evidence.
    none = compare(Group(500, 0), Group(500, 0))
    assert none.p_value == 1.0 and none.relative_difference is None
    assert none.ci_low is not None and none.ci_low < 0 < none.ci_high  # type: ignore[operator]
    assert two_proportion_p_value(10, 10, 10, 10) == 1.0


# -- the API -------------------------------------------------------------------------


def test_attribution_api_end_to_end(client: TestClient, settings: Settings) -> None:
    store, secret = make_store(settings)
    t = now_ms() - 10 * MIN
    events = [
        event("popup_shown", sid="s1", vid="v1", ts=t, popup_id="p1", variant="A"),
        event("popup_click", sid="s1", vid="v1", ts=t + 1000, popup_id="p1", variant="A"),
        event("purchase", sid="s1", vid="v1", ts=t + 2000, value=30.0, transaction_id="T1"),
        event("purchase", sid="s1", vid="v1", ts=t + 3000, value=30.0, transaction_id="T1"),
        event("popup_suppressed", sid="s2", vid="v2", ts=t, popup_id="p1", variant="A"),
        event("showcase_view", sid="s3", vid="v3", ts=t, placement="home", rec_id="r1"),
        event(
            "showcase_click",
            sid="s3",
            vid="v3",
            ts=t + 1000,
            placement="home",
            rec_id="r1",
            items=[{"item_id": "X"}],
        ),
        event(
            "purchase",
            sid="s3",
            vid="v3",
            ts=t + 2000,
            value=12.0,
            transaction_id="T2",
            items=[{"item_id": "X", "price": 4.0, "quantity": 3}, {"item_id": "Y", "price": 1.0}],
        ),
    ]
    response = client.post("/v1/collect", json={"k": store.public_key, "events": events})
    assert response.json()["accepted"] == len(events)

    today = datetime.now(UTC).date()
    days = {"from": (today - timedelta(days=1)).isoformat(), "to": today.isoformat()}
    auth = {"authorization": f"Bearer {secret}"}
    body = client.get("/v1/stats/attribution", params=days, headers=auth).json()
    assert (body["store_id"], body["from"], body["to"]) == (store.id, days["from"], days["to"])
    p1 = body["popups"]["p1"]
    assert (p1["shown"], p1["clicked"], p1["suppressed"]) == (1, 1, 1)
    assert p1["click"] == {"sessions": 1, "add_to_carts": 0, "purchases": 1, "revenue": 30.0}
    assert p1["variants"]["A"]["click"] == p1["click"]
    assert p1["lift"]["treatment"] == {"sessions": 1, "conversions": 1, "rate": 1.0}
    assert p1["lift"]["holdout"] == {"sessions": 1, "conversions": 0, "rate": 0.0}
    assert p1["lift"]["relative_difference"] is None  # holdout rate 0
    assert p1["lift"]["verdict"] == NOT_ENOUGH_DATA
    home = body["showcases"]["placements"]["home"]
    assert (home["views"], home["clicks"], home["purchases"]) == (1, 1, 1)
    assert home["revenue"] == 12.0  # 4.0 x 3 for X; Y was not clicked
    assert home["rec_ids"]["r1"]["revenue"] == 12.0
    assert body["showcases"]["lift"]["treatment"]["conversions"] == 1

    # A range with nothing in it, and the errors.
    empty = client.get(
        "/v1/stats/attribution", params={"from": "2024-01-01", "to": "2024-01-02"}, headers=auth
    )
    assert empty.json()["popups"] == {} and empty.json()["showcases"]["placements"] == {}
    assert client.get("/v1/stats/attribution").status_code == 401
    long = client.get(
        "/v1/stats/attribution", params={"from": "2024-01-01", "to": "2024-12-31"}, headers=auth
    )
    assert long.status_code == 400
    assert long.json() == {"error": "to: an attribution range covers at most 92 days"}
    bad = client.get("/v1/stats/attribution", params={"to": "soon"}, headers=auth)
    assert bad.status_code == 400 and bad.json()["error"].startswith("to:")
