"""Shopify's products export (Products > Export).

One row per variant, the product's fields (`Title`, `Vendor`, `Type`, `Status`) on
its first row only, rows sharing a `Handle`; rows that only add an image. A card per
variant, keyed by `Variant SKU` (what a Shopify theme's JSON-LD and the orders
export's `Lineitem sku` carry), named as the orders export names a line item
(`Brass lamp - Red / Large`; no suffix for a product whose only variant is `Default
Title`). A product without SKUs is one card keyed by its `Handle`. Its link is the
store's own `/products/<handle>`, on the store's first domain; its image the
variant's, else the product's first. Draft or archived products and unpublished
ones are `discontinued` (a re-import of a product taken off sale must hide its
card); a tracked variant with no stock and no overselling (`Variant Inventory
Policy` deny) is `out_of_stock`. The export has no currency: prices are in the
shop's.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator

from widget_server.admin.product_exports._common import (
    DISCONTINUED,
    IN_STOCK,
    OUT_OF_STOCK,
    Record,
    Rows,
    kept,
    sources,
    spelling,
)

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


def looks_like(columns: set[str]) -> bool:
    return {"handle", "title"} <= columns and bool(columns & {"variant sku", "variant price"})


@dataclasses.dataclass
class _Product:
    line: int
    handle: str
    fields: dict[str, str] = dataclasses.field(default_factory=dict)  # its first row's
    images: list[tuple[int, int, str]] = dataclasses.field(default_factory=list)
    variants: list[tuple[int, dict[str, str]]] = dataclasses.field(default_factory=list)


def _is_variant(cells: dict[str, str]) -> bool:
    return any(cells.get(c, "").strip() for c in ("variant sku", "variant price", "option1 value"))


def read(rows: Rows, header: list[str], site: str | None) -> Iterator[Record]:
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
            product.fields = kept(cells, PRODUCT_COLUMNS)
        image = cells.get("image src", "").strip()
        if image:
            position = cells.get("image position", "").strip()
            rank = int(position) if position.isascii() and position.isdigit() else 1 << 30
            product.images.append((rank, line, image))
        if _is_variant(cells):
            product.variants.append((line, kept(cells, VARIANT_COLUMNS)))
    names = spelling(header)
    for product in products.values():
        yield from _cards(product, site, names)


def _cards(product: _Product, site: str | None, names: dict[str, str]) -> Iterator[Record]:
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
        own_image = cells.get("variant image", "").strip()
        record = {
            "item_id": sku or product.handle,
            "name": name,
            "url": url,
            "image": own_image or image,
            "price": cells.get("variant price", ""),
            "category": fields.get("type", "").strip() or fields.get("product category", ""),
            "brand": fields.get("vendor", ""),
            "availability": _stock(cells) if on_sale else DISCONTINUED,
        }
        columns = {
            "item_id": "Variant SKU" if sku else "Handle",
            "name": "Title",
            "image": "Variant Image" if own_image else "Image Src",
            "price": "Variant Price",
            "category": "Type" if fields.get("type", "").strip() else "Product Category",
            "brand": "Vendor",
        }
        yield line, record, sources(names, columns)


def _stock(cells: dict[str, str]) -> str:
    tracked = cells.get("variant inventory tracker", "").strip().lower() == "shopify"
    quantity = cells.get("variant inventory qty", "").strip()
    denies = cells.get("variant inventory policy", "deny").strip().lower() != "continue"
    if tracked and denies and re.fullmatch(r"-?\d+", quantity) and int(quantity) <= 0:
        return OUT_OF_STOCK
    return IN_STOCK
