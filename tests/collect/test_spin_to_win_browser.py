"""Spin to win in a real headless Chromium, with the snippet, against a real `tarry
serve` on store pages from another origin: exit intent shows the wheel, an e-mail
address spins it to the slice the server drew, and the code applies by a link
(Shopify) or copies; the same in Persian, right to left; with less motion, no
spin; by keyboard alone; and axe-core finds nothing serious. Screenshots land in
`TARRY_ARTIFACTS` (default `test-artifacts/spin-to-win/`)."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import BROWSER_UA
from paths import AXE
from paths import artifacts as artifacts_folder
from playwright.sync_api import Browser, Page, sync_playwright
from processes import Server, chromium_executable
from snippet_pages import PageServer

SPIN_S = 4  # the CSS transition's length (popup.css)

# Every slice pays out, so that each run has a code to apply or copy.
SEGMENTS = [
    {"label": "5% off", "weight": 3, "pool": "five"},
    {"label": "10% off", "weight": 3, "pool": "ten"},
    {"label": "Free shipping", "weight": 2, "code": "SHIPFREE"},
    {"label": "15% off", "weight": 2, "pool": "fifteen"},
    {"label": "20% off", "weight": 1, "pool": "twenty"},
    {"label": "25% off", "weight": 1, "pool": "quarter"},
]
PERSIAN = {
    "locale": "fa",
    "headline": "صبر کنید! بچرخانید و تخفیف ببرید",
    "text": "ایمیل خود را بنویسید و گردونه را بچرخانید.",
    "button_text": "بچرخان",
    "close_label": "بستن",
    "email_placeholder": "ایمیل شما",
    "prize_label": "برنده شدید",
    "coupon_label": "کد شما",
    "copy_label": "رونوشت",
    "apply_label": "همین حالا استفاده کنید",
    "segments": [
        {**SEGMENTS[0], "label": "۵٪ تخفیف"},  # noqa: RUF001
        {**SEGMENTS[1], "label": "۱۰٪ تخفیف"},  # noqa: RUF001
        {**SEGMENTS[2], "label": "ارسال رایگان"},
        {**SEGMENTS[3], "label": "۱۵٪ تخفیف"},  # noqa: RUF001
        {**SEGMENTS[4], "label": "۲۰٪ تخفیف"},
        {**SEGMENTS[5], "label": "۲۵٪ تخفیف"},
    ],
}


def _page(body: str, lang: str = "en", direction: str = "ltr", head: str = "") -> str:
    return (
        f"<!doctype html><html lang='{lang}' dir='{direction}'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'><title>Shop</title>"
        f"<style>body{{font:16px sans-serif;margin:0}}main{{padding:24px}}</style>{head}"
        f"</head><body><main><h1>Shop</h1><p>{body}</p></main>"
    )


def shop_pages(tag: str) -> dict[str, str]:
    shopify = "<script>window.Shopify={shop:'test-shop.myshopify.com'}</script>"
    return {
        "/": _page("A shop on any platform.") + tag,
        "/shopify": _page("A Shopify theme.", head=shopify) + tag,
        "/fa": _page("فروشگاه", "fa", "rtl") + tag,
        "/any": "<!doctype html><title>Cart</title><p>The cart</p>",
    }


class Shop:
    def __init__(self, server: Server, pages: PageServer, store: dict[str, str]) -> None:
        self.server = server
        self.pages = pages
        self.auth = {"authorization": f"Bearer {store['secret_key']}"}

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.server.url + path, data=data, method=method, headers=self.auth
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def wheel(self, **content: Any) -> dict[str, Any]:
        for segment in SEGMENTS:
            if "pool" in segment:
                codes = [f"{segment['pool'].upper()}-{n}" for n in range(20)]
                self.admin("POST", f"/v1/admin/coupons/{segment['pool']}", {"codes": codes})
        rule = {
            "preset": "spin_to_win",
            "trigger": {"type": "exit_intent", "min_seconds": 0},
            "content": {"segments": SEGMENTS, **content},
        }
        return dict(self.admin("POST", "/v1/admin/rules", rule))


@pytest.fixture(scope="module")
def tarry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = Server(tmp_path_factory.mktemp("spin") / "data")
    server.start()
    yield server
    if server.process is not None and server.process.poll() is None:
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_executable())
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def artifacts() -> Path:
    return artifacts_folder("spin-to-win")


@pytest.fixture
def shop(tarry: Server) -> Iterator[Shop]:
    created = json.loads(
        tarry.tarry("store", "create", "--name", "Shop", "--domain", "localhost", "--json")
    )
    tag = f"<script async src='{tarry.url}/t.js' data-key='{created['public_key']}'></script>"
    served = PageServer(shop_pages(tag))
    served.start()
    yield Shop(tarry, served, created)
    served.stop()


def open_page(browser: Browser, reduced_motion: str = "no-preference", **options: Any) -> Page:
    context = browser.new_context(
        user_agent=BROWSER_UA,
        viewport={"width": 1280, "height": 900},
        reduced_motion=reduced_motion,  # type: ignore[arg-type]
        **options,
    )
    return context.new_page()


def leave_through_the_top(page: Page, url: str) -> None:
    with page.expect_response(lambda r: "/v1/decide" in r.url):
        page.goto(url)
    page.mouse.move(600, 300)
    page.mouse.move(600, 5)
    page.mouse.move(600, -20)
    page.locator("tarry-popup [role=dialog]").wait_for(state="visible", timeout=5000)
    page.evaluate("document.fonts.ready")


def spin(page: Page, email: str, by_keyboard: bool = False) -> dict[str, Any]:
    """Give the address; the server's answer (its prize) as the page received it."""
    with page.expect_response(lambda r: "/v1/subscribe" in r.url) as answer:
        if by_keyboard:
            page.keyboard.type(email)
            page.keyboard.press("Enter")
        else:
            page.locator("tarry-popup input[type=email]").fill(email)
            page.locator("tarry-popup form button").click()
    prize: dict[str, Any] = answer.value.json()["prize"]
    return prize


