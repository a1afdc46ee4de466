"""The classic popups in a real headless Chromium, left to right and right to left.

Each rule is made through the admin API from its preset, its preview (HTML and CSS)
is fetched, and a page mounts it the way the snippet will: an open shadow root on a
host `<div>` holding a `<style>` and the popup's HTML. The assertions read real
layout (bounding boxes, computed styles, hit testing) through the shadow root, and a
screenshot of every case lands in `TARRY_ARTIFACTS/popups/` (default
`test-artifacts/popups/`).

The browser is the system Chromium (`TARRY_CHROMIUM`, else `chromium`,
`chromium-browser` or `google-chrome` on the PATH). Without one these tests fail:
a popup nobody has looked at in a browser is not tested. Images are answered by the
page's request router, so nothing here needs the network.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from conftest import BROWSER_UA
from helpers import make_store
from paths import artifacts as artifacts_folder
from processes import chromium_executable
from starlette.testclient import TestClient

from widget_server.app import create_app
from widget_server.settings import Settings
from widget_server.storage.embedded_redis import EmbeddedRedis

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Route

IMAGE_HOST = "http://img.tarry.test"
VIEWPORTS = {
    "desktop": {"width": 1280, "height": 800},
    "mobile": {"width": 390, "height": 844},
}
MIN_TOUCH_PX = 44
# The close button's corner: at most this far in from the dialog's edges.
CORNER_PX = 24

CATALOG = [
    ("p1", "Linen shirt", "29.90", "#c0392b"),
    ("p2", "Canvas tote", "14.50", "#2980b9"),
    ("p3", "Ceramic mug", "9.00", "#27ae60"),
    ("p4", "Wool scarf", "24.00", "#8e44ad"),
]
CATALOG_NAMES = {name for _, name, _, _ in CATALOG}

# What each case sets; Arabic texts are what an Arabic-speaking merchant would write.
CONTENT: dict[str, dict[str, dict[str, Any]]] = {
    "dont_go": {
        "en": {"headline": "Before you go, take a look", "close_label": "Close"},
        "ar": {
            "locale": "ar",
            "headline": "قبل أن تغادر، ألقِ نظرة",
            "text": "اخترنا لك بعض المنتجات التي قد تعجبك.",
            "button_text": "تابع التسوق",
            "close_label": "إغلاق",
            "products_title": "مختارات لك",
        },
    },
    "flash_promo": {
        # Long headlines (here and below): a first line that runs up to the close
        # button's side, so a headline drawn under the button would be caught.
        "en": {
            "headline": "Flash deal: 10% off your whole order, for fifteen minutes only",
            "close_label": "Close",
        },
        "ar": {
            "locale": "ar",
            "headline": "عرض خاطف: خصم ١٠٪",  # noqa: RUF001 (Arabic-Indic digits, on purpose)
            "text": "استخدم هذا الرمز عند الدفع قبل انتهاء الوقت.",
            "button_text": "تسوّق الآن",
            "close_label": "إغلاق",
            "coupon_label": "رمزك",
            "copy_label": "نسخ",
            "countdown_label": "ينتهي العرض خلال",
        },
    },
    "last_chance": {
        "en": {
            "headline": "Still thinking it over? Your cart is still waiting, with 5% off today",
            "close_label": "Close",
        },
        "ar": {
            "locale": "ar",
            "headline": "سلتك بانتظارك، ومعها خصم إضافي على طلبك إذا أكملته اليوم",
            "text": "أكمل طلبك الآن ووفّر ٥٪ بهذا الرمز.",  # noqa: RUF001
            "button_text": "أكمل طلبي",
            "close_label": "إغلاق",
            "coupon_label": "رمزك",
            "copy_label": "نسخ",
        },
    },
}
XSS_HEADLINE = "<script>alert(1)</script>"

HOST_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Shop</title>
<style>body{margin:0;font:16px/1.5 sans-serif}main{padding:24px}</style>
<script>
  window.__tarryScriptRan = false;
  window.alert = function () { window.__tarryScriptRan = true; };
</script></head>
<body><main><h1>Shop</h1><p>Products, a cart and a checkout behind the popup.</p></main>
<div id="tarry-host"></div></body></html>"""

