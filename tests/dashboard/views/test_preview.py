"""The live preview: the posted form rendered as shoppers see it, or the API's
errors with the input each belongs beside; the preview page and its style sheet."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from widget_server.dashboard import rule_form
from widget_server.popups.presets import from_preset
from widget_server.popups.render import stylesheet
from widget_server.popups.schema import Colors, check_rule
from widget_server.storage import stores


def _form(traffic: Any, client: TestClient, preset: str, **changes: str) -> dict[str, Any]:
    rule = check_rule({**from_preset(preset, {}), "id": "r_x"})
    values = rule_form.to_values(rule.model_dump(mode="json"))  # type: ignore[union-attr]
    values.update(changes)
    token = traffic.csrf_of(client.get("/dashboard/popups").text)
    return {"csrf": token, **{k: v for k, v in values.items() if v not in ("", [])}}


def test_the_form_is_rendered_by_the_server_as_shoppers_see_it(
    signed_in: TestClient, shop_store: tuple[stores.Store, str], traffic: Any
) -> None:
    form = _form(traffic, signed_in, "dont_go", **{"content.headline": "Wait <b>please</b>"})
    answer = signed_in.post("/dashboard/popups/preview", data=form)
    assert answer.status_code == 200 and answer.json()["errors"] == []
    document = answer.json()["document"]
    assert "Wait &lt;b&gt;please&lt;/b&gt;" in document  # the merchant's text stays text
    # The popup's own sheet, served from here, and products from the catalog.
    assert (
        '<link rel="stylesheet" href="/dashboard/preview/popup.css?background=%23ffffff' in document
    )
    assert "tarry-products" in document and "https://shop.example/img/" in document
    assert "<script" not in document and "<style" not in document
    # Nothing was saved.
    rules = signed_in.get("/v1/admin/rules", headers={"authorization": f"Bearer {shop_store[1]}"})
    assert rules.json()["rules"] == []


def test_the_api_errors_come_back_with_their_inputs(signed_in: TestClient, traffic: Any) -> None:
    form = _form(traffic, signed_in, "flash_promo", **{"trigger.seconds": "soon",
                 "content.colors.accent": "red", "content.headline": ""})  # fmt: skip
    answer = signed_in.post("/dashboard/popups/preview", data=form)
    assert answer.status_code == 422 and answer.json()["document"] is None
    placed = {e["field"]: (e["input"], e["error"]) for e in answer.json()["errors"]}
    assert placed["trigger.seconds"] == (
        "f-trigger-seconds",
        "Input should be a valid number, unable to parse string as a number",
    )
    assert placed["content.colors.accent"] == (
        "f-content-colors-accent",
        "must be a hex colour such as #1a73e8",
    )
    assert placed["content.headline"][0] == "f-content-headline"


def test_a_variant_is_previewed_on_request(signed_in: TestClient, traffic: Any) -> None:
    changes = {"variants[0].id": "b", "variants[0].content.headline": "Variant B",
               "ui.preview_variant": "b"}  # fmt: skip
    form = _form(traffic, signed_in, "dont_go", **changes)
    assert "Variant B" in signed_in.post("/dashboard/popups/preview", data=form).json()["document"]


def test_the_popup_sheet_takes_only_hex_colours(client: TestClient) -> None:
    answer = client.get("/dashboard/preview/popup.css?background=%23000000&accent=%2300ff00")
    assert answer.text == stylesheet(Colors(background="#000000", accent="#00ff00"))
    assert answer.headers["content-type"] == "text/css; charset=utf-8"
    hostile = client.get("/dashboard/preview/popup.css?background=red;}body{display:none")
    assert hostile.text == stylesheet(Colors())


def test_a_saved_rule_has_its_preview_page_framed_by_the_dashboard_only(
    signed_in: TestClient, shop_store: tuple[stores.Store, str]
) -> None:
    rule = signed_in.post("/v1/admin/rules", json={"preset": "next_order"},
                          headers={"authorization": f"Bearer {shop_store[1]}"}).json()  # fmt: skip
    page = signed_in.get(f"/dashboard/preview/{rule['id']}")
    assert page.status_code == 200 and "Thank you! 15% off your next order" in page.text
    assert "frame-ancestors 'self'" in page.headers["content-security-policy"]
    assert signed_in.get("/dashboard/preview/r_nope").status_code == 404
