"""PrestaShop 1.7's products export (Catalog > Products > Export): the product list
as the back office shows it, `;`-separated, a row per product (no combinations).

Its columns come in one order, `Product ID;Image;Name;Reference;Category;Price (tax
excl.);Price (tax incl.);Quantity;Status` and `Position` where the list was
filtered by a category, and every name but the first is in the back office's
language (`Nom`, `Référence`, `Prix (TTC)`...): so the export is known, and read, by
position. Keyed by `Reference` (what the theme's product page shows as its
`itemprop="sku"`); a product without one cannot be keyed (the export has no page
address) and is an error. The price is the one shoppers see, tax included, after
reductions; the image the cover's; the category the product's default one. `Status`
is the list's out-of-stock badge (1: none left), not whether the product is on
sale, which the export does not say; a shop that does not manage stock has every
quantity at 0, so only where some product has stock does none left mean
`out_of_stock`. The export has no links: a card's comes from its page, when the
snippet first sees it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from widget_server.admin.product_exports._common import (
    IN_STOCK,
    OUT_OF_STOCK,
    Record,
    Rows,
    sources,
    spelling,
)

# By position: what each of the export's columns holds.
FIELDS = (
    "product id",
    "image",
    "name",
    "reference",
    "category",
    "price tax excluded",
    "price tax included",
    "quantity",
    "out of stock badge",
)
NO_REFERENCE = "required (the export has no page address to key a product by)"
_TAXED = re.compile(r"\(.+\)")  # `Price (tax excl.)`, `Prix (HT)`, `Preis (exkl. MwSt.)`


def looks_like(header: list[str]) -> bool:
    return (
        len(header) in (len(FIELDS), len(FIELDS) + 1)
        and header[0] == "product id"
        and all(_TAXED.search(header[at]) for at in (5, 6))
    )


def read(rows: Rows, header: list[str], site: str | None) -> Iterator[Record]:
    names = spelling(header)
    column = [name.strip().lower() for name in header]  # a field's column, by position
    at = {field: column[position] for position, field in enumerate(FIELDS)}
    products = []
    for line, row in rows:
        products.append((line, {field: row.get(at[field], "").strip() for field in FIELDS}))
    quantities = [_quantity(cells["quantity"]) for _, cells in products]
    counts_stock = any(quantity is not None and quantity > 0 for quantity in quantities)
    for (line, cells), quantity in zip(products, quantities, strict=True):
        if not cells["reference"]:
            shown = names.get(at["reference"], "Reference")
            yield line, None, {"error": f"{shown}: {NO_REFERENCE}"}
            continue
        price_field = "price tax included" if cells["price tax included"] else "price tax excluded"
        sold_out = (quantity is not None and quantity <= 0) or cells["out of stock badge"] == "1"
        image = cells["image"]
        record = {
            "item_id": cells["reference"],
            "name": cells["name"],
            "image": image if image.lower().startswith(("http://", "https://")) else "",
            "price": cells[price_field],
            "category": cells["category"],
            "availability": OUT_OF_STOCK if counts_stock and sold_out else IN_STOCK,
        }
        fields = {
            "item_id": at["reference"],
            "name": at["name"],
            "image": at["image"],
            "price": at[price_field],
            "category": at["category"],
        }
        yield line, {k: v for k, v in record.items() if v}, sources(names, fields)


def _quantity(cell: str) -> int | None:
    return int(cell) if re.fullmatch(r"-?\d+", cell) else None
