"""The rules API: presets, CRUD, every validation error at once, settings, coupons."""

from __future__ import annotations

from typing import Any

import pytest
from helpers import make_store
from starlette.testclient import TestClient

from widget_server.popups.presets import PRESETS
from widget_server.settings import Settings


@pytest.fixture
def admin(client: TestClient, settings: Settings) -> tuple[TestClient, dict[str, str]]:
    _, secret = make_store(settings)
    return client, {"authorization": f"Bearer {secret}"}


Admin = tuple[TestClient, dict[str, str]]


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_a_preset_is_one_call_and_comes_back_enabled(admin: Admin, preset: str) -> None:
    client, auth = admin
    created = client.post("/v1/admin/rules", json={"preset": preset}, headers=auth)
    assert created.status_code == 201, created.text
    rule = created.json()
    assert rule["id"].startswith("r_") and rule["enabled"] is True and rule["preset"] == preset
    assert rule["template"] == PRESETS[preset]["template"]
    assert rule["trigger"]["type"] == PRESETS[preset]["trigger"]["type"]
    assert client.get(f"/v1/admin/rules/{rule['id']}", headers=auth).json() == rule


def test_presets_do_what_their_names_promise(admin: Admin) -> None:
    client, auth = admin
    made = {
        name: client.post("/v1/admin/rules", json={"preset": name}, headers=auth).json()
        for name in PRESETS
    }
    assert made["dont_go"]["targeting"]["page_types"] == ["home"]
    assert made["dont_go"]["trigger"]["type"] == "exit_intent"
    assert made["dont_go"]["content"]["products"]["strategy"] == "recommended"
    assert made["flash_promo"]["targeting"]["page_types"] == ["product"]
    assert made["flash_promo"]["content"]["countdown"]["minutes"] > 0
    assert made["flash_promo"]["content"]["coupon"]["code"]
    assert made["last_chance"]["targeting"]["page_types"] == ["cart"]
    assert made["last_chance"]["trigger"]["type"] == "exit_intent"
    assert made["last_chance"]["content"]["coupon"]["code"]
    assert made["last_chance"]["content"]["show_cart"] is True
    assert made["next_order"]["targeting"]["page_types"] == ["thank_you"]
    assert made["next_order"]["content"]["coupon"]["code"]
    assert made["next_order"]["frequency"]["stop_after_purchase"] is False
    assert made["welcome_back"]["targeting"]["visitor"] == "returning"
    assert made["welcome_back"]["targeting"]["days_since_last_visit_min"] >= 1
    assert made["welcome_back"]["content"]["products"]["strategy"] == "recently_viewed"
    listed = client.get("/v1/admin/rules", headers=auth).json()["rules"]
    assert {r["id"] for r in listed} == {r["id"] for r in made.values()}
    priorities = [r["priority"] for r in listed]
    assert priorities == sorted(priorities, reverse=True)


def test_overrides_merge_into_the_preset_field_by_field(admin: Admin) -> None:
    client, auth = admin
    rule = client.post(
        "/v1/admin/rules",
        json={"preset": "flash_promo", "content": {"headline": "Soldes !", "locale": "fr"}},
        headers=auth,
    ).json()
    assert rule["content"]["headline"] == "Soldes !"
    assert rule["content"]["locale"] == "fr"
    assert rule["content"]["coupon"] == PRESETS["flash_promo"]["content"]["coupon"] | {
        "pool": None,
        "fallback_code": None,
    }


def test_every_bad_field_is_named_at_once_and_nothing_is_stored(admin: Admin) -> None:
    client, auth = admin
    bad: dict[str, Any] = {
        "name": "",
        "template": "banner",
        "trigger": {"type": "scroll_depth"},
        "targeting": {"page_types": ["cart"], "cart_value_min": 50, "cart_value_max": 10},
        "frequency": {"max_per_session": 0},
        "schedule": {"days": ["someday"], "hours": {"start": 25, "end": 3}},
        "content": {
            "headline": "Hi",
            "button_url": "javascript:alert(1)",
            "colors": {"accent": "red; background:url(x)"},
            "coupon": {"code": "A", "pool": "p"},
            "locale": "!!",
        },
        "holdout": 95,
        "variants": [{"id": "b", "content": {"headline": ""}}],
    }
    response = client.post("/v1/admin/rules", json=bad, headers=auth)
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert {
        "name",
        "template",
        "trigger.percent",
        "targeting.cart_value_min",
        "frequency.max_per_session",
        "schedule.days[0]",
        "schedule.hours.start",
        "content.button_url",
        "content.colors.accent",
        "content.coupon.code",
        "content.locale",
        "holdout",
    } <= fields, fields
    assert all(e["error"] for e in response.json()["errors"])
    assert response.json()["error"].startswith(response.json()["errors"][0]["field"])
    assert client.get("/v1/admin/rules", headers=auth).json()["rules"] == []

    # A variant's content is checked as the content it makes.
    variant = {**PRESETS["dont_go"], "variants": [{"id": "b", "content": {"headline": ""}}]}
    response = client.post("/v1/admin/rules", json=variant, headers=auth)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "variants[0].content.headline"


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"preset": "spin_the_wheel"}, 422, "preset"),
        (
            {"preset": "dont_go", "targeting": {"page_types": ["basket"]}},
            422,
            "targeting.page_types[0]",
        ),
        ({"preset": "dont_go", "id": "mine"}, 422, "id"),
        ({"preset": "dont_go", "unknown": 1}, 422, "unknown"),
        ([1, 2], 422, "body"),
    ],
)
def test_bad_requests_name_the_field(admin: Admin, body: Any, status: int, field: str) -> None:
    client, auth = admin
    response = client.post("/v1/admin/rules", json=body, headers=auth)
    assert response.status_code == status
    assert response.json()["errors"][0]["field"] == field


