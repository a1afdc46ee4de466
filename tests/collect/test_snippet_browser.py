"""The snippet in a real headless Chromium, against a real `tarry serve` and its
Redis, on test store pages served from another origin (localhost vs 127.0.0.1):
what arrives in Redis, exit intent, holdout, carousels, delivery across an outage,
hostile CSS, and a page left untouched when Tarry is down."""

from __future__ import annotations

import base64
import collections
import contextlib
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import BROWSER_UA
from paths import artifacts as artifacts_folder
from playwright.sync_api import Browser, Locator, Page, sync_playwright
from processes import Server, chromium_executable
from snippet_pages import PageServer, home_pages, pages, sub_path_pages

from widget_server.popups.assignment import in_holdout
from widget_server.settings import Settings
from widget_server.storage import event_entries, keys
from widget_server.storage.connect import sync_storage

WAIT_S = 15


class Shop:
    """A store on a running Tarry, its pages, and what Redis holds for it."""

    def __init__(self, server: Server, pages_server: PageServer, store: dict[str, str]) -> None:
        self.server = server
        self.pages = pages_server
        self.store_id = store["store_id"]
        self.public_key = store["public_key"]
        self.auth = {"authorization": f"Bearer {store['secret_key']}"}
        self.settings = Settings.from_env({"TARRY_DATA_DIR": server.env["TARRY_DATA_DIR"]})

    def admin(self, method: str, path: str, body: Any = None, raw: bytes | None = None) -> Any:
        import urllib.request

        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        request = urllib.request.Request(
            self.server.url + path, data=data, method=method, headers=self.auth
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read()
            return json.loads(text) if text else None

    def events(self) -> list[dict[str, Any]]:
        with sync_storage(self.settings) as redis:
            entries = redis.xrange(keys.events(self.store_id))
        return [e for _, fields in entries for e in event_entries.events(fields)]

    def wait_for(
        self, check: Callable[[list[dict[str, Any]]], Any], what: str, timeout: float = WAIT_S
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            events = self.events()
            if check(events):
                return events
            if time.monotonic() > deadline:
                kinds = collections.Counter(e["type"] for e in events)
                pytest.fail(f"waited {timeout}s for {what}; events by type: {dict(kinds)}")
            time.sleep(0.2)


@pytest.fixture(scope="module")
def tarry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # No per-visitor limit: one test sends 600 events as one visitor within seconds
    # (the limit's own behaviour is tested with the collector).
    server = Server(tmp_path_factory.mktemp("snippet") / "data", TARRY_RATE_LIMIT_VISITOR="0")
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


@pytest.fixture
def shop(tarry: Server) -> Iterator[Shop]:
    created = json.loads(
        tarry.tarry("store", "create", "--name", "Shop", "--domain", "localhost", "--json")
    )
    tag = f"<script async src='{tarry.url}/t.js' data-key='{created['public_key']}'></script>"
    served = PageServer(pages(tag))
    served.start()
    yield Shop(tarry, served, created)
    served.stop()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    # A desktop browser's user agent: HeadlessChrome is a bot to the collector.
    context = browser.new_context(user_agent=BROWSER_UA, viewport={"width": 1280, "height": 800})
    opened = context.new_page()

    if os.environ.get("TARRY_DEBUG_BROWSER"):
        opened.on("console", lambda m: print("console:", m.text))
        opened.on("response", lambda r: print("response:", r.status, r.url[:80]))
    yield opened
    context.close()


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    """A touch screen (`pointer: coarse`), where the phone's exit signals apply."""
    context = browser.new_context(
        user_agent=BROWSER_UA,
        viewport={"width": 390, "height": 844},
        has_touch=True,
        is_mobile=True,
    )
    yield context.new_page()
    context.close()


def of_type(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == kind]


def test_a_json_ld_product_page_is_tracked_and_fills_the_catalog(shop: Shop, page: Page) -> None:
    page.goto(shop.pages.url("/p/sku-1?utm_source=news&utm_campaign=spring"))
    events = shop.wait_for(lambda es: of_type(es, "view_item"), "view_item")
    [view] = of_type(events, "page_view")
    assert view["page_type"] == "product" and view["title"] == "Linen shirt"
    assert view["utm_source"] == "news" and view["utm_campaign"] == "spring"
    assert view["url"].startswith(shop.pages.url("/p/sku-1"))
    [item_view] = of_type(events, "view_item")
    assert item_view["items"] == [
        {
            "item_id": "SKU-1",
            "item_name": "Linen shirt",
            "item_category": "Shirts",
            "item_brand": "Loom",
            "price": 29.9,
            "image": "https://img.shop.test/sku-1.jpg",
            "url": "http://localhost/p/sku-1",
            "availability": "https://schema.org/InStock",
        }
    ]
    assert item_view["currency"] == "EUR" and item_view["vid"] == view["vid"]
    assert len(view["vid"]) >= 20 and view["sid"] != view["vid"]
    with sync_storage(shop.settings) as redis:
        card = json.loads(redis.hget(keys.catalog(shop.store_id), "SKU-1"))
    assert card["name"] == "Linen shirt" and card["price"] == 29.9


def test_ga4_events_are_translated_and_counted_once(shop: Shop, page: Page) -> None:
    page.goto(shop.pages.url("/p/ga-7"))
    shop.wait_for(lambda es: of_type(es, "view_item"), "view_item from dataLayer")
    page.click("#add")
    events = shop.wait_for(lambda es: of_type(es, "add_to_cart"), "add_to_cart from gtag")
    [view] = of_type(events, "page_view")
    assert view["page_type"] == "product"  # from the dataLayer's view_item
    [item] = of_type(events, "view_item")
    assert item["items"] == [
        {
            "item_id": "GA-7",
            "item_name": "Mug",
            "item_category": "Kitchen",
            "price": 12.5,
            "quantity": 1,
        }
    ]  # GA4's extra fields (index, item_list_name) are left out
    [cart] = of_type(events, "add_to_cart")
    assert cart["value"] == 25 and cart["items"][0]["quantity"] == 2 and cart["currency"] == "USD"


def test_segment_orders_and_the_queue_api(shop: Shop, page: Page) -> None:
    page.add_init_script(
        "window.tarry=function(){(tarry.q=tarry.q||[]).push(arguments)};"
        "tarry('track','add_to_cart',{items:[{item_id:'Q-1',price:3}],value:3,currency:'EUR'})"
    )
    page.goto(shop.pages.url("/checkout/thank-you"))
    events = shop.wait_for(
        lambda es: of_type(es, "purchase") and of_type(es, "add_to_cart"), "purchase and queue"
    )
    [purchase] = of_type(events, "purchase")
    assert purchase["transaction_id"] == "T-1" and purchase["value"] == 42
    assert purchase["items"] == [
        {"item_id": "SKU-1", "item_name": "Linen shirt", "price": 21, "quantity": 2}
    ]
    assert of_type(events, "page_view")[0]["page_type"] == "thank_you"
    assert of_type(events, "add_to_cart")[0]["items"] == [{"item_id": "Q-1", "price": 3}]


def test_exit_intent_shows_the_popup_in_a_shadow_root(shop: Shop, page: Page) -> None:
    rule = shop.admin(
        "POST",
        "/v1/admin/rules",
        {"preset": "dont_go", "trigger": {"type": "exit_intent", "min_seconds": 0}},
    )
    with page.expect_response(lambda r: "/v1/decide" in r.url):
        page.goto(shop.pages.url("/"))
    page.mouse.move(600, 300)
    page.mouse.move(600, 5)
    page.mouse.move(600, -20)  # out through the top
    host = page.wait_for_selector("tarry-popup", state="attached", timeout=5000)
    assert host is not None
    dialog = page.locator("tarry-popup [role=dialog]")  # Playwright pierces open shadow roots
    dialog.wait_for(state="visible")
    assert "Before you go" in dialog.inner_text()
    in_shadow = page.evaluate(
        "document.querySelector('tarry-popup').shadowRoot.querySelector('[role=dialog]') !== null"
        " && document.querySelector('[role=dialog]') === null"
    )
    assert in_shadow
    focused = page.evaluate(
        "document.querySelector('tarry-popup').shadowRoot.activeElement?.className"
    )
    assert focused == "tarry-close"  # focus moved into the dialog
    events = shop.wait_for(lambda es: of_type(es, "popup_shown"), "popup_shown")
    [shown] = of_type(events, "popup_shown")
    assert shown["popup_id"] == rule["id"] and shown["variant"] == "default"
    assert shown["trigger"] == "exit_intent:mouse"
    page.keyboard.press("Escape")
    page.wait_for_selector("tarry-popup", state="detached")
    events = shop.wait_for(lambda es: of_type(es, "popup_close"), "popup_close")
    assert of_type(events, "popup_close")[0]["placement"] == "escape"


def test_a_holdout_visitor_sees_nothing_and_is_recorded(shop: Shop, page: Page) -> None:
    rule = shop.admin(
        "POST",
        "/v1/admin/rules",
        {"preset": "dont_go", "trigger": {"type": "page_load"}, "holdout": 90},
    )
    visitor = next(f"held{n}" for n in range(100) if in_holdout(rule["id"], f"held{n}", 90))
    page.add_init_script(f"localStorage.setItem('_ty_v', '{visitor}')")
    page.goto(shop.pages.url("/"))
    events = shop.wait_for(lambda es: of_type(es, "popup_suppressed"), "popup_suppressed")
    [held] = of_type(events, "popup_suppressed")
    assert held["popup_id"] == rule["id"] and held["vid"] == visitor
    assert held["trigger"] == "page_load"
    assert page.query_selector("tarry-popup") is None
    assert not of_type(events, "popup_shown")


def _import_catalog(shop: Shop, n: int = 8) -> None:
    home = shop.pages.url("/")
    rows = "".join(
        f"SIM-{i},Item {i},{home}?item={i},https://img.shop.test/{i}.jpg,{i + 5},EUR,Shirts\n"
        for i in range(n)
    )
    shop.admin(
        "POST",
        "/v1/admin/catalog?format=csv",
        raw=("item_id,name,url,image,price,currency,category\n" + rows).encode(),
    )


def test_the_carousel_renders_and_records_views_and_clicks(shop: Shop, page: Page) -> None:
    _import_catalog(shop)
    page.route("https://img.shop.test/**", lambda route: route.fulfill(status=404))
    page.goto(shop.pages.url("/p/sku-1"))
    cards = page.locator("[data-tarry-showcase=similar] a[data-i]")
    cards.first.wait_for(state="attached")
    assert cards.count() == 8
    names = cards.all_inner_texts()
    assert all(n.startswith("Item ") for n in names) and "€" in names[0]
    assert page.locator("[data-tarry-showcase=similar] h2").inner_text() == "You may also like"
    page.locator("[data-tarry-showcase=similar]").scroll_into_view_if_needed()
    events = shop.wait_for(lambda es: of_type(es, "showcase_view"), "showcase_view")
    [view] = of_type(events, "showcase_view")
    assert view["placement"] == "similar" and view["rec_id"].startswith("r")
    assert len(view["items"]) == 8
    target = cards.nth(2).get_attribute("data-i")
    cards.nth(2).click()
    events = shop.wait_for(lambda es: of_type(es, "showcase_click"), "showcase_click")
    [click] = of_type(events, "showcase_click")
    assert click["rec_id"] == view["rec_id"] and click["items"] == [{"item_id": target}]
    # A later add_to_cart of that item, on another page, carries the rec_id.
    page.wait_for_load_state()
    page.evaluate(f"tarry('track','add_to_cart',{{items:[{{item_id:'{target}'}}]}})")
    events = shop.wait_for(lambda es: of_type(es, "add_to_cart"), "add_to_cart")
    assert of_type(events, "add_to_cart")[0]["rec_id"] == view["rec_id"]


@pytest.fixture(scope="module")
def artifacts() -> Path:
    return artifacts_folder("carousel")


# Each card's box clipped to the row's (a card scrolled out of the row is not seen),
# the arrows' boxes, and where the row is scrolled; in the showcase's shadow root.
CAROUSEL = """() => {
  const root = document.querySelector('[data-tarry-showcase=similar]').shadowRoot;
  const box = (e) => { const r = e.getBoundingClientRect();
                       return {left: r.left, right: r.right, top: r.top, bottom: r.bottom}; };
  const row = root.querySelector('ul');
  const seen = box(row);
  const cards = [...row.children].map(box).map((c) => ({
    left: Math.max(c.left, seen.left), right: Math.min(c.right, seen.right),
    top: Math.max(c.top, seen.top), bottom: Math.min(c.bottom, seen.bottom)}))
    .filter((c) => c.left < c.right && c.top < c.bottom);
  const [back, next] = [...root.querySelectorAll('button')].map(box);
  return {row: seen, cards, back, next, scrolled: Math.abs(row.scrollLeft),
          overflow: row.scrollWidth - row.clientWidth};
}"""


# Scrolls the row that share of the way to its end, in the page's direction
# (scrollLeft runs negative on a right-to-left row).
SCROLL = """share => {
  const host = document.querySelector('[data-tarry-showcase=similar]');
  const row = host.shadowRoot.querySelector('ul');
  const ahead = getComputedStyle(row).direction === 'rtl' ? -1 : 1;
  row.scrollLeft = ahead * share * (row.scrollWidth - row.clientWidth);
}"""


def _overlaps(a: dict[str, float], b: dict[str, float]) -> bool:
    across = a["left"] < b["right"] and b["left"] < a["right"]
    return across and a["top"] < b["bottom"] and b["top"] < a["bottom"]


def _arrows(page: Page) -> tuple[Locator, Locator]:
    buttons = page.locator("[data-tarry-showcase=similar] button")
    return buttons.nth(0), buttons.nth(1)


def _open_carousel(shop: Shop, page: Page, path: str, items: int) -> Locator:
    _import_catalog(shop, items)
    page.route("https://img.shop.test/**", lambda route: route.fulfill(status=404))
    page.goto(shop.pages.url(path))
    cards = page.locator("[data-tarry-showcase=similar] li")
    cards.first.wait_for(state="attached")
    return cards


@pytest.mark.parametrize("path", ["/p/sku-1", "/rtl/p/sku-1"])
def test_a_carousel_whose_cards_fit_shows_no_arrows(
    shop: Shop, page: Page, path: str, artifacts: Path
) -> None:
    cards = _open_carousel(shop, page, path, 3)
    showcase = page.locator("[data-tarry-showcase=similar]")
    showcase.screenshot(path=str(artifacts / f"fit-{path.split('/')[1]}.png"))
    layout = page.evaluate(CAROUSEL)
    assert cards.count() >= 2 and layout["overflow"] <= 0  # every card is in view
    back, next_ = _arrows(page)
    assert not back.is_visible() and not next_.is_visible()


@pytest.mark.parametrize(("path", "ahead"), [("/p/sku-1", 1), ("/rtl/p/sku-1", -1)])
def test_a_long_carousel_shows_only_the_arrows_that_lead_somewhere(
    shop: Shop, page: Page, path: str, ahead: int, artifacts: Path
) -> None:
    cards = _open_carousel(shop, page, path, 8)
    assert cards.count() == 8
    back, next_ = _arrows(page)
    shots = f"long-{'rtl' if ahead < 0 else 'ltr'}"

    def check(state: str, back_shown: bool, next_shown: bool) -> dict[str, Any]:
        page.locator("[data-tarry-showcase=similar]").screenshot(
            path=str(artifacts / f"{shots}-{state}.png")
        )
        assert (back.is_visible(), next_.is_visible()) == (back_shown, next_shown), state
        layout = page.evaluate(CAROUSEL)
        assert layout["overflow"] > 0 and layout["cards"], state
        for name, shown in (("back", back_shown), ("next", next_shown)):
            arrow = layout[name]
            if shown:
                assert not [c for c in layout["cards"] if _overlaps(arrow, c)], (state, name)
        # "Previous" sits at the row's start (the left, or the right when right to
        # left), "next" at its end; a hidden arrow keeps its place.
        row = layout["row"]
        start, end = (
            (layout["back"], layout["next"]) if ahead > 0 else (layout["next"], layout["back"])
        )
        assert start["right"] <= row["left"] and end["left"] >= row["right"], state
        return layout

    page.wait_for_timeout(300)  # nothing changes by itself
    at_start = check("start", back_shown=False, next_shown=True)
    assert at_start["scrolled"] == 0

    page.evaluate(SCROLL, 0.5)
    back.wait_for(state="visible")
    middle = check("middle", back_shown=True, next_shown=True)
    assert 0 < middle["scrolled"] < middle["overflow"]

    next_.click()  # onwards, in the page's direction, to the end
    next_.wait_for(state="hidden")
    at_end = check("end", back_shown=True, next_shown=False)
    assert at_end["scrolled"] >= at_end["overflow"] - 1

    back.click()
    back.wait_for(state="hidden")
    assert check("back-at-start", back_shown=False, next_shown=True)["scrolled"] < 1


# Which way a screenshot of an arrow button points: where the glyph's ink lies in
# its middle rows against its top and bottom rows (pointing right: further right in the middle).
POINTS = """async (src) => {
  const img = new Image();
  img.src = src;
  await img.decode();
  const canvas = document.createElement('canvas');
  canvas.width = img.width;
  canvas.height = img.height;
  const g = canvas.getContext('2d');
  g.drawImage(img, 0, 0);
  const {data} = g.getImageData(0, 0, img.width, img.height);
  const w = img.width, h = img.height, sums = {mid: [0, 0], ends: [0, 0]};
  // The inner third only: the button's round border stays out.
  for (let y = Math.floor(h / 3); y < (2 * h) / 3; y++)
    for (let x = Math.floor(w / 3); x < (2 * w) / 3; x++) {
      const ink = 255 - data[(y * w + x) * 4];
      if (ink < 64) continue;
      const part = Math.abs(y - h / 2) < h / 12 ? sums.mid : sums.ends;
      part[0] += ink * x;
      part[1] += ink;
    }
  return sums.mid[0] / sums.mid[1] > sums.ends[0] / sums.ends[1] ? 'right' : 'left';
}"""


def test_the_arrows_point_the_page_s_way(shop: Shop, browser: Browser, artifacts: Path) -> None:
    """On a right-to-left page "previous" is on the right and points right."""
    points = {}
    for name, path in (("ltr", "/p/sku-1"), ("rtl", "/rtl/p/sku-1")):
        context = browser.new_context(
            user_agent=BROWSER_UA, viewport={"width": 1280, "height": 800}
        )
        try:
            page = context.new_page()
            _open_carousel(shop, page, path, 8)
            back, next_ = _arrows(page)
            next_.wait_for(state="visible")
            page.evaluate(SCROLL, 0.5)
            back.wait_for(state="visible")
            for arrow, which in ((back, "back"), (next_, "next")):
                shot = arrow.screenshot(path=str(artifacts / f"arrow-{name}-{which}.png"))
                src = "data:image/png;base64," + base64.b64encode(shot).decode()
                points[name, which] = page.evaluate(POINTS, src)
        finally:
            context.close()
    assert points == {
        ("ltr", "back"): "left",
        ("ltr", "next"): "right",
        ("rtl", "back"): "right",
        ("rtl", "next"): "left",
    }


def test_events_sent_while_the_server_is_down_arrive_once_when_it_returns(
    shop: Shop, page: Page
) -> None:
    page.goto(shop.pages.url("/cart"))
    shop.wait_for(lambda es: of_type(es, "page_view"), "page_view")
    shop.server.stop()
    try:
        for n in range(3):
            page.evaluate(f"tarry('track','add_to_cart',{{items:[{{item_id:'DOWN-{n}'}}]}})")
        # The flush fails and the batch waits in localStorage.
        page.wait_for_function(
            "JSON.parse(localStorage.getItem('_ty_o')||'[]').some(b => b[2].length === 3)",
            timeout=10_000,
        )
    finally:
        shop.server.start()
    # A later page view sends what is waiting (and the page itself retries too).
    page.goto(shop.pages.url("/"))
    events = shop.wait_for(
        lambda es: len(of_type(es, "add_to_cart")) >= 3, "the held events", timeout=30
    )
    time.sleep(3)  # any second delivery would have landed by now
    events = shop.events()
    held = [
        e for e in of_type(events, "add_to_cart") if e["items"][0]["item_id"].startswith("DOWN-")
    ]
    assert sorted(e["items"][0]["item_id"] for e in held) == ["DOWN-0", "DOWN-1", "DOWN-2"]
    ids = [e["id"] for e in events]
    assert len(ids) == len(set(ids))  # each counted once
    page.wait_for_function("JSON.parse(localStorage.getItem('_ty_o')||'[]').length === 0")


def test_hostile_css_cannot_hide_or_break_the_popup(shop: Shop, page: Page) -> None:
    shop.admin(
        "POST",
        "/v1/admin/rules",
        {"preset": "dont_go", "targeting": {"page_types": None}, "trigger": {"type": "page_load"}},
    )
    page.goto(shop.pages.url("/hostile"))
    dialog = page.locator("tarry-popup [role=dialog]")
    dialog.wait_for(state="visible", timeout=10_000)
    box = dialog.bounding_box()
    assert box is not None and box["width"] > 200 and box["height"] > 100
    # The top of the stack at the dialog's centre is the popup, not the page's cover.
    on_top = page.evaluate(
        f"document.elementFromPoint({box['x'] + box['width'] / 2}, {box['y'] + 20})?.tagName"
    )
    assert on_top == "TARRY-POPUP"
    page.locator("tarry-popup .tarry-close").click()
    page.wait_for_selector("tarry-popup", state="detached")


LAYOUT = """() => [...document.querySelectorAll('body *')]
  .filter(e => !e.closest('tarry-popup') && e.tagName !== 'SCRIPT')
  .map(e => { const r = e.getBoundingClientRect();
              return [e.tagName, Math.round(r.x), Math.round(r.y), Math.round(r.width),
                      Math.round(r.height), e.shadowRoot ? 1 : 0]; })"""


def test_the_page_is_unchanged_when_tarry_is_unreachable(
    shop: Shop, browser: Browser, tmp_path: Path
) -> None:
    product = pages("")["/p/sku-1"]
    dead = "<script async src='http://127.0.0.1:9/t.js' data-key='pk_x'></script>"
    # The script loads, but every call of it fails: Tarry's API is down.
    broken = pages(
        f"<script async src='{shop.server.url}/t.js' data-key='{shop.public_key}'></script>"
    )["/p/sku-1"]
    served = PageServer({"/plain": product, "/dead": pages(dead)["/p/sku-1"], "/broken": broken})
    served.start()
    try:
        layouts = {}
        for path in ("/plain", "/dead", "/broken"):
            context = browser.new_context(user_agent=BROWSER_UA)
            opened = context.new_page()
            errors: list[str] = []
            opened.on("pageerror", lambda exc, errors=errors: errors.append(str(exc)))
            if path == "/broken":
                opened.route(f"{shop.server.url}/v1/**", lambda route: route.abort())
            opened.goto(served.url(path))
            opened.wait_for_timeout(1500)
            layouts[path] = opened.evaluate(LAYOUT)
            globals_ = opened.evaluate("Object.keys(window).filter(k => /tarry|_ty/i.test(k))")
            assert errors == [], (path, errors)
            assert globals_ in ([], ["tarry"]), globals_
            context.close()
        assert layouts["/dead"] == layouts["/plain"]
        assert layouts["/broken"] == layouts["/plain"]
    finally:
        served.stop()


def test_single_page_navigation_and_consent(shop: Shop, page: Page) -> None:
    page.goto(shop.pages.url("/spa"))
    shop.wait_for(lambda es: of_type(es, "page_view"), "first page_view")
    page.click("#go")
    events = shop.wait_for(lambda es: len(of_type(es, "page_view")) == 2, "SPA page_view")
    assert of_type(events, "page_view")[1]["page_type"] == "cart"
    assert of_type(events, "page_view")[1]["url"].endswith("/spa/cart")

    page.evaluate("tarry('consent', false)")
    assert page.evaluate("localStorage.getItem('_ty_v')") is None  # ids cleared
    page.evaluate("tarry('track','add_to_cart',{items:[{item_id:'NO'}]})")
    page.goto(shop.pages.url("/"))  # refusal persists across pages
    page.wait_for_timeout(3000)
    events = shop.events()
    assert len(of_type(events, "page_view")) == 2
    assert not of_type(events, "add_to_cart")


def test_on_a_phone_the_back_button_is_exit_intent(shop: Shop, phone: Page) -> None:
    rule = shop.admin(
        "POST",
        "/v1/admin/rules",
        {"preset": "dont_go", "trigger": {"type": "exit_intent", "min_seconds": 0}},
    )
    with phone.expect_response(lambda r: "/v1/decide" in r.url):
        phone.goto(shop.pages.url("/"))
    phone.wait_for_function("history.state && history.state.tarry")  # armed
    phone.go_back()
    phone.locator("tarry-popup [role=dialog]").wait_for(state="visible")
    assert phone.url == shop.pages.url("/")  # still on the page
    events = shop.wait_for(lambda es: of_type(es, "popup_shown"), "popup_shown")
    [shown] = of_type(events, "popup_shown")
    assert shown["trigger"] == "exit_intent:back" and shown["popup_id"] == rule["id"]


def test_engagement_counts_visible_time(shop: Shop, page: Page) -> None:
    page.clock.install()
    page.goto(shop.pages.url("/"))
    page.clock.run_for(11_000)
    events = shop.wait_for(lambda es: of_type(es, "engagement"), "engagement")
    assert of_type(events, "engagement")[0]["engaged_ms"] >= 10_000


def test_global_privacy_control_where_the_store_honours_it(shop: Shop, page: Page) -> None:
    shop.admin("PATCH", "/v1/admin/settings", {"respect_gpc": True})
    page.add_init_script(
        "Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {get: () => true})"
    )
    with page.expect_response(lambda r: "/v1/decide" in r.url):
        page.goto(shop.pages.url("/p/sku-1"))
    page.wait_for_timeout(3000)
    assert shop.events() == []
    assert page.evaluate("localStorage.getItem('_ty_v')") is None
    page.goto(shop.pages.url("/"))  # the next page knows at once
    page.wait_for_timeout(3000)
    assert shop.events() == []


# Addresses of the big platforms' pages (Shopify, WooCommerce, Magento) and others.
PAGE_TYPES = [
    ("/checkout/cart/", "cart"),  # Magento
    ("/cart", "cart"),  # Shopify, WooCommerce: /cart/
    ("/basket?step=1", "cart"),
    ("/checkout/onepage/success/", "thank_you"),  # Magento
    ("/checkout/order-received/812/?key=wc_order_x", "thank_you"),  # WooCommerce
    ("/checkouts/c/8f2a/thank_you", "thank_you"),  # Shopify
    ("/order-confirmation", "thank_you"),
    ("/checkout/", "checkout"),
    ("/search?q=lamp", "search"),
    ("/collections/lighting", "category"),  # Shopify
    ("/category/lamps/", "category"),
    ("/product-category/lamps/", "category"),  # WooCommerce
    ("/products/sofa", "product"),
    ("/about-us", "other"),
    ("/", "home"),
]


def test_page_types_from_platform_addresses(shop: Shop, page: Page) -> None:
    for path, _ in PAGE_TYPES:
        page.goto(shop.pages.url(path))
        page.wait_for_function("typeof tarry === 'function'")
    page.goto(shop.pages.url("/p/sku-1"))  # flushes the last one
    events = shop.wait_for(
        lambda es: len(of_type(es, "page_view")) >= len(PAGE_TYPES), "page views", timeout=30
    )
    seen = {}
    for view in of_type(events, "page_view"):
        path = view["url"].split(str(shop.pages.port), 1)[1]
        seen[path] = view["page_type"]
    assert {path: seen.get(path) for path, _ in PAGE_TYPES} == dict(PAGE_TYPES)


@contextlib.contextmanager
def _store_pages(
    shop: Shop, make: Callable[[str], dict[str, str]], attributes: str = ""
) -> Iterator[PageServer]:
    tag = (
        f"<script async src='{shop.server.url}/t.js' data-key='{shop.public_key}'"
        f" {attributes}></script>"
    )
    served = PageServer(make(tag))
    served.start()
    try:
        yield served
    finally:
        served.stop()


def _decided_page_types(page: Page, served: PageServer, paths: list[str]) -> dict[str, str]:
    """The page type each page asked /v1/decide with: what a rule's targeting sees."""
    seen = {}
    for path in paths:
        with page.expect_request(lambda r: "/v1/decide" in r.url) as request:
            page.goto(served.url(path))
        seen[path] = parse_qs(urlsplit(request.value.url).query)["page_type"][0]
    return seen


HOME_SHAPES = [
    ("/", "home"),
    ("/index.html", "home"),
    ("/index.php", "home"),
    ("/home", "home"),
    ("/?utm_source=news&utm_campaign=spring&gclid=x1", "home"),
    ("/welcome", "home"),  # canonical link to the root
    ("/landing", "home"),  # og:type website, og:url the root
    ("/fr", "home"),  # Shopify's own page type (a Markets subfolder)
    ("/en-ca", "home"),  # Shopify themes' body class template-index
    ("/shop/", "home"),  # WordPress's front page (body class home), not a category
    ("/default/", "home"),  # Magento: cms-index-index
    ("/en/", "home"),  # PrestaShop: body#index
    ("/index.php?route=common/home", "home"),  # OpenCart: common-home
    ("/index.php?route=product/category&path=20", "other"),  # OpenCart, a category
    ("/?page_id=7", "other"),  # WordPress without pretty links: a page
    ("/?product=lamp", "product"),  # and a product (og:type product)
    ("/?s=lamp", "search"),  # WordPress's search, from the home page
    ("/collections/all", "category"),  # og:type website, og:url itself
    ("/about-us", "other"),  # canonical to itself
]


def test_home_pages_as_themes_publish_them(shop: Shop, page: Page) -> None:
    paths = [path for path, _ in HOME_SHAPES]
    assert {p.split("?")[0] for p in paths} >= set(home_pages("")).difference(paths)
    with _store_pages(shop, home_pages) as served:
        assert _decided_page_types(page, served, paths) == dict(HOME_SHAPES)


SUB_PATH_SHAPES = [
    ("/shop/", "home"),
    ("/shop", "home"),
    ("/shop/index.php", "home"),
    ("/shop/?utm_campaign=spring", "home"),
    ("/start", "home"),  # canonical link to the shop's root
    ("/shop/category/lamps/", "category"),
    ("/shop/linen-shirt", "product"),  # og:type product
    ("/shop/about", "other"),
    ("/", "other"),  # the company's site, not the shop
]


def test_data_home_names_a_shop_under_a_sub_path(shop: Shop, page: Page) -> None:
    paths = [path for path, _ in SUB_PATH_SHAPES]
    with _store_pages(shop, sub_path_pages, "data-home='/shop/'") as served:
        assert _decided_page_types(page, served, paths) == dict(SUB_PATH_SHAPES)


def test_a_mistyped_data_home_leaves_the_snippet_working(shop: Shop, page: Page) -> None:
    with _store_pages(shop, sub_path_pages, "data-home='http://['") as served:
        # The site's root is the home page then, as without the attribute.
        assert _decided_page_types(page, served, ["/", "/shop/category/lamps/"]) == {
            "/": "home",
            "/shop/category/lamps/": "category",
        }


def test_a_home_page_rule_fires_on_the_shops_home_under_a_sub_path(shop: Shop, page: Page) -> None:
    rule = shop.admin(
        "POST", "/v1/admin/rules", {"preset": "dont_go", "trigger": {"type": "page_load"}}
    )
    with _store_pages(shop, sub_path_pages, "data-home='/shop/'") as served:
        with page.expect_response(lambda r: "/v1/decide" in r.url) as response:
            page.goto(served.url("/shop/category/lamps/"))
        assert response.value.json()["popups"] == []  # targets home pages only
        page.goto(served.url("/shop/index.php"))
        page.locator("tarry-popup [role=dialog]").wait_for(state="visible", timeout=5000)
    events = shop.wait_for(lambda es: of_type(es, "popup_shown"), "popup_shown")
    [shown] = of_type(events, "popup_shown")
    assert shown["popup_id"] == rule["id"] and shown["page_type"] == "home"


def test_a_shopify_style_product_group(shop: Shop, page: Page) -> None:
    page.goto(shop.pages.url("/products/lamp"))
    events = shop.wait_for(lambda es: of_type(es, "view_item"), "view_item")
    [view] = of_type(events, "view_item")
    assert view["items"][0] == {
        "item_id": "LAMP-9",
        "item_name": "Brass lamp",
        "price": 1299.0,
        "image": "https://img.shop.test/lamp.jpg",
        "url": shop.pages.url("/products/lamp"),
        "availability": "http://schema.org/OutOfStock",
    }
    assert view["currency"] == "USD"


def test_shopifys_own_structured_data_names_the_variant_on_show(shop: Shop, page: Page) -> None:
    """The variant the address selects, else the first on sale: its SKU (what
    Shopify's orders and product exports key items by), name, image and offer."""
    page.goto(shop.pages.url("/products/shirt"))
    events = shop.wait_for(lambda es: of_type(es, "view_item"), "view_item")
    [view] = of_type(events, "view_item")
    assert view["items"][0] == {
        "item_id": "OX-BLUE",  # the white one is sold out
        "item_name": "Oxford shirt - Blue",
        "item_brand": "Loom",
        "price": 45.0,
        "image": "https://cdn.shop.test/shirt-blue.jpg?v=1&width=1920",
        "url": "https://shirts.shop.test/products/shirt",
        "availability": "http://schema.org/InStock",
    }
    assert view["currency"] == "CAD"
    page.goto(shop.pages.url("/products/shirt?variant=111"))
    events = shop.wait_for(lambda es: len(of_type(es, "view_item")) == 2, "a second view_item")
    chosen = of_type(events, "view_item")[1]["items"][0]
    assert (chosen["item_id"], chosen["availability"]) == (
        "OX-WHITE",
        "http://schema.org/OutOfStock",
    )


def test_choosing_a_variant_is_no_new_page_but_its_sku_is_added(shop: Shop, page: Page) -> None:
    """Shopify themes write the chosen variant into the address with replaceState:
    the same page, counted once, whose product is now that variant."""
    page.goto(shop.pages.url("/products/shirt"))
    shop.wait_for(lambda es: of_type(es, "view_item"), "view_item")
    page.evaluate("history.replaceState({}, '', '/products/shirt?variant=333')")
    page.click("#add")
    events = shop.wait_for(lambda es: of_type(es, "add_to_cart"), "add_to_cart")
    [added] = of_type(events, "add_to_cart")
    assert (added["items"][0]["item_id"], added["items"][0]["quantity"]) == ("OX-PINK", 2)
    assert len(of_type(events, "page_view")) == 1
    page.evaluate("history.pushState({}, '', '/any')")  # a new address: a new page
    events = shop.wait_for(lambda es: len(of_type(es, "page_view")) == 2, "a second page_view")
    assert of_type(events, "page_view")[1]["url"].endswith("/any")


def test_open_graph_pages_take_the_sku_from_microdata(shop: Shop, page: Page) -> None:
    """Magento's and PrestaShop's themes: the id their orders carry, not the address."""
    page.goto(shop.pages.url("/joust-duffle-bag.html"))
    events = shop.wait_for(lambda es: of_type(es, "view_item"), "view_item")
    [view] = of_type(events, "view_item")
    assert view["items"][0] == {
        "item_id": "24-MB01",
        "item_name": "Joust Duffle Bag",
        "price": 34.0,
        "url": "https://luma.shop.test/joust-duffle-bag.html",
    }
    assert view["currency"] == "USD"
    page.goto(shop.pages.url("/en/12-mug.html"))
    events = shop.wait_for(lambda es: len(of_type(es, "view_item")) == 2, "a second view_item")
    assert of_type(events, "view_item")[1]["items"][0]["item_id"] == "demo_12"


def test_the_countdown_ticks_and_the_code_copies_in_one_click(shop: Shop, browser: Browser) -> None:
    rule = shop.admin(
        "POST",
        "/v1/admin/rules",
        {"preset": "flash_promo", "trigger": {"type": "page_load"}},
    )
    context = browser.new_context(
        user_agent=BROWSER_UA, permissions=["clipboard-read", "clipboard-write"]
    )
    try:
        page = context.new_page()
        page.goto(shop.pages.url("/p/sku-1"))
        clock = page.locator("tarry-popup [data-tarry-clock]")
        clock.wait_for(state="visible")
        first = clock.inner_text()
        page.wait_for_function(
            "t => document.querySelector('tarry-popup').shadowRoot"
            ".querySelector('[data-tarry-clock]').textContent !== t",
            arg=first,
            timeout=5000,
        )
        assert first in ("15:00", "14:59") and clock.inner_text() < first
        page.locator("tarry-popup [data-tarry-copy]").click()
        assert page.evaluate("navigator.clipboard.readText()") == "FLASH10"
        events = shop.wait_for(lambda es: of_type(es, "popup_click"), "popup_click")
        [click] = of_type(events, "popup_click")
        assert click["placement"] == "copy" and click["popup_id"] == rule["id"]
    finally:
        context.close()


def test_the_outbox_is_bounded_and_drops_the_oldest_first(shop: Shop, page: Page) -> None:
    page.goto(shop.pages.url("/cart"))
    shop.wait_for(lambda es: of_type(es, "page_view"), "page_view")
    shop.server.stop()
    try:
        page.evaluate(
            "for (let n = 0; n < 600; n++)"
            " tarry('track', 'add_to_cart', {items: [{item_id: 'B-' + n}]})"
        )
        page.wait_for_function(
            "JSON.parse(localStorage.getItem('_ty_o') || '[]')"
            ".reduce((n, b) => n + b[2].length, 0) === 500",
            timeout=10_000,
        )
        assert page.evaluate("+localStorage.getItem('_ty_d')") == 100  # counted, not lost silently
    finally:
        shop.server.start()
    # Leaving the page adds its engagement event, which pushes one more old batch out.
    page.goto(shop.pages.url("/"))
    page.wait_for_function("JSON.parse(localStorage.getItem('_ty_o') || '[]').length === 0")
    dropped = page.evaluate("+localStorage.getItem('_ty_d')")
    assert 100 <= dropped <= 140
    events = shop.wait_for(
        lambda es: len(of_type(es, "add_to_cart")) == 600 - dropped, "the kept events"
    )
    kept = {e["items"][0]["item_id"] for e in of_type(events, "add_to_cart")}
    assert kept == {f"B-{n}" for n in range(dropped, 600)}  # the newest, none twice


def test_a_themes_own_add_to_cart_form_is_tracked(shop: Shop, page: Page) -> None:
    page.goto(shop.pages.url("/p/sku-1"))
    page.wait_for_function("typeof tarry === 'function'")
    page.click("#buy")  # a plain form post to /cart/add, as Shopify themes have
    page.wait_for_url("**/cart/add?quantity=2")
    events = shop.wait_for(lambda es: of_type(es, "add_to_cart"), "add_to_cart")
    [added] = of_type(events, "add_to_cart")
    assert added["items"][0]["item_id"] == "SKU-1" and added["items"][0]["quantity"] == 2
    assert added["value"] == 59.8 and added["currency"] == "EUR"


@pytest.mark.parametrize(
    ("trigger", "act", "signal"),
    [
        ({"type": "time_on_page", "seconds": 1.5}, "", "time_on_page"),
        ({"type": "inactivity", "seconds": 1.5}, "", "inactivity"),
        ({"type": "scroll_depth", "percent": 50}, "window.scrollTo(0, 1800)", "scroll_depth"),
    ],
)
def test_other_triggers_fire_when_their_moment_comes(
    shop: Shop, page: Page, trigger: dict[str, Any], act: str, signal: str
) -> None:
    shop.admin(
        "POST",
        "/v1/admin/rules",
        {"preset": "dont_go", "targeting": {"page_types": None}, "trigger": trigger},
    )
    with page.expect_response(lambda r: "/v1/decide" in r.url):
        page.goto(shop.pages.url("/"))
    page.wait_for_timeout(700)
    assert page.query_selector("tarry-popup") is None  # not before its moment
    if act:
        page.evaluate(act)
    page.locator("tarry-popup [role=dialog]").wait_for(state="visible", timeout=5000)
    events = shop.wait_for(lambda es: of_type(es, "popup_shown"), "popup_shown")
    assert of_type(events, "popup_shown")[0]["trigger"] == signal


def test_on_a_phone_a_fast_scroll_back_to_the_top_is_exit_intent(shop: Shop, phone: Page) -> None:
    shop.admin(
        "POST",
        "/v1/admin/rules",
        {"preset": "dont_go", "trigger": {"type": "exit_intent", "min_seconds": 0}},
    )
    with phone.expect_response(lambda r: "/v1/decide" in r.url):
        phone.goto(shop.pages.url("/"))
    phone.evaluate("window.scrollTo(0, 300)")
    phone.wait_for_timeout(300)
    assert phone.query_selector("tarry-popup") is None  # reading down is not leaving
    phone.evaluate("window.scrollTo(0, 2000)")
    phone.wait_for_timeout(300)
    phone.evaluate("window.scrollTo(0, 0)")  # a flick back to the address bar
    phone.locator("tarry-popup [role=dialog]").wait_for(state="visible", timeout=5000)
    events = shop.wait_for(lambda es: of_type(es, "popup_shown"), "popup_shown")
    assert of_type(events, "popup_shown")[0]["trigger"] == "exit_intent:scroll_up"
