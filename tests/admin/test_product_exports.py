"""Shopify's, WooCommerce's, Magento's, BigCommerce's and PrestaShop's product exports
as catalog feeds: the hand-written exports in tests/data/catalog/ (see its README), each card
expected as worked out by hand from the rows, through the parser,
`POST /v1/admin/catalog`, the CLI and the dashboard's upload."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

from helpers import make_store, run_with_redis
from hypothesis import given, settings
from hypothesis import strategies as st
from processes import run_cli

from widget_server.admin.catalog_import import parse_feed
from widget_server.storage import catalog as catalog_store

DATA = Path(__file__).resolve().parents[1] / "data" / "catalog"
SHOPIFY = (DATA / "shopify-products.csv").read_bytes()
WOOCOMMERCE = (DATA / "woocommerce-products.csv").read_bytes()
MAGENTO = (DATA / "magento-products.csv").read_bytes()
BIGCOMMERCE_LEGACY = (DATA / "bigcommerce-bulk-edit.csv").read_bytes()
BIGCOMMERCE = (DATA / "bigcommerce-products.csv").read_bytes()
BC_CDN = "https://cdn11.bigcommerce.com/s-abc123/products/"
PRESTASHOP = (DATA / "prestashop-products.csv").read_bytes()
PRESTASHOP_FR = (DATA / "prestashop-products-fr.csv").read_bytes()
NO_REFERENCE = "required (the export has no page address to key a product by)"
CDN = "https://cdn.shopify.com/s/files/1/0000/0001/files/"
UPLOADS = "https://shop.example/wp-content/uploads/2024/05/"
SITE = "https://shop.example"


def by_id(cards: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {card["item_id"]: card for card in cards}


def test_shopify_variants_are_cards_keyed_and_named_as_its_orders_are() -> None:
    result = parse_feed(SHOPIFY, filename="products_export_1.csv", site=SITE)
    cards = by_id(result.cards)
    # The three lamp variants, the gift card (no SKUs: one card by its handle), the
    # scarf, and the two products taken off sale; the mistyped price and the row
    # without a Handle are reported by line.
    assert list(cards) == [
        "LAMP-BS", "LAMP-BL", "LAMP-KS", "gift-card", "SCARF-1", "MUG-OLD", "TEA-1"
    ]  # fmt: skip
    assert cards["LAMP-BS"] == {
        "item_id": "LAMP-BS",
        "name": "Brass lamp - Brass / Small",
        "url": "https://shop.example/products/brass-lamp",
        "image": CDN + "lamp-1.jpg?v=1700000000",  # the product's first image
        "price": 89.0,
        "category": "Lamps",  # Type, the store's own
        "brand": "Lumen & Co",
        "availability": "in_stock",
    }
    # Tracked, none left, overselling denied; the same with overselling allowed.
    assert cards["LAMP-BL"]["availability"] == "out_of_stock"
    assert cards["LAMP-BL"]["price"] == 1299.0
    assert cards["LAMP-KS"]["availability"] == "in_stock"
    assert cards["LAMP-KS"]["image"] == CDN + "lamp-black.jpg?v=1700000000"  # its own
    assert cards["gift-card"]["name"] == "Gift card" and cards["gift-card"]["price"] == 25.0
    scarf = cards["SCARF-1"]
    assert scarf["name"] == "Linen scarf"  # Default Title adds nothing
    assert scarf["category"] == "Apparel & Accessories > Clothing Accessories > Scarves & Shawls"
    assert cards["MUG-OLD"]["availability"] == "discontinued"  # archived
    assert cards["TEA-1"]["availability"] == "discontinued"  # draft
    assert "image" not in cards["TEA-1"]
    assert not any(catalog_store.is_displayable(cards[i]) for i in ("LAMP-BL", "MUG-OLD"))
    assert catalog_store.is_displayable(cards["LAMP-BS"])
    assert result.errors == [
        {"line": 16, "error": "Variant Price: not a number ('twelve')"},
        {"line": 18, "error": "Handle: required (the product's URL name)"},
    ]


def test_a_shopify_export_without_the_shops_address_has_no_links() -> None:
    cards = by_id(parse_feed(SHOPIFY, filename="products.csv").cards)
    assert all("url" not in card for card in cards.values())
    assert cards["LAMP-BS"]["name"] == "Brass lamp - Brass / Small"


def test_a_shopify_export_resaved_by_a_spreadsheet_in_a_european_locale() -> None:
    """`;` between cells, decimal commas, Windows-1252: the same cards."""
    rows = list(csv.reader(io.StringIO(SHOPIFY.decode("utf-8-sig"), newline="")))
    price = rows[0].index("Variant Price")
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(rows[0])
    for row in rows[1:]:
        if row[price]:
            row[price] = row[price].replace(".", ",")
        writer.writerow(row)
    resaved = parse_feed(out.getvalue().encode("cp1252"), filename="products.csv", site=SITE)
    original = parse_feed(SHOPIFY, filename="products.csv", site=SITE)
    assert resaved.cards == original.cards
    assert resaved.errors == original.errors


def test_woocommerce_products_and_variations() -> None:
    result = parse_feed(WOOCOMMERCE, filename="wc-product-export-1-5-2024.csv", site=SITE)
    cards = by_id(result.cards)
    assert list(cards) == [
        "woo-hoodie", "woo-hoodie-blue", "13", "woo-beanie", "woo-poster", "woo-private", "18"
    ]  # fmt: skip
    assert cards["woo-hoodie"] == {  # a variable product: no price of its own
        "item_id": "woo-hoodie",
        "name": "Hoodie",
        "image": UPLOADS + "hoodie-1.jpg",  # the first of its images
        "category": "Clothing > Hoodies",  # the first of its categories
        "brand": "Woo",
        "availability": "in_stock",
    }
    blue = cards["woo-hoodie-blue"]  # its product's image, category and brand
    assert (blue["image"], blue["category"], blue["brand"]) == (
        UPLOADS + "hoodie-1.jpg",
        "Clothing > Hoodies",
        "Woo",
    )
    assert blue["price"] == 45.0  # the sale ended in 2020
    red = cards["13"]  # no SKU: its ID; its product named by SKU; a sale with no dates
    assert (red["price"], red["image"], red["availability"]) == (
        40.0,
        UPLOADS + "hoodie-red.jpg",
        "out_of_stock",
    )
    assert cards["woo-beanie"]["category"] == "Clothing > Hats, caps"  # `\,` inside a name
    assert cards["woo-beanie"]["availability"] == "in_stock"  # on backorder
    assert cards["woo-poster"]["availability"] == "discontinued"  # a draft
    assert cards["woo-private"]["availability"] == "discontinued"
    assert cards["18"]["price"] == 2.99  # a sale that started and has no end
    assert all("url" not in card for card in cards.values())  # the export has no links
    assert result.errors == [{"line": 8, "error": "Regular price: negative ('-5')"}]


def test_magento_default_rows_are_the_cards() -> None:
    result = parse_feed(MAGENTO, filename="catalog_product_20240502_161000.csv", site=SITE)
    cards = by_id(result.cards)
    # The German store view's row (a translated name) changes nothing.
    assert list(cards) == ["24-MB01", "MH01", "MH01-XS-Black", "WS03"]
    assert cards["24-MB01"] == {
        "item_id": "24-MB01",
        "name": "Joust Duffle Bag",
        "url": "https://shop.example/joust-duffle-bag.html",
        "image": "https://shop.example/media/catalog/product/m/b/mb01-blue-0.jpg",
        "price": 34.0,
        "category": "Gear > Bags",  # the deepest of its two, below the root
        "brand": "Joust",  # additional_attributes' manufacturer
        "availability": "in_stock",
    }
    assert cards["MH01"]["price"] == 42.0  # special_price from 2020, no end
    child = cards["MH01-XS-Black"]  # Not Visible Individually: no page of its own
    assert "url" not in child and child["availability"] == "out_of_stock"
    top = cards["WS03"]
    assert (top["price"], top["availability"]) == (29.0, "discontinued")  # sale over; off
    assert result.errors == [
        {"line": 11, "error": "sku: required"},
        {"line": 13, "error": "price: not a number ('19,00')"},
    ]


def test_bigcommerce_bulk_edit_export_is_a_card_per_product() -> None:
    result = parse_feed(BIGCOMMERCE_LEGACY, filename="products-2024-05-02.csv", site=SITE)
    cards = by_id(result.cards)
    # Keyed as Cornerstone's JSON-LD names the page: the SKU, else the part number,
    # else a 13-digit UPC/EAN, else the page's address. SKU and Rule rows are no cards.
    chemex = SITE + "/chemex-coffeemaker-3-cup/"  # its UPC/EAN has 12 digits
    assert list(cards) == ["OTL", "DPB", "CLC-2020", "0012345678905", chemex]
    assert cards["OTL"] == {
        "item_id": "OTL",
        "name": "Orbit Terrarium - Large",
        "url": SITE + "/orbit-terrarium-large/",
        "image": BC_CDN + "77/images/267/ROrbitTerrarium__2.jpg",  # the thumbnail, not the first
        "price": 109.0,  # a Sale Price of 0.00 is no sale
        "category": "Shop All > Garden",  # the first of two
        "brand": "OFS",
        "availability": "in_stock",  # `Product Availability` is a shipping time
    }
    dustpan = cards["DPB"]
    assert dustpan["price"] == 29.95  # the Sale Price, not the Price or the Retail Price
    assert dustpan["category"] == "Kitchen/Dining > Cleaning"  # `\/` inside a name
    assert dustpan["availability"] == "out_of_stock"  # tracked by product, none left
    assert cards["CLC-2020"]["availability"] == "out_of_stock"  # by option: no SKU has stock
    assert cards["0012345678905"]["availability"] == "discontinued"  # Product Visible? N
    assert cards[chemex]["availability"] == "out_of_stock"  # Allow Purchases? N
    assert result.errors == [
        {"line": 12, "error": "Price: not a number ('forty')"},
        {"line": 13, "error": BC_NO_KEY.format(sku="Product Code/SKU", gtin="Product UPC/EAN")},
    ]


BC_NO_KEY = (
    "{sku}: required (or Manufacturer Part Number, a 13-digit {gtin}, or a Product URL"
    " and the store's domain)"
)


def test_bigcommerce_export_without_the_shops_address_keys_by_product_codes_only() -> None:
    result = parse_feed(BIGCOMMERCE_LEGACY, filename="products.csv")
    assert [card["item_id"] for card in result.cards] == ["OTL", "DPB", "CLC-2020", "0012345678905"]
    assert all("url" not in card for card in result.cards)  # its links are paths
    no_key = BC_NO_KEY.format(sku="Product Code/SKU", gtin="Product UPC/EAN")
    assert [e["error"] for e in result.errors if e["line"] in (10, 13)] == [no_key, no_key]


def test_bigcommerce_current_export_reads_variant_and_image_rows() -> None:
    result = parse_feed(BIGCOMMERCE, filename="products-2024-05-02.csv", site=SITE)
    cards = by_id(result.cards)
    towel = SITE + "/fog-linen-chambray-towel-beige-stripe/"  # no SKU, part number or GTIN
    assert list(cards) == ["SM13", "CGLD", "OCG", towel]
    assert cards["SM13"] == {  # `Categories` are ids and the brand a `Brand ID`: neither
        "item_id": "SM13",
        "name": "[Sample] Smith Journal 13",
        "url": SITE + "/smith-journal-13/",
        "image": BC_CDN + "112/images/401/smith-2.jpg",  # its Image row marked thumbnail
        "price": 25.0,
        "availability": "in_stock",
    }
    detergent = cards["CGLD"]
    # An Image row's import address where it has no exported one, before a variant's image.
    assert detergent["image"] == BC_CDN + "113/images/411/detergent.jpg"
    assert (detergent["price"], detergent["availability"]) == (24.0, "in_stock")  # a variant has 4
    assert cards["OCG"]["availability"] == "discontinued"  # Is Visible FALSE, and none left
    assert "image" not in cards[towel] and cards[towel]["availability"] == "in_stock"
    assert result.errors == [{"line": 13, "error": "Price: negative ('-3')"}]


def test_bigcommerce_rows_out_of_place_are_named() -> None:
    header = BIGCOMMERCE.decode("utf-8-sig").split("\r\n", 1)[0]
    width = header.count(",")
    rows = ["Image" + "," * width, "Product,120,Tray" + "," * (width - 2), "Modifier" + "," * width]
    result = parse_feed("\n".join([header, *rows]).encode(), filename="products.csv", site=SITE)
    assert result.errors == [
        {"line": 2, "error": "Item: 'Image' row before any Product row"},
        {"line": 3, "error": BC_NO_KEY.format(sku="SKU", gtin="UPC/EAN")},
        {"line": 4, "error": "Item: not Product, Variant, Image or Video ('Modifier')"},
    ]


def test_prestashop_product_list_export_keyed_by_reference() -> None:
    result = parse_feed(PRESTASHOP, filename="product_2024-05-02_101500.csv", site=SITE)
    cards = by_id(result.cards)
    assert list(cards) == ["demo_1", "demo_3", "demo_6", "demo_21"]
    assert cards["demo_3"] == {  # the export has no links: the product's page gives one
        "item_id": "demo_3",
        "name": "Brown bear printed sweater",
        "image": "https://boutique.example/21/brown-bear-printed-sweater.jpg",
        "price": 43.08,  # what shoppers pay: tax included, not the 35.900000 without
        "category": "Women",
        "availability": "in_stock",
    }
    assert cards["demo_6"]["availability"] == "out_of_stock"  # none left, where stock counts
    assert result.errors == [
        {"line": 5, "error": f"Reference: {NO_REFERENCE}"},
        {"line": 6, "error": "Price (tax incl.): not a number ('treize')"},
    ]


def test_prestashop_export_from_a_french_back_office_without_stock_management() -> None:
    result = parse_feed(PRESTASHOP_FR, filename="product_2024-05-02_101500.csv", site=SITE)
    cards = by_id(result.cards)
    assert list(cards) == ["demo_8", "demo_9"]
    assert cards["demo_8"]["price"] == 15.48 and cards["demo_8"]["category"] == "Papeterie"
    # Every quantity is 0 and badged: a shop that does not count stock, not one sold out.
    assert {card["availability"] for card in cards.values()} == {"in_stock"}
    # The back office's own column names, in its language.
    assert result.errors == [{"line": 4, "error": f"Référence: {NO_REFERENCE}"}]


def test_endpoint_links_shopify_products_on_the_stores_domain(client, settings) -> None:
    store, secret = make_store(settings, ("brass-and-linen.example",))
    answer = client.post(
        "/v1/admin/catalog",
        content=SHOPIFY,
        headers={"authorization": f"Bearer {secret}", "content-type": "text/csv"},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["imported"] == 7
    assert [e["line"] for e in answer.json()["rejected"]] == [16, 18]
    cards = run_with_redis(
        settings, lambda r: catalog_store.get_cards(r, store.id, ["LAMP-BS", "MUG-OLD"])
    )
    assert cards["LAMP-BS"]["url"] == "https://brass-and-linen.example/products/brass-lamp"
    shown = run_with_redis(settings, lambda r: catalog_store.sample_cards(r, store.id, 50))
    # In stock with a name, link and image: the lamps but the sold-out one, the gift
    # card and the scarf; never what was taken off sale.
    assert sorted(c["item_id"] for c in shown) == ["LAMP-BS", "LAMP-KS", "SCARF-1", "gift-card"]


def test_a_product_taken_off_sale_is_hidden_by_the_next_import(client, settings) -> None:
    store, secret = make_store(settings)
    headers = {"authorization": f"Bearer {secret}", "content-type": "text/csv"}
    text = SHOPIFY.decode("utf-8-sig")
    assert client.post("/v1/admin/catalog", content=text, headers=headers).status_code == 200
    archived = re.sub(r",active\r\n", ",archived\r\n", text)
    assert archived.count(",archived\r\n") == text.count(",active\r\n") + 1
    assert client.post("/v1/admin/catalog", content=archived, headers=headers).status_code == 200
    shown = run_with_redis(settings, lambda r: catalog_store.sample_cards(r, store.id, 50))
    assert shown == []


def test_cli_names_the_exports_columns(cli_env, settings, capsys, tmp_path) -> None:
    store, _ = make_store(settings)
    path = tmp_path / "wc-product-export.csv"
    path.write_bytes(WOOCOMMERCE)
    code, out, err = run_cli(capsys, "import-catalog", "--store", store.id, str(path))
    assert code == 0, err
    lines = out.splitlines()
    assert lines == [
        f"imported 7 items into store {store.id}; rejected 1",
        "  line 8: Regular price: negative ('-5')",
    ]
    code, out, _ = run_cli(capsys, "import-catalog", "--store", store.id, str(path), "--json")
    assert json.loads(out)["imported"] == 7


CELLS = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
SHOPIFY_HEADER = SHOPIFY.decode("utf-8-sig").split("\r\n", 1)[0].split(",")
WOO_HEADER = next(csv.reader(io.StringIO(WOOCOMMERCE.decode("utf-8-sig"))))
MAGENTO_HEADER = MAGENTO.decode().split("\n", 1)[0].split(",")
BC_LEGACY_HEADER = BIGCOMMERCE_LEGACY.decode().split("\n", 1)[0].split(",")
BC_HEADER = BIGCOMMERCE.decode("utf-8-sig").split("\r\n", 1)[0].split(",")
PRESTASHOP_HEADER = PRESTASHOP.decode().split("\n", 1)[0].split(";")
# Cells that say what a row is, so that generated rows reach more than the first check.
KINDS = st.sampled_from(["Product", "SKU", "Rule", "Variant", "Image", "variation", "0", "N"])


@settings(max_examples=150, deadline=None, derandomize=True)
@given(
    st.sampled_from(
        [SHOPIFY_HEADER, WOO_HEADER, MAGENTO_HEADER, BC_LEGACY_HEADER, BC_HEADER, PRESTASHOP_HEADER]
    ),
    st.lists(st.dictionaries(st.integers(0, 88), CELLS | KINDS, max_size=12), max_size=6),
    st.booleans(),
)
def test_any_cells_give_cards_or_errors_naming_a_column(
    header: list[str], rows: list[dict[int, str]], a_product_first: bool
) -> None:
    """Whatever the cells hold, each row is cards or a line's error, never a crash."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for number, cells in enumerate(rows):
        if a_product_first and number == 0:  # BigCommerce's layouts: rows after it are read
            cells = {**cells, 0: "Product"}
        writer.writerow([cells.get(n, "") for n in range(len(header))])
    result = parse_feed(out.getvalue().encode(), filename="export.csv", site=SITE)
    lines = len(io.StringIO(out.getvalue(), newline="").readlines())  # as csv counts them
    for error in result.errors:
        assert 2 <= error["line"] <= lines and re.match(
            r"^[A-Za-z0-9_ ?/().-]+: \S", error["error"]
        )
    for card in result.cards:
        assert card["item_id"] and card["item_id"] == card["item_id"].strip()
