"""Names other exports use for GA4's events: a module of its own, with no numpy, so
that the import's CSV reader shares the table `tarry eval` reads with."""

from __future__ import annotations

from collections.abc import Mapping

# Names other exports use for the same GA4 events (lower-cased): a CSV from a shop
# platform or a public data set often says "view", "addtocart" or "transaction".
EVENT_ALIASES: Mapping[str, str] = {
    "view": "view_item",
    "views": "view_item",
    "click": "view_item",
    "clicks": "view_item",
    "product_view": "view_item",
    "product viewed": "view_item",
    "addtocart": "add_to_cart",
    "add-to-cart": "add_to_cart",
    "cart": "add_to_cart",
    "carts": "add_to_cart",
    "product added": "add_to_cart",
    "checkout": "begin_checkout",
    "transaction": "purchase",
    "order": "purchase",
    "orders": "purchase",
    "buy": "purchase",
    "order completed": "purchase",
}
