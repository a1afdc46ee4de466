"""What every dashboard page shares: signing in with the secret key (and nothing
else), the cookie, CSRF on every form, security headers, HTML errors under
/dashboard while the API keeps its JSON, and every page on a Redis Cluster."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import BROWSER_UA, RedisCluster
from helpers import make_store, run_with_redis
from starlette.requests import Request
from starlette.testclient import TestClient

from widget_server.app import create_app
from widget_server.dashboard import web
from widget_server.dashboard.language import language_for
from widget_server.dashboard.session import COOKIE, Session
from widget_server.popups.schema import StoreSettings
from widget_server.settings import Settings
from widget_server.storage import stores

PAGES = (
    "/dashboard",
    "/dashboard/popups",
    "/dashboard/popups/new",
    "/dashboard/showcases",
    "/dashboard/retention",
    "/dashboard/catalog?q=sku",
    "/dashboard/catalog/items/sku-1",
    "/dashboard/install",
    "/dashboard/settings",
)
CSP = {
    "default-src": "'none'",
    "script-src": "'self'",
    "style-src": "'self'",
    "frame-ancestors": "'none'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-src": "'self'",
}


def _csp(header: str) -> dict[str, str]:
    return dict(part.strip().split(" ", 1) for part in header.split(";"))


def assert_secure(response: Any) -> None:
    policy = _csp(response.headers["content-security-policy"])
    for directive, value in CSP.items():
        if directive == "frame-ancestors" and "/preview/" in str(response.url):
            continue
        assert policy[directive] == value, (directive, policy)
    assert "'unsafe-inline'" not in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"


def test_every_page_asks_to_sign_in_first(client: TestClient) -> None:
    for path in PAGES:
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303, path
        assert answer.headers["location"] == "/dashboard/signin?next=" + path.split("?")[0]
        assert_secure(answer)
    assert client.get("/dashboard/realtime.json").status_code == 401


def test_the_secret_key_signs_in_with_a_safe_cookie(
    client: TestClient, shop_store: tuple[stores.Store, str], traffic: Any
) -> None:
    store, secret = shop_store
    form = client.get("/dashboard/signin")
    assert_secure(form)
    answer = client.post(
        "/dashboard/signin",
        data={"csrf": traffic.csrf_of(form.text), "secret_key": f"  {secret} ",
              "next": "/dashboard/popups"},
        follow_redirects=False,
    )  # fmt: skip
    assert answer.status_code == 303 and answer.headers["location"] == "/dashboard/popups"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    for flag in ("HttpOnly", "SameSite=lax", "Max-Age=43200", "Path=/dashboard"):
        assert flag.lower() in cookie.lower(), (flag, cookie)
    assert secret not in cookie and store.secret_hash not in cookie
    page = client.get("/dashboard/popups")
    assert page.status_code == 200 and store.name in page.text


@pytest.mark.parametrize(
    ("key", "message", "kind"),
    [
        ("sk_{id}_" + "w" * 32, "Unknown, rotated or disabled secret key.", "wrong"),
        ("{public}", "That is the store's public key (pk_...)", "public"),
        ("", "Paste the store's secret key (sk_...).", "empty"),
    ],
)
def test_a_wrong_key_and_the_public_key_get_nothing(
    client: TestClient,
    shop_store: tuple[stores.Store, str],
    traffic: Any,
    key: str,
    message: str,
    kind: str,
) -> None:
    store, _ = shop_store
    form = client.get("/dashboard/signin")
    answer = client.post(
        "/dashboard/signin",
        data={"csrf": traffic.csrf_of(form.text),
              "secret_key": key.format(id=store.id, public=store.public_key)},
        follow_redirects=False,
    )  # fmt: skip
    assert answer.status_code == 401
    assert message in answer.text.replace("&#39;", "'")
    assert client.get("/dashboard", follow_redirects=False).status_code == 303


def test_a_form_posted_without_its_token_is_refused(
    signed_in: TestClient, shop_store: tuple[stores.Store, str], settings: Settings, traffic: Any
) -> None:
    store, _ = shop_store
    token = traffic.csrf_of(signed_in.get("/dashboard/settings").text)
    for data in ({}, {"csrf": ""}, {"csrf": token[:-1] + ("0" if token[-1] != "0" else "1")}):
        answer = signed_in.post("/dashboard/settings", data={**data, "currency": "GBP"})
        assert answer.status_code == 403
        assert "text/html" in answer.headers["content-type"]
        assert "not sent from this dashboard" in answer.text
        assert_secure(answer)
    # Every form of the dashboard is guarded, signing in and out included.
    for path in (
        "/dashboard/signin",
        "/dashboard/signout",
        "/dashboard/popups/presets",
        "/dashboard/popups/preview",
        "/dashboard/showcases/retrain",
        "/dashboard/catalog",
    ):
        assert signed_in.post(path, data={"preset": "dont_go"}).status_code == 403, path
    book = run_with_redis(settings, lambda r: r.hlen(f"t:{{{store.id}}}:rules"))
    assert book == 0
    accepted = signed_in.post("/dashboard/settings", data={"csrf": token, "currency": "GBP",
                              "domains": "shop.example", "timezone": "UTC"},
                              follow_redirects=False)  # fmt: skip
    assert accepted.status_code == 303


def test_a_token_from_before_sign_in_opens_nothing_after_it(
    client: TestClient, shop_store: tuple[stores.Store, str], traffic: Any
) -> None:
    form = client.get("/dashboard/signin")
    before = traffic.csrf_of(form.text)
    client.post("/dashboard/signin", data={"csrf": before, "secret_key": shop_store[1]})
    assert client.post("/dashboard/signout", data={"csrf": before}).status_code == 403


def test_rotating_the_secret_or_disabling_the_store_signs_out(
    signed_in: TestClient, shop_store: tuple[stores.Store, str], settings: Settings
) -> None:
    store, _ = shop_store
    assert signed_in.get("/dashboard").status_code == 200
    run_with_redis(settings, lambda r: stores.rotate_secret(r, store.id))
    assert signed_in.get("/dashboard", follow_redirects=False).status_code == 303


def test_signing_out_ends_the_session(signed_in: TestClient, traffic: Any) -> None:
    token = traffic.csrf_of(signed_in.get("/dashboard").text)
    answer = signed_in.post("/dashboard/signout", data={"csrf": token}, follow_redirects=False)
    assert answer.headers["location"] == "/dashboard/signin?signed_out=1"
    assert signed_in.get("/dashboard", follow_redirects=False).status_code == 303


def test_after_sign_in_only_a_dashboard_page(
    client: TestClient, shop_store: tuple[stores.Store, str], traffic: Any
) -> None:
    for target in ("https://evil.example/", "//evil.example/dashboard", "/v1/admin/rules"):
        form = client.get("/dashboard/signin")
        answer = client.post(
            "/dashboard/signin",
            data={"csrf": traffic.csrf_of(form.text), "secret_key": shop_store[1], "next": target},
            follow_redirects=False,
        )
        assert answer.headers["location"] == "/dashboard"


def test_every_page_is_html_with_the_security_headers(signed_in: TestClient) -> None:
    for path in PAGES:
        answer = signed_in.get(path)
        assert answer.status_code == 200, (path, answer.text[:300])
        assert answer.headers["content-type"] == "text/html; charset=utf-8"
        assert answer.headers["cache-control"] == "no-store"
        assert_secure(answer)
        # No inline script or style: the CSP would refuse them.
        assert not re.search(r"<script(?![^>]*\bsrc=)", answer.text), path
        assert "<style" not in answer.text and " style=" not in answer.text, path


def test_unknown_dashboard_paths_are_pages_and_the_api_keeps_its_json(
    signed_in: TestClient,
) -> None:
    missing = signed_in.get("/dashboard/no-such-page")
    assert missing.status_code == 404 and "text/html" in missing.headers["content-type"]
    assert "There is no page at this address." in missing.text
    assert_secure(missing)
    wrong_method = signed_in.delete("/dashboard/settings")
    assert wrong_method.status_code == 405 and "text/html" in wrong_method.headers["content-type"]
    assert wrong_method.headers["allow"] == "GET, HEAD, POST"
    api = signed_in.get("/v1/no-such-endpoint")
    assert api.status_code == 404 and api.json()["error"].startswith("path: no endpoint at")
    assert signed_in.get("/dashboard/popups/r_nope").status_code == 404
    assert signed_in.get("/dashboard/static/nope.js").status_code == 404


def test_the_page_context_is_the_documented_one(settings: Settings) -> None:
    documented = set(re.findall(r"^- `(\w+)`", web.__doc__ or "", re.M))
    app = create_app(settings).starlette
    request = Request({"type": "http", "app": app, "query_string": b"", "headers": []})
    store = stores.Store("abcdefghijkl", "Shop", ("shop.example",), "pk", "h", 0, True)
    page = web.Page(request, None, store, StoreSettings(), Session.anonymous(),  # type: ignore[arg-type]
                    language_for("en"))  # fmt: skip
    assert set(page.context("overview")) == documented
    assert set(web.plain_context(request, language_for("en"), None)) == documented
    for helper in ("static", "fmt", "charts", "choice", "strategy_label"):
        assert helper in web.env.globals and f"`{helper}" in (web.__doc__ or "")


@pytest.fixture
def cluster_client(redis_cluster: RedisCluster, tmp_path: Path) -> Iterator[TestClient]:
    redis_cluster.flush()
    settings = Settings.from_env({"TARRY_REDIS_URL": redis_cluster.url,
                                  "TARRY_DATA_DIR": str(tmp_path)})  # fmt: skip
    with TestClient(create_app(settings), headers={"user-agent": BROWSER_UA}) as client:
        client.settings = settings  # type: ignore[attr-defined]
        yield client


def test_every_page_on_a_redis_cluster(cluster_client: TestClient, traffic: Any) -> None:
    settings: Settings = cluster_client.settings  # type: ignore[attr-defined]
    store, secret = make_store(settings)
    traffic.fill_history(settings, store.id, 3)
    traffic.sign_in(cluster_client, secret)
    for path in PAGES:
        answer = cluster_client.get(path)
        assert answer.status_code in (200, 404), (path, answer.text[:300])
    assert "data-fmt" in cluster_client.get("/dashboard").text
