"""Install: the store's exact script tag, from TARRY_PUBLIC_URL or the request."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from conftest import BROWSER_UA
from starlette.testclient import TestClient

from widget_server.app import create_app
from widget_server.settings import Settings
from widget_server.storage import stores


def _tag(page: str) -> str:
    start = page.index('<pre id="script-tag"')
    return html.unescape(page[page.index("<code>", start) + 6 : page.index("</code>", start)])


def test_the_tag_loads_from_the_address_this_request_came_to(
    signed_in: TestClient, shop_store: tuple[stores.Store, str]
) -> None:
    page = signed_in.get("/dashboard/install").text
    key = shop_store[0].public_key
    assert _tag(page) == f'<script async src="http://testserver/t.js" data-key="{key}"></script>'
    assert (
        'data-copy="script-tag"' in page and 'data-install-check="/dashboard/realtime.json"' in page
    )
    assert "theme.liquid" in page and "header.php" in page and "Scripts and Style Sheets" in page
    assert "/v1/admin/import" in page  # past orders: this server has the import
    # The product export's step leads to the Catalog page's upload, which is there.
    assert 'href="/dashboard/catalog#feed-title"' in page
    assert 'id="feed-title"' in signed_in.get("/dashboard/catalog").text


def test_behind_a_proxy_the_public_address(
    settings: Settings, shop_store: tuple[stores.Store, str], tmp_path: Path, traffic: Any
) -> None:
    public = settings.replace(public_url="https://tarry.shop.example/t")
    with TestClient(create_app(public), headers={"user-agent": BROWSER_UA}) as client:
        traffic.sign_in(client, shop_store[1])
        tag = _tag(client.get("/dashboard/install").text)
    assert tag.startswith('<script async src="https://tarry.shop.example/t/t.js" data-key="pk_')


SHOPIFY = Path(__file__).resolve().parents[2] / "data" / "imports" / "shopify-orders.csv"


def test_past_orders_upload_on_the_install_page(signed_in: TestClient, traffic: Any) -> None:
    """The hand-written Shopify export (tests/data/imports/README.md): 4 orders
    count, 2 lines are bad; a second upload counts nothing again."""
    import re

    token = traffic.csrf_of(signed_in.get("/dashboard/install").text)
    body = SHOPIFY.read_bytes()
    answer = signed_in.post(
        "/dashboard/install", data={"csrf": token, "format": ""},
        files={"orders": ("orders_export.csv", body, "text/csv")},
    )  # fmt: skip
    assert answer.status_code == 200, answer.text
    words = re.sub(r"<[^>]+>", "", answer.text)
    assert (
        "orders_export.csv: 4 orders and 4 events counted, 0 already there, 2 bad lines." in words
    )
    assert "Created at: not a date" in answer.text
    # #1002 refunded and #1003 voided: said why they are not counted
    assert "Left out on purpose: refunded order (1), voided order (1)" in words
    again = signed_in.post(
        "/dashboard/install", data={"csrf": token, "format": "shopify"},
        files={"orders": ("orders_export.csv", body, "text/csv")},
    )  # fmt: skip
    assert "0 orders and 0 events counted, 4 already there" in re.sub(r"<[^>]+>", "", again.text)
    refused = signed_in.post("/dashboard/install", files={"orders": ("x.csv", body, "text/csv")})
    assert refused.status_code == 403  # no CSRF token
    nothing = signed_in.post("/dashboard/install", data={"csrf": token})
    assert nothing.status_code == 400 and "orders: choose an export file" in nothing.text
