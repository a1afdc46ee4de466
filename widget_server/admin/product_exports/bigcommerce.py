"""BigCommerce's product exports, in both layouts the control panel writes.

- The legacy "Bulk Edit" export (Products > Export, template Bulk Edit): `Item Type`
  Product, then the product's `SKU` rows (a variant: `[RT]Size=Small`) and `Rule`
  rows; images in numbered columns (`Product Image URL - 1`, its `Product Image Is
  Thumbnail - 1` Y or N); `Category` as paths (`Shop All/Kitchen;Sale`, `\\/` a slash
  inside a name); `Track Inventory` none, `by product` or `by option`.
- The current export (Products > Export): `Item` Product, then its `Variant`,
  `Image` and `Video` rows; `Is Visible` TRUE or FALSE; `Categories` holds only
  category ids, so its cards have no category, and a brand only as `Brand ID`.

A card per product (its variants share its page, and Cornerstone's JSON-LD names the
page by the product's SKU), keyed as that JSON-LD keys the page: the product's SKU,
else its manufacturer part number, else a 13-digit UPC/EAN (`gtin13`), else the page's
address (the `Product URL` path on the shop's address). The price is the `Sale Price`
where one is set (0.00 is none), else `Price`; the image the thumbnail, else the
first. A product hidden from the storefront is `discontinued`; one that cannot be
bought (`Allow Purchases?` N) or tracked with no stock left (by product, or every
variant by option) is `out_of_stock`.
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

NO = ("n", "no", "false", "0")


@dataclasses.dataclass(frozen=True)
class _Layout:
    """Where one layout keeps what a card reads: lower-case column names."""

    kind: str  # the column saying what a row is
    kinds: str  # its values, as the export writes them
    sku: str
    name: str
    mpn: str
    gtins: tuple[str, ...]
    visible: str
    purchasable: str | None
    tracking: str
    stock: str
    category: str | None
    brand: str | None
    by_variant: str  # `tracking`'s value for stock kept per variant
    variant_rows: tuple[str, ...]  # `kind`'s values for a product's variants
    other_rows: tuple[str, ...]  # and for its other rows


LEGACY = _Layout(
    kind="item type",
    kinds="Product, SKU or Rule",
    sku="product code/sku",
    name="product name",
    mpn="manufacturer part number",
    gtins=("product upc/ean", "gps global trade item number"),
    visible="product visible?",
    purchasable="allow purchases?",
    tracking="track inventory",
    stock="current stock level",
    category="category",
    brand="brand name",
    by_variant="by option",
    variant_rows=("sku",),
    other_rows=("rule",),
)
CURRENT = _Layout(
    kind="item",
    kinds="Product, Variant, Image or Video",
    sku="sku",
    name="name",
    mpn="manufacturer part number",
    gtins=("upc/ean", "global trade number"),
    visible="is visible",
    purchasable=None,
    tracking="inventory tracking",
    stock="current stock",
    category=None,
    brand=None,
    by_variant="variant",
    variant_rows=("variant",),
    other_rows=("image", "video"),
)
_IMAGE_URL = re.compile(r"product image url - (\d+)$")


def looks_like(columns: set[str]) -> bool:
    legacy = {"item type", "product id", "product name", "product code/sku"} <= columns
    current = {"item", "id", "name", "sku", "inventory tracking"} <= columns
    return legacy or current


@dataclasses.dataclass
class _Product:
    line: int
    cells: dict[str, str]
    # (is the thumbnail, order, address, its column)
    images: list[tuple[bool, int, str, str]] = dataclasses.field(default_factory=list)
    variant_stock: list[str] = dataclasses.field(default_factory=list)


def read(rows: Rows, header: list[str], site: str | None) -> Iterator[Record]:
    names = spelling(header)
    columns = set(names)
    layout = LEGACY if LEGACY.kind in columns else CURRENT
    numbered = sorted(
        int(match.group(1)) for match in map(_IMAGE_URL.match, columns) if match is not None
    )
    own = (layout.sku, layout.name, layout.mpn, *layout.gtins, layout.visible, layout.tracking)
    optional = (layout.purchasable, layout.stock, layout.category, layout.brand)
    wanted = (*own, *(c for c in optional if c), "price", "sale price", "product url")
    product: _Product | None = None
    for line, row in rows:
        given = row.get(layout.kind, "").strip()
        kind = given.lower()
        if kind == "product":
            if product is not None:
                yield _card(product, layout, site, names)
            product = _Product(line, kept(row, wanted))
            _legacy_images(product, row, numbered)
        elif kind in layout.variant_rows or kind in layout.other_rows:
            if product is None:
                shown = names.get(layout.kind, layout.kind)
                yield line, None, {"error": f"{shown}: {given!r} row before any Product row"}
            elif kind in layout.variant_rows:
                product.variant_stock.append(row.get(layout.stock, "").strip())
                image = row.get("variant image url", "").strip()
                if image:  # a variant's image: the product's last resort
                    product.images.append((False, 1 << 30, image, "variant image url"))
            elif kind == "image":
                for column in ("internal image url (export)", "image url (import)"):
                    image = row.get(column, "").strip()
                    if image:
                        thumbnail = row.get("image is thumbnail", "").strip().lower() == "true"
                        product.images.append((thumbnail, line, image, column))
                        break
        else:
            shown = names.get(layout.kind, layout.kind)
            yield line, None, {"error": f"{shown}: not {layout.kinds} ({given!r})"}
    if product is not None:
        yield _card(product, layout, site, names)


def _legacy_images(product: _Product, row: dict[str, str], numbered: list[int]) -> None:
    """The legacy layout's numbered image columns, on the product's own row (a file
    name without an address, as an import template has it, cannot be shown)."""
    for n in numbered:
        column = f"product image url - {n}"
        image = row.get(column, "").strip()
        if not image:
            column = f"product image file - {n}"
            given = row.get(column, "").strip()
            image = given if given.lower().startswith(("http://", "https://")) else ""
        if image:
            thumbnail = row.get(f"product image is thumbnail - {n}", "").strip().lower()
            product.images.append((thumbnail in ("y", "yes", "true", "1"), n, image, column))


def _card(product: _Product, layout: _Layout, site: str | None, names: dict[str, str]) -> Record:
    cells = product.cells
    item_id, key_column = _key(cells, layout, site)
    if not item_id:
        shown = [names.get(c, c) for c in (layout.sku, layout.mpn, layout.gtins[0])]
        reason = f"required (or {shown[1]}, a 13-digit {shown[2]}, or a Product URL"
        return product.line, None, {"error": f"{shown[0]}: {reason} and the store's domain)"}
    price, price_column = cells.get("price", ""), "price"
    sale = cells.get("sale price", "").strip()
    if sale and not re.fullmatch(r"\D*0*(?:[.,]0*)?", sale):  # "0.00": no sale
        price, price_column = sale, "sale price"
    image, image_column = "", ""
    if product.images:  # the thumbnail, else the first in the export's order
        _, _, image, image_column = min(product.images, key=lambda entry: (not entry[0], entry[1]))
    record = {
        "item_id": item_id,
        "name": cells.get(layout.name, ""),
        "url": cells.get("product url", ""),
        "image": image,
        "price": price,
        "category": _category(cells.get(layout.category, "")) if layout.category else "",
        "brand": cells.get(layout.brand, "") if layout.brand else "",
        "availability": _availability(product, layout),
    }
    columns = {
        "item_id": key_column,
        "name": layout.name,
        "url": "product url",
        "image": image_column,
        "price": price_column,
        "category": layout.category or "categories",
        "brand": layout.brand or "brand id",
    }
    return product.line, {k: v for k, v in record.items() if v}, sources(names, columns)


def _key(cells: dict[str, str], layout: _Layout, site: str | None) -> tuple[str, str]:
    for column in (layout.sku, layout.mpn):
        value = cells.get(column, "").strip()
        if value:
            return value, column
    for column in layout.gtins:
        value = cells.get(column, "").strip()
        if value.isascii() and value.isdigit() and len(value) == 13:
            return value, column
    path = cells.get("product url", "").strip()
    if site and path.startswith("/"):
        return site + path, "product url"
    if path.lower().startswith(("http://", "https://")):
        return path, "product url"
    return "", ""


def _category(cell: str) -> str:
    """The first of `Shop All/Kitchen;Sale` as `Shop All > Kitchen` (`\\/` is a slash
    inside a name, `\\;` a semicolon)."""
    first = re.split(r"(?<!\\);", cell, maxsplit=1)[0]
    parts = (part.replace("\\/", "/").replace("\\;", ";") for part in re.split(r"(?<!\\)/", first))
    return " > ".join(part.strip() for part in parts if part.strip())


def _availability(product: _Product, layout: _Layout) -> str:
    cells = product.cells
    if cells.get(layout.visible, "").strip().lower() in NO:
        return DISCONTINUED
    if layout.purchasable and cells.get(layout.purchasable, "").strip().lower() in NO:
        return OUT_OF_STOCK
    tracking = cells.get(layout.tracking, "").strip().lower()
    if tracking == layout.by_variant and product.variant_stock:
        levels = product.variant_stock
    elif tracking not in ("", "none"):
        levels = [cells.get(layout.stock, "").strip()]
    else:
        return IN_STOCK
    counts = [int(level) for level in levels if re.fullmatch(r"-?\d+", level)]
    if counts and len(counts) == len(levels) and max(counts) <= 0:
        return OUT_OF_STOCK
    return IN_STOCK
