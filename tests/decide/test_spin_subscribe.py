"""Spin to win through the public API: `/v1/decide` offers the wheel without a code
in it, `POST /v1/subscribe` draws the prize on the server, once per visitor, and
nothing the page sends can choose it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from helpers import make_store, sync_client
from starlette.testclient import TestClient

from widget_server.popups.assignment import pick_variant
from widget_server.settings import Settings
from widget_server.storage import keys

# The jackpot's weight is a millionth of the rest: drawn fairly, 19 spins never hit it.
JACKPOT = 5
SEGMENTS = [
    {"label": "5% off", "weight": 1_000_000, "pool": "five"},
    {"label": "No luck", "weight": 1},
    {"label": "10% off", "weight": 1, "pool": "ten"},
    {"label": "Free shipping", "weight": 1, "code": "SHIPFREE"},
    {"label": "No luck again", "weight": 1},
    {"label": "50% off", "weight": 1, "pool": "jackpot"},
]


class Shop:
    def __init__(self, client: TestClient, settings: Settings) -> None:
        self.client = client
        self.store, secret = make_store(settings)
        self.auth = {"authorization": f"Bearer {secret}"}

    def codes(self, pool: str, codes: list[str]) -> None:
        answer = self.client.post(
            f"/v1/admin/coupons/{pool}", json={"codes": codes}, headers=self.auth
        )
        assert answer.status_code == 200, answer.text

    def wheel(self, **changes: Any) -> dict[str, Any]:
        body = {"preset": "spin_to_win", "content": {"segments": SEGMENTS}, **changes}
        made = self.client.post("/v1/admin/rules", json=body, headers=self.auth)
        assert made.status_code == 201, made.text
        return dict(made.json())

    def decide(self, vid: str) -> dict[str, Any]:
        answer = self.client.get(
            "/v1/decide",
            params={"k": self.store.public_key, "vid": vid, "sid": f"s-{vid}", "page_type": "cart"},
        )
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    def subscribe(self, vid: str, popup_id: str, **extra: Any) -> Any:
        body = {"k": self.store.public_key, "vid": vid, "popup_id": popup_id,
                "email": f"{vid}@shop.example", **extra}  # fmt: skip
        return self.client.post(
            "/v1/subscribe", content=json.dumps(body), headers={"content-type": "text/plain"}
        )


@pytest.fixture
def shop(client: TestClient, settings: Settings) -> Shop:
    made = Shop(client, settings)
    made.codes("five", [f"FIVE-{n}" for n in range(50)])
    made.codes("ten", ["TEN-1"])
    made.codes("jackpot", ["HALF-1", "HALF-2"])
    return made


def test_the_wheel_is_offered_without_any_code_in_it(shop: Shop) -> None:
    rule = shop.wheel()
    [popup] = shop.decide("v1")["popups"]
    assert popup["id"] == rule["id"] and popup["template"] == "spin_to_win"
    assert popup["trigger"]["type"] == "exit_intent"
    assert "coupon" not in popup
    for code in ("FIVE-", "TEN-1", "HALF-", "SHIPFREE"):
        assert code not in popup["html"]
    assert popup["html"].count("<path ") == len(SEGMENTS) and "data-tarry-email" in popup["html"]


def test_a_wheel_with_no_codes_left_is_not_offered(client: TestClient, settings: Settings) -> None:
    empty = Shop(client, settings)
    no_shared_code = [s for s in SEGMENTS if "code" not in s] + [{"label": "Oh", "weight": 1}]
    empty.wheel(content={"segments": no_shared_code})
    assert empty.decide("v1")["popups"] == []  # "no luck" is all it could give
    empty.codes("ten", ["TEN-9"])
    assert [p["template"] for p in empty.decide("v1")["popups"]] == ["spin_to_win"]


def test_an_address_spins_the_wheel_and_asking_again_gives_the_same_prize(
    shop: Shop, settings: Settings
) -> None:
    rule = shop.wheel()
    first = shop.subscribe("v1", rule["id"])
    assert first.status_code == 200, first.text
    answer = first.json()
    assert answer["subscribed"] is True and answer["new"] is True
    prize = answer["prize"]
    assert prize["segment"] == 0 and prize["label"] == "5% off"
    assert prize["code"].startswith("FIVE-") and prize["apply_url"] is None
    assert 360 * 5 <= prize["turn"] < 360 * 6 + 360
    assert prize["code"] in prize["html"] and "data-tarry-copy" in prize["html"]
    again = shop.subscribe("v1", rule["id"], email="other@shop.example").json()
    assert again["prize"] | {"turn": 0, "html": ""} == prize | {"turn": 0, "html": ""}
    with sync_client(settings) as redis:
        stored = json.loads(redis.hget(keys.wheel_prizes(shop.store.id, rule["id"]), "v1"))
        assert redis.llen(keys.coupon_pool(shop.store.id, "five")) == 49  # one code spent
    assert stored["code"] == prize["code"] and stored["segment"] == 0


def test_the_page_cannot_pick_the_prize(shop: Shop, settings: Settings) -> None:
    """19 visitors (the sign-ups an address may make in an hour, less one) each post
    the jackpot's slice, label, code, a variant and a random
    number of their choosing: every one gets what the server drew (the heavy slice),
    and the jackpot's codes stay in their pool."""
    rule = shop.wheel()
    forged = {"segment": JACKPOT, "prize": "50% off", "label": "50% off", "code": "HALF-1",
              "chance": 0.9999999, "variant": "jackpot", "turn": 0, "weight": 1e9}  # fmt: skip
    for n in range(19):
        answer = shop.subscribe(f"v{n}", rule["id"], **forged)
        assert answer.status_code == 200, answer.text
        prize = answer.json()["prize"]
        assert prize["segment"] == 0 and prize["code"].startswith("FIVE-"), prize
    with sync_client(settings) as redis:
        assert redis.llen(keys.coupon_pool(shop.store.id, "jackpot")) == 2
        won = [json.loads(v) for v in redis.hvals(keys.wheel_prizes(shop.store.id, rule["id"]))]
    assert len(won) == 19 and {w["segment"] for w in won} == {0}


