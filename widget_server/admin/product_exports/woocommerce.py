"""WooCommerce's products export (Products > Export).

One row per product and per variation (`Type` variation, `Parent` naming its
product as `id:123` or by SKU). Keyed by `SKU`, else `ID` (WooCommerce's JSON-LD
puts the id where a product has no SKU). The price is the `Sale price` while a sale
runs (its dates, where given, hold today), else the `Regular price`. `Categories`
holds several (`Clothing > Hoodies, Sale`): the first is the item's. A variation
takes its product's category, brand and image where it has none. Drafts and
private products (`Published` 0 or -1) are `discontinued`; `In stock?` 0 is
`out_of_stock` (`backorder` is on sale). The export has no product links: a card's
link comes from the product's page, when the snippet first sees it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator

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


def looks_like(columns: set[str]) -> bool:
    return {"id", "type", "sku", "name"} <= columns and bool(
        columns & {"regular price", "in stock?"}
    )


def _first_category(cell: str) -> str:
    """The first of `Clothing > Hoodies, Sale` (`\\,` is a comma inside a name)."""
    first = re.split(r"(?<!\\),", cell, maxsplit=1)[0]
    return first.replace("\\,", ",").strip()


def _first_image(cell: str) -> str:
    return cell.split(",", 1)[0].strip()


def _price(cells: dict[str, str], day: dt.date) -> tuple[str, str]:
    sale = cells.get("sale price", "").strip()
    starts, ends = cells.get("date sale price starts", ""), cells.get("date sale price ends", "")
    if sale and on_sale(starts, ends, day):
        return sale, "Sale price"
    return cells.get("regular price", ""), "Regular price"


def _availability(cells: dict[str, str], parent: dict[str, str]) -> str:
    stock = cells.get("in stock?", "").strip().lower()
    if {cells.get("published", "").strip(), parent.get("published", "").strip()} & {"0", "-1"}:
        return DISCONTINUED
    if stock in ("0", "no", "false"):
        return OUT_OF_STOCK
    return IN_STOCK if stock else ""


def _inherited(cells: dict[str, str], parent: dict[str, str]) -> Callable[[str], str]:
    """A variation's cell, else its product's."""

    def cell(column: str) -> str:
        return cells.get(column, "").strip() or parent.get(column, "").strip()

    return cell


def read(rows: Rows, header: list[str], site: str | None) -> Iterator[Record]:
    names = spelling(header)
    day = today()
    parents: dict[str, dict[str, str]] = {}  # "id:12" and a SKU -> the product's cells
    waiting: list[tuple[int, dict[str, str]]] = []
    for line, row in rows:
        cells = kept(row, COLUMNS)
        product_id, sku = cells.get("id", "").strip(), cells.get("sku", "").strip()
        if cells.get("type", "").strip().lower() != "variation":
            if product_id:
                parents[f"id:{product_id}"] = cells
            if sku:
                parents[sku] = cells
        waiting.append((line, cells))
    for line, cells in waiting:
        parent = parents.get(cells.get("parent", "").strip(), {})
        own_or_parents = _inherited(cells, parent)
        sku = cells.get("sku", "").strip()
        item_id = sku or cells.get("id", "").strip()
        if not item_id:
            yield line, None, {"error": "SKU: required (or ID)"}
            continue
        price, price_column = _price(cells, day)
        record = {
            "item_id": item_id,
            "name": cells.get("name", ""),
            "image": _first_image(own_or_parents("images")),
            "price": price,
            "category": _first_category(own_or_parents("categories")),
            "brand": own_or_parents("brands"),
            "availability": _availability(cells, parent),
        }
        columns = {
            "item_id": "SKU" if sku else "ID",
            "name": "Name",
            "image": "Images",
            "price": price_column,
            "category": "Categories",
            "brand": "Brands",
        }
        yield line, record, sources(names, columns)
