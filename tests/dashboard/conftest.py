"""What the dashboard's tests share: a store with a catalog and traffic (sent
through the real collector and ingest), signed in through the real sign-in form."""

from __future__ import annotations

import random
import re
import time
from typing import Any

import pytest
from helpers import ingest_in_the_past, make_store, run_with_redis
from starlette.testclient import TestClient

from widget_server.settings import Settings
from widget_server.storage import stores
from widget_server.storage.catalog import upsert_cards

DAY_MS = 86_400_000
CHANNELS = (
    ({"utm_source": "news", "utm_medium": "email", "utm_campaign": "spring"}, None),
    ({}, "https://www.google.com/"),
    ({}, "https://instagram.com/"),
    ({"utm_source": "ads", "utm_medium": "cpc", "utm_campaign": "brand"}, None),
    ({}, None),
)
CATALOG = [
    {
        "item_id": f"sku-{n}",
        "name": name,
        "url": f"https://shop.example/p/sku-{n}",
        "image": f"https://shop.example/img/sku-{n}.png",
        "price": price,
        "currency": "EUR",
        "category": category,
    }
    for n, (name, price, category) in enumerate(
        [
            ("Linen shirt", 39.0, "Shirts"),
            ("Canvas tote", 18.5, "Bags"),
            ("Ceramic mug", 12.0, "Home"),
            ("Wool scarf", 29.0, "Accessories"),
            ("Leather belt", 45.0, "Accessories"),
            ("Cotton tee", 19.0, "Shirts"),
        ]
    )
]


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def sign_in(client: TestClient, secret: str) -> None:
    """Through the sign-in form, as a person does."""
    form = client.get("/dashboard/signin")
    answer = client.post(
        "/dashboard/signin",
        data={"csrf": csrf_of(form.text), "secret_key": secret, "next": "/dashboard"},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text


def session_events(
    rng: random.Random, n: int, start_ms: int, rule_id: str | None = None
) -> list[dict[str, Any]]:
    """One visitor's session: a landing page from some channel, products, maybe a
    cart and an order, a popup shown (or held out) and maybe clicked."""
    query, referrer = CHANNELS[n % len(CHANNELS)]
    vid, sid = f"v{n % 97}", f"s{n}-{start_ms}"
    tail = "&".join(f"{k}={v}" for k, v in query.items())
    landing = ["/", "/p/sku-1", "/c/shirts", "/p/sku-3"][n % 4]
    first: dict[str, Any] = {
        "type": "page_view",
        "url": f"https://shop.example{landing}?{tail}",
        "page_type": "home" if landing == "/" else "product",
    }
    if referrer:
        first["ref"] = referrer
    events: list[dict[str, Any]] = [first]
    item = CATALOG[n % len(CATALOG)]
    if rng.random() < 0.6:
        events.append({"type": "page_view", "url": f"https://shop.example/p/{item['item_id']}",
                       "page_type": "product"})  # fmt: skip
        events.append({"type": "view_item", "items": [{"item_id": item["item_id"]}]})
    if rule_id is not None:
        held = rng.random() < 0.2
        events.append({"type": "popup_suppressed" if held else "popup_shown",
                       "popup_id": rule_id, "variant": "default"})  # fmt: skip
        if not held and rng.random() < 0.3:
            events.append({"type": "popup_click", "popup_id": rule_id, "variant": "default"})
    if rng.random() < 0.5:
        held = rng.random() < 0.15
        rec = f"r{n}"
        events.append({"type": "showcase_suppressed" if held else "showcase_view",
                       "placement": "similar", "rec_id": rec})  # fmt: skip
        if not held and rng.random() < 0.3:
            item = CATALOG[(n + 1) % len(CATALOG)]
            events.append({"type": "showcase_click", "placement": "similar", "rec_id": rec,
                           "items": [{"item_id": item["item_id"]}]})  # fmt: skip
    if rng.random() < 0.25:
        events.append({"type": "add_to_cart", "items": [{"item_id": item["item_id"],
                       "price": item["price"], "quantity": 1}]})  # fmt: skip
        if rng.random() < 0.5:
            events.append({"type": "begin_checkout"})
            line = {"item_id": item["item_id"], "price": item["price"]}
            events.append({"type": "purchase", "value": item["price"], "currency": "EUR",
                           "transaction_id": f"T{n}-{start_ms}", "items": [line]})  # fmt: skip
    events.append({"type": "engagement", "engaged_ms": rng.randrange(2_000, 90_000)})
    out = []
    ts = start_ms
    for index, event in enumerate(events):
        out.append({"id": f"e{n}-{index}-{start_ms}", "ts": ts, "vid": vid, "sid": sid,
                    "url": "https://shop.example/", **event})  # fmt: skip
        ts += 15_000
    return out


def fill_history(
    settings: Settings, store_id: str, days: int, rule_id: str | None = None, seed: int = 3
) -> int:
    """`days` days of sessions before today, through the real ingest script; the
    numbers rise and fall like a shop's week. Returns the sessions written."""
    rng = random.Random(seed)
    now = int(time.time() * 1000)
    batches = []
    count = 0
    for day in range(days, 0, -1):
        weekday_boost = 1.4 if day % 7 in (1, 2) else 1.0
        for _ in range(int((10 + (days - day) // 8) * weekday_boost)):
            start = now - day * DAY_MS + rng.randrange(0, DAY_MS // 2)
            batches.append(session_events(rng, count, start, rule_id))
            count += 1
    ingest_in_the_past(settings, store_id, batches)
    return count


class Traffic:
    """The helpers above, for the test modules (a conftest is not importable)."""

    catalog = CATALOG
    csrf_of = staticmethod(csrf_of)
    sign_in = staticmethod(sign_in)
    session_events = staticmethod(session_events)
    fill_history = staticmethod(fill_history)


@pytest.fixture(scope="session")
def traffic() -> Traffic:
    return Traffic()


@pytest.fixture
def redis_url(standalone_url: str) -> str:
    """Pages on the embedded Redis; `test_web.py` renders every one on a Cluster too."""
    return standalone_url


@pytest.fixture
def shop_store(settings: Settings) -> tuple[stores.Store, str]:
    store, secret = make_store(settings, ("shop.example",))
    run_with_redis(settings, lambda r: upsert_cards(r, store.id, CATALOG))
    return store, secret


@pytest.fixture
def signed_in(client: TestClient, shop_store: tuple[stores.Store, str]) -> TestClient:
    sign_in(client, shop_store[1])
    return client
