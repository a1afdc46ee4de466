"""A spin-to-win popup's `wheel` in `/v1/stats/popups`: spins and e-mails through
`/v1/subscribe`, redemptions from purchases sent through `/v1/collect` with their
`coupon`, worked out here."""

from __future__ import annotations

import json
from typing import Any

from conftest import BROWSER_UA
from helpers import make_store, run_with_redis, sync_client
from starlette.testclient import TestClient

from widget_server.app import create_app
from widget_server.popups.schema import Segment
from widget_server.popups.wheel import Wheel
from widget_server.settings import Settings
from widget_server.storage import keys
from widget_server.storage.clock import now_ms

HOUR = 3_600_000
SEGMENTS = [
    {"label": "10% off", "weight": 1, "pool": "ten"},
    {"label": "Free shipping", "weight": 1, "code": "SHIPFREE"},
    {"label": "No luck", "weight": 1},
    {"label": "No luck again", "weight": 1},
    {"label": "20% off", "weight": 1, "pool": "twenty"},
    {"label": "Oh no", "weight": 1},
]
SLICES = [segment["label"] for segment in SEGMENTS]


def purchase(n: int, vid: str, ts: int, value: float, **fields: Any) -> dict[str, Any]:
    return {"id": f"p{n}", "type": "purchase", "vid": vid, "sid": f"s-{vid}", "ts": ts,
            "value": value, "currency": "USD", "transaction_id": f"T{n}", **fields}  # fmt: skip


def test_spins_prizes_redemptions_and_revenue(settings: Settings) -> None:
    store, secret = make_store(settings)
    auth = {"authorization": f"Bearer {secret}"}
    with TestClient(create_app(settings), headers={"user-agent": BROWSER_UA}) as client:
        rule = client.post(
            "/v1/admin/rules",
            json={"preset": "spin_to_win", "content": {"segments": SEGMENTS}},
            headers=auth,
        ).json()["id"]
        for pool in ("ten", "twenty"):
            codes = {"codes": [f"{pool.upper()}-{n}" for n in range(10)]}
            client.post(f"/v1/admin/coupons/{pool}", json=codes, headers=auth)
        # Three visitors won a known slice (the draw aimed, as only a test can), then
        # gave their address; nine more spin at random.
        segments = [Segment.model_validate(segment) for segment in SEGMENTS]
        for vid, chance in (("v0", 0.0), ("v1", 0.25), ("v2", 0.45)):
            run_with_redis(
                settings,
                lambda r, v=vid, c=chance: Wheel(r).spin(
                    store.id, rule, segments, v, now_ms(), chance=c
                ),
            )
        prizes = {}
        for n in range(12):
            body = {"k": store.public_key, "vid": f"v{n}", "popup_id": rule,
                    "email": f"shopper{n}@shop.example"}  # fmt: skip
            prizes[f"v{n}"] = client.post("/v1/subscribe", json=body).json()["prize"]
        assert [prizes[v]["label"] for v in ("v0", "v1", "v2")] == SLICES[:3]
        # One visitor signs up again with another address: one spin, two e-mails.
        again = {"k": store.public_key, "vid": "v0", "popup_id": rule, "email": "x@shop.example"}
        assert (
            client.post("/v1/subscribe", json=again).json()["prize"]["code"]
            == (prizes["v0"]["code"])
        )
        shared = [v for v, p in prizes.items() if p["code"] == "SHIPFREE"]
        losers = [v for v, p in prizes.items() if p["code"] is None]
        t = now_ms() - HOUR
        winner, first = "v0", prizes["v0"]
        events = [
            # A unique code, used on another device (another visitor id), lower case,
            # beside another code: redeemed.
            purchase(1, "elsewhere", t, 80.0, coupon=f"WELCOME, {first['code'].lower()}"),
            # The same order again (a reloaded thank-you page): once.
            purchase(1, "elsewhere", t + 1000, 80.0, coupon=first["code"], id="p1-again"),
            # The same code on a second order: the code counts once.
            purchase(2, winner, t + 2000, 10.0, coupon=first["code"]),
            # The code for everyone, by a visitor who won it: redeemed.
            purchase(3, shared[0], t + 3000, 25.5, coupon="shipfree"),
            # ... and by one who never spun for it: not the wheel's doing.
            purchase(4, losers[0], t + 4000, 99.0, coupon="SHIPFREE"),
            # A code nobody won, and no code at all.
            purchase(5, "v11", t + 5000, 5.0, coupon="TEN-99"),
            purchase(6, "v11", t + 6000, 5.0),
        ]
        accepted = client.post("/v1/collect", json={"k": store.public_key, "events": events})
        assert accepted.json()["accepted"] == len(events), accepted.text
        report = client.get("/v1/stats/popups", headers=auth).json()
        csv = client.get("/v1/stats/popups?format=csv", headers=auth)
    [row] = [r for r in report["rows"] if r["rule_id"] == rule]
    wheel = row["wheel"]
    assert wheel["spins"] == 12 and wheel["emails"] == 13 == row["signups"]
    assert wheel["codes_given"] == 12 - len(losers)
    assert wheel["codes_redeemed"] == 2
    assert wheel["redemption_rate"] == 2 / (12 - len(losers))
    assert wheel["revenue"] == 105.5
    by_label = {s["label"]: s for s in wheel["segments"]}
    assert [s["label"] for s in wheel["segments"]] == [s["label"] for s in SEGMENTS]
    assert sum(s["given"] for s in wheel["segments"]) == 12
    for label in by_label:
        won = sum(1 for p in prizes.values() if p["label"] == label)
        assert by_label[label]["given"] == won, label
    assert by_label[first["label"]]["redeemed"] == 1
    assert by_label[first["label"]]["revenue"] == 80.0
    assert by_label["Free shipping"]["redeemed"] == 1
    assert by_label["Free shipping"]["revenue"] == 25.5
    assert by_label["No luck"]["redeemed"] == 0
    assert "lift" in row and row["orders"] >= 0  # the popup's own figures, as for any
    assert csv.status_code == 200 and rule in csv.text
    with sync_client(settings) as redis:
        stored = redis.hgetall(keys.wheel_prizes(store.id, rule))
    assert {k.decode(): json.loads(v)["code"] for k, v in stored.items()} == {
        v: p["code"] for v, p in prizes.items()
    }