def test_the_visitors_variant_decides_the_wheel_not_the_page(shop: Shop) -> None:
    """A variant whose wheel has only the shared code: visitors the hash puts in it
    win that code, the others the default wheel's prize; the page's `variant` is
    not read."""
    only_shipping = [{**s, "weight": 1, "code": "SHIPFREE", "pool": None} for s in SEGMENTS]
    variants = [{"id": "wheel"}, {"id": "ship", "content": {"segments": only_shipping}}]
    rule = shop.wheel(variants=variants)
    arms = [(v["id"], v["weight"]) for v in rule["variants"]]
    seen = set()
    for n in range(19):
        vid = f"visitor-{n}"
        variant = pick_variant(rule["id"], vid, arms)
        forged = "wheel" if variant == "ship" else "ship"
        prize = shop.subscribe(vid, rule["id"], variant=forged).json()["prize"]
        assert prize["code"] == ("SHIPFREE" if variant == "ship" else prize["code"])
        if variant != "ship":
            assert prize["code"].startswith("FIVE-")
        seen.add(variant)
    assert seen == {"wheel", "ship"}


def test_on_shopify_the_prize_comes_with_a_link_that_applies_it(shop: Shop) -> None:
    rule = shop.wheel()
    prize = shop.subscribe("v1", rule["id"], platform="shopify").json()["prize"]
    assert prize["apply_url"] == f"/discount/{prize['code']}?redirect=/cart"
    assert f'href="{prize["apply_url"]}"' in prize["html"] and "Use it now" in prize["html"]
    own = shop.wheel(content={"segments": SEGMENTS, "apply_url": "/cart/?coupon_code={code}"})
    other = shop.subscribe("v2", own["id"], platform="woocommerce").json()["prize"]
    assert other["apply_url"] == f"/cart/?coupon_code={other['code']}"


def test_no_prize_left_answers_null_and_keeps_the_address(shop: Shop) -> None:
    prizes_only = [{"label": f"{n}0% off", "weight": 1, "pool": "gone"} for n in range(6)]
    rule = shop.wheel(content={"segments": prizes_only})
    answer = shop.subscribe("v1", rule["id"])
    assert answer.status_code == 200
    assert answer.json() == {"subscribed": True, "new": True, "prize": None}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"platform": "wix"}, "platform: one of shopify, woocommerce, magento, other"),
        ({"platform": 7}, "platform:"),
        ({"email": "no-at-sign"}, "email: not an e-mail address"),
    ],
)
def test_bad_fields_are_named_and_nothing_is_drawn(
    shop: Shop, settings: Settings, change: dict[str, Any], message: str
) -> None:
    rule = shop.wheel()
    answer = shop.subscribe("v1", rule["id"], **change)
    assert answer.status_code == 400 and answer.json()["error"].startswith(message)
    with sync_client(settings) as redis:
        assert not redis.exists(keys.wheel_prizes(shop.store.id, rule["id"]))


def test_erasing_the_visitor_erases_their_prize(shop: Shop, settings: Settings) -> None:
    rule = shop.wheel()
    assert shop.subscribe("v1", rule["id"]).json()["prize"]["code"].startswith("FIVE-")
    erased = shop.client.delete("/v1/admin/visitors/v1", headers=shop.auth)
    assert erased.status_code == 200, erased.text
    assert erased.json()["erased"]["coupon_codes"] == 2  # the pool's record and the wheel's
    with sync_client(settings) as redis:
        assert not redis.hexists(keys.wheel_prizes(shop.store.id, rule["id"]), "v1")