# The wheel's angle as drawn (its computed transform), and where the prize shows.
WHEEL = """() => {
  const root = document.querySelector('tarry-popup').shadowRoot;
  const disc = root.querySelector('[data-tarry-wheel]');
  const m = new DOMMatrix(getComputedStyle(disc).transform);
  const prize = root.querySelector('.tarry-prize');
  const dialog = root.querySelector('[role=dialog]');
  return {
    angle: Math.atan2(m.b, m.a) * 180 / Math.PI,
    turn: dialog.style.getPropertyValue('--tarry-turn'),
    prizeOpacity: prize ? +getComputedStyle(prize).opacity : null,
    status: root.querySelector('[role=status]').textContent.trim(),
    code: root.querySelector('[data-tarry-code]')?.textContent,
    apply: root.querySelector('[data-tarry-apply]')?.getAttribute('href') ?? null,
    focused: root.activeElement && root.activeElement.outerHTML.slice(0, 80),
    direction: getComputedStyle(dialog).direction,
    labels: [...root.querySelectorAll('svg text')].map((t) => t.textContent),
    formHidden: root.querySelector('[data-tarry-email]').hidden,
    transitioning: disc.getAnimations().length,
  };
}"""


def slice_on_top(angle: float, count: int) -> int:
    """The slice under the pointer of a wheel turned clockwise by `angle` degrees."""
    return int(((360 - angle) % 360) // (360 / count))


def wheel_state(page: Page) -> dict[str, Any]:
    state: dict[str, Any] = page.evaluate(WHEEL)
    return state


def wait_until_stopped(page: Page) -> dict[str, Any]:
    page.wait_for_function(
        "() => !document.querySelector('tarry-popup').shadowRoot"
        ".querySelector('[data-tarry-wheel]').getAnimations().length",
        timeout=(SPIN_S + 3) * 1000,
    )
    page.wait_for_function(
        "() => +getComputedStyle(document.querySelector('tarry-popup').shadowRoot"
        ".querySelector('.tarry-prize')).opacity === 1",
        timeout=3000,
    )
    return wheel_state(page)


def axe_violations(page: Page) -> list[dict[str, Any]]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def test_exit_intent_shows_the_wheel_and_an_address_spins_it_to_the_servers_prize(
    shop: Shop, browser: Browser, artifacts: Path
) -> None:
    rule = shop.wheel()
    page = open_page(browser)
    leave_through_the_top(page, shop.pages.url("/shopify"))
    before = wheel_state(page)
    assert before["labels"] == [s["label"] for s in SEGMENTS]
    assert before["code"] is None and before["status"] == ""  # no code in the page yet
    assert abs(before["angle"]) < 0.01
    page.screenshot(path=str(artifacts / "wheel-en-before.png"))
    assert not axe_violations(page)

    prize = spin(page, "ann@shop.example")
    assert prize["code"] and prize["label"] == SEGMENTS[prize["segment"]]["label"]
    page.wait_for_timeout(1000)
    moving = wheel_state(page)
    assert moving["transitioning"] == 1  # it spins
    assert moving["prizeOpacity"] is not None and moving["prizeOpacity"] < 1  # not yet shown
    stopped = wait_until_stopped(page)
    # The wheel stopped with the server's slice under the pointer.
    assert stopped["turn"] == f"{prize['turn']}deg"
    assert slice_on_top(stopped["angle"], len(SEGMENTS)) == prize["segment"]
    assert abs(((prize["turn"] - stopped["angle"]) % 360 + 180) % 360 - 180) < 0.01
    assert prize["label"] in stopped["status"] and prize["code"] in stopped["status"]
    assert stopped["code"] == prize["code"] and stopped["formHidden"] is True
    assert page.locator("tarry-popup form").is_hidden()  # the address is taken
    assert stopped["focused"] and stopped["focused"].startswith("<button")  # the copy button
    page.screenshot(path=str(artifacts / "wheel-en-won.png"))
    assert not axe_violations(page)

    # On Shopify, "Use it now" puts the code on the cart with Shopify's own link.
    assert stopped["apply"] == f"/discount/{prize['code']}?redirect=/cart"
    with page.expect_navigation():
        page.locator("tarry-popup [data-tarry-apply]").click()
    assert page.url == shop.pages.url(f"/discount/{prize['code']}?redirect=/cart")
    page.context.close()
    # What the statistics say of it.
    [row] = [r for r in shop.admin("GET", "/v1/stats/popups")["rows"] if r["rule_id"] == rule["id"]]
    assert row["wheel"]["spins"] == 1 and row["wheel"]["emails"] == 1
    assert [s["label"] for s in row["wheel"]["segments"] if s["given"]] == [prize["label"]]


def test_elsewhere_the_code_copies_in_one_click(shop: Shop, browser: Browser) -> None:
    shop.wheel()
    page = open_page(browser, permissions=["clipboard-read", "clipboard-write"])
    leave_through_the_top(page, shop.pages.url("/"))
    prize = spin(page, "bob@shop.example")
    stopped = wait_until_stopped(page)
    assert stopped["apply"] is None  # no platform link: the code is copied
    page.locator("tarry-popup [data-tarry-copy]").click()
    assert page.evaluate("navigator.clipboard.readText()") == prize["code"]
    page.context.close()


def test_in_persian_the_wheel_reads_right_to_left(
    shop: Shop, browser: Browser, artifacts: Path
) -> None:
    shop.wheel(**PERSIAN)
    page = open_page(browser)
    leave_through_the_top(page, shop.pages.url("/fa"))
    before = wheel_state(page)
    assert before["direction"] == "rtl"
    assert before["labels"] == [s["label"] for s in PERSIAN["segments"]]
    assert page.get_by_role("dialog", name=PERSIAN["headline"]).is_visible()
    assert page.get_by_role("button", name="بستن").is_visible()
    page.screenshot(path=str(artifacts / "wheel-fa-before.png"))
    prize = spin(page, "sara@shop.example")
    stopped = wait_until_stopped(page)
    assert slice_on_top(stopped["angle"], 6) == prize["segment"]
    assert "برنده شدید" in stopped["status"] and prize["label"] in stopped["status"]
    # The code is Latin letters: it reads left to right inside the Persian text.
    code_direction = page.evaluate(
        "getComputedStyle(document.querySelector('tarry-popup').shadowRoot"
        ".querySelector('[data-tarry-code]')).direction"
    )
    assert code_direction == "ltr"
    page.screenshot(path=str(artifacts / "wheel-fa-won.png"))
    assert not axe_violations(page)
    page.context.close()


def test_with_less_motion_the_prize_shows_without_a_spin(shop: Shop, browser: Browser) -> None:
    shop.wheel()
    page = open_page(browser, reduced_motion="reduce")
    leave_through_the_top(page, shop.pages.url("/"))
    prize = spin(page, "cy@shop.example")
    page.locator("tarry-popup .tarry-prize").wait_for(state="visible", timeout=2000)
    state = wheel_state(page)
    assert state["transitioning"] == 0 and state["prizeOpacity"] == 1  # at once
    assert slice_on_top(state["angle"], len(SEGMENTS)) == prize["segment"]
    page.context.close()


def test_by_keyboard_alone(shop: Shop, browser: Browser) -> None:
    """Focus starts on the close button; Tab reaches the address, Enter spins, the
    prize's copy button takes the focus, and Escape closes the popup."""
    shop.wheel()
    page = open_page(browser, reduced_motion="reduce")
    leave_through_the_top(page, shop.pages.url("/"))
    focused = "document.querySelector('tarry-popup').shadowRoot.activeElement?.outerHTML ?? ''"
    assert "tarry-close" in page.evaluate(focused)
    page.keyboard.press("Tab")
    assert page.evaluate(focused).startswith("<input")
    prize = spin(page, "kb@shop.example", by_keyboard=True)
    page.locator("tarry-popup .tarry-prize").wait_for(state="visible", timeout=2000)
    assert "data-tarry-copy" in page.evaluate(focused)
    assert wheel_state(page)["code"] == prize["code"]
    page.keyboard.press("Enter")  # the button's click: it copies
    assert page.locator("tarry-popup [data-tarry-copy]").inner_text() == "✓"
    page.keyboard.press("Escape")
    page.wait_for_selector("tarry-popup", state="detached")
    page.context.close()


def test_what_the_popup_hides_stays_hidden(shop: Shop, browser: Browser) -> None:
    """The popup's own display rules (a flex row for the form and the code) must not
    undo `hidden`: an e-mail capture's code shows only once the address is taken."""
    shop.admin(
        "POST",
        "/v1/admin/rules",
        {"name": "Newsletter", "template": "email_capture", "trigger": {"type": "page_load"},
         "content": {"headline": "10% off for your e-mail", "button_text": "Subscribe",
                     "coupon": {"code": "HELLO10"}}},
    )  # fmt: skip
    page = open_page(browser, reduced_motion="reduce")
    page.goto(shop.pages.url("/"))
    page.locator("tarry-popup [role=dialog]").wait_for(state="visible", timeout=5000)
    code = page.locator("tarry-popup [data-tarry-code]")
    assert code.is_hidden()
    with page.expect_response(lambda r: "/v1/subscribe" in r.url):
        page.locator("tarry-popup input[type=email]").fill("dee@shop.example")
        page.locator("tarry-popup form button").click()
    code.wait_for(state="visible", timeout=2000)
    assert code.inner_text() == "HELLO10" and page.locator("tarry-popup form").is_hidden()
    page.context.close()