# Mount as the snippet does, but through a contextual fragment: unlike innerHTML it
# runs any <script> it is given, so an unescaped one would be caught.
MOUNT = """([css, html]) => {
  const host = document.getElementById('tarry-host');
  const root = host.attachShadow({mode: 'open'});
  const style = document.createElement('style');
  style.textContent = css;
  root.append(style, document.createRange().createContextualFragment(html));
}"""

IMAGES_SETTLED = """() => [...document.getElementById('tarry-host').shadowRoot
  .querySelectorAll('img')].every((img) => img.complete)"""

# Everything the assertions need, read in the page in one go.
MEASURE = """() => {
  const root = document.getElementById('tarry-host').shadowRoot;
  const box = (el) => {
    if (!el) return null;
    const r = el.getBoundingClientRect();
    return {left: r.left, top: r.top, right: r.right, bottom: r.bottom,
            width: r.width, height: r.height};
  };
  const text = (el) => el ? el.textContent.trim() : null;
  const dialog = root.querySelector('[role=dialog]');
  const close = root.querySelector('.tarry-close');
  const headline = root.querySelector('.tarry-headline');
  const range = document.createRange();
  range.selectNodeContents(headline);
  const closeBox = box(close);
  const hit = closeBox && root.elementFromPoint(
    closeBox.left + closeBox.width / 2, closeBox.top + closeBox.height / 2);
  const dialogBox = box(dialog);
  const centre = root.elementFromPoint(
    dialogBox.left + dialogBox.width / 2, dialogBox.top + Math.min(40, dialogBox.height / 2));
  const style = getComputedStyle(dialog);
  const code = root.querySelector('[data-tarry-code]');
  return {
    viewport: {width: innerWidth, height: innerHeight},
    dialog: dialogBox,
    dialogDisplay: style.display, dialogVisibility: style.visibility,
    dialogOpacity: style.opacity,
    dialogHit: !!centre && dialog.contains(centre),
    overflowX: dialog.scrollWidth - dialog.clientWidth,
    direction: style.direction,
    headlineDirection: getComputedStyle(headline).direction,
    headline: headline.textContent,
    headlineLines: Array.from(range.getClientRects()).map((r) => (
      {left: r.left, top: r.top, right: r.right, bottom: r.bottom})),
    close: closeBox,
    closeLabel: close && close.getAttribute('aria-label'),
    closeHit: !!hit && (hit === close || close.contains(hit)),
    coupon: text(code),
    couponDirection: code && getComputedStyle(code).direction,
    couponBox: box(code),
    clock: text(root.querySelector('[data-tarry-clock]')),
    products: [...root.querySelectorAll('.tarry-product')].map((li) => ({
      name: text(li.querySelector('.tarry-name')),
      price: text(li.querySelector('.tarry-price')),
      box: box(li),
      image: (() => {
        const img = li.querySelector('img');
        return img && {natural: img.naturalWidth, box: box(img)};
      })(),
    })),
    cart: [...root.querySelectorAll('.tarry-cart-item')].map((li) => ({
      name: text(li.querySelector('.tarry-name')), box: box(li)})),
    button: box(root.querySelector('.tarry-button')),
    scripts: root.querySelectorAll('script').length,
    scriptRan: window.__tarryScriptRan,
  };
}"""


def _svg(colour: str) -> bytes:
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="200" height="200">'
        f'<rect width="200" height="200" fill="{colour}"/>'
        '<circle cx="100" cy="100" r="60" fill="#ffffff" fill-opacity=".5"/></svg>'
    ).encode()


IMAGES = {f"{IMAGE_HOST}/{item_id}.svg": _svg(colour) for item_id, _, _, colour in CATALOG}


def _catalog_csv() -> str:
    rows = ["item_id,name,url,image,price,currency"]
    for item_id, name, price, _ in CATALOG:
        rows.append(
            f"{item_id},{name},https://shop.example/p/{item_id},{IMAGE_HOST}/{item_id}.svg,"
            f"{price},USD"
        )
    return "\n".join(rows) + "\n"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = chromium_executable()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed: pip install -e '.[dev]'")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def artifacts() -> Path:
    return artifacts_folder("popups")


