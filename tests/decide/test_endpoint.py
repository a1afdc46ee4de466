"""`GET /v1/decide` against a real Redis: presets on their pages, frequency state
written by `/v1/collect`, the governor, holdout, coupons, countdowns, escaping,
showcases and their holdout."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from conftest import BROWSER_UA
from helpers import event, make_store, now_ms, run_with_redis, sync_client
from starlette.testclient import TestClient

from recommender.bundle import TrainingConfig, train_bundle
from recommender.interactions import Interaction
from widget_server.app import create_app
from widget_server.decide.endpoint import in_showcase_holdout
from widget_server.models.registry import publish
from widget_server.popups.assignment import in_holdout
from widget_server.popups.coupons import Coupons
from widget_server.popups.schema import StoreSettings
from widget_server.settings import Settings
from widget_server.storage import keys
from widget_server.storage.catalog import upsert_cards
from widget_server.storage.connect import open_storage

DAY_MS = 86_400_000


class Shop:
    """A store with a catalog, driven through the public and admin APIs."""

    def __init__(self, client: TestClient, settings: Settings, items: int = 30) -> None:
        self.client = client
        self.settings = settings
        store, secret = make_store(settings)
        self.store = store
        self.key = store.public_key
        self.auth = {"authorization": f"Bearer {secret}"}
        cards = [
            {
                "item_id": f"i{n}",
                "name": f"Item {n}",
                "url": f"https://shop.example/p/{n}",
                "image": f"https://shop.example/img/{n}.jpg",
                "price": 10.0 + n,
                "currency": "EUR",
                "category": "shoes" if n % 2 else "bags",
            }
            for n in range(items)
        ]
        run_with_redis(settings, lambda r: upsert_cards(r, store.id, cards))

    def rule(self, **body: Any) -> dict[str, Any]:
        response = self.client.post("/v1/admin/rules", json=body, headers=self.auth)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def settings_patch(self, **body: Any) -> None:
        response = self.client.patch("/v1/admin/settings", json=body, headers=self.auth)
        assert response.status_code == 200, response.text

    def decide(self, vid: str = "v1", sid: str = "s1", **params: Any) -> dict[str, Any]:
        response = self.client.get(
            "/v1/decide", params={"k": self.key, "vid": vid, "sid": sid, **params}
        )
        assert response.status_code == 200, response.text
        return dict(response.json())

    def popups(self, vid: str = "v1", sid: str = "s1", **params: Any) -> list[str]:
        return [p["id"] for p in self.decide(vid, sid, **params)["popups"]]

    def send(self, *events: dict[str, Any]) -> None:
        response = self.client.post("/v1/collect", json={"k": self.key, "events": list(events)})
        assert response.status_code == 200 and response.json()["accepted"] == len(events)


@pytest.fixture
def shop(client: TestClient, settings: Settings) -> Shop:
    return Shop(client, settings)


# (preset, decide parameters, shown?)
PLACES = [
    ("dont_go", {"page_type": "home"}, True),
    ("dont_go", {"page_type": "product", "item_id": "i1"}, False),
    ("flash_promo", {"page_type": "product", "item_id": "i1"}, True),
    ("flash_promo", {"page_type": "home"}, False),
    ("last_chance", {"page_type": "cart", "cart": "i1,i2", "cart_value": "23"}, True),
    ("last_chance", {"page_type": "cart"}, False),  # an empty cart
    ("last_chance", {"page_type": "home", "cart": "i1"}, False),
    ("next_order", {"page_type": "thank_you"}, True),
    ("next_order", {"page_type": "cart", "cart": "i1"}, False),
    ("welcome_back", {"page_type": "home"}, False),  # a new visitor
]


@pytest.mark.parametrize(("preset", "params", "shown"), PLACES)
def test_each_preset_shows_where_it_belongs(
    shop: Shop, preset: str, params: dict[str, str], shown: bool
) -> None:
    rule = shop.rule(preset=preset)
    answer = shop.decide(**params)
    assert ([p["id"] for p in answer["popups"]] == [rule["id"]]) is shown
    if shown:
        [popup] = answer["popups"]
        assert popup["trigger"]["type"] == rule["trigger"]["type"]
        assert popup["holdout"] is False and popup["variant"] == "default"
        assert rule["content"]["headline"].split("…")[0] in popup["html"]
        assert 'role="dialog"' in popup["html"] and popup["css"]


def test_preset_contents_reach_the_page(shop: Shop) -> None:
    shop.rule(preset="last_chance")
    [popup] = shop.decide(page_type="cart", cart="i3,i4", cart_value="27")["popups"]
    assert popup["coupon"] == "CART5" and "CART5" in popup["html"]
    assert "Item 3" in popup["html"] and "Item 4" in popup["html"]  # the cart, shown

    dont_go = shop.rule(preset="dont_go")
    [popup] = shop.decide(vid="v2", sid="s2", page_type="home")["popups"]
    assert popup["id"] == dont_go["id"]
    assert popup["html"].count('class="tarry-product"') == 4  # recommended products
    assert popup["rec_id"] in popup["html"]

    shop.rule(preset="flash_promo")
    [popup] = shop.decide(vid="v3", sid="s3", page_type="product", item_id="i5")["popups"]
    assert popup["countdown"] == {"ends_at": None, "minutes": 15}
    assert "15:00" in popup["html"] and "FLASH10" in popup["html"]


def test_welcome_back_sees_a_visitor_return_after_days_away(shop: Shop, settings: Settings) -> None:
    rule = shop.rule(preset="welcome_back")
    shop.send(event("page_view", vid="v1", sid="s1"))
    # Same visitor, new session, minutes later: not "back after 7 days" yet.
    assert shop.popups("v1", "s2", page_type="home") == []
    # Their last session started 8 days ago (what the ingest script would have
    # recorded then; events that old cannot be sent now).
    with sync_client(settings) as client:
        client.hset(keys.visitor(shop.store.id, "v1"), "ss", now_ms() - 8 * DAY_MS)
    assert shop.popups("v1", "s2", page_type="home") == [rule["id"]]
    assert shop.popups("v9", "s9", page_type="home") == []  # a first visit


def test_frequency_state_comes_from_collected_popup_events(shop: Shop) -> None:
    rule = shop.rule(
        preset="dont_go",
        frequency={"max_per_session": 1, "max_per_visitor": 2, "per_days": 7},
    )
    shop.settings_patch(governor={"min_gap_seconds": 0, "max_per_session": 10})
    home = {"page_type": "home"}
    assert shop.popups("v1", "s1", **home) == [rule["id"]]
    shop.send(event("popup_shown", vid="v1", sid="s1", popup_id=rule["id"]))
    assert shop.popups("v1", "s1", **home) == []  # once per session
    assert shop.popups("v1", "s2", **home) == [rule["id"]]  # a new session
    shop.send(event("popup_shown", vid="v1", sid="s2", popup_id=rule["id"]))
    assert shop.popups("v1", "s3", **home) == []  # twice in 7 days: done
    assert shop.popups("v2", "s1", **home) == [rule["id"]]  # someone else

    # A click ends it for good; so does a purchase after seeing it.
    shop.send(event("popup_shown", vid="v2", sid="s1", popup_id=rule["id"]))
    shop.send(event("popup_click", vid="v2", sid="s1", popup_id=rule["id"]))
    assert shop.popups("v2", "s2", **home) == []
    shop.send(event("popup_shown", vid="v3", sid="s1", popup_id=rule["id"]))
    shop.send(event("purchase", vid="v3", sid="s1", transaction_id="t1", value=10))
    assert shop.popups("v3", "s2", **home) == []


def test_a_suppressed_popup_counts_like_a_shown_one(shop: Shop) -> None:
    """The holdout group must face the same caps, or the groups would differ."""
    rule = shop.rule(preset="dont_go")
    shop.send(event("popup_suppressed", vid="v1", sid="s1", popup_id=rule["id"]))
    assert shop.popups("v1", "s1", page_type="home") == []


def test_the_governor_overrides_every_rule(shop: Shop) -> None:
    first = shop.rule(preset="dont_go", priority=5)
    second = shop.rule(
        preset="dont_go", name="Second", priority=1, trigger={"type": "time_on_page", "seconds": 5}
    )
    shop.settings_patch(governor={"min_gap_seconds": 600, "max_per_session": 2})
    home = {"page_type": "home"}
    assert shop.popups("v1", "s1", **home) == [first["id"], second["id"]]
    shop.send(event("popup_shown", vid="v1", sid="s1", popup_id=first["id"]))
    assert shop.popups("v1", "s1", **home) == []  # ten minutes between popups
    shop.settings_patch(governor={"min_gap_seconds": 0})
    assert shop.popups("v1", "s1", **home) == [second["id"]]
    shop.send(event("popup_shown", vid="v1", sid="s1", popup_id=second["id"]))
    third = shop.rule(preset="dont_go", name="Third", trigger={"type": "page_load"})
    assert third["id"] not in shop.popups("v1", "s1", **home)  # two per session, store-wide
    assert third["id"] in shop.popups("v1", "s2", **home)


def test_one_popup_per_trigger_highest_priority_first(shop: Shop) -> None:
    low = shop.rule(preset="dont_go", priority=1)
    high = shop.rule(preset="dont_go", name="High", priority=9)
    assert shop.popups(page_type="home") == [high["id"]]
    shop.client.patch(f"/v1/admin/rules/{high['id']}", json={"enabled": False}, headers=shop.auth)
    assert shop.popups(page_type="home") == [low["id"]]


def test_holdout_visitors_get_the_trigger_but_nothing_to_show(shop: Shop) -> None:
    rule = shop.rule(preset="dont_go", holdout=50)
    visitors = [f"v{n}" for n in range(40)]
    for vid in visitors:
        [popup] = shop.decide(vid, "s1", page_type="home")["popups"]
        held = in_holdout(rule["id"], vid, 50)
        assert popup["holdout"] is held
        assert (popup["html"] == "") is held and (popup["trigger"]["type"] == "exit_intent")
    assert 5 < sum(in_holdout(rule["id"], v, 50) for v in visitors) < 35


def test_variants_render_their_own_content(shop: Shop) -> None:
    rule = shop.rule(
        preset="dont_go",
        variants=[
            {"id": "a", "weight": 1},
            {"id": "b", "weight": 1, "content": {"headline": "Leaving so soon?"}},
        ],
    )
    seen = {}
    for n in range(40):
        [popup] = shop.decide(f"v{n}", "s1", page_type="home")["popups"]
        seen[popup["variant"]] = popup["html"]
        assert popup["id"] == rule["id"]
    assert set(seen) == {"a", "b"}
    assert "Leaving so soon?" in seen["b"] and "Before you go" in seen["a"]


def test_merchant_text_can_never_inject_script(shop: Shop) -> None:
    shop.rule(
        preset="dont_go",
        content={
            "headline": "<script>alert(1)</script>",
            "text": '"><img src=x onerror=alert(1)>',
            "button_text": "</a><script>x()</script>",
        },
    )
    [popup] = shop.decide(page_type="home")["popups"]
    html = popup["html"]
    assert "<script" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in html


def test_right_to_left_locales_mirror(shop: Shop) -> None:
    shop.rule(preset="dont_go", content={"headline": "لا تذهب بعد", "locale": "ar"})
    [popup] = shop.decide(page_type="home")["popups"]
    assert 'dir="rtl"' in popup["html"] and 'lang="ar"' in popup["html"]
    assert "لا تذهب بعد" in popup["html"]


def test_unique_codes_one_per_visitor_and_a_dry_pool(shop: Shop) -> None:
    shop.client.post("/v1/admin/coupons/vip", json={"codes": ["C1", "C2"]}, headers=shop.auth)
    rule = shop.rule(preset="last_chance", content={"coupon": {"code": None, "pool": "vip"}})
    cart = {"page_type": "cart", "cart": "i1"}
    first = shop.decide("v1", "s1", **cart)["popups"][0]["coupon"]
    assert shop.decide("v1", "s1", **cart)["popups"][0]["coupon"] == first  # kept
    second = shop.decide("v2", "s1", **cart)["popups"][0]["coupon"]
    assert {first, second} == {"C1", "C2"}
    assert shop.decide("v3", "s1", **cart)["popups"] == []  # dry, no fallback
    shop.client.patch(
        f"/v1/admin/rules/{rule['id']}",
        json={"content": {"coupon": {"fallback_code": "SORRY5"}}},
        headers=shop.auth,
    )
    assert shop.decide("v3", "s1", **cart)["popups"][0]["coupon"] == "SORRY5"
    status = shop.client.get("/v1/admin/coupons/vip", headers=shop.auth).json()
    assert status == {"pool": "vip", "remaining": 0, "given": 2}


def test_unique_codes_are_never_given_twice_under_concurrency(settings: Settings) -> None:
    """Two servers (two connection pools) hand out codes to 400 visitors at once."""
    store, _ = make_store(settings)
    codes = [f"CODE{n:04d}" for n in range(300)]

    async def race() -> list[str | None]:
        first, second = await open_storage(settings), await open_storage(settings)
        try:
            coupons = [Coupons(first.client), Coupons(second.client)]
            await coupons[0].add(store.id, "p", codes)
            given = await asyncio.gather(
                *(coupons[n % 2].give(store.id, "p", f"v{n}") for n in range(400))
            )
            again = await asyncio.gather(
                *(coupons[(n + 1) % 2].give(store.id, "p", f"v{n}") for n in range(400))
            )
            assert again == given  # a visitor keeps their code, whichever server asks
            return list(given)
        finally:
            await first.close()
            await second.close()

    given = asyncio.run(race())
    handed = [code for code in given if code is not None]
    assert len(handed) == 300 and sorted(handed) == codes  # each code exactly once
    assert given.count(None) == 100


def test_countdown_runs_from_first_display_and_ends_the_offer(shop: Shop) -> None:
    rule = shop.rule(
        preset="flash_promo",
        frequency={"max_per_session": 5, "max_per_visitor": None},
    )
    shop.settings_patch(governor={"min_gap_seconds": 0, "max_per_session": 10})
    product = {"page_type": "product", "item_id": "i1"}
    shown_at = now_ms() - 5 * 60_000
    shop.send(event("popup_shown", vid="v1", sid="s1", popup_id=rule["id"], ts=shown_at))
    [popup] = shop.decide("v1", "s1", **product)["popups"]
    assert popup["countdown"] == {"ends_at": shown_at + 15 * 60_000, "minutes": None}
    assert "10:0" in popup["html"] or "09:5" in popup["html"]  # about ten minutes left

    old = now_ms() - 16 * 60_000
    shop.send(event("popup_shown", vid="v2", sid="s1", popup_id=rule["id"], ts=old))
    assert shop.decide("v2", "s1", **product)["popups"] == []  # over for them

    shop.client.patch(
        f"/v1/admin/rules/{rule['id']}",
        json={"content": {"countdown": {"minutes": None, "ends_at": "2020-01-01T00:00:00Z"}}},
        headers=shop.auth,
    )
    assert shop.decide("v3", "s1", **product)["popups"] == []  # a fixed end, passed


def test_schedule_follows_the_store_time_zone(shop: Shop) -> None:
    now = time.gmtime()
    tokyo_hour = (now.tm_hour + 9) % 24
    # Open only during the current hour in Tokyo.
    rule = shop.rule(
        preset="dont_go",
        schedule={"hours": {"start": tokyo_hour, "end": tokyo_hour + 1}},
    )
    shop.settings_patch(timezone="Asia/Tokyo")
    if time.gmtime().tm_hour != now.tm_hour:  # the hour turned meanwhile
        pytest.fail("clock crossed an hour boundary during the test; run it again")
    assert shop.popups(page_type="home") == [rule["id"]]
    shop.settings_patch(timezone="UTC")
    expected = [rule["id"]] if now.tm_hour == tokyo_hour else []
    assert shop.popups(page_type="home") == expected


def test_targeting_reads_the_session_collect_recorded(shop: Shop) -> None:
    rule = shop.rule(
        preset="dont_go",
        targeting={"page_types": None, "min_session_page_views": 3, "viewed_categories": ["shoes"]},
    )
    shop.send(event("page_view", vid="v1", sid="s1"))
    shop.send(
        event("view_item", vid="v1", sid="s1", items=[{"item_id": "i2", "item_category": "bags"}])
    )
    assert shop.popups(page_type="home") == []  # one page view before this one, no shoes
    shop.send(event("page_view", vid="v1", sid="s1"))
    shop.send(
        event("view_item", vid="v1", sid="s1", items=[{"item_id": "i1", "item_category": "shoes"}])
    )
    assert shop.popups(page_type="home") == [rule["id"]]


def test_showcases_fill_from_the_catalog_and_never_show_a_card_without_image(
    shop: Shop, settings: Settings
) -> None:
    run_with_redis(
        settings,
        lambda r: upsert_cards(
            r,
            shop.store.id,
            [{"item_id": "noimg", "name": "No image", "url": "https://x.example/"}],
        ),
    )
    answer = shop.decide(page_type="product", item_id="i1", slots="similar,main:trending", n="6")
    assert set(answer["showcases"]) == {"similar", "main"}
    for slot in answer["showcases"].values():
        assert len(slot["items"]) == 6 and slot["rec_id"] and slot["holdout"] is False
        ids = [item["item_id"] for item in slot["items"]]
        assert "i1" not in ids and "noimg" not in ids and len(set(ids)) == 6
        for item in slot["items"]:
            assert item["name"] and item["url"] and item["image"] and item["currency"] == "EUR"
            assert item["reason"]


def test_configured_slots_and_the_showcase_holdout(shop: Shop) -> None:
    shop.settings_patch(
        showcase_holdout=50,
        showcases=[
            {"slot": "pdp", "strategy": "similar", "selector": ".product-info", "n": 4,
             "page_types": ["product"], "title": "Complete the look"},
        ],
    )  # fmt: skip
    settings = StoreSettings(showcase_holdout=50)
    held = 0
    for n in range(30):
        answer = shop.decide(f"v{n}", "s1", page_type="product", item_id="i1", slots="similar")
        slot = answer["showcases"]["pdp"]
        assert slot["selector"] == ".product-info" and slot["title"] == "Complete the look"
        assert answer["showcases"]["similar"]["title"] == "You may also like"  # the default
        if in_showcase_holdout(settings, f"v{n}"):
            held += 1
            assert slot["holdout"] is True and slot["items"] == [] and slot["rec_id"] is None
        else:
            assert slot["holdout"] is False and len(slot["items"]) == 4
    assert 3 < held < 27
    assert shop.decide("v1", "s1", page_type="home")["showcases"] == {}


def test_recommendations_endpoint_gives_the_same_items_and_rec_id(shop: Shop) -> None:
    answer = shop.decide(page_type="product", item_id="i3", slots="similar", n="5")
    from_decide = answer["showcases"]["similar"]
    response = shop.client.get(
        "/v1/recommendations",
        params={"k": shop.key, "vid": "v1", "placement": "similar", "item_id": "i3", "n": 5},
    )
    assert response.status_code == 200
    direct = response.json()
    # Without a model both draw from the catalog at random; with one they agree.
    assert len(direct["items"]) == 5 and direct["placement"] == "similar"
    assert direct["rec_id"].startswith("r") and from_decide["rec_id"].startswith("r")


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({"vid": ""}, 400, "vid: required"),
        ({"sid": "bad id!"}, 400, "sid: required"),
        ({"page_type": "basket"}, 400, "page_type: must be one of"),
        ({"slots": "carousel:best"}, 400, "slots: unknown strategy"),
        ({"cart_value": "lots"}, 400, "cart_value: must be a number"),
        ({"n": "99"}, 400, "n: must be a whole number from 1 to 24"),
        ({"n": "²"}, 400, "n: must be a whole number from 1 to 24"),
        ({"vid": "v1\n"}, 400, "vid: required"),
        ({"device": "fridge"}, 400, "device: must be one of"),
        ({"k": "pk_nosuchstore0_x"}, 401, "k: unknown"),
        ({"k": ""}, 401, "k: a public key"),
    ],
)
def test_bad_parameters_name_the_field(
    shop: Shop, params: dict[str, str], status: int, message: str
) -> None:
    query = {"k": shop.key, "vid": "v1", "sid": "s1", **params}
    response = shop.client.get("/v1/decide", params=query)
    assert response.status_code == status
    assert response.json()["error"].startswith(message)


def test_origins_and_caching_headers(shop: Shop) -> None:
    query = {"k": shop.key, "vid": "v1", "sid": "s1"}
    evil = shop.client.get("/v1/decide", params=query, headers={"origin": "https://evil.example"})
    assert evil.status_code == 403
    good = shop.client.get("/v1/decide", params=query, headers={"origin": "https://shop.example"})
    assert good.headers["access-control-allow-origin"] == "https://shop.example"
    assert good.headers["cache-control"] == "no-store"


def test_decide_on_a_store_with_nothing_configured(client: TestClient, settings: Settings) -> None:
    store, _ = make_store(settings)
    response = client.get("/v1/decide", params={"k": store.public_key, "vid": "v", "sid": "s"})
    assert response.json() == {
        "popups": [],
        "showcases": {},
        "model_version": None,
        "config": {"respect_gpc": False},
    }


def test_decide_is_counted_by_route_and_a_crash_answers_json_500(
    settings: Settings,
) -> None:
    # /v1/decide skips Starlette's middleware (as collect does): its metrics and its
    # answer to the unexpected must be those of every other route.
    store, _ = make_store(settings)
    params = {"k": store.public_key, "vid": "v", "sid": "s"}
    app = create_app(settings)
    ua = {"user-agent": BROWSER_UA}
    with TestClient(app, headers=ua, raise_server_exceptions=False) as client:
        assert client.get("/v1/decide", params=params).status_code == 200
        app.state.decider = None  # broken on purpose
        crashed = client.get("/v1/decide", params=params)
        metrics = client.get("/metrics").text
    assert crashed.status_code == 500
    assert crashed.json() == {"error": "server: internal error"}
    for status in (200, 500):
        line = f'tarry_http_requests_total{{method="GET",route="/v1/decide",status="{status}"}} 1.0'
        assert line in metrics


def test_a_rule_stored_by_another_version_is_skipped_not_fatal(
    shop: Shop, settings: Settings
) -> None:
    good = shop.rule(preset="dont_go")
    with sync_client(settings) as client:
        client.hset(keys.rules(shop.store.id), "r_future", '{"name": "x", "template": "wheel"}')
        client.incr(keys.rules_version(shop.store.id))
    assert shop.popups(page_type="home") == [good["id"]]


# Each trigger type, and what the snippet gets of it: its own fields only.
TRIGGER_ANSWERS = [
    (
        {"type": "exit_intent", "min_seconds": 1},
        {"type": "exit_intent", "sensitivity_px": 20, "min_seconds": 1.0, "mobile": True},
    ),
    ({"type": "time_on_page", "seconds": 8}, {"type": "time_on_page", "seconds": 8.0}),
    ({"type": "inactivity", "seconds": 30}, {"type": "inactivity", "seconds": 30.0}),
    ({"type": "scroll_depth", "percent": 50}, {"type": "scroll_depth", "percent": 50}),
    ({"type": "page_load"}, {"type": "page_load"}),
]


@pytest.mark.parametrize(("trigger", "answer"), TRIGGER_ANSWERS)
def test_decide_sends_the_trigger_fields_of_its_type_only(
    shop: Shop, trigger: dict[str, Any], answer: dict[str, Any]
) -> None:
    shop.rule(preset="dont_go", trigger=trigger)
    [popup] = shop.decide(page_type="home")["popups"]
    assert popup["trigger"] == answer


@pytest.mark.parametrize(("trigger", "answer"), TRIGGER_ANSWERS)
def test_a_rule_stored_with_every_trigger_field_still_loads(
    shop: Shop, settings: Settings, trigger: dict[str, Any], answer: dict[str, Any]
) -> None:
    """Versions before each trigger type had its own fields stored all of them."""
    rule = shop.rule(preset="dont_go", trigger=trigger)
    old_trigger = {
        "sensitivity_px": 20,
        "min_seconds": 3.0,
        "mobile": True,
        "seconds": None,
        "percent": None,
        **answer,
    }
    with sync_client(settings) as client:
        client.hset(
            keys.rules(shop.store.id), rule["id"], json.dumps({**rule, "trigger": old_trigger})
        )
        client.incr(keys.rules_version(shop.store.id))
    url = f"/v1/admin/rules/{rule['id']}"
    assert shop.client.get(url, headers=shop.auth).json() == rule
    assert shop.client.get("/v1/admin/rules", headers=shop.auth).json()["rules"] == [rule]
    [popup] = shop.decide(page_type="home")["popups"]
    assert popup["id"] == rule["id"] and popup["trigger"] == answer


def test_an_offer_that_is_over_leaves_its_trigger_to_the_next_rule(shop: Shop) -> None:
    flash = shop.rule(
        preset="flash_promo", frequency={"max_per_session": 5, "max_per_visitor": None}
    )
    fallback = shop.rule(
        preset="dont_go",
        name="Also on product pages",
        priority=1,
        targeting={"page_types": ["product"]},
        trigger={"type": "time_on_page", "seconds": 8},
    )
    shop.settings_patch(governor={"min_gap_seconds": 0, "max_per_session": 10})
    product = {"page_type": "product", "item_id": "i1"}
    assert shop.popups("v1", "s1", **product) == [flash["id"]]  # same trigger: the higher wins
    shown = now_ms() - 16 * 60_000  # its 15 minutes ran out for v1
    shop.send(event("popup_shown", vid="v1", sid="s1", popup_id=flash["id"], ts=shown))
    assert shop.popups("v1", "s1", **product) == [fallback["id"]]
    assert shop.popups("v2", "s1", **product) == [flash["id"]]


# -- the catalog as the shopper sees it, right after an import ------------------

NEW_LAMP_CSV = (
    "id,title,link,image_link,price\n"
    "SKU-NEW,New lamp,https://shop.example/p/new,https://shop.example/new.jpg,30\n"
)


def import_csv(client: TestClient, auth: dict[str, str], feed: str) -> None:
    response = client.post("/v1/admin/catalog?format=csv", content=feed, headers=auth)
    assert response.status_code == 200 and response.json()["rejected"] == [], response.text


def cart_popup_html(client: TestClient, key: str, cart: str) -> str:
    params = {"k": key, "vid": "v1", "sid": "s1", "page_type": "cart", "cart": cart}
    [popup] = client.get("/v1/decide", params=params).json()["popups"]
    return str(popup["html"])


def test_an_imported_card_shows_in_a_popup_at_once(shop: Shop) -> None:
    """The server had asked for the card before (a miss, which it caches); the import
    must not wait out that cache."""
    shop.rule(preset="last_chance")  # decisions alone record no display: no cap applies
    assert "New lamp" not in cart_popup_html(shop.client, shop.key, "i1,SKU-NEW")
    import_csv(shop.client, shop.auth, NEW_LAMP_CSV)
    assert "New lamp" in cart_popup_html(shop.client, shop.key, "i1,SKU-NEW")


def test_an_import_through_one_server_reaches_another(shop: Shop, settings: Settings) -> None:
    shop.rule(preset="last_chance")  # decisions alone record no display: no cap applies
    with TestClient(create_app(settings), headers={"user-agent": BROWSER_UA}) as other:
        assert "New lamp" not in cart_popup_html(other, shop.key, "SKU-NEW")
        import_csv(shop.client, shop.auth, NEW_LAMP_CSV)
        # Servers read the catalog version with every decision, as they read the
        # rules version: far sooner than the cards' 30 s cache would let go.
        deadline = time.monotonic() + 5
        while "New lamp" not in cart_popup_html(other, shop.key, "SKU-NEW"):
            assert time.monotonic() < deadline, "the other server still shows no card"
            time.sleep(0.1)


def mug_model(shop: Shop) -> None:
    """A model over SKU-1..SKU-4, published for the shop: every order holds SKU-1
    (the Red mug), and customers re-buy it (a second order), so `recommended`
    brings it back to a visitor who viewed it."""
    start = now_ms() - DAY_MS
    traffic = [
        Interaction(start + 1000 * v + n, f"u{v}", f"s{v}", "purchase", item)
        for v in range(30)
        for n, item in enumerate(("SKU-1", "SKU-2", "SKU-3") if v % 2 else ("SKU-1", "SKU-4"))
    ] + [
        Interaction(start + 60_000 + v, f"u{v}", f"s{v}-again", "purchase", "SKU-1")
        for v in range(30)
    ]
    bundle = train_bundle(traffic, TrainingConfig(factors=4, iterations=3))
    with sync_client(shop.settings) as client:
        publish(client, shop.settings.data_dir, shop.store.id, bundle)
    names = {"SKU-1": "Red mug", "SKU-2": "Blue mug", "SKU-3": "Saucer", "SKU-4": "Teapot"}
    cards = [
        {"item_id": item, "name": name, "url": f"https://shop.example/{item}",
         "image": f"https://shop.example/{item}.jpg"}
        for item, name in names.items()
    ]  # fmt: skip
    run_with_redis(shop.settings, lambda r: upsert_cards(r, shop.store.id, cards))


def test_an_imported_card_fills_a_showcase_at_once(shop: Shop) -> None:
    mug_model(shop)
    params = {"page_type": "product", "item_id": "SKU-1", "slots": "similar", "n": "4"}

    def similar() -> list[str]:
        return [i["item_id"] for i in shop.decide(**params)["showcases"]["similar"]["items"]]

    with sync_client(shop.settings) as client:
        client.hdel(keys.catalog(shop.store.id), "SKU-4")
    assert "SKU-4" not in similar()  # a model pick without a card: not shown
    import_csv(
        shop.client,
        shop.auth,
        "id,title,link,image_link\nSKU-4,Teapot,https://shop.example/t,https://shop.example/t.jpg\n",
    )
    assert "SKU-4" in similar()


def test_recommended_never_explains_an_item_by_itself(shop: Shop) -> None:
    mug_model(shop)
    query = {"k": shop.key, "placement": "recommended", "history": "SKU-1", "n": 4}
    items = shop.client.get("/v1/recommendations", params=query).json()["items"]
    by_id = {item["item_id"]: item for item in items}
    # Not excluded, the mug comes back (a repeat purchase), and says why truthfully.
    assert by_id["SKU-1"]["reason"] == "You viewed this before"
    assert by_id["SKU-1"]["because"] is None
    for item in items:
        assert item["because"] != item["item_id"]
    assert any(item["reason"] == "Because you viewed Red mug" for item in items)
    fresh = {**query, "exclude_history": "true"}
    items = shop.client.get("/v1/recommendations", params=fresh).json()["items"]
    assert "SKU-1" not in {item["item_id"] for item in items}
