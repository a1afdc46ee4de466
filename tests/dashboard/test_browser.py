"""The dashboard in a real headless Chromium against a real `tarry serve`: signing
in and out, a preset switched on and edited with its live preview, the rule then
served by `/v1/decide`, an API error beside its field, the overview drawn from
events sent through `/v1/collect`, CSRF, and every page checked with axe-core
(no serious or critical violation) and photographed in English and in Persian
under `TARRY_ARTIFACTS` (default `test-artifacts/dashboard/`)."""

from __future__ import annotations

import json
import os
import random
import struct
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import BROWSER_UA
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect, sync_playwright
from processes import Server, chromium_executable

from widget_server.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
WAIT_MS = 15_000


def _png(rgb: tuple[int, int, int], size: int = 8) -> bytes:
    """A small PNG of one colour: the product images, with no network."""
    row = b"\x00" + bytes(rgb) * size
    raw = zlib.compress(row * size)

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


COLOURS = [(192, 132, 96), (96, 132, 192), (120, 170, 110), (170, 110, 150), (90, 90, 90),
           (210, 180, 90)]  # fmt: skip


class Shop:
    """A store on the running server, with its keys."""

    def __init__(self, server: Server, created: dict[str, str]) -> None:
        self.server = server
        self.store_id = created["store_id"]
        self.public_key = created["public_key"]
        self.secret_key = created["secret_key"]

    def api(self, method: str, path: str, body: Any = None, raw: bytes | None = None) -> Any:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        request = urllib.request.Request(
            self.server.url + path,
            data=data,
            method=method,
            headers={"authorization": f"Bearer {self.secret_key}", "user-agent": BROWSER_UA},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read()
            return json.loads(text) if text else None

    def decide(self, **params: str) -> dict[str, Any]:
        query = urllib.parse.urlencode({"k": self.public_key, "vid": "v-decide", "sid": "s-decide",
                                        **params})  # fmt: skip
        request = urllib.request.Request(
            f"{self.server.url}/v1/decide?{query}", headers={"user-agent": BROWSER_UA}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            answer: dict[str, Any] = json.loads(response.read())
            return answer


def _new_shop(server: Server, name: str) -> Shop:
    created = json.loads(
        server.tarry("store", "create", "--name", name, "--domain", "shop.example", "--json")
    )
    return Shop(server, created)


@pytest.fixture(scope="module")
def tarry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = Server(tmp_path_factory.mktemp("dashboard") / "data", TARRY_RATE_LIMIT_VISITOR="0")
    server.start()
    yield server
    if server.process is not None and server.process.poll() is None:
        server.stop()


@pytest.fixture(scope="module")
def shop(tarry: Server, traffic: Any) -> Shop:
    """A store with a catalog, a popup with a holdout, a month of traffic through the
    real ingest, and a trained model: what a merchant's dashboard shows."""
    shop = _new_shop(tarry, "Northwind Goods")
    lines = ["item_id,name,url,image,price,currency,category"] + [
        f"{c['item_id']},{c['name']},{c['url']},{c['image']},{c['price']},EUR,{c['category']}"
        for c in traffic.catalog
    ]
    shop.api("POST", "/v1/admin/catalog", raw="\n".join(lines).encode())
    shop.api("PATCH", "/v1/admin/settings", {"currency": "EUR", "timezone": "Europe/Paris"})
    rule = shop.api("POST", "/v1/admin/rules", {"preset": "dont_go", "holdout": 20})
    settings = Settings.from_env({"TARRY_DATA_DIR": tarry.env["TARRY_DATA_DIR"]})
    traffic.fill_history(settings, shop.store_id, 62, rule["id"])
    tarry.tarry("train", "--store", shop.store_id)
    return shop


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_executable())
        yield launched
        launched.close()


def _images(route: Route) -> None:
    index = sum(route.request.url.encode()) % len(COLOURS)
    route.fulfill(status=200, content_type="image/png", body=_png(COLOURS[index], 24))


@pytest.fixture
def context(browser: Browser, request: pytest.FixtureRequest) -> Iterator[BrowserContext]:
    # A desktop browser's user agent: HeadlessChrome is a bot to the collector. The
    # axe test injects axe-core as an inline script, which the dashboard's own CSP
    # rightly refuses: that test alone bypasses it (the others hold the pages to it).
    params = getattr(request.node, "callspec", None)
    persian = params is not None and params.params.get("language") == "fa"
    made = browser.new_context(
        user_agent=BROWSER_UA,
        viewport={"width": 1360, "height": 900},
        locale="fa-IR" if persian else "en-GB",
        bypass_csp="axe" in request.node.name,
    )
    made.route("https://shop.example/**", _images)
    yield made
    made.close()


@pytest.fixture
def page(context: BrowserContext) -> Iterator[Page]:
    """A page that fails the test if anything the dashboard sends breaks its own
    Content-Security-Policy (an inline style or script, a foreign resource)."""
    opened = context.new_page()
    refused: list[str] = []
    opened.on(
        "console",
        lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None,
    )
    if os.environ.get("TARRY_DEBUG_BROWSER"):
        opened.on("console", lambda m: print("console:", m.text))
    yield opened
    assert not refused, refused


@pytest.fixture(scope="module")
def artifacts() -> Path:
    directory = Path(os.environ.get("TARRY_ARTIFACTS") or ROOT / "test-artifacts" / "dashboard")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def sign_in(page: Page, server: Server, key: str) -> None:
    page.goto(f"{server.url}/dashboard")
    expect(page).to_have_url(f"{server.url}/dashboard/signin?next=/dashboard")
    page.fill("#secret_key", key)
    page.click("button[type=submit]")


def axe_violations(page: Page) -> list[dict[str, Any]]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        {"id": v["id"], "impact": v["impact"], "help": v["help"],
         "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]  # fmt: skip


def test_sign_in_refuses_a_wrong_key_and_the_public_key_then_signs_in_and_out(
    tarry: Server, shop: Shop, page: Page
) -> None:
    sign_in(page, tarry, "sk_" + shop.store_id + "_" + "x" * 32)
    expect(page.locator("#secret_key-error")).to_have_text(
        "Unknown, rotated or disabled secret key."
    )
    page.fill("#secret_key", shop.public_key)
    page.click("button[type=submit]")
    expect(page.locator("#secret_key-error")).to_contain_text("public key (pk_...)")
    page.goto(f"{tarry.url}/dashboard/popups")
    expect(page).to_have_url(f"{tarry.url}/dashboard/signin?next=/dashboard/popups")
    # Neither key got a session: no page of the store opens.
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert (
        cookies["tarry_dashboard"]["httpOnly"] and cookies["tarry_dashboard"]["sameSite"] == "Lax"
    )

    page.fill("#secret_key", shop.secret_key)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{tarry.url}/dashboard/popups")
    expect(page.locator(".store-name")).to_have_text("Northwind Goods")
    cookie = next(c for c in page.context.cookies() if c["name"] == "tarry_dashboard")
    assert shop.secret_key not in urllib.parse.unquote(cookie["value"])
    assert 11.9 * 3600 < cookie["expires"] - time.time() <= 12 * 3600

    page.click("text=Sign out")
    expect(page.locator(".notice.good")).to_have_text("You are signed out.")
    page.goto(f"{tarry.url}/dashboard")
    expect(page).to_have_url(f"{tarry.url}/dashboard/signin?next=/dashboard")


def test_a_form_posted_without_its_csrf_token_is_refused(
    tarry: Server, shop: Shop, page: Page
) -> None:
    sign_in(page, tarry, shop.secret_key)
    page.goto(f"{tarry.url}/dashboard/settings")
    page.evaluate("document.querySelector('form.settings-form input[name=csrf]').remove()")
    page.fill("#f-currency", "GBP")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.click("form.settings-form button[type=submit]")
    assert answer.value.status == 403
    expect(page.locator("h1")).to_contain_text("not sent from this dashboard")
    assert shop.api("GET", "/v1/admin/settings")["currency"] == "EUR"


def test_a_preset_switched_on_edited_with_its_live_preview_saved_and_served(
    tarry: Server, page: Page
) -> None:
    shop = _new_shop(tarry, "Preset shop")
    sign_in(page, tarry, shop.secret_key)
    page.goto(f"{tarry.url}/dashboard/popups")
    page.click("button[aria-label='Switch on Flash promo']")
    expect(page.locator(".notice.good")).to_contain_text("Switched on")
    rule_id = page.url.split("/dashboard/popups/")[1].split("?")[0]
    frame = page.frame_locator("#preview-desktop")
    expect(frame.locator(".tarry-headline")).to_have_text("Flash deal: 10% off")

    page.fill("#f-content-headline", "Summer sale: 20% off today")
    # The preview shows the headline before anything is saved.
    expect(frame.locator(".tarry-headline")).to_have_text(
        "Summer sale: 20% off today", timeout=WAIT_MS
    )
    expect(page.frame_locator("#preview-phone").locator(".tarry-headline")).to_have_text(
        "Summer sale: 20% off today"
    )
    assert shop.api("GET", f"/v1/admin/rules/{rule_id}")["content"]["headline"] == (
        "Flash deal: 10% off"
    )
    page.click("#rule-form button[type=submit]")
    expect(page.locator(".notice.good")).to_contain_text("Saved")
    assert shop.api("GET", f"/v1/admin/rules/{rule_id}")["content"]["headline"] == (
        "Summer sale: 20% off today"
    )
    decided = shop.decide(page_type="product", url="https://shop.example/p/sku-1")
    [popup] = [p for p in decided["popups"] if p["id"] == rule_id]
    assert "Summer sale: 20% off today" in popup["html"]
    assert popup["trigger"] == {"type": "time_on_page", "seconds": 8.0}


def test_a_bad_value_shows_the_api_message_beside_its_field(tarry: Server, page: Page) -> None:
    shop = _new_shop(tarry, "Error shop")
    created = shop.api("POST", "/v1/admin/rules", {"preset": "last_chance"})
    sign_in(page, tarry, shop.secret_key)
    page.goto(f"{tarry.url}/dashboard/popups/{created['id']}")
    # What the API itself says about this value.
    try:
        shop.api("PATCH", f"/v1/admin/rules/{created['id']}",
                 {"content": {"button_url": "javascript:alert(1)"}})  # fmt: skip
    except urllib.error.HTTPError as exc:
        api_errors = json.loads(exc.read())["errors"]
    [expected] = [e["error"] for e in api_errors if e["field"] == "content.button_url"]

    page.fill("#f-content-button_url", "javascript:alert(1)")
    beside = page.locator("#f-content-button_url-error")
    expect(beside).to_have_text(expected, timeout=WAIT_MS)  # live, as typed
    page.click("#rule-form button[type=submit]")
    expect(page.locator(".errors")).to_contain_text("content.button_url")
    expect(beside).to_have_text(expected)
    expect(page.locator("#f-content-button_url")).to_have_attribute("aria-invalid", "true")
    assert shop.api("GET", f"/v1/admin/rules/{created['id']}")["content"]["button_url"] == (
        "/checkout"
    )


def test_the_overview_draws_its_charts_from_events_sent_through_collect(
    tarry: Server, page: Page, traffic: Any
) -> None:
    shop = _new_shop(tarry, "Collect shop")
    now = int(time.time() * 1000)
    rng = random.Random(1)
    for n in range(3):
        events = traffic.session_events(rng, n, now - 60_000 * (3 - n))
        status, answer = tarry.collect({"k": shop.public_key, "events": events})
        assert status == 200 and answer["accepted"] == len(events), answer
    sign_in(page, tarry, shop.secret_key)
    page.goto(f"{tarry.url}/dashboard?range=today")
    sessions = page.locator(".figure", has_text="Sessions").locator(".number data")
    expect(sessions).to_have_attribute("value", "3")
    chart = page.locator("svg#main-chart")
    expect(chart).to_be_visible()
    assert chart.locator("path.line.current").count() == 1
    assert chart.locator("circle.point").count() >= 1
    page.click("text=Show as a table")
    cells = page.locator("details.chart-table tbody tr td:nth-child(2) data")
    assert sum(int(cells.nth(i).get_attribute("value") or 0) for i in range(cells.count())) == 3
    expect(page.locator(".live data")).not_to_have_attribute("value", "0")
    channel_rows = page.locator("section[aria-labelledby='panel-sources'] tbody tr")
    assert channel_rows.count() >= 2


PAGES = (
    ("overview", "/dashboard"),
    ("popups", "/dashboard/popups"),
    ("rule", None),  # the popup rule's editor
    ("new-rule", "/dashboard/popups/new?template=email_capture"),
    ("showcases", "/dashboard/showcases"),
    ("retention", "/dashboard/retention"),
    ("catalog", "/dashboard/catalog?q=s"),
    ("item", "/dashboard/catalog/items/sku-1"),
    ("install", "/dashboard/install"),
    ("settings", "/dashboard/settings"),
    ("not-found", "/dashboard/no-such-page"),
)


@pytest.mark.parametrize("language", ["en", "fa"])
def test_every_page_passes_axe_and_is_photographed(
    tarry: Server, shop: Shop, page: Page, artifacts: Path, language: str
) -> None:
    page.goto(f"{tarry.url}/dashboard/signin")
    assert not axe_violations(page)
    page.screenshot(path=str(artifacts / f"signin-{language}.png"))
    page.fill("#secret_key", shop.secret_key)
    page.click("button[type=submit]")
    page.goto(f"{tarry.url}/dashboard/settings")
    page.fill("#f-locale", "fa-IR" if language == "fa" else "en-GB")
    page.click("form.settings-form button[type=submit]")
    expect(page.locator(".notice.good")).to_be_visible()
    rule_id = shop.api("GET", "/v1/admin/rules")["rules"][0]["id"]
    problems = {}
    for name, path in PAGES:
        page.goto(f"{tarry.url}{path or '/dashboard/popups/' + rule_id}")
        expect(page.locator("h1")).to_be_visible()
        if name == "overview":
            expect(page.locator("svg#main-chart circle.point").first).to_be_attached()
        found = axe_violations(page)
        if found:
            problems[name] = found
        page.screenshot(path=str(artifacts / f"{name}-{language}.png"), full_page=True)
    assert not problems, json.dumps(problems, indent=1)
    html = page.locator("html")
    if language == "fa":
        expect(html).to_have_attribute("dir", "rtl")
        expect(html).to_have_attribute("lang", "fa-IR")
        page.goto(f"{tarry.url}/dashboard")
        expect(page.locator("h1")).to_have_text("نمای کلی")
        sessions = page.locator(".figure", has_text="نشست").first.locator(".number").inner_text()
        assert any("\u06f0" <= ch <= "\u06f9" for ch in sessions), sessions  # Persian digits
        page.click("details.chart-table summary")
        first_day = page.locator("details.chart-table tbody th time").first.inner_text()
        assert "\u06f1\u06f4\u06f0" in first_day, first_day  # a Solar Hijri year, 140x
    else:
        expect(html).to_have_attribute("dir", "ltr")
