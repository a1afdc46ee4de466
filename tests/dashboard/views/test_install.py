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


def test_behind_a_proxy_the_public_address(
    settings: Settings, shop_store: tuple[stores.Store, str], tmp_path: Path, traffic: Any
) -> None:
    public = settings.replace(public_url="https://tarry.shop.example/t")
    with TestClient(create_app(public), headers={"user-agent": BROWSER_UA}) as client:
        traffic.sign_in(client, shop_store[1])
        tag = _tag(client.get("/dashboard/install").text)
    assert tag.startswith('<script async src="https://tarry.shop.example/t/t.js" data-key="pk_')
