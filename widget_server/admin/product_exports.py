"""Shop platforms' own product exports read as catalog feeds: the CSV a merchant gets
from Shopify (Products > Export), WooCommerce (Products > Export) or Magento 2
(System > Data Transfer > Export), uploaded as it came, without renaming a column.

Each row becomes a record in the feed's own field names (`catalog_import.to_card`
checks it), with the export's column behind each field, so that an error names the
column the merchant sees (`Variant Price: not a number`). Items are keyed as the
snippet and the order imports key them on that platform, so that a card, a product
page view and an imported order meet on one item:

- **Shopify**: one row per variant, the product's fields (`Title`, `Vendor`,
  `Type`, `Status`) on its first row only, rows sharing a `Handle`; rows that only
  add an image. A card per variant, keyed by `Variant SKU` (what a Shopify theme's
  JSON-LD and the orders export's `Lineitem sku` carry), named as the orders export
  names a line item (`Brass lamp - Red / Large`; no suffix for a product whose only
  variant is `Default Title`). A product without SKUs is one card keyed by its
  `Handle`. Its link is the store's own `/products/<handle>`, on the store's first
  domain; its image the variant's, else the product's first. Draft or archived
  products and unpublished ones are `discontinued` (a re-import of a product taken
  off sale must hide its card); a tracked variant with no stock and no overselling
  (`Variant Inventory Policy` deny) is `out_of_stock`. The export has no currency:
  prices are in the shop's.
- **WooCommerce**: one row per product and per variation (`Type` variation,
  `Parent` naming its product as `id:123` or by SKU). Keyed by `SKU`, else `ID`
  (WooCommerce's JSON-LD puts the id where a product has no SKU). The price is the
  `Sale price` while a sale runs (its dates, where given, hold today), else the
  `Regular price`. `Categories` holds several (`Clothing > Hoodies, Sale`): the
  first is the item's. A variation takes its product's category, brand and image
  where it has none. Drafts and private products (`Published` 0 or -1) are
  `discontinued`; `In stock?` 0 is `out_of_stock` (`backorder` is on sale). The
  export has no product links: a card's link comes from the product's page, when
  the snippet first sees it.
- **Magento**: see `magento`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

# (line, record in the feed's field names, field -> the export's column), or
# (line, None, {"error": "..."}) for a row that is no item at all.
Record = tuple[int, dict[str, Any] | None, dict[str, str]]
Rows = Iterable[tuple[int, dict[str, str]]]  # (line, cells by lower-case column)
Reader = Callable[[Rows, "list[str]", "str | None"], Iterator[Record]]

DISCONTINUED = "discontinued"
OUT_OF_STOCK = "out_of_stock"
IN_STOCK = "in_stock"


def reader_for(columns: list[str]) -> Reader | None:
    """The reader of a platform export with these (lower-case) columns, or None for
    any other CSV."""
    present = set(columns)
    if {"handle", "title"} <= present and present & {"variant sku", "variant price"}:
        return shopify
    if {"id", "type", "sku", "name"} <= present and present & {"regular price", "in stock?"}:
        return woocommerce
    if {"sku", "store_view_code", "attribute_set_code", "product_type"} <= present:
        return magento
    return None


def _spelling(header: list[str]) -> dict[str, str]:
    """Lower-case column -> the export's own spelling, for error messages."""
    return {column.strip().lower(): column.strip() for column in header}


# -- Shopify ---------------------------------------------------------------------------


@dataclasses.dataclass
class _Product:
    line: int
    handle: str
    fields: dict[str, str] = dataclasses.field(default_factory=dict)  # its first row's
    images: list[tuple[int, int, str]] = dataclasses.field(default_factory=list)
    variants: list[tuple[int, dict[str, str]]] = dataclasses.field(default_factory=list)