def test_a_spin_outside_the_range_is_not_counted_but_its_code_still_redeems(
    settings: Settings,
) -> None:
    """The prize was won 10 days ago (out of the last 7 days); used yesterday, it is
    a redemption of this range, with no spin in it."""
    store, secret = make_store(settings)
    auth = {"authorization": f"Bearer {secret}"}
    with TestClient(create_app(settings), headers={"user-agent": BROWSER_UA}) as client:
        rule = client.post(
            "/v1/admin/rules",
            json={"preset": "spin_to_win", "content": {"segments": SEGMENTS}},
            headers=auth,
        ).json()["id"]
        old = json.dumps({"segment": 0, "label": "10% off", "code": "TEN-OLD",
                          "ts": now_ms() - 10 * 24 * HOUR})  # fmt: skip
        with sync_client(settings) as redis:
            redis.hset(keys.wheel_prizes(store.id, rule), "v-old", old)
        events = [purchase(1, "v-old", now_ms() - 20 * HOUR, 40.0, coupon="TEN-OLD")]
        client.post("/v1/collect", json={"k": store.public_key, "events": events})
        report = client.get("/v1/stats/popups", headers=auth).json()
    [row] = [r for r in report["rows"] if r["rule_id"] == rule]
    assert row["wheel"]["spins"] == 0 and row["wheel"]["codes_given"] == 0
    assert row["wheel"]["codes_redeemed"] == 1 and row["wheel"]["revenue"] == 40.0
    assert row["wheel"]["redemption_rate"] is None  # nothing given in the range
    assert row["wheel"]["segments"][0] == {
        "label": "10% off", "given": 0, "redeemed": 1, "revenue": 40.0
    }  # fmt: skip


def test_other_popups_have_no_wheel(settings: Settings) -> None:
    _, secret = make_store(settings)
    auth = {"authorization": f"Bearer {secret}"}
    with TestClient(create_app(settings), headers={"user-agent": BROWSER_UA}) as client:
        client.post("/v1/admin/rules", json={"preset": "dont_go"}, headers=auth)
        report = client.get("/v1/stats/popups", headers=auth).json()
    assert report["rows"] and all("wheel" not in row for row in report["rows"])
