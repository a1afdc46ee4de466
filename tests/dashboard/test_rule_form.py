"""The rule editor's form: a rule's JSON to inputs named by API paths and back,
and the API's errors placed beside their inputs."""

from __future__ import annotations

from typing import Any

import pytest

from widget_server.dashboard import rule_form
from widget_server.popups.presets import PRESETS, from_preset
from widget_server.popups.schema import Rule, check_rule


def items(values: rule_form.Values) -> list[tuple[str, str]]:
    """The form as a browser posts it: checkboxes send a hidden "false" first."""
    out: list[tuple[str, str]] = []
    for name, value in values.items():
        field = rule_form.FIELDS.get(name)
        if field is not None and field.kind == "check":
            out.append((name, "false"))
            if value:
                out.append((name, "true"))
            continue
        out += [(name, one) for one in (value if isinstance(value, list) else [value])]
    return out


def _json(data: dict[str, Any]) -> dict[str, Any]:
    checked = check_rule({**data, "id": "r_x"})
    assert isinstance(checked, Rule), checked
    return checked.model_dump(mode="json")


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_preset_comes_back_from_its_form_unchanged(preset: str) -> None:
    rule = _json(from_preset(preset, {}))
    back = rule_form.from_form(items(rule_form.to_values(rule)))
    assert _json({**back, "preset": preset}) == rule


def test_every_option_comes_back_from_the_form() -> None:
    rule = _json(
        {
            "name": "Everything",
            "template": "email_capture",
            "priority": 7,
            "holdout": 15,
            "trigger": {"type": "scroll_depth", "percent": 60},
            "targeting": {
                "page_types": ["product", "category"],
                "url_contains": ["/sale", "/new"],
                "visitor": "returning",
                "devices": ["mobile"],
                "cart": "non_empty",
                "cart_value_min": 20,
                "utm_source": ["news"],
                "referrer_domains": ["a.example"],
                "min_session_page_views": 2,
                "viewed_categories": ["Shoes"],
                "days_since_last_visit_min": 3,
                "past_orders_max": 4,
            },
            "schedule": {
                "start": "2026-05-01T09:00:00",
                "end": "2026-06-01T00:00:00",
                "days": ["sat", "sun"],
                "hours": {"start": 20, "end": 2},
            },
            "frequency": {
                "max_per_session": 2,
                "max_per_visitor": None,
                "per_days": 3,
                "stop_after_click": False,
                "cooldown_minutes": 30,
            },
            "content": {
                "headline": "Join us",
                "text": "Ten percent off",
                "button_text": "Send",
                "image": "https://shop.example/i.png",
                "locale": "fa-IR",
                "direction": "rtl",
                "colors": {"accent": "#0055aa"},
                "coupon": {"pool": "welcome", "fallback_code": "HI"},
                "countdown": {"ends_at": "2026-06-01T00:00:00"},
                "products": {"strategy": "trending", "count": 3, "placement": "side"},
                "email_placeholder": "Your address",
            },
            "variants": [
                {
                    "id": "b",
                    "weight": 2,
                    "content": {"headline": "Join!", "colors": {"accent": "#111111"}},
                },
                {"id": "c", "content": {"coupon": {"code": "C10", "pool": None}, "text": "Other"}},
            ],
        }
    )
    values = rule_form.to_values(rule)
    assert values["targeting.url_contains"] == "/sale\n/new"
    assert values["ui.coupon"] == "pool" and values["ui.countdown"] == "ends_at"
    assert values["variants[1].extra"] == '{"coupon": {"code": "C10", "pool": null}}'
    back = rule_form.from_form(items(values))
    assert _json(back) == rule


def test_only_the_chosen_trigger_sends_its_fields() -> None:
    values = rule_form.to_values(_json(from_preset("dont_go", {})))
    values["trigger.type"] = "time_on_page"
    values["trigger.seconds"] = "12"
    back = rule_form.from_form(items(values))
    assert back["trigger"] == {"type": "time_on_page", "seconds": "12"}
    assert _json(back)["trigger"] == {"type": "time_on_page", "seconds": 12.0}


def test_blank_optional_fields_keep_the_api_defaults_and_choices_drop_their_parts() -> None:
    values = rule_form.to_values(_json(from_preset("flash_promo", {})))
    values.update({"ui.coupon": "none", "ui.countdown": "none", "content.button_text": ""})
    back = _json(rule_form.from_form(items(values)))
    assert back["content"]["coupon"] is None and back["content"]["countdown"] is None
    assert back["content"]["button_text"] == ""


def test_persian_digits_are_numbers() -> None:
    values = rule_form.to_values(_json(from_preset("flash_promo", {})))
    values["trigger.seconds"] = "\u06f1\u06f2\u066b\u06f5"  # 12.5 typed on a Persian keyboard
    values["holdout"] = "\u0662\u0660"  # 20 in Arabic-Indic digits
    back = _json(rule_form.from_form(items(values)))
    assert back["trigger"]["seconds"] == 12.5 and back["holdout"] == 20


def test_a_variant_is_added_in_the_empty_row_and_removed_with_its_box() -> None:
    values = rule_form.to_values(_json(from_preset("dont_go", {})))
    assert rule_form.variant_count(values) == 0
    values.update({"variants[0].id": "b", "variants[0].content.headline": "Wait!"})
    added = _json(rule_form.from_form(items(values)))
    assert added["variants"] == [{"id": "b", "weight": 1.0, "content": {"headline": "Wait!"}}]
    again = rule_form.to_values(added)
    again["variants[0].remove"] = "true"
    assert _json(rule_form.from_form(items(again)))["variants"] == []


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("content.button_url", "content.button_url"),
        ("variants[1].content.headline", "variants[1].content.headline"),
        ("targeting.url_contains[2]", "targeting.url_contains"),
        ("trigger", "trigger.type"),
        ("variants[1]", "variants[1].id"),
        ("schedule.hours", "schedule.hours.start"),
        ("nonsense", None),
    ],
)
def test_an_error_lands_beside_its_input(path: str, name: str | None) -> None:
    values = rule_form.to_values(_json(from_preset("dont_go", {})))
    values["variants[1].id"] = "x"
    names = rule_form.form_names(values) | {"schedule.hours.start"}
    found = rule_form.input_for(path, names)
    if path == "schedule.hours":
        # No input of that name: the nearest is the whole schedule's first field.
        assert found is None or found.startswith("schedule")
    else:
        assert found == name


def test_the_api_errors_of_a_bad_form_are_placed() -> None:
    values = rule_form.to_values(_json(from_preset("last_chance", {})))
    values.update({"content.button_url": "javascript:alert(1)", "holdout": "95",
                   "targeting.cart_value_min": "50", "targeting.cart_value_max": "10"})  # fmt: skip
    problems = check_rule({**rule_form.from_form(items(values)), "id": "r_x"})
    assert isinstance(problems, list)
    placed = rule_form.errors_by_input(problems, rule_form.form_names(values))
    assert placed["content.button_url"] == [
        "must be an http(s) URL or a path on the store starting with /"
    ]
    assert placed["holdout"] == ["Input should be less than or equal to 90"]
    assert placed["targeting.cart_value_min"] == ["must not be more than cart_value_max"]