# What is kept of a row until the product's last row is read (a large export would
# not fit in memory as whole rows).
PRODUCT_COLUMNS = ("title", "vendor", "type", "product category", "status", "published")
VARIANT_COLUMNS = (
    "variant sku",
    "variant price",
    "variant image",
    "variant inventory tracker",
    "variant inventory qty",
    "variant inventory policy",
    "option1 value",
    "option2 value",
    "option3 value",
)


def _kept(cells: dict[str, str], columns: tuple[str, ...]) -> dict[str, str]:
    return {column: cells[column] for column in columns if cells.get(column)}


def _is_variant(cells: dict[str, str]) -> bool:
    return any(cells.get(c, "").strip() for c in ("variant sku", "variant price", "option1 value"))


def shopify(rows: Rows, header: list[str], site: str | None) -> Iterator[Record]:
    products: dict[str, _Product] = {}
    for line, cells in rows:
        handle = cells.get("handle", "").strip()
        if not handle:
            yield line, None, {"error": "Handle: required (the product's URL name)"}
            continue
        product = products.get(handle)
        if product is None:
            product = products[handle] = _Product(line, handle)
        if not product.fields and cells.get("title", "").strip():
            product.fields = _kept(cells, PRODUCT_COLUMNS)
        image = cells.get("image src", "").strip()
        if image:
            position = cells.get("image position", "").strip()
            rank = int(position) if position.isascii() and position.isdigit() else 1 << 30
            product.images.append((rank, line, image))
        if _is_variant(cells):
            product.variants.append((line, _kept(cells, VARIANT_COLUMNS)))
    names = _spelling(header)
    for product in products.values():
        yield from _shopify_cards(product, site, names)


def _shopify_cards(product: _Product, site: str | None, names: dict[str, str]) -> Iterator[Record]:
    fields = product.fields
    if not fields:
        yield product.line, None, {"error": f"Title: no row of product {product.handle!r} has one"}
        return
    image = min(product.images)[2] if product.images else None
    status = fields.get("status", "").strip().lower()
    published = fields.get("published", "").strip().lower()
    on_sale = status in ("", "active") and published not in ("false", "0", "no")
    url = f"{site}/products/{product.handle}" if site else None
    variants = product.variants or [(product.line, fields)]
    keyed_by_handle = False
    for line, cells in variants:
        sku = cells.get("variant sku", "").strip()
        if not sku:
            if keyed_by_handle:
                continue  # the product's card stands for all its variants without a SKU
            keyed_by_handle = True
        options = [
            value
            for value in (cells.get(f"option{n} value", "").strip() for n in (1, 2, 3))
            if value
        ]
        name = fields.get("title", "").strip()
        if options and options != ["Default Title"] and sku:
            name = f"{name} - {' / '.join(options)}"
        record = {
            "item_id": sku or product.handle,
            "name": name,
            "url": url,
            "image": cells.get("variant image", "").strip() or image,
            "price": cells.get("variant price", ""),
            "category": fields.get("type", "").strip() or fields.get("product category", ""),
            "brand": fields.get("vendor", ""),
            "availability": _shopify_stock(cells) if on_sale else DISCONTINUED,
        }
        sources = {
            "item_id": "Variant SKU" if sku else "Handle",
            "name": "Title",
            "image": "Variant Image" if cells.get("variant image", "").strip() else "Image Src",
            "price": "Variant Price",
            "category": "Type" if fields.get("type", "").strip() else "Product Category",
            "brand": "Vendor",
        }
        yield line, record, {k: names.get(v.lower(), v) for k, v in sources.items()}


def _shopify_stock(cells: dict[str, str]) -> str:
    tracked = cells.get("variant inventory tracker", "").strip().lower() == "shopify"
    quantity = cells.get("variant inventory qty", "").strip()
    denies = cells.get("variant inventory policy", "deny").strip().lower() != "continue"
    if tracked and denies and re.fullmatch(r"-?\d+", quantity) and int(quantity) <= 0:
        return OUT_OF_STOCK
    return IN_STOCK


