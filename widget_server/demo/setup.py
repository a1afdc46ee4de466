"""The demo store set up as a merchant sets theirs, through the admin API with the
secret key: settings with carousels placed by CSS selectors of the shop's pages,
the three ready-made popups switched on (with holdouts, so their lift shows, and
an A/B test), a coupon pool for "last chance", and the product feed."""

from __future__ import annotations

import json
import secrets
import urllib.error
import urllib.request
from typing import Any

from widget_server.demo.products import CURRENCY, Catalog

COUPON_POOL = "last-chance"
COUPONS = 2_000
SHOWCASES = [
    {
        "slot": "home_picks",
        "strategy": "recommended",
        "selector": ".categories",
        "page_types": ["home"],
        "title": "Picked for you",
    },
    {
        "slot": "product_similar",
        "strategy": "similar",
        "selector": ".product",
        "page_types": ["product"],
        "title": "You may also like",
    },
    {
        "slot": "cart_addons",
        "strategy": "cart",
        "selector": ".cart",
        "page_types": ["cart"],
        "title": "Goes well with your cart",
    },
]
SETTINGS = {
    "timezone": "UTC",
    "currency": CURRENCY,
    "showcase_holdout": 10,
    "showcases": SHOWCASES,
}
BRAND = {"colors": {"accent": "#2f5d50"}}  # the shop's green
# What the merchant changes in each preset. Holdouts of 30%: a verdict within days.
PRESETS: dict[str, dict[str, Any]] = {
    "dont_go": {"holdout": 30, "content": BRAND},
    "flash_promo": {
        "holdout": 30,
        "content": BRAND,
        "variants": [
            {"id": "ten_off", "weight": 1},
            {
                "id": "free_shipping",
                "weight": 1,
                "content": {
                    "headline": "Free shipping, today only",
                    "text": "Order in the next 15 minutes and shipping is on us.",
                    "coupon": {"code": "SHIPFREE"},
                },
            },
        ],
    },
    "last_chance": {
        "holdout": 30,
        "content": {
            **BRAND,
            "coupon": {"code": None, "pool": COUPON_POOL, "fallback_code": "CART5"},
            "button_url": "/demo/checkout",
        },
    },
}


class SetupFailed(RuntimeError):
    pass


class Admin:
    """The admin API of one server, as one store."""

    def __init__(self, server_url: str, secret_key: str) -> None:
        self.server_url = server_url.rstrip("/")
        self.secret_key = secret_key

    def call(
        self, method: str, path: str, body: Any = None, raw: bytes | None = None,
        content_type: str = "application/json",
    ) -> Any:  # fmt: skip
        data = raw if raw is not None else None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.server_url + path,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.secret_key}", "Content-Type": content_type},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            raise SetupFailed(f"{method} {path}: {exc.code} {exc.read().decode()[:500]}") from None


def product_feed(found: Catalog, shop_url: str) -> bytes:
    """The catalog as a JSON-lines product feed."""
    lines = [
        json.dumps(
            {
                "item_id": p.sku,
                "name": p.name,
                "url": f"{shop_url}/products/{p.slug}",
                "image": f"{shop_url}/images/{p.sku}.svg",
                "price": p.price,
                "currency": CURRENCY,
                "category": p.category.name,
                "brand": "Tarry demo shop",
                "availability": "in stock" if p.in_stock else "out of stock",
            }
        )
        for p in found.products
    ]
    return ("\n".join(lines) + "\n").encode()


def configure(admin: Admin, found: Catalog, shop_url: str, first: bool) -> list[dict[str, Any]]:
    """The feed (every start: the shop's address may have changed) and enough coupons;
    on the `first` start (until the store is filled) also the settings and the presets
    not switched on yet, so that what the merchant changes later stays. Returns the
    store's rules."""
    if first:
        admin.call("PATCH", "/v1/admin/settings", SETTINGS)
    admin.call(
        "POST",
        "/v1/admin/catalog?format=jsonl",
        raw=product_feed(found, shop_url),
        content_type="application/x-ndjson",
    )
    if first:
        have = {rule.get("preset") for rule in admin.call("GET", "/v1/admin/rules")["rules"]}
        for preset, changes in PRESETS.items():
            if preset not in have:
                admin.call("POST", "/v1/admin/rules", {"preset": preset, **changes})
    pool = admin.call("GET", f"/v1/admin/coupons/{COUPON_POOL}")
    if pool["remaining"] < COUPONS // 10:
        codes = [f"LAST-{secrets.token_hex(3).upper()}" for _ in range(COUPONS)]
        admin.call("POST", f"/v1/admin/coupons/{COUPON_POOL}", {"codes": codes})
    rules: list[dict[str, Any]] = admin.call("GET", "/v1/admin/rules")["rules"]
    return rules
