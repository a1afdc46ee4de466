"""Magento 2's products export (System > Data Transfer > Export, entity Products).

A row per product in the default scope, then rows per store view holding only what
that view changes (a translated name): the default row is the card, the others are
passed over. Keyed by `sku` (what Magento's order lines and its product pages'
`itemprop="sku"` carry). The link is `<site>/<url_key>.html` (Magento's default
suffix) for a product with a page of its own (not `Not Visible Individually`: a
configurable's child), the image `<site>/media/catalog/product<base_image>`; the
category the deepest of `categories` below the root; the price `special_price`
while its dates hold; `product_online` other than 1 is `discontinued`,
`is_in_stock` 0 `out_of_stock`; the brand a `manufacturer` or `brand` attribute.
"""

from __future__ import annotations

from collections.abc import Iterator

from widget_server.admin.product_exports._common import (
    DISCONTINUED,
    IN_STOCK,
    OUT_OF_STOCK,
    Record,
    Rows,
    kept,
    on_sale,
    sources,
    spelling,
    today,
)

COLUMNS = (
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


def looks_like(columns: set[str]) -> bool:
    return {"sku", "store_view_code", "attribute_set_code", "product_type"} <= columns


def _category(cell: str) -> str:
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


def _availability(cells: dict[str, str]) -> str:
    stock = cells.get("is_in_stock", "").strip()
    if cells.get("product_online", "").strip() not in ("", "1"):
        return DISCONTINUED
    if stock:
        return OUT_OF_STOCK if stock == "0" else IN_STOCK
    return ""


def read(rows: Rows, header: list[str], site: str | None) -> Iterator[Record]:
    names = spelling(header)
    day = today()
    for line, row in rows:
        cells = kept(row, COLUMNS)
        if cells.get("store_view_code", "").strip():
            continue  # a store view's own values: the default row has the card
        sku = cells.get("sku", "").strip()
        if not sku:
            yield line, None, {"error": f"{names.get('sku', 'sku')}: required"}
            continue
        price, price_column = cells.get("price", ""), "price"
        special = cells.get("special_price", "").strip()
        starts, ends = (
            cells.get("special_price_from_date", ""),
            cells.get("special_price_to_date", ""),
        )
        if special and on_sale(starts, ends, day):
            price, price_column = special, "special_price"
        url_key = cells.get("url_key", "").strip()
        visible = cells.get("visibility", "").strip().lower() != NOT_VISIBLE
        image = cells.get("base_image", "").strip()
        if image and not image.lower().startswith(("http://", "https://")):
            image = f"{site}/media/catalog/product/{image.lstrip('/')}" if site else ""
        record = {
            "item_id": sku,
            "name": cells.get("name", ""),
            "url": f"{site}/{url_key}.html" if site and url_key and visible else None,
            "image": image,
            "price": price,
            "category": _category(cells.get("categories", "")),
            "brand": _attribute(cells.get("additional_attributes", ""), "manufacturer", "brand"),
            "availability": _availability(cells),
        }
        columns = {
            "item_id": "sku",
            "name": "name",
            "image": "base_image",
            "price": price_column,
            "category": "categories",
            "brand": "additional_attributes",
        }
        yield line, record, sources(names, columns)