# -- WooCommerce -----------------------------------------------------------------------


WOO_COLUMNS = (
    "id",
    "type",
    "sku",
    "name",
    "published",
    "in stock?",
    "sale price",
    "regular price",
    "date sale price starts",
    "date sale price ends",
    "categories",
    "images",
    "brands",
    "parent",
)


def _first_category(cell: str) -> str:
    """The first of `Clothing > Hoodies, Sale` (`\\,` is a comma inside a name)."""
    first = re.split(r"(?<!\\),", cell, maxsplit=1)[0]
    return first.replace("\\,", ",").strip()


def _first_image(cell: str) -> str:
    return cell.split(",", 1)[0].strip()


_SLASHED = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{2}|\d{4})\b")


def _date(cell: str) -> dt.date | None:
    """`2024-05-31 00:00:00`, or month first as Magento's export writes it in its
    default (US English) locale: `5/31/24, 12:00 AM`."""
    cell = cell.strip()
    slashed = _SLASHED.match(cell)
    try:
        if slashed:
            month, day, year = (int(part) for part in slashed.groups())
            return dt.date(year + 2000 if year < 100 else year, month, day)
        return dt.date.fromisoformat(cell[:10])
    except ValueError:
        return None


def _on_sale(starts: str, ends: str, today: dt.date) -> bool:
    """Whether a sale's dates, where given, hold today."""
    first, last = _date(starts), _date(ends)
    return (first is None or first <= today) and (last is None or today <= last)


def _woo_price(cells: dict[str, str], today: dt.date) -> tuple[str, str]:
    sale = cells.get("sale price", "").strip()
    starts, ends = cells.get("date sale price starts", ""), cells.get("date sale price ends", "")
    if sale and _on_sale(starts, ends, today):
        return sale, "Sale price"
    return cells.get("regular price", ""), "Regular price"


def woocommerce(rows: Rows, header: list[str], site: str | None) -> Iterator[Record]:
    names = _spelling(header)
    today = dt.datetime.now(dt.UTC).date()
    parents: dict[str, dict[str, str]] = {}  # "id:12" and a SKU -> the product's cells
    waiting: list[tuple[int, dict[str, str]]] = []
    for line, row in rows:
        cells = _kept(row, WOO_COLUMNS)
        product_id, sku = cells.get("id", "").strip(), cells.get("sku", "").strip()
        if cells.get("type", "").strip().lower() != "variation":
            if product_id:
                parents[f"id:{product_id}"] = cells
            if sku:
                parents[sku] = cells
        waiting.append((line, cells))
    for line, cells in waiting:
        parent = parents.get(cells.get("parent", "").strip(), {})

        def own_or_parents(column: str, cells: dict[str, str] = cells, parent: Any = parent) -> str:
            return cells.get(column, "").strip() or parent.get(column, "").strip()

        sku = cells.get("sku", "").strip()
        item_id = sku or cells.get("id", "").strip()
        if not item_id:
            yield line, None, {"error": "SKU: required (or ID)"}
            continue
        stock = cells.get("in stock?", "").strip().lower()
        hidden = {cells.get("published", "").strip(), parent.get("published", "").strip()}
        if hidden & {"0", "-1"}:
            availability = DISCONTINUED
        elif stock in ("0", "no", "false"):
            availability = OUT_OF_STOCK
        elif stock:
            availability = IN_STOCK
        else:
            availability = ""
        price, price_column = _woo_price(cells, today)
        record = {
            "item_id": item_id,
            "name": cells.get("name", ""),
            "image": _first_image(own_or_parents("images")),
            "price": price,
            "category": _first_category(own_or_parents("categories")),
            "brand": own_or_parents("brands"),
            "availability": availability,
        }
        sources = {
            "item_id": "SKU" if sku else "ID",
            "name": "Name",
            "image": "Images",
            "price": price_column,
            "category": "Categories",
            "brand": "Brands",
        }
        yield line, record, {k: names.get(v.lower(), v) for k, v in sources.items()}