# Each trigger type, as given, and as it comes back: its own fields and nothing else.
TRIGGERS = [
    (
        {"type": "exit_intent", "min_seconds": 1},
        {"type": "exit_intent", "sensitivity_px": 20, "min_seconds": 1.0, "mobile": True},
    ),
    ({"type": "time_on_page", "seconds": 8}, {"type": "time_on_page", "seconds": 8.0}),
    ({"type": "inactivity", "seconds": 30}, {"type": "inactivity", "seconds": 30.0}),
    ({"type": "scroll_depth", "percent": 50}, {"type": "scroll_depth", "percent": 50}),
    ({"type": "page_load"}, {"type": "page_load"}),
]


@pytest.mark.parametrize(("given", "stored"), TRIGGERS)
def test_a_trigger_carries_the_fields_of_its_type_only(
    admin: Admin, given: dict[str, Any], stored: dict[str, Any]
) -> None:
    client, auth = admin
    created = client.post(
        "/v1/admin/rules", json={"preset": "dont_go", "trigger": given}, headers=auth
    )
    assert created.status_code == 201, created.text
    assert created.json()["trigger"] == stored
    assert (
        client.get(f"/v1/admin/rules/{created.json()['id']}", headers=auth).json()["trigger"]
        == stored
    )
    [listed] = client.get("/v1/admin/rules", headers=auth).json()["rules"]
    assert listed["trigger"] == stored


