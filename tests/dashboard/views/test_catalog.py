"""The catalog: search by id or name, one item's card, feed upload with bad lines
by number."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from helpers import run_with_redis
from starlette.testclient import TestClient

from widget_server.dashboard.views.catalog import search
from widget_server.settings import Settings
from widget_server.storage import keys, stores
from widget_server.storage.catalog import get_cards, upsert_cards

DATA = Path(__file__).resolve().parents[2] / "data"
FEED = (
    "item_id,name,url,image,price,currency,category\n"
    "n-1,Lin shirt,https://shop.example/p/n-1,https://shop.example/i/1.png,12,EUR,Shirts\n"
    "n-2,Bad price,https://shop.example/p/n-2,https://shop.example/i/2.png,abc,EUR,Shirts\n"
    "n-3,پیراهن کتان,https://shop.example/p/n-3,https://shop.example/i/3.png,9.5,EUR,Shirts\n"
    ",No id,https://shop.example/p/x,https://shop.example/i/x.png,1,EUR,Shirts\n"
)


def test_search_finds_ids_and_names_in_any_case_and_script(
    settings: Settings, shop_store: tuple[stores.Store, str]
) -> None:
    store = shop_store[0]
    more = [{"item_id": "FA-1", "name": "پیراهن کتان آبی"}, {"item_id": "x/y", "name": "Slash"}]
    run_with_redis(settings, lambda r: upsert_cards(r, store.id, more))

    def ids(query: str) -> list[str]:
        found, complete = run_with_redis(settings, lambda r: search(r, store.id, query))
        assert complete
        return sorted(card["item_id"] for card in found)

    assert ids("SKU-1") == ["sku-1"]
    assert ids("linen") == ["sku-0"]
    assert ids("کتان") == ["FA-1"]
    assert ids("x/y") == ["x/y"]
    assert ids("no such thing") == []


def test_the_page_lists_what_it_finds_and_one_item_has_its_card(
    signed_in: TestClient,
) -> None:
    page = signed_in.get("/dashboard/catalog?q=mug").text
    assert "6 items" in re.sub(r"<[^>]+>", "", page)
    assert '<a href="/dashboard/catalog/items/sku-2">Ceramic mug</a>' in page
    item = signed_in.get("/dashboard/catalog/items/sku-2").text
    assert "Shown in showcases" in item and "https://shop.example/img/sku-2.png" in item
    assert signed_in.get("/dashboard/catalog/items/nope").status_code == 404
    csv = signed_in.get("/dashboard/csv/catalog?q=mug").text.lstrip("\ufeff").splitlines()
    header = csv[0].split(",")
    row = dict(zip(header, csv[1].split(","), strict=True))
    assert (row["item_id"], row["name"], row["price"]) == ("sku-2", "Ceramic mug", "12")


def test_an_item_that_showcases_leave_out_says_why(
    signed_in: TestClient, settings: Settings, shop_store: tuple[stores.Store, str]
) -> None:
    gone = {"item_id": "gone", "name": "Gone", "url": "https://s/p", "image": "https://s/i",
            "availability": "out of stock"}  # fmt: skip
    cards = [{"item_id": "bare", "name": "Bare"}, gone]
    run_with_redis(settings, lambda r: upsert_cards(r, shop_store[0].id, cards))
    assert "this item lacks: url, image." in signed_in.get("/dashboard/catalog/items/bare").text
    gone_page = signed_in.get("/dashboard/catalog/items/gone").text
    assert "it is out of stock" in gone_page
    assert "<dd>Out of stock</dd>" in gone_page  # "out of stock" in the dashboard's words


def test_stock_words_in_the_dashboards_words(
    signed_in: TestClient, settings: Settings, shop_store: tuple[stores.Store, str]
) -> None:
    base = {"name": "N", "url": "https://s/p", "image": "https://s/i"}
    cards = [
        {**base, "item_id": "a", "availability": "https://schema.org/InStock"},
        {**base, "item_id": "b", "availability": "discontinued"},
        {**base, "item_id": "c", "availability": "limited availability"},
    ]
    run_with_redis(settings, lambda r: upsert_cards(r, shop_store[0].id, cards))

    def page(item_id: str) -> str:
        return signed_in.get(f"/dashboard/catalog/items/{item_id}").text

    assert "<dd>In stock</dd>" in page("a") and "Shown in showcases" in page("a")
    taken_off = page("b")  # a Shopify product archived, a WooCommerce draft...
    assert "<dd>Discontinued</dd>" in taken_off
    assert "it is no longer on sale" in taken_off and "out of stock" not in taken_off
    assert "<dd>limited availability</dd>" in page("c")  # a word of its own, as written


def test_a_feed_is_imported_and_its_bad_lines_named(
    signed_in: TestClient, settings: Settings, shop_store: tuple[stores.Store, str], traffic: Any
) -> None:
    token = traffic.csrf_of(signed_in.get("/dashboard/catalog").text)
    answer = signed_in.post("/dashboard/catalog", data={"csrf": token, "format": ""},
                            files={"feed": ("feed.csv", FEED.encode(), "text/csv")})  # fmt: skip
    assert answer.status_code == 200
    words = re.sub(r"<[^>]+>", "", answer.text)
    assert "2 items imported from feed.csv." in words
    assert "2 lines were not imported" in words
    assert re.search(
        r'<td class="num"><data value="3"[^>]*>3</data></td><td><code>price: ', answer.text
    )
    cards = run_with_redis(settings, lambda r: get_cards(r, shop_store[0].id, ["n-1", "n-3"]))
    assert cards["n-3"]["name"] == "پیراهن کتان" and cards["n-1"]["price"] == 12
    total = run_with_redis(settings, lambda r: r.hlen(keys.catalog(shop_store[0].id)))
    assert total == 8


def test_a_shopify_export_uploads_as_it_came(
    signed_in: TestClient, settings: Settings, shop_store: tuple[stores.Store, str], traffic: Any
) -> None:
    """Linked on the store's domain; the bad line named by the export's column."""
    export = (DATA / "catalog" / "shopify-products.csv").read_bytes()
    token = traffic.csrf_of(signed_in.get("/dashboard/catalog").text)
    upload = {"feed": ("products_export_1.csv", export, "text/csv")}
    answer = signed_in.post("/dashboard/catalog", data={"csrf": token, "format": ""}, files=upload)
    assert answer.status_code == 200
    words = re.sub(r"<[^>]+>", "", answer.text)
    assert "7 items imported from products_export_1.csv." in words
    assert "Variant Price: not a number" in words
    cards = run_with_redis(settings, lambda r: get_cards(r, shop_store[0].id, ["LAMP-KS"]))
    assert cards["LAMP-KS"]["url"] == "https://shop.example/products/brass-lamp"


def test_an_unreadable_feed_is_refused_with_its_reason(signed_in: TestClient, traffic: Any) -> None:
    token = traffic.csrf_of(signed_in.get("/dashboard/catalog").text)
    xml = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><rss></rss>'
    answer = signed_in.post("/dashboard/catalog", data={"csrf": token, "format": "gmc"},
                            files={"feed": ("feed.xml", xml, "text/xml")})  # fmt: skip
    assert answer.status_code == 400 and "DOCTYPE" in answer.text
    nothing = signed_in.post("/dashboard/catalog", data={"csrf": token})
    assert nothing.status_code == 400 and "feed: choose a file to upload" in nothing.text


def test_the_search_index_follows_the_catalog(
    settings: Settings, shop_store: tuple[stores.Store, str]
) -> None:
    """The index a process keeps is rebuilt when the catalog's version or size
    changes: an upsert (which bumps the version), or a card the ingest script
    merged from a `view_item` event (which only adds to it)."""
    from helpers import ingest_in_the_past

    from widget_server.storage.clock import now_ms

    store = shop_store[0]

    def ids(query: str) -> list[str]:
        found, _ = run_with_redis(settings, lambda r: search(r, store.id, query))
        return sorted(card["item_id"] for card in found)

    assert ids("lamp") == []
    seen = {"id": "e1", "type": "view_item", "ts": now_ms() - 1_000, "vid": "v1", "sid": "s1",
            "url": "https://shop.example/p/lamp-1",
            "items": [{"item_id": "lamp-1", "item_name": "Desk lamp", "price": 30.0}]}  # fmt: skip
    ingest_in_the_past(settings, store.id, [[seen]])
    assert ids("desk lamp") == ["lamp-1"]
    run_with_redis(settings, lambda r: upsert_cards(r, store.id, [
        {"item_id": "lamp-1", "name": "Reading light"}]))  # fmt: skip
    assert ids("lamp") == ["lamp-1"]  # by its id
    assert ids("reading light") == ["lamp-1"] and ids("desk lamp") == []