# -- Magento ---------------------------------------------------------------------------

MAGENTO_COLUMNS = (
    "sku",
    "store_view_code",
    "name",
    "product_online",
    "visibility",
    "price",
    "special_price",
    "special_price_from_date",
    "special_price_to_date",
    "url_key",
    "base_image",
    "categories",
    "is_in_stock",
    "additional_attributes",
)
NOT_VISIBLE = "not visible individually"


def _magento_category(cell: str) -> str:
    """The deepest of `Default Category/Gear,Default Category/Gear/Bags` (the first
    of the deepest), without the root every path starts from: `Gear > Bags`."""
    paths = [[p.strip() for p in path.split("/") if p.strip()][1:] for path in cell.split(",")]
    deepest: list[str] = max(paths, key=lambda path: len(path), default=[])
    return " > ".join(deepest)


def _attribute(cell: str, *names: str) -> str:
    """A value of `additional_attributes` (`color=Blue,manufacturer=Acme`)."""
    for pair in cell.split(","):
        name, _, value = pair.partition("=")
        if name.strip().lower() in names:
            return value.strip()
    return ""


def magento(rows: Rows, header: list[str], site: str | None) -> Iterator[Record]:
    """Magento 2's product export (System > Data Transfer > Export, Products): a row
    per product in the default scope, then rows per store view holding only what that
    view changes (a translated name): the default row is the card. Keyed by `sku`
    (what Magento's order lines and its product pages' `itemprop="sku"` carry);
    the link is `<site>/<url_key>.html` (Magento's default suffix) for a product
    with a page of its own (not `Not Visible Individually`: a configurable's
    child), the image `<site>/media/catalog/product<base_image>`; the category the
    first of `categories` below the root; the price `special_price` while its dates
    hold; `product_online` other than 1 is `discontinued`, `is_in_stock` 0
    `out_of_stock`; the brand a `manufacturer` or `brand` attribute."""
    names = _spelling(header)
    today = dt.datetime.now(dt.UTC).date()
    for line, row in rows:
        cells = _kept(row, MAGENTO_COLUMNS)
        if cells.get("store_view_code", "").strip():
            continue  # a store view's own values: the default row has the card
        sku = cells.get("sku", "").strip()
        if not sku:
            yield line, None, {"error": f"{names.get('sku', 'sku')}: required"}
            continue
        price, price_column = cells.get("price", ""), "price"
        special = cells.get("special_price", "").strip()
        starts = cells.get("special_price_from_date", "")
        if special and _on_sale(starts, cells.get("special_price_to_date", ""), today):
            price, price_column = special, "special_price"
        url_key = cells.get("url_key", "").strip()
        visible = cells.get("visibility", "").strip().lower() != NOT_VISIBLE
        image = cells.get("base_image", "").strip()
        if image and not image.lower().startswith(("http://", "https://")):
            image = f"{site}/media/catalog/product/{image.lstrip('/')}" if site else ""
        online = cells.get("product_online", "").strip()
        stock = cells.get("is_in_stock", "").strip()
        if online not in ("", "1"):
            availability = DISCONTINUED
        elif stock:
            availability = OUT_OF_STOCK if stock == "0" else IN_STOCK
        else:
            availability = ""
        attributes = cells.get("additional_attributes", "")
        record = {
            "item_id": sku,
            "name": cells.get("name", ""),
            "url": f"{site}/{url_key}.html" if site and url_key and visible else None,
            "image": image,
            "price": price,
            "category": _magento_category(cells.get("categories", "")),
            "brand": _attribute(attributes, "manufacturer", "brand"),
            "availability": availability,
        }
        sources = {
            "item_id": "sku",
            "name": "name",
            "image": "base_image",
            "price": price_column,
            "category": "categories",
            "brand": "additional_attributes",
        }
        yield line, record, {k: names.get(v, v) for k, v in sources.items()}
