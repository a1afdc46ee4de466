"""Shop platforms' own product exports read as catalog feeds: the CSV a merchant gets
from Shopify, WooCommerce, Magento 2, BigCommerce or PrestaShop, uploaded as it came,
without renaming a column. `catalog_import.parse_csv` asks `reader_for` the CSV's
header first.

Each row becomes a record in the feed's own field names (`catalog_import.to_card`
checks it), with the export's column behind each field, so that an error names the
column the merchant sees (`Variant Price: not a number`). Items are keyed as the
snippet and the order imports key them on that platform, so that a card, a product
page view and an imported order meet on one item. Products taken off sale (drafts,
archived, private, disabled, unpublished) are `discontinued` rather than left out,
so that a re-import hides their cards; each platform's module says what its columns
mean.
"""

from __future__ import annotations

from collections.abc import Callable

from widget_server.admin.product_exports import (
    bigcommerce,
    magento,
    prestashop,
    shopify,
    woocommerce,
)
from widget_server.admin.product_exports._common import Reader


def _by_names(looks_like: Callable[[set[str]], bool]) -> Callable[[list[str]], bool]:
    """Most exports are known by the columns they have; PrestaShop's by their order
    (its back office translates their names)."""
    return lambda columns: looks_like(set(columns))


# Each platform: whether a (lower-case) header is its export's, and its reader.
PLATFORMS: tuple[tuple[Callable[[list[str]], bool], Reader], ...] = (
    (_by_names(shopify.looks_like), shopify.read),
    (_by_names(woocommerce.looks_like), woocommerce.read),
    (_by_names(magento.looks_like), magento.read),
    (_by_names(bigcommerce.looks_like), bigcommerce.read),
    (prestashop.looks_like, prestashop.read),
)


def reader_for(columns: list[str]) -> Reader | None:
    """The reader of a platform export with these (lower-case) columns, or None for
    any other CSV."""
    for looks_like, read in PLATFORMS:
        if looks_like(columns):
            return read
    return None