@pytest.fixture(scope="module")
def previews(
    embedded_redis: EmbeddedRedis, tmp_path_factory: pytest.TempPathFactory
) -> dict[tuple[str, str], dict[str, Any]]:
    """Every case's rule made through the API and its preview, fetched up front (one
    standalone Redis: what is tested here is the browser, not the storage)."""
    settings = Settings.from_env(
        {
            "TARRY_REDIS_URL": embedded_redis.url,
            "TARRY_DATA_DIR": str(tmp_path_factory.mktemp("popup-browser")),
        }
    )
    _, secret = make_store(settings)
    auth = {"authorization": f"Bearer {secret}"}
    out: dict[tuple[str, str], dict[str, Any]] = {}
    with TestClient(create_app(settings), headers={"user-agent": BROWSER_UA}) as client:
        response = client.post(
            "/v1/admin/catalog",
            content=_catalog_csv(),
            headers={**auth, "content-type": "text/csv"},
        )
        assert response.status_code == 200, response.text
        assert response.json()["imported"] == len(CATALOG)
        for (preset, lang), content in _cases():
            created = client.post(
                "/v1/admin/rules", json={"preset": preset, "content": content}, headers=auth
            )
            assert created.status_code == 201, created.text
            preview = client.get(f"/v1/admin/rules/{created.json()['id']}/preview", headers=auth)
            assert preview.status_code == 200, preview.text
            out[preset, lang] = {**preview.json(), "content": created.json()["content"]}
    return out


def _cases() -> Iterator[tuple[tuple[str, str], dict[str, Any]]]:
    for preset, by_lang in CONTENT.items():
        yield from (((preset, lang), content) for lang, content in by_lang.items())
    yield ("flash_promo", "xss"), {"headline": XSS_HEADLINE}


def serve_image(route: Route) -> None:
    body = IMAGES.get(route.request.url)
    if body is None:
        route.fulfill(status=404)
    else:
        route.fulfill(status=200, content_type="image/svg+xml", body=body)


@pytest.fixture
def open_page(browser: Browser) -> Iterator[Any]:
    contexts = []

    def opener(viewport: str) -> Page:
        size = VIEWPORTS[viewport]
        context = browser.new_context(
            viewport=size,
            device_scale_factor=1,
            is_mobile=viewport == "mobile",
            has_touch=viewport == "mobile",
            reduced_motion="reduce",  # measure the popup at rest, not mid-animation
            user_agent=BROWSER_UA,
        )
        contexts.append(context)
        context.route(f"{IMAGE_HOST}/**", serve_image)
        context.route(re.compile(r"^https?://(?!img\.tarry\.test/).*"), lambda r: r.abort())
        page = context.new_page()
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.dialogs = dialogs  # type: ignore[attr-defined]
        page.set_content(HOST_PAGE)
        return page

    yield opener
    for context in contexts:
        context.close()


def mount(page: Page, css: str, html: str) -> dict[str, Any]:
    page.evaluate(MOUNT, [css, html])
    page.wait_for_function(IMAGES_SETTLED, timeout=5000)
    page.evaluate("document.fonts.ready")
    result: dict[str, Any] = page.evaluate(MEASURE)
    return result


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _inside(inner: dict[str, float], outer: dict[str, float], slack: float = 0.5) -> bool:
    return (
        inner["left"] >= outer["left"] - slack
        and inner["top"] >= outer["top"] - slack
        and inner["right"] <= outer["right"] + slack
        and inner["bottom"] <= outer["bottom"] + slack
    )


