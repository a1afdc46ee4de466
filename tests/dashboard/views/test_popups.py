"""Popups: presets switched on exactly as the API's `{"preset": ...}`, the editor
saving as the API's PUT, its errors beside their fields, switching and deleting."""

from __future__ import annotations

import html
import re
from typing import Any

from helpers import run_with_redis
from starlette.testclient import TestClient

from widget_server.popups.rulebook import MAX_RULES, Rulebook
from widget_server.settings import Settings
from widget_server.storage import stores

Shop = tuple[stores.Store, str]


def _auth(shop: Shop) -> dict[str, str]:
    return {"authorization": f"Bearer {shop[1]}"}


def _form(page: str) -> list[tuple[str, str]]:
    """What a browser posts for the editor as rendered: inputs, checked boxes,
    selected options, textareas."""
    out: list[tuple[str, str]] = []
    form = page[page.index('id="rule-form"') : page.index("</form>", page.index('id="rule-form"'))]
    for tag in re.findall(r"<input[^>]*>", form):
        name = re.search(r'name="([^"]+)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if not name:
            continue
        if 'type="checkbox"' in tag and " checked" not in tag:
            continue
        out.append((html.unescape(name.group(1)), html.unescape(value.group(1) if value else "")))
    for name, body in re.findall(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', form, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected', body) or re.search(
            r'<option value="([^"]*)"', body
        )
        out.append((html.unescape(name), html.unescape(chosen.group(1) if chosen else "")))
    for name, body in re.findall(r'<textarea[^>]*name="([^"]+)"[^>]*>(.*?)</textarea>', form, re.S):
        out.append((html.unescape(name), html.unescape(body)))
    return out


def text_of(page: str) -> str:
    """The page's words, without its tags."""
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def _switch_on(client: TestClient, preset: str, traffic: Any) -> str:
    token = traffic.csrf_of(client.get("/dashboard/popups").text)
    answer = client.post("/dashboard/popups/presets", data={"csrf": token, "preset": preset},
                         follow_redirects=False)  # fmt: skip
    assert answer.status_code == 303, answer.text
    return answer.headers["location"].split("/dashboard/popups/")[1].split("?")[0]


def test_a_preset_switched_on_is_the_rule_the_api_makes(
    signed_in: TestClient, shop_store: Shop, traffic: Any
) -> None:
    made_here = _switch_on(signed_in, "last_chance", traffic)
    by_api = signed_in.post("/v1/admin/rules", json={"preset": "last_chance"},
                            headers=_auth(shop_store)).json()  # fmt: skip
    here = signed_in.get(f"/v1/admin/rules/{made_here}", headers=_auth(shop_store)).json()
    for rule in (here, by_api):
        for server_field in ("id", "created_at", "updated_at"):
            rule.pop(server_field)
    assert here == by_api
    page = signed_in.get(f"/dashboard/popups/{made_here}?saved=preset")
    assert "Switched on." in page.text
    assert "Your cart is waiting" in html.unescape(page.text)  # in the preview's srcdoc
    listing = text_of(signed_in.get("/dashboard/popups").text)
    assert "Last chance" in listing and "2 in use" in listing


def test_the_editor_saves_its_form_as_the_api_would(
    signed_in: TestClient, shop_store: Shop, traffic: Any
) -> None:
    rule_id = _switch_on(signed_in, "flash_promo", traffic)
    before = signed_in.get(f"/v1/admin/rules/{rule_id}", headers=_auth(shop_store)).json()
    page = signed_in.get(f"/dashboard/popups/{rule_id}").text
    form = _form(page)
    # Unchanged, the form saves the same rule.
    saved = signed_in.post(f"/dashboard/popups/{rule_id}", data=dict(form), follow_redirects=False)  # type: ignore[arg-type]
    assert saved.status_code == 303
    after = signed_in.get(f"/v1/admin/rules/{rule_id}", headers=_auth(shop_store)).json()
    assert {k: v for k, v in after.items() if k != "updated_at"} == {
        k: v for k, v in before.items() if k != "updated_at"
    }
    changed = [(n, "Summer sale" if n == "content.headline" else v) for n, v in form]
    changed += [("targeting.devices", "mobile"), ("variants[0].id", "b"),
                ("variants[0].content.headline", "Last hours")]  # fmt: skip
    signed_in.post(f"/dashboard/popups/{rule_id}", data=_multi(changed))
    rule = signed_in.get(f"/v1/admin/rules/{rule_id}", headers=_auth(shop_store)).json()
    assert rule["content"]["headline"] == "Summer sale"
    assert rule["targeting"]["devices"] == ["mobile"]
    assert rule["variants"] == [{"id": "b", "weight": 1.0, "content": {"headline": "Last hours"}}]
    assert rule["preset"] == "flash_promo" and rule["created_at"] == before["created_at"]


def _multi(items: list[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, value in items:
        out.setdefault(name, []).append(value)
    return out


def test_a_bad_value_is_refused_and_shown_beside_its_field(
    signed_in: TestClient, shop_store: Shop, traffic: Any
) -> None:
    rule_id = _switch_on(signed_in, "dont_go", traffic)
    form = _form(signed_in.get(f"/dashboard/popups/{rule_id}").text)
    bad = [(n, {"content.button_url": "javascript:alert(1)", "holdout": "95"}.get(n, v))
           for n, v in form]  # fmt: skip
    answer = signed_in.post(f"/dashboard/popups/{rule_id}", data=_multi(bad))
    assert answer.status_code == 422
    page = html.unescape(answer.text)
    beside = re.search(r'id="f-content-button_url-error"[^>]*>([^<]*)<', page)
    assert beside and beside.group(1) == (
        "must be an http(s) URL or a path on the store starting with /"
    )
    assert 'id="f-content-button_url" name="content.button_url" value="javascript:alert(1)"' in page
    assert re.search(r'id="f-holdout-error"[^>]*>Input should be less than or equal to 90<', page)
    # The folded group with the error is open.
    assert re.search(r'<details class="group" id="group-holdout" open', page)
    rule = signed_in.get(f"/v1/admin/rules/{rule_id}", headers=_auth(shop_store)).json()
    assert rule["content"]["button_url"] is None and rule["holdout"] == 0


def test_a_new_rule_from_the_blank_form(
    signed_in: TestClient, shop_store: Shop, settings: Settings, traffic: Any
) -> None:
    page = signed_in.get("/dashboard/popups/new?template=email_capture").text
    assert "Write a name and a headline to see the preview." in page
    form = dict(_form(page))
    assert form["template"] == "email_capture" and form["trigger.type"] == "page_load"
    empty = signed_in.post("/dashboard/popups/new", data=form)
    assert empty.status_code == 422 and "Field required" in empty.text
    form.update({"name": "Newsletter", "content.headline": "Ten percent off"})
    made = signed_in.post("/dashboard/popups/new", data=form, follow_redirects=False)
    assert made.status_code == 303
    rules = run_with_redis(settings, lambda r: Rulebook(r, shop_store[0].id).rules())
    assert [(r.name, r.template, r.content.headline) for r in rules] == [
        ("Newsletter", "email_capture", "Ten percent off")
    ]


def test_switching_off_and_deleting(
    signed_in: TestClient, shop_store: Shop, settings: Settings, traffic: Any
) -> None:
    rule_id = _switch_on(signed_in, "next_order", traffic)
    token = traffic.csrf_of(signed_in.get("/dashboard/popups").text)
    signed_in.post(f"/dashboard/popups/{rule_id}/enabled", data={"csrf": token, "enabled": "false"})
    book = Rulebook  # the store's rules, read back from Redis
    [rule] = run_with_redis(settings, lambda r: book(r, shop_store[0].id).rules())
    assert rule.enabled is False
    answer = signed_in.post(f"/dashboard/popups/{rule_id}/delete", data={"csrf": token})
    assert "The popup is deleted." in answer.text
    assert run_with_redis(settings, lambda r: book(r, shop_store[0].id).rules()) == []
    assert signed_in.get(f"/dashboard/popups/{rule_id}").status_code == 404


def test_a_full_store_is_told_to_delete_a_rule_first(
    signed_in: TestClient, shop_store: Shop, settings: Settings, traffic: Any
) -> None:
    async def fill(r: Any) -> None:
        for n in range(MAX_RULES):
            await r.hset(f"t:{{{shop_store[0].id}}}:rules", f"r_{n}", "{}")

    run_with_redis(settings, fill)
    token = traffic.csrf_of(signed_in.get("/dashboard/catalog").text)
    answer = signed_in.post("/dashboard/popups/presets", data={"csrf": token, "preset": "dont_go"})
    assert f"A store may have at most {MAX_RULES} rules" in answer.text


def test_the_list_shows_each_rule_with_its_figures_and_verdict(
    signed_in: TestClient, shop_store: Shop, settings: Settings, traffic: Any
) -> None:
    rule = signed_in.post("/v1/admin/rules", json={"preset": "dont_go", "holdout": 20},
                          headers=_auth(shop_store)).json()  # fmt: skip
    sessions = traffic.fill_history(settings, shop_store[0].id, 10, rule["id"])
    page = signed_in.get("/dashboard/popups").text
    assert "Don't go" in text_of(page)
    assert "On exit intent" in text_of(page) and "20% held out" in text_of(page)
    shown = re.search(r'<td class="num"><data value="(\d+)" data-fmt="number"', page)
    assert shown and 0 < int(shown.group(1)) <= sessions
    assert re.search(r'<p class="verdict (pending|neutral|good|bad)">', page)
    csv = signed_in.get("/dashboard/csv/popups")
    assert csv.headers["content-type"] == "text/csv; charset=utf-8"
    header = csv.text.lstrip("\ufeff").splitlines()[0].split(",")
    assert {"rule_id", "shown", "lift_verdict", "lift_p_value"} <= set(header)


def test_a_new_rule_starts_in_the_store_language(signed_in: TestClient, shop_store: Shop) -> None:
    signed_in.patch("/v1/admin/settings", json={"locale": "fa-IR"}, headers=_auth(shop_store))
    form = dict(_form(signed_in.get("/dashboard/popups/new").text))
    assert form["content.locale"] == "fa-IR"
    assert (form["content.close_label"], form["content.copy_label"]) == ("بستن", "رونوشت")


def test_spin_to_win_is_among_the_presets_and_its_wheel_survives_the_editor(
    signed_in: TestClient, shop_store: Shop, traffic: Any
) -> None:
    listing = text_of(signed_in.get("/dashboard/popups").text)
    assert "Spin to win" in listing and "A wheel of prizes for an e-mail address" in listing
    rule_id = _switch_on(signed_in, "spin_to_win", traffic)
    before = signed_in.get(f"/v1/admin/rules/{rule_id}", headers=_auth(shop_store)).json()
    page = signed_in.get(f"/dashboard/popups/{rule_id}").text
    form = _form(page)
    assert ("content.segments", "") not in form and "5% off" in dict(form)["content.segments"]
    saved = signed_in.post(
        f"/dashboard/popups/{rule_id}", data=_multi(form), follow_redirects=False
    )
    assert saved.status_code == 303, saved.text
    after = signed_in.get(f"/v1/admin/rules/{rule_id}", headers=_auth(shop_store)).json()
    assert after["content"]["segments"] == before["content"]["segments"]
    # A wheel that is not JSON is the API's error, beside its field.
    bad = [(n, "[{oops" if n == "content.segments" else v) for n, v in form]
    answer = signed_in.post(f"/dashboard/popups/{rule_id}", data=_multi(bad))
    assert answer.status_code == 422
    assert re.search(r'id="f-content-segments-error"[^>]*>[^<]+<', answer.text)


def test_a_new_wheel_starts_from_the_presets_slices_and_leaves_with_its_template(
    signed_in: TestClient, shop_store: Shop, traffic: Any
) -> None:
    page = signed_in.get("/dashboard/popups/new?template=spin_to_win")
    assert page.status_code == 200
    assert "Free shipping" in dict(_form(page.text))["content.segments"]
    rule_id = _switch_on(signed_in, "spin_to_win", traffic)
    form = _form(signed_in.get(f"/dashboard/popups/{rule_id}").text)
    # Another template: the wheel's (hidden) field is not sent, and the rule saves.
    other = [(n, "announcement" if n == "template" else v) for n, v in form]
    saved = signed_in.post(
        f"/dashboard/popups/{rule_id}", data=_multi(other), follow_redirects=False
    )
    assert saved.status_code == 303, saved.text
    rule = signed_in.get(f"/v1/admin/rules/{rule_id}", headers=_auth(shop_store)).json()
    assert rule["template"] == "announcement" and rule["content"]["segments"] is None