def test_a_new_trigger_type_replaces_the_old_trigger_whole(admin: Admin) -> None:
    client, auth = admin
    rule = client.post("/v1/admin/rules", json={"preset": "dont_go"}, headers=auth).json()
    url = f"/v1/admin/rules/{rule['id']}"
    patched = client.patch(
        url, json={"trigger": {"type": "scroll_depth", "percent": 40}}, headers=auth
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["trigger"] == {"type": "scroll_depth", "percent": 40}
    # A change without a type stays a change of the trigger there is.
    patched = client.patch(url, json={"trigger": {"percent": 70}}, headers=auth)
    assert patched.json()["trigger"] == {"type": "scroll_depth", "percent": 70}


@pytest.mark.parametrize(
    ("trigger", "errors"),
    [
        ({"type": "time_on_page"}, [{"field": "trigger.seconds", "error": "Field required"}]),
        (
            {"type": "inactivity", "seconds": -1},
            [
                {
                    "field": "trigger.seconds",
                    "error": "Input should be greater than or equal to 0",
                }
            ],
        ),
        (
            {"type": "time_on_page", "seconds": 5, "min_seconds": 2},
            [{"field": "trigger.min_seconds", "error": "not a field of a time_on_page trigger"}],
        ),
        (
            {"type": "exit_intent", "seconds": 5},
            [{"field": "trigger.seconds", "error": "not a field of an exit_intent trigger"}],
        ),
        (
            {"type": "on_hover"},
            [
                {
                    "field": "trigger.type",
                    "error": "must be one of exit_intent, time_on_page, inactivity,"
                    " scroll_depth, page_load",
                }
            ],
        ),
        ({"seconds": 5}, [{"field": "trigger.type", "error": "Field required"}]),
    ],
)
def test_a_bad_trigger_field_names_its_path(
    admin: Admin, trigger: dict[str, Any], errors: list[dict[str, str]]
) -> None:
    client, auth = admin
    body = {**PRESETS["flash_promo"], "trigger": trigger}
    response = client.post("/v1/admin/rules", json=body, headers=auth)
    assert response.status_code == 422
    assert response.json() == {
        "error": f"{errors[0]['field']}: {errors[0]['error']}",
        "errors": errors,
    }


def test_malformed_json_and_missing_key(admin: Admin) -> None:
    client, auth = admin
    response = client.post("/v1/admin/rules", content=b"{nope", headers=auth)
    assert response.status_code == 400 and response.json()["error"].startswith("body:")
    assert client.get("/v1/admin/rules").status_code == 401
    assert (
        client.get("/v1/admin/rules", headers={"authorization": "Bearer sk_x"}).status_code == 401
    )


def test_put_patch_delete(admin: Admin) -> None:
    client, auth = admin
    rule = client.post("/v1/admin/rules", json={"preset": "dont_go"}, headers=auth).json()
    url = f"/v1/admin/rules/{rule['id']}"

    patched = client.patch(
        url, json={"content": {"headline": "Wait!"}, "enabled": False}, headers=auth
    )
    assert patched.status_code == 200
    body = patched.json()
    assert body["content"]["headline"] == "Wait!" and body["enabled"] is False
    assert body["content"]["products"] == rule["content"]["products"]  # kept
    assert body["created_at"] == rule["created_at"] and body["id"] == rule["id"]

    bad = client.patch(url, json={"content": {"headline": ""}}, headers=auth)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "content.headline"
    assert client.get(url, headers=auth).json()["content"]["headline"] == "Wait!"

    replacement = {
        "name": "Announce",
        "template": "announcement",
        "trigger": {"type": "scroll_depth", "percent": 50},
        "content": {"headline": "Free shipping"},
    }
    replaced = client.put(url, json=replacement, headers=auth).json()
    assert replaced["template"] == "announcement" and replaced["targeting"]["page_types"] is None
    assert replaced["id"] == rule["id"]

    assert client.delete(url, headers=auth).status_code == 204
    assert client.get(url, headers=auth).status_code == 404
    assert client.delete(url, headers=auth).status_code == 404


def test_rules_of_one_store_are_invisible_to_another(admin: Admin, settings: Settings) -> None:
    client, auth = admin
    rule = client.post("/v1/admin/rules", json={"preset": "dont_go"}, headers=auth).json()
    _, other = make_store(settings)
    other_auth = {"authorization": f"Bearer {other}"}
    assert client.get(f"/v1/admin/rules/{rule['id']}", headers=other_auth).status_code == 404
    assert client.get("/v1/admin/rules", headers=other_auth).json()["rules"] == []


def test_store_settings(admin: Admin) -> None:
    client, auth = admin
    defaults = client.get("/v1/admin/settings", headers=auth).json()
    assert defaults["timezone"] == "UTC" and defaults["governor"]["max_per_session"] >= 1
    bad = client.patch(
        "/v1/admin/settings",
        json={"timezone": "Mars/Olympus", "governor": {"min_gap_seconds": -1}},
        headers=auth,
    )
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"timezone", "governor.min_gap_seconds"}
    good = client.patch(
        "/v1/admin/settings",
        json={"timezone": "Asia/Tokyo", "showcase_holdout": 10, "governor": {"min_gap_seconds": 5}},
        headers=auth,
    )
    assert good.status_code == 200
    stored = client.get("/v1/admin/settings", headers=auth).json()
    assert stored["timezone"] == "Asia/Tokyo" and stored["showcase_holdout"] == 10
    assert stored["governor"]["min_gap_seconds"] == 5
    assert stored["governor"]["max_per_session"] == defaults["governor"]["max_per_session"]


def test_a_bad_showcase_slot_names_its_position(admin: Admin) -> None:
    client, auth = admin
    slots = [
        {"slot": "similar", "strategy": "similar", "selector": "#related"},
        {"slot": "more", "strategy": "bestsellers", "selector": "#more"},
    ]
    bad = client.put("/v1/admin/settings", json={"showcases": slots}, headers=auth)
    assert bad.status_code == 422
    assert [e["field"] for e in bad.json()["errors"]] == ["showcases[1].strategy"]
    assert bad.json()["error"].startswith("showcases[1].strategy: Input should be")


def test_coupon_pool_upload_counts_duplicates(admin: Admin) -> None:
    client, auth = admin
    first = client.post(
        "/v1/admin/coupons/spring", json={"codes": ["A1", "A2", "A3"]}, headers=auth
    )
    assert first.json() == {
        "pool": "spring",
        "added": 3,
        "duplicates": 0,
        "remaining": 3,
        "given": 0,
    }
    again = client.post("/v1/admin/coupons/spring", json={"codes": ["A3", "A4"]}, headers=auth)
    assert again.json()["added"] == 1 and again.json()["remaining"] == 4
    bad = client.post("/v1/admin/coupons/spring", json={"codes": ["ok", " x", 5]}, headers=auth)
    assert bad.status_code == 422
    assert [e["field"] for e in bad.json()["errors"]] == ["codes[1]", "codes[2]"]
    assert client.get("/v1/admin/coupons/spring", headers=auth).json()["remaining"] == 4