def _overlaps(a: dict[str, float], b: dict[str, float]) -> bool:
    return (
        a["left"] < b["right"]
        and b["left"] < a["right"]
        and a["top"] < b["bottom"]
        and b["top"] < a["bottom"]
    )


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize("lang", ["en", "ar"])
@pytest.mark.parametrize("preset", list(CONTENT))
def test_popup_renders(
    preset: str,
    lang: str,
    viewport: str,
    previews: dict[tuple[str, str], dict[str, Any]],
    open_page: Any,
    artifacts: Path,
) -> None:
    preview = previews[preset, lang]
    page = open_page(viewport)
    m = mount(page, preview["css"], preview["html"])
    expected = preview["content"]
    rtl = lang == "ar"
    view = {"left": 0, "top": 0, "right": m["viewport"]["width"], "bottom": m["viewport"]["height"]}

    # Screenshot first, so a failing case still leaves a picture to look at.
    shot = artifacts / f"{preset}-{lang}-{viewport}.png"
    page.screenshot(path=str(shot))
    size = VIEWPORTS[viewport]
    assert png_size(shot) == (size["width"], size["height"])
    assert shot.stat().st_size > 8 * 1024, f"{shot} is suspiciously small"

    # The dialog is displayed, on top, and wholly inside the viewport.
    assert page.locator("#tarry-host [role=dialog]").is_visible()
    assert m["dialogDisplay"] != "none"
    assert m["dialogVisibility"] == "visible" and float(m["dialogOpacity"]) == 1
    assert m["dialog"]["width"] > 200 and m["dialog"]["height"] > 100
    assert _inside(m["dialog"], view), (m["dialog"], m["viewport"])
    assert m["dialogHit"], "something covers the dialog"
    assert m["overflowX"] <= 0, "the dialog scrolls sideways"

    # Texts and direction.
    assert m["headline"] == expected["headline"]
    assert m["direction"] == m["headlineDirection"] == ("rtl" if rtl else "ltr")
    assert m["closeLabel"] == expected["close_label"]
    # What a screen reader announces: the dialog by its headline, the button by its label.
    assert page.get_by_role("dialog", name=expected["headline"], exact=True).is_visible()
    assert page.get_by_role("button", name=expected["close_label"], exact=True).is_visible()
    assert m["scripts"] == 0 and not m["scriptRan"]

    # The close button: a full touch target, in the top corner on the side where
    # lines end (right in LTR, left in RTL), clickable, clear of the headline.
    close, dialog = m["close"], m["dialog"]
    assert close["width"] >= MIN_TOUCH_PX and close["height"] >= MIN_TOUCH_PX, close
    assert 0 <= close["top"] - dialog["top"] <= CORNER_PX, (close, dialog)
    if rtl:
        assert 0 <= close["left"] - dialog["left"] <= CORNER_PX, (close, dialog)
    else:
        assert 0 <= dialog["right"] - close["right"] <= CORNER_PX, (close, dialog)
    assert m["closeHit"], "the close button is covered where it is drawn"
    for line in m["headlineLines"]:
        assert not _overlaps(line, close), ("the headline runs under the close button", line)

    if preset in ("flash_promo", "last_chance"):
        assert m["coupon"] == expected["coupon"]["code"]
        # A code is Latin letters and digits: it must not be mirrored in RTL.
        assert m["couponDirection"] == "ltr"
        assert _inside(m["couponBox"], dialog)
    if preset == "flash_promo":
        assert m["clock"] == "15:00"
    if preset == "last_chance":
        assert len(m["cart"]) == 2
        assert {item["name"] for item in m["cart"]} <= CATALOG_NAMES
    if preset == "dont_go":
        assert len(m["products"]) == len(CATALOG)
        assert {p["name"] for p in m["products"]} == CATALOG_NAMES
        for product in m["products"]:
            assert product["price"] and product["price"].startswith("$")
            assert product["image"]["natural"] > 0, f"{product['name']}: image did not load"
            assert product["image"]["box"]["width"] >= 64, product
            assert (
                product["box"]["left"] >= dialog["left"]
                and product["box"]["right"] <= dialog["right"]
            ), product
        if rtl:  # cards run from the right: the first is the rightmost
            first, second = m["products"][0]["box"], m["products"][1]["box"]
            assert first["left"] > second["left"]
    assert m["button"] is not None and m["button"]["height"] >= MIN_TOUCH_PX


def test_markup_in_a_headline_is_shown_as_text(
    previews: dict[tuple[str, str], dict[str, Any]], open_page: Any
) -> None:
    preview = previews["flash_promo", "xss"]
    page = open_page("desktop")
    m = mount(page, preview["css"], preview["html"])
    assert m["headline"] == XSS_HEADLINE
    assert page.locator("#tarry-host .tarry-headline").inner_text() == XSS_HEADLINE
    assert m["scripts"] == 0
    assert m["scriptRan"] is False
    assert page.dialogs == []  # type: ignore[attr-defined]


def test_the_mount_would_run_an_unescaped_script(open_page: Any) -> None:
    """The harness's own check: the way popups are mounted here does run a script
    that reaches the markup, so the test above would see one."""
    page = open_page("desktop")
    page.evaluate(MOUNT, ["", '<div role="dialog"><h2><script>alert(1)</script></h2></div>'])
    assert page.evaluate("window.__tarryScriptRan") is True
