"""Settings: saved as `PATCH /v1/admin/settings` saves them, with the domains; each
error beside its field, nothing saved; the store's language switches the dashboard."""

from __future__ import annotations

import re

from helpers import run_with_redis
from starlette.testclient import TestClient

from widget_server.popups.rulebook import Rulebook
from widget_server.settings import Settings
from widget_server.storage import stores


def _posted(page: str) -> dict[str, str]:
    form = page[page.index('class="settings-form"') :]
    fields = dict(re.findall(r'<input id="[^"]+" name="([^"]+)" value="([^"]*)"', form))
    fields["domains"] = re.search(r'name="domains"[^>]*>([^<]*)</textarea>', form).group(1)  # type: ignore[union-attr]
    fields["timezone"] = re.search(r'<option value="([^"]+)" selected', form).group(1)  # type: ignore[union-attr]
    fields["csrf"] = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    return fields


def test_settings_and_domains_are_saved(
    signed_in: TestClient, shop_store: tuple[stores.Store, str], settings: Settings
) -> None:
    store = shop_store[0]
    form = _posted(signed_in.get("/dashboard/settings").text)
    form.update({"timezone": "Asia/Tehran", "currency": "EUR", "attribution_window_days": "14",
                 "governor.max_per_session": "1", "respect_gpc": "true",
                 "domains": "Shop.Example\nhttps://www.other.example/path"})  # fmt: skip
    answer = signed_in.post("/dashboard/settings", data=form, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/dashboard/settings?saved=1"
    saved = run_with_redis(settings, lambda r: Rulebook(r, store.id).settings())
    assert (saved.timezone, saved.currency, saved.attribution_window_days) == (
        "Asia/Tehran",
        "EUR",
        14,
    )
    assert saved.governor.max_per_session == 1 and saved.respect_gpc is True
    again = run_with_redis(settings, lambda r: stores.get_store(r, store.id))
    assert again is not None and again.domains == ("shop.example", "other.example")
    api = signed_in.get("/v1/admin/settings", headers={"authorization": f"Bearer {shop_store[1]}"})
    assert api.json()["timezone"] == "Asia/Tehran"


def test_each_error_is_beside_its_field_and_nothing_is_saved(
    signed_in: TestClient, shop_store: tuple[stores.Store, str], settings: Settings
) -> None:
    form = _posted(signed_in.get("/dashboard/settings").text)
    form.update({"currency": "euro", "attribution_window_days": "0", "locale": "not a tag!",
                 "domains": "shop.example\nnot a domain"})  # fmt: skip
    answer = signed_in.post("/dashboard/settings", data=form)
    assert answer.status_code == 422
    for field, message in (
        ("currency", "String should match pattern"),
        ("attribution_window_days", "Input should be greater than or equal to 1"),
        ("locale", "must be a language tag such as en, fr-CA or ar"),
        ("domains", "is not a domain name such as shop.example.com"),
    ):
        beside = re.search(rf'id="f-{field}-error"[^>]*>([^<]*)<', answer.text)
        assert beside and message in beside.group(1).replace("&#39;", "'"), (field, beside)
    saved = run_with_redis(settings, lambda r: Rulebook(r, shop_store[0].id).settings())
    assert saved.currency == "USD" and saved.locale == "en"


def test_a_blank_lifetime_means_none_and_the_locale_switches_the_language(
    signed_in: TestClient, shop_store: tuple[stores.Store, str], settings: Settings
) -> None:
    form = _posted(signed_in.get("/dashboard/settings").text)
    form.update({"customer_lifetime_years": "3"})
    signed_in.post("/dashboard/settings", data=form)
    form.update({"customer_lifetime_years": "", "locale": "fa_IR"})
    signed_in.post("/dashboard/settings", data=form)
    saved = run_with_redis(settings, lambda r: Rulebook(r, shop_store[0].id).settings())
    assert saved.customer_lifetime_years is None and saved.locale == "fa-IR"
    page = signed_in.get("/dashboard").text
    assert '<html lang="fa-IR" dir="rtl" data-locale="fa-IR"' in page
    assert "<h1>نمای کلی</h1>" in page


def test_the_store_locale_is_checked_by_the_api_too(
    signed_in: TestClient, shop_store: tuple[stores.Store, str]
) -> None:
    auth = {"authorization": f"Bearer {shop_store[1]}"}
    bad = signed_in.patch("/v1/admin/settings", json={"locale": "français"}, headers=auth)
    assert bad.status_code == 422
    assert bad.json()["errors"] == [
        {"field": "locale", "error": "must be a language tag such as en, fr-CA or ar"}
    ]
    good = signed_in.patch("/v1/admin/settings", json={"locale": "ar_SA"}, headers=auth)
    assert good.json()["locale"] == "ar-SA"
