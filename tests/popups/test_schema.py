"""Rules as pydantic checks them: field paths in errors, triggers as a union on
`type`, merging changes, and rules stored by older versions."""

from __future__ import annotations

import json
from typing import Any

import pytest

from widget_server.popups.presets import PRESETS, from_preset
from widget_server.popups.rulebook import stored_rule
from widget_server.popups.schema import (
    TRIGGERS,
    ExitIntentTrigger,
    TimeOnPageTrigger,
    check_rule,
    field_path,
    merge_fields,
)


def test_field_paths_put_list_positions_in_brackets() -> None:
    assert field_path("", ["items", 0, "price"]) == "items[0].price"
    assert field_path("variants[2].content", ["colors", "accent"]) == (
        "variants[2].content.colors.accent"
    )
    assert field_path("", [0]) == "[0]"


def test_every_error_of_a_rule_names_its_path_the_same_way() -> None:
    rule = from_preset(
        "dont_go",
        {
            "targeting": {"page_types": ["home", "basket"]},
            "schedule": {"days": ["mon", "someday"]},
            "content": {"colors": {"accent": "red"}},
        },
    )
    problems = check_rule(rule)
    assert isinstance(problems, list)
    assert [p["field"] for p in problems] == [
        "targeting.page_types[1]",
        "schedule.days[1]",
        "content.colors.accent",
    ]
    variant = {**PRESETS["dont_go"], "variants": [{"id": "b", "content": {"headline": ""}}]}
    problems = check_rule(variant)
    assert isinstance(problems, list)
    assert [p["field"] for p in problems] == ["variants[0].content.headline"]


def test_every_trigger_type_has_a_model() -> None:
    assert set(TRIGGERS) == {
        "exit_intent",
        "time_on_page",
        "inactivity",
        "scroll_depth",
        "page_load",
    }
    checked = check_rule(from_preset("flash_promo", {}))
    assert not isinstance(checked, list)
    assert isinstance(checked.trigger, TimeOnPageTrigger)


def test_a_change_of_another_type_replaces_the_object_whole() -> None:
    base = {"trigger": {"type": "exit_intent", "min_seconds": 3}, "content": {"headline": "A"}}
    assert merge_fields(base, {"trigger": {"type": "page_load"}}) == {
        "trigger": {"type": "page_load"},
        "content": {"headline": "A"},
    }
    assert merge_fields(base, {"trigger": {"min_seconds": 0}})["trigger"] == {
        "type": "exit_intent",
        "min_seconds": 0,
    }
    assert merge_fields(base, {"trigger": {"type": "exit_intent", "mobile": False}})["trigger"] == {
        "type": "exit_intent",
        "min_seconds": 3,
        "mobile": False,
    }


# What versions before the trigger union stored: every type's fields on every trigger.
OLD_TRIGGER_FIELDS: dict[str, Any] = {
    "sensitivity_px": 20,
    "min_seconds": 3.0,
    "mobile": True,
    "seconds": None,
    "percent": None,
}


@pytest.mark.parametrize(
    ("trigger", "loaded"),
    [
        ({"type": "time_on_page", "seconds": 8.0}, {"type": "time_on_page", "seconds": 8.0}),
        ({"type": "scroll_depth", "percent": 40}, {"type": "scroll_depth", "percent": 40}),
        ({"type": "page_load"}, {"type": "page_load"}),
        (
            {"type": "exit_intent", "min_seconds": 2.0},
            {"type": "exit_intent", "sensitivity_px": 20, "min_seconds": 2.0, "mobile": True},
        ),
    ],
)
def test_a_rule_stored_with_every_trigger_field_loads_with_its_own(
    trigger: dict[str, Any], loaded: dict[str, Any]
) -> None:
    rule = {**from_preset("dont_go", {}), "id": "r_old", "trigger": OLD_TRIGGER_FIELDS | trigger}
    assert stored_rule(json.dumps(rule)).model_dump()["trigger"] == loaded


def test_a_stored_rule_keeps_its_own_trigger_fields_checked() -> None:
    rule = from_preset("dont_go", {"trigger": {"min_seconds": -5}})
    with pytest.raises(ValueError, match="min_seconds"):
        stored_rule(json.dumps(rule))
    assert stored_rule(json.dumps(from_preset("dont_go", {}))).trigger == ExitIntentTrigger(
        type="exit_intent", sensitivity_px=20, min_seconds=3
    )
