"""The demo shop's pages (widget_server/demo/shop.py) on the real app and Redis:
the tag as a merchant pastes it, schema.org Product data, the cart in a cookie,
GA4 dataLayer events through to the purchase, and bad input refused by name."""

from __future__ import annotations

import json
import re
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import BROWSER_UA
from helpers import run_with_redis
from starlette.testclient import TestClient

from widget_server.app import create_app
from widget_server.demo import store as demo_store
from widget_server.demo.cart import CART_COOKIE, read_cart
from widget_server.demo.products import catalog
from widget_server.settings import Settings
from widget_server.storage import stores

PAGES = ("/demo/", "/demo/collections/mugs", "/demo/products/td-1001", "/demo/cart")


def _json_ld(html: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/ld\+json">(.*?)</script>', html, re.S)
    assert found is not None
    data: dict[str, Any] = json.loads(found.group(1))
    return data


def _data_layer(html: str) -> dict[str, Any]:
    found = re.search(r"dataLayer\.push\((.*?)\);", html, re.S)
    assert found is not None, "no dataLayer event on the page"
    data: dict[str, Any] = json.loads(found.group(1))
    return data


def _public_key(settings: Settings) -> str:
    found = run_with_redis(settings, demo_store.find)
    assert found is not None
    return found.store.public_key


def _in_stock_and_sold_out() -> tuple[str, str]:
    products = catalog().products
    return (
        next(p.sku for p in products if p.in_stock),
        next(p.sku for p in products if not p.in_stock),
    )


@pytest.fixture
def bare_client(demo_settings: Settings) -> Iterator[TestClient]:
    """A server whose Redis has no demo store: a real store's `tarry serve`."""
    with TestClient(create_app(demo_settings), headers={"user-agent": BROWSER_UA}) as client:
        yield client


def test_without_a_demo_store_there_is_no_shop(bare_client: TestClient) -> None:
    for path in PAGES:
        answer = bare_client.get(path)
        assert answer.status_code == 404 and "tarry demo" in answer.text


def test_every_page_has_the_tag_pasted_in_and_the_demo_banner(
    shop_client: TestClient, demo_settings: Settings
) -> None:
    key = _public_key(demo_settings)
    tag = f'<script async src="/t.js" data-key="{key}" data-home="/demo/"></script>'
    for path in PAGES:
        answer = shop_client.get(path)
        assert answer.status_code == 200, path
        assert answer.text.count(tag) == 1, path
        assert 'class="demo-banner"' in answer.text and "nothing is sold" in answer.text
    assert shop_client.get("/demo", follow_redirects=False).headers["location"] == "/demo/"


def test_a_product_page_describes_its_product_in_schema_org_json_ld(
    shop_client: TestClient,
) -> None:
    product = catalog().by_sku["TD-1001"]
    data = _json_ld(shop_client.get("/demo/products/td-1001").text)
    assert data["@type"] == "Product" and data["sku"] == "TD-1001"
    assert data["name"] == product.name and data["category"] == product.category.name
    assert data["offers"] == {
        "@type": "Offer",
        "price": f"{product.price:.2f}",
        "priceCurrency": "USD",
        "availability": "https://schema.org/InStock",
        "url": "http://testserver/demo/products/td-1001",
    }
    assert data["image"] == "http://testserver/demo/images/TD-1001.svg"
    picture = shop_client.get("/demo/images/TD-1001.svg")
    assert picture.headers["content-type"] == "image/svg+xml"
    drawn = ElementTree.fromstring(picture.text)  # well-formed SVG, drawn here
    assert drawn.find("{http://www.w3.org/2000/svg}title").text == product.name  # type: ignore[union-attr]


def test_a_sold_out_product_says_so_and_cannot_be_added(shop_client: TestClient) -> None:
    _, sold_out = _in_stock_and_sold_out()
    page = shop_client.get(f"/demo/products/{sold_out.lower()}").text
    assert _json_ld(page)["offers"]["availability"] == "https://schema.org/OutOfStock"
    assert "Sold out" in page and 'action="/demo/cart/add"' not in page
    refused = shop_client.post("/demo/cart/add", data={"sku": sold_out, "quantity": "1"})
    assert refused.status_code == 400 and "sku: " in refused.text and "sold out" in refused.text
    assert CART_COOKIE not in refused.cookies


def test_a_purchase_goes_from_cart_to_thank_you_with_ga4_events(shop_client: TestClient) -> None:
    sku, _ = _in_stock_and_sold_out()
    product = catalog().by_sku[sku]
    added = shop_client.post(
        "/demo/cart/add", data={"sku": sku, "quantity": "2"}, follow_redirects=False
    )
    assert added.status_code == 303 and added.headers["location"] == "/demo/cart"
    cart = shop_client.get("/demo/cart").text
    item = {
        "item_id": sku,
        "item_name": product.name,
        "item_category": product.category.name,
        "price": product.price,
        "quantity": 2,
    }
    assert _data_layer(cart) == {
        "event": "view_cart",
        "ecommerce": {"currency": "USD", "value": product.price * 2, "items": [item]},
    }
    checkout = shop_client.get("/demo/checkout").text
    assert _data_layer(checkout)["event"] == "begin_checkout"
    placed = shop_client.post("/demo/checkout", follow_redirects=False)
    assert placed.status_code == 303 and placed.headers["location"] == "/demo/thank-you"
    thanks = shop_client.get("/demo/thank-you").text
    order_id = re.search(r'class="order-id">(TD\d{8})<', thanks).group(1)  # type: ignore[union-attr]
    assert _data_layer(thanks) == {
        "event": "purchase",
        "ecommerce": {
            "transaction_id": order_id,
            "currency": "USD",
            "value": product.price * 2,
            "items": [item],
        },
    }
    assert "Your cart is empty" in shop_client.get("/demo/cart").text
    # Reloading the thank-you page shows the same order: the snippet counts its id once.
    assert order_id in shop_client.get("/demo/thank-you").text


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"sku": "TD-1001", "quantity": "0"}, "quantity: must be a whole number from 1 to 10"),
        ({"sku": "TD-1001", "quantity": "11"}, "quantity: must be a whole number from 1 to 10"),
        ({"sku": "TD-1001", "quantity": "two"}, "quantity: must be a whole number from 1 to 10"),
        ({"sku": "TD-9999", "quantity": "1"}, "sku: there is no product TD-9999"),
        ({"quantity": "1"}, "sku: there is no product (none given)"),
    ],
)
def test_bad_cart_input_is_refused_naming_the_field(
    shop_client: TestClient, form: dict[str, str], field: str
) -> None:
    refused = shop_client.post("/demo/cart/add", data=form)
    assert refused.status_code == 400 and field in refused.text
    assert CART_COOKIE not in refused.cookies


