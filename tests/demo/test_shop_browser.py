"""A shopper walks the demo shop in a real Chromium: home, a product (its carousel
filled by the trained model), add to cart, the cart, exit intent (the "last chance"
popup with a unique code from the pool), checkout, thank-you; then the merchant
signs in to the dashboard, which already counts the visit. Screenshots land in
`TARRY_ARTIFACTS` (default `test-artifacts/demo/`); docs/ keeps the best two."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from conftest import BROWSER_UA
from paths import artifacts as artifacts_folder
from playwright.sync_api import Browser, Page, expect, sync_playwright
from processes import chromium_executable

from widget_server.decide.endpoint import in_showcase_holdout
from widget_server.popups.assignment import in_holdout
from widget_server.popups.schema import StoreSettings

if TYPE_CHECKING:  # the class of the `demo` fixtures (tests/demo/conftest.py)
    from demo.conftest import Demo

WAIT_S = 15


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_executable())
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    # A desktop browser's user agent: HeadlessChrome is a bot to the collector.
    context = browser.new_context(user_agent=BROWSER_UA, viewport={"width": 1280, "height": 800})
    opened = context.new_page()
    if os.environ.get("TARRY_DEBUG_BROWSER"):
        opened.on("console", lambda m: print("console:", m.text))
    yield opened
    context.close()


@pytest.fixture(scope="module")
def artifacts() -> Path:
    return artifacts_folder("demo")


def a_shopper_who_sees_everything(demo: Demo) -> str:
    """A visitor id in no holdout: the popups and carousels are for them."""
    rules = demo.get("/v1/admin/rules")["rules"]
    settings = StoreSettings.model_validate(demo.get("/v1/admin/settings"))
    return next(
        visitor
        for visitor in (f"walk-{n}" for n in range(1000))
        if not in_showcase_holdout(settings, visitor)
        and not any(in_holdout(r["id"], visitor, r["holdout"]) for r in rules)
    )


def _figures(demo: Demo) -> tuple[int, float, dict[str, int]]:
    """Orders and revenue of yesterday and today, and events per minute now."""
    today = datetime.now(UTC).date()
    overview = demo.get(f"/v1/stats/overview?from={today - timedelta(days=1)}&to={today}")
    realtime = demo.get("/v1/stats/realtime")
    minutes = {row["minute"]: row["events"] for row in realtime["rows"]}
    figures = overview["figures"]
    return int(figures["orders"]["value"]), float(figures["revenue"]["value"]), minutes


def _carousel(page: Page, slot: str) -> Any:
    cards = page.locator(f"[data-tarry-showcase='{slot}'] li")  # Playwright pierces shadow roots
    expect(cards.first).to_be_visible(timeout=WAIT_S * 1000)
    return cards


@pytest.mark.timeout(400)
def test_a_shopper_walks_the_demo_shop_and_the_dashboard_counts_the_visit(
    running_demo: Demo, page: Page, artifacts: Path
) -> None:
    shop = f"{running_demo.url}/demo"
    visitor = a_shopper_who_sees_everything(running_demo)
    page.add_init_script(f"localStorage.setItem('_ty_v', '{visitor}')")
    orders_before, revenue_before, minutes_before = _figures(running_demo)
    first_minute = max(minutes_before)

    page.goto(f"{shop}/")
    expect(page.locator(".demo-banner")).to_contain_text("Demo shop")
    tag = page.locator("script[src='/t.js']")
    assert tag.get_attribute("data-key") == running_demo.public_key
    assert _carousel(page, "home_picks").count() == 8
    page.screenshot(path=str(artifacts / "home.png"))

    page.locator("section[aria-labelledby=best] .card a").first.click()
    expect(page).to_have_url(re.compile(r"/demo/products/td-\d+$"))
    product = page.locator("h1").inner_text()
    similar = _carousel(page, "product_similar")
    assert similar.count() == 8
    assert product not in similar.all_inner_texts()  # never the product itself
    page.locator("[data-tarry-showcase='product_similar']").scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "product.png"))

    page.get_by_role("button", name="Add to cart").click()
    expect(page).to_have_url(f"{shop}/cart")
    expect(page.locator(".lines")).to_contain_text(product)
    _carousel(page, "cart_addons")
    time.sleep(2.5)  # the popup's exit intent counts after 2 s on the page
    page.mouse.move(600, 300)
    page.mouse.move(600, 5)
    page.mouse.move(600, -20)  # out through the top, towards the tabs
    dialog = page.locator("tarry-popup [role=dialog]")
    expect(dialog).to_be_visible(timeout=5000)
    expect(dialog).to_contain_text("Your cart is waiting")
    expect(dialog).to_contain_text(product)
    code = dialog.locator("[data-tarry-code]").inner_text()
    assert re.fullmatch(r"LAST-[0-9A-F]{6}", code), code  # a unique code from the pool
    time.sleep(0.5)  # the popup's entrance
    page.screenshot(path=str(artifacts / "cart-last-chance.png"))

    dialog.get_by_role("link", name="Complete my order").click()
    expect(page).to_have_url(f"{shop}/checkout")
    total = page.locator(".checkout .summary strong").inner_text()
    page.get_by_role("button", name=re.compile("Place order")).click()
    expect(page).to_have_url(f"{shop}/thank-you")
    order_id = page.locator(".order-id").inner_text()
    assert re.fullmatch(r"TD\d{8}", order_id)
    page.screenshot(path=str(artifacts / "thank-you.png"))

    # The snippet sends within 2 s; the order counts once, with its value.
    paid = float(total.lstrip("$").replace(",", ""))
    deadline = time.monotonic() + WAIT_S
    while True:
        orders, revenue, minutes = _figures(running_demo)
        if orders == orders_before + 1 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert orders == orders_before + 1
    assert revenue == pytest.approx(revenue_before + paid)
    # Realtime: at least this visit's page views, product, cart, checkout, purchase and
    # popup events arrived in the minutes since it began.
    arrived = sum(n for minute, n in minutes.items() if minute >= first_minute)
    assert arrived - minutes_before[first_minute] >= 12

    page.goto(f"{running_demo.url}/dashboard")
    page.fill("#secret_key", running_demo.secret_key)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{running_demo.url}/dashboard")
    expect(page.locator("body")).to_contain_text("Tarry demo shop")
    now = re.search(r"([\d,]+) visitors? now", page.locator("body").inner_text())
    assert now is not None and int(now.group(1).replace(",", "")) >= 1
    page.set_viewport_size({"width": 1280, "height": 1000})
    page.screenshot(path=str(artifacts / "dashboard.png"))
    page.goto(f"{running_demo.url}/dashboard/popups")
    expect(page.locator("body")).to_contain_text("Last chance")
    page.screenshot(path=str(artifacts / "dashboard-popups.png"), full_page=True)