def test_unknown_pages_and_a_thank_you_without_an_order(shop_client: TestClient) -> None:
    assert shop_client.get("/demo/products/td-9999").status_code == 404
    assert shop_client.get("/demo/collections/shoes").status_code == 404
    assert shop_client.get("/demo/images/TD-9999.svg").status_code == 404
    assert shop_client.get("/demo/static/nothing.css").status_code == 404
    gone = shop_client.get("/demo/thank-you", follow_redirects=False)
    assert gone.status_code == 303 and gone.headers["location"] == "/demo/"
    assert shop_client.get("/demo/checkout", follow_redirects=False).headers["location"] == (
        "/demo/cart"
    )


def test_paths_the_shop_does_not_serve_answer_as_pages(shop_client: TestClient) -> None:
    missing = shop_client.get("/demo/nowhere")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")
    assert "No such page" in missing.text
    wrong = shop_client.delete("/demo/cart")
    assert wrong.status_code == 405 and wrong.headers["allow"] == "GET, HEAD"
    assert "This page takes no DELETE" in wrong.text
    # The API is not the shop's: its errors stay JSON, and /openapi.json leaves it out.
    assert shop_client.get("/demonstration").json()["error"].startswith("path: no endpoint")
    assert not [p for p in shop_client.get("/openapi.json").json()["paths"] if "demo" in p]


def test_a_cart_cookie_keeps_only_what_makes_sense() -> None:
    found = catalog()
    assert read_cart("TD-1001:2.TD-1002:1", found).count == 3
    assert read_cart("TD-1001:0.TD-9999:1.junk.TD-1002:99.<script>", found).lines == ()
    assert read_cart(None, found).lines == ()


def test_the_demo_store_is_made_once_and_every_start_gets_a_new_secret_key(
    demo_settings: Settings,
) -> None:
    now = int(time.time() * 1000)
    made, first_secret, created = run_with_redis(
        demo_settings, lambda r: demo_store.open_demo(r, now)
    )
    again, second_secret, created_again = run_with_redis(
        demo_settings, lambda r: demo_store.open_demo(r, now + 60_000)
    )
    assert created and not created_again
    assert made.store.name == "Tarry demo shop"
    assert made.store.domains == ("localhost", "127.0.0.1")
    assert again.store.id == made.store.id and again.anchor_ms == made.anchor_ms
    assert not again.seeded and made.anchor_ms < now
    assert first_secret != second_secret
    assert run_with_redis(demo_settings, lambda r: stores.store_for_secret(r, first_secret)) is None
    opened = run_with_redis(demo_settings, lambda r: stores.store_for_secret(r, second_secret))
    assert opened is not None and opened.id == made.store.id
    run_with_redis(demo_settings, demo_store.mark_seeded)
    assert run_with_redis(demo_settings, demo_store.find).seeded  # type: ignore[union-attr]
