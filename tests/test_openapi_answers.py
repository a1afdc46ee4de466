"""Real answers of every route, success and error, checked against `/openapi.json`
with openapi-core.

A tour drives a real app (real Redis) through each operation's answers, and a
second app whose Redis has gone away through its 503s. openapi-core validates each
answer (status, content type, body, required headers) against the served document,
and each request too: a request the server takes must be one the document allows,
and where the document can say why a request is bad, it must refuse it as the
server does. Finally every status the document lists for an operation must have
been seen, so a route that starts or stops answering some status, or changes an
answer's fields (answer objects admit no undescribed field), fails here until its
description says so.
"""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
import redis
from conftest import BROWSER_UA, free_port
from helpers import event, make_store
from openapi_core import OpenAPI
from openapi_core.exceptions import OpenAPIError
from openapi_core.testing import MockRequest, MockResponse
from starlette.testclient import TestClient

from widget_server.admin import imports as admin_imports
from widget_server.admin.catalog import MAX_BODY as MAX_FEED_BYTES
from widget_server.admin.rules import MAX_BODY as MAX_RULE_BYTES
from widget_server.app import create_app
from widget_server.collect import snippet
from widget_server.collect.events import MAX_BODY_BYTES, MAX_EVENTS
from widget_server.decide import subscribers
from widget_server.decide.endpoint import in_showcase_holdout
from widget_server.openapi.document import document
from widget_server.popups.assignment import in_holdout
from widget_server.popups.rulebook import MAX_RULES
from widget_server.popups.schema import StoreSettings
from widget_server.settings import Settings
from widget_server.storage.embedded_redis import redis_server_binary

Seen = set[tuple[str, str, int]]
ORIGIN = {"origin": "https://www.shop.example"}
EVIL = {"origin": "https://evil.example"}


def _template(document_paths: dict[str, Any], path: str) -> str:
    for template in document_paths:
        pattern = "^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path):
            return template
    raise AssertionError(f"{path} is not in the document")


def _openapi_request(request: httpx.Request) -> MockRequest:
    return MockRequest(
        "http://testserver",
        request.method,
        request.url.path,
        args=list(request.url.params.multi_items()),
        headers=dict(request.headers),
        data=request.content,
        content_type=request.headers.get("content-type", ""),
    )


def _openapi_response(response: httpx.Response) -> MockResponse:
    return MockResponse(
        response.content,
        response.status_code,
        headers=dict(response.headers),
        content_type=response.headers.get("content-type", ""),
    )


@dataclasses.dataclass
class Tour:
    client: TestClient
    spec: OpenAPI
    paths: dict[str, Any]
    seen: Seen

    def call(
        self,
        method: str,
        url: str,
        status: int,
        *,
        conforms: bool | None = True,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send; check the status, the answer against the document and the request:
        `conforms` True, the document must allow it; False, refuse it; None, it
        cannot tell (a check no schema expresses)."""
        response = self.client.request(method, url, **kwargs)
        assert response.status_code == status, (method, url, response.text)
        return self.check(response, conforms)

    def check(self, response: httpx.Response, conforms: bool | None = True) -> httpx.Response:
        request = _openapi_request(response.request)
        if conforms is True:
            self.spec.validate_request(request)
        elif conforms is False:
            with pytest.raises(OpenAPIError):
                self.spec.validate_request(request)
        self.spec.validate_response(request, _openapi_response(response))
        template = _template(self.paths, response.request.url.path)
        self.seen.add((template, response.request.method.lower(), response.status_code))
        return response


def described(paths: dict[str, Any]) -> Seen:
    return {
        (path, method, int(status))
        for path, operations in paths.items()
        for method, operation in operations.items()
        for status in operation["responses"]
    }


@pytest.fixture
def app_settings(standalone_url: str, tmp_path: Path) -> Settings:
    # One Redis is enough here: the Cluster runs the same endpoints elsewhere.
    return Settings.from_env({"TARRY_REDIS_URL": standalone_url, "TARRY_DATA_DIR": str(tmp_path)})


@pytest.fixture
def seen() -> Seen:
    return set()


@pytest.fixture
def tour(app_settings: Settings, seen: Seen) -> Iterator[Tour]:
    with TestClient(create_app(app_settings), headers={"user-agent": BROWSER_UA}) as client:
        paths = client.get("/openapi.json").json()["paths"]
        spec = OpenAPI.from_dict(client.get("/openapi.json").json())
        yield Tour(client, spec, paths, seen)


@pytest.fixture
def lost_redis(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """A Redis of the test's own, so that it can go away in the middle."""
    port = free_port()
    process = subprocess.Popen(
        [
            redis_server_binary(),
            *("--port", str(port), "--bind", "127.0.0.1", "--save", ""),
            *("--appendonly", "no", "--dir", str(tmp_path)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}"
    client = redis.Redis.from_url(url)
    for _ in range(200):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    client.close()
    yield process, url
    if process.poll() is None:
        process.terminate()
        process.wait(10)


@dataclasses.dataclass
class Shop:
    public_key: str
    auth: dict[str, str]
    rules: dict[str, str]  # name -> id
    settings: StoreSettings


CATALOG = "item_id,name,url,image,price,currency,category\n" + "".join(
    f"SKU-{n},Mug {n},https://shop.example/p/{n},https://shop.example/{n}.jpg,{n}.5,EUR,mugs\n"
    for n in range(1, 7)
)
FLASH = {
    "name": "Flash",
    "template": "flash_promo",
    "trigger": {"type": "time_on_page", "seconds": 8},
    "targeting": {"page_types": ["product"]},
    "content": {
        "headline": "10% off",
        "coupon": {"pool": "flash"},
        "countdown": {"minutes": 15},
        "products": {"strategy": "similar", "count": 2},
    },
    "variants": [{"id": "b", "weight": 1, "content": {"headline": "Only today"}}],
}
HELD = {
    "name": "Held out",
    "template": "announcement",
    "trigger": {"type": "exit_intent"},
    "targeting": {"page_types": ["product"]},
    "content": {"headline": "News"},
    "holdout": 90,
}
NEWSLETTER = {
    "name": "Newsletter",
    "template": "email_capture",
    "trigger": {"type": "scroll_depth", "percent": 50},
    "content": {"headline": "Sign up", "coupon": {"code": "HELLO10"}},
}
SETTINGS = {
    "timezone": "Europe/Paris",
    "currency": "EUR",
    "showcase_holdout": 30,
    "showcases": [
        {"slot": "below", "strategy": "popular", "selector": "#main", "n": 2,
         "page_types": ["product"], "title": "Popular"}
    ],
}  # fmt: skip


def _visitor(shop: Shop, *, held: bool) -> str:
    """A visitor in (or out of) both the held-out rule's and the showcase holdout."""
    for n in range(10_000):
        vid = f"v{n}"
        popup = in_holdout(shop.rules["held"], vid, HELD["holdout"])  # type: ignore[arg-type]
        showcase = in_showcase_holdout(shop.settings, vid)
        if popup == held and showcase == held:
            return vid
    raise AssertionError("no such visitor")


# -- the tour, one surface at a time -------------------------------------------------


def _admin(tour: Tour, app_settings: Settings) -> Shop:
    store, secret = make_store(app_settings)
    auth = {"authorization": f"Bearer {secret}"}
    csv = {**auth, "content-type": "text/csv"}
    catalog = "/v1/admin/catalog"
    assert tour.call("POST", catalog, 200, content=CATALOG, headers=csv).json()["imported"] == 6
    bad_rows = "item_id,price\nA,abc\n"
    refused = tour.call("POST", catalog, 400, content=bad_rows, headers=csv).json()
    assert refused["rejected"][0]["line"] == 2
    xml = {**auth, "content-type": "application/xml"}
    # Broken XML: openapi-core cannot read it either.
    tour.call(
        "POST", catalog + "?format=gmc", 400, conforms=None, content="<rss><item>", headers=xml
    )
    tour.call("POST", catalog + "?format=xls", 400, conforms=False, content=CATALOG, headers=csv)
    tour.call("POST", catalog, 401, conforms=False, content=CATALOG)
    huge = b"x" * (MAX_FEED_BYTES + 1)
    tour.call("POST", catalog, 413, conforms=None, content=huge, headers=csv)

    imports_url = "/v1/admin/import"
    orders = "InvoiceNo,StockCode,Quantity,InvoiceDate,UnitPrice,CustomerID\n"
    orders += "5001,A,2,2024-01-05 10:00:00,3.5,77\n"
    summary = tour.call("POST", imports_url + "?currency=EUR", 200, content=orders, headers=csv)
    assert summary.json()["imported"]["orders"] == 1
    tour.call("POST", imports_url + "?format=xls", 400, conforms=False, content=orders,
              headers=csv)  # fmt: skip
    tour.call("POST", imports_url, 400, conforms=None, content="\x00\x01", headers=csv)
    tour.call("POST", imports_url, 401, conforms=False, content=orders,
              headers={"content-type": "text/csv"})  # fmt: skip
    limit = admin_imports.MAX_BODY
    admin_imports.MAX_BODY = 10
    try:
        tour.call("POST", imports_url, 413, conforms=None, content=orders, headers=csv)
    finally:
        admin_imports.MAX_BODY = limit

    erase = "/v1/admin/visitors/"
    tour.call("POST", "/v1/collect", 200, json={"k": store.public_key,
              "events": [event(vid="erase-me")]}, headers={"user-agent": BROWSER_UA})  # fmt: skip
    assert tour.call("DELETE", erase + "erase-me", 200, headers=auth).json()["erased"]["events"]
    tour.call("DELETE", erase + "erase-me", 404, headers=auth)
    tour.call("DELETE", erase + "a%20b", 400, conforms=None, headers=auth)
    tour.call("DELETE", erase + "erase-me", 401, conforms=False)

    coupons = "/v1/admin/coupons/flash"
    added = tour.call("POST", coupons, 200, json={"codes": ["F1", "F2", "F1"]}, headers=auth)
    assert added.json()["duplicates"] == 1
    assert tour.call("GET", coupons, 200, headers=auth).json()["remaining"] == 2
    tour.call("POST", coupons, 422, conforms=False, json={"codes": []}, headers=auth)
    tour.call("POST", coupons, 422, conforms=None, json={"codes": [" F3"]}, headers=auth)
    tour.call("POST", coupons, 400, conforms=False, content="{", headers=auth)
    tour.call("POST", "/v1/admin/coupons/bad pool", 400, conforms=None, json={"codes": ["X"]},
              headers=auth)  # fmt: skip
    tour.call("GET", "/v1/admin/coupons/bad pool", 400, conforms=None, headers=auth)
    tour.call("POST", coupons, 413, conforms=None, content=b"x" * (8 * 1024 * 1024 + 1),
              headers=auth)  # fmt: skip
    tour.call("GET", coupons, 401, conforms=False)
    tour.call("POST", coupons, 401, conforms=False, json={"codes": ["X"]})

    rules = "/v1/admin/rules"
    ids = {}
    for name, rule in (("flash", FLASH), ("held", HELD), ("newsletter", NEWSLETTER)):
        ids[name] = tour.call("POST", rules, 201, json=rule, headers=auth).json()["id"]
    preset = tour.call("POST", rules, 201, json={"preset": "dont_go", "priority": 1},
                       headers=auth).json()  # fmt: skip
    assert (preset["preset"], preset["priority"]) == ("dont_go", 1)
    tour.call("POST", rules, 422, conforms=False, json={"preset": "nope"}, headers=auth)
    # `id` is readOnly in the document, which openapi-core does not enforce.
    tour.call("POST", rules, 422, conforms=None, json={**NEWSLETTER, "id": "mine"}, headers=auth)
    bad_colour = {**NEWSLETTER, "content": {"headline": "x", "colors": {"accent": "red"}}}
    invalid = tour.call("POST", rules, 422, conforms=None, json=bad_colour, headers=auth).json()
    assert invalid["errors"][0]["field"] == "content.colors.accent"
    tour.call("POST", rules, 400, conforms=False, content="{", headers=auth)
    tour.call("POST", rules, 413, conforms=None, content=b" " * (MAX_RULE_BYTES + 1),
              headers=auth)  # fmt: skip
    listed = tour.call("GET", rules, 200, headers=auth).json()["rules"]
    assert {r["id"] for r in listed} == {*ids.values(), preset["id"]}
    tour.call("GET", rules, 401, conforms=False)
    tour.call("POST", rules, 401, conforms=False, json=NEWSLETTER)
    tour.call("GET", rules, 401, headers={"authorization": "Bearer sk_unknown"})

    one = f"{rules}/{preset['id']}"
    tour.call("GET", one, 200, headers=auth)
    tour.call("GET", f"{rules}/r_nothing", 404, headers=auth)
    changed = tour.call("PATCH", one, 200, json={"content": {"headline": "Wait"}}, headers=auth)
    assert changed.json()["content"]["headline"] == "Wait"
    tour.call("PATCH", one, 422, conforms=False, json={"priority": 5000}, headers=auth)
    tour.call("PATCH", one, 400, conforms=False, content="[", headers=auth)
    tour.call("PATCH", f"{rules}/r_nothing", 404, json={"enabled": False}, headers=auth)
    tour.call("PATCH", one, 413, conforms=None, content=b" " * (MAX_RULE_BYTES + 1),
              headers=auth)  # fmt: skip
    replaced = {**NEWSLETTER, "name": "Replaced", "enabled": False}
    tour.call("PUT", one, 200, json=replaced, headers=auth)
    tour.call("PUT", one, 422, conforms=False, json={"name": "no template"}, headers=auth)
    tour.call("PUT", one, 400, conforms=False, content="{", headers=auth)
    tour.call("PUT", f"{rules}/r_nothing", 404, json=replaced, headers=auth)
    tour.call("PUT", one, 413, conforms=None, content=b" " * (MAX_RULE_BYTES + 1), headers=auth)
    tour.call("PUT", one, 401, conforms=False, json=replaced)
    tour.call("PATCH", one, 401, conforms=False, json={})
    tour.call("GET", one, 401, conforms=False)
    tour.call("DELETE", one, 204, headers=auth)
    tour.call("DELETE", one, 404, headers=auth)
    tour.call("DELETE", one, 401, conforms=False)

    preview = f"{rules}/{ids['flash']}/preview"
    assert "<" in tour.call("GET", preview, 200, headers=auth).json()["html"]
    tour.call("GET", preview + "?variant=b", 200, headers=auth)
    tour.call("GET", preview + "?variant=zz", 404, headers=auth)
    tour.call("GET", f"{rules}/r_nothing/preview", 404, headers=auth)
    tour.call("GET", preview, 401, conforms=False)
    presets = tour.call("GET", "/v1/admin/presets", 200, headers=auth).json()["presets"]
    assert "dont_go" in presets
    tour.call("GET", "/v1/admin/presets", 401, conforms=False)

    settings = "/v1/admin/settings"
    assert tour.call("GET", settings, 200, headers=auth).json()["timezone"] == "UTC"
    tour.call("PUT", settings, 200, json=SETTINGS, headers=auth)
    patched = tour.call("PATCH", settings, 200, json={"governor": {"min_gap_seconds": 30}},
                        headers=auth).json()  # fmt: skip
    assert (patched["governor"]["min_gap_seconds"], patched["currency"]) == (30, "EUR")
    tour.call("PUT", settings, 422, conforms=None, json={"timezone": "Mars/Base"}, headers=auth)
    tour.call("PATCH", settings, 422, conforms=False, json={"currency": "euro"}, headers=auth)
    tour.call("PUT", settings, 400, conforms=False, content="{", headers=auth)
    tour.call("PATCH", settings, 400, conforms=False, content="{", headers=auth)
    big = b" " * (MAX_RULE_BYTES + 1)
    tour.call("PUT", settings, 413, conforms=None, content=big, headers=auth)
    tour.call("PATCH", settings, 413, conforms=None, content=big, headers=auth)
    for method in ("GET", "PUT", "PATCH"):
        tour.call(method, settings, 401, conforms=False, json={})
    stored = StoreSettings.model_validate(patched)
    return Shop(store.public_key, auth, ids, stored)


def _decide(tour: Tour, shop: Shop) -> None:
    shown, held = _visitor(shop, held=False), _visitor(shop, held=True)
    page = {
        "k": shop.public_key, "sid": "s1", "page_type": "product", "item_id": "SKU-1",
        "url": "https://shop.example/p/1", "cart": "SKU-2", "cart_value": "12.5",
        "ref": "https://search.example/", "utm_source": "news", "utm_campaign": "spring",
        "device": "desktop", "history": "SKU-3,SKU-4", "slots": "similar,main:popular", "n": "2",
    }  # fmt: skip
    answer = tour.call("GET", "/v1/decide", 200, params={**page, "vid": shown}).json()
    flash = next(p for p in answer["popups"] if p["id"] == shop.rules["flash"])
    assert {"coupon", "countdown", "rec_id"} <= set(flash) and flash["html"]
    assert answer["showcases"]["below"]["selector"] == "#main"
    assert answer["showcases"]["similar"]["items"]
    hidden = tour.call("GET", "/v1/decide", 200, params={**page, "vid": held}).json()
    assert any(p["holdout"] for p in hidden["popups"])
    assert all(s["holdout"] for s in hidden["showcases"].values())
    tour.call("GET", "/v1/decide", 200, params={**page, "vid": shown}, headers=ORIGIN)
    tour.call("GET", "/v1/decide", 400, conforms=False, params={**page, "vid": shown, "n": "0"})
    tour.call("GET", "/v1/decide", 400, conforms=False, params={**page, "page_type": "x"})
    tour.call("GET", "/v1/decide", 400, conforms=False, params={"k": shop.public_key})
    bad_slot = {**page, "vid": shown, "slots": "main:nope"}
    tour.call("GET", "/v1/decide", 400, conforms=None, params=bad_slot)
    tour.call("GET", "/v1/decide", 401, params={**page, "vid": shown, "k": "pk_unknown_0"})
    tour.call("GET", "/v1/decide", 401, conforms=False, params={"vid": shown, "sid": "s1"})
    tour.call("GET", "/v1/decide", 403, params={**page, "vid": shown}, headers=EVIL)

    ask = {"k": shop.public_key, "placement": "similar", "item_id": "SKU-1", "n": "3",
           "history": "SKU-2", "cart": "SKU-3", "purchased": "SKU-4", "exclude": "SKU-5",
           "category": "mugs", "same_category": "true", "exclude_history": "false",
           "max_per_category": "3"}  # fmt: skip
    recommendations = "/v1/recommendations"
    full = tour.call("GET", recommendations, 200, params={**ask, "vid": shown}).json()
    assert full["items"] and full["model_version"] is None
    empty = tour.call("GET", recommendations, 200, params={**ask, "vid": held}).json()
    assert empty["holdout"] and "model_version" not in empty
    tour.call("GET", recommendations, 200, params={"key": shop.public_key, "item": "SKU-1"})
    tour.call("GET", recommendations, 400, conforms=False, params={**ask, "strategy": "best"})
    tour.call("GET", recommendations, 400, conforms=False, params={**ask, "n": "0"})
    tour.call("GET", recommendations, 400, conforms=False, params={**ask, "same_category": "?"})
    tour.call("GET", recommendations, 400, conforms=None, params={**ask, "placement": "foo"})
    tour.call("GET", recommendations, 401, params={**ask, "k": "pk_unknown_0"})
    tour.call("GET", recommendations, 401, conforms=False)
    tour.call("GET", recommendations, 403, params=ask, headers=EVIL)


def _collect(tour: Tour, shop: Shop) -> None:
    k, collect = shop.public_key, "/v1/collect"
    popup, rec = shop.rules["flash"], "r0123456789ab"
    events = [
        event("popup_shown", popup_id=popup, variant="default", sid="s2", vid="buyer"),
        event("popup_click", popup_id=popup, variant="default", sid="s2", vid="buyer"),
        event("showcase_view", placement="similar", rec_id=rec, sid="s2", vid="buyer"),
        event("showcase_click", placement="similar", rec_id=rec, sid="s2", vid="buyer",
              items=[{"item_id": "SKU-2"}]),
        event("purchase", sid="s2", vid="buyer", value=12.5, transaction_id="T-1",
              items=[{"item_id": "SKU-2", "price": 12.5, "quantity": 1}]),
        event("popup_suppressed", popup_id=popup, sid="s3", vid="held"),
        event("showcase_suppressed", placement="similar", sid="s3", vid="held"),
    ]  # fmt: skip
    done = tour.call("POST", collect, 200, json={"k": k, "events": events}, headers=ORIGIN)
    assert done.json() == {"accepted": len(events), "duplicates": 0, "rejected": []}
    mixed = {"k": k, "events": [event(), {"id": "x"}], "sent_at": events[0]["ts"]}
    as_text = tour.call("POST", collect, 200, content=json.dumps(mixed),
                        headers={"content-type": "text/plain"}).json()  # fmt: skip
    assert as_text["accepted"] == 1 and as_text["rejected"][0]["index"] == 1
    bot = tour.call("POST", collect, 200, json={"k": k, "events": [event()]},
                    headers={"user-agent": "Googlebot/2.1"})  # fmt: skip
    assert bot.json()["bot"] is True
    tour.call("POST", collect, 400, conforms=False, json={"events": []})
    tour.call("POST", collect, 401, json={"k": "pk_unknown_0", "events": [event()]})
    tour.call("POST", collect, 403, json={"k": k, "events": [event()]}, headers=EVIL)
    too_many = {"k": k, "events": [event() for _ in range(MAX_EVENTS + 1)]}
    tour.call("POST", collect, 413, conforms=False, json=too_many)
    tour.call("POST", collect, 413, conforms=None, content=b" " * (MAX_BODY_BYTES + 1),
              headers={"content-type": "application/json"})  # fmt: skip
    preflight = tour.call("OPTIONS", collect, 204, headers=ORIGIN)
    assert preflight.headers["access-control-allow-origin"] == ORIGIN["origin"]
    # Past the per-visitor limit (300 events a minute; a new minute starts anew).
    for _ in range(10):
        flood = {"k": k, "events": [event(vid="flood") for _ in range(100)]}
        response = tour.client.post(collect, json=flood)
        if response.status_code != 200:
            break
    limited = tour.check(response).json()
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) == limited["retry_after"] > 0


def _subscribe(tour: Tour, shop: Shop) -> None:
    url = "/v1/subscribe"
    body = {"k": shop.public_key, "vid": "v1", "popup_id": shop.rules["newsletter"],
            "email": "ann@example.com"}  # fmt: skip
    assert tour.call("POST", url, 200, json=body, headers=ORIGIN).json()["new"] is True
    again = tour.call("POST", url, 200, content=json.dumps({**body, "email": "ANN@example.com"}),
                      headers={"content-type": "text/plain"})  # fmt: skip
    assert again.json() == {"subscribed": True, "new": False}
    # A spin-to-win popup answers its prize too (a code for everyone on every slice).
    slices = [{"label": f"{n}0% off", "weight": 1, "code": f"C{n}"} for n in range(6)]
    wheel = tour.client.post("/v1/admin/rules", headers=shop.auth, json={
        "preset": "spin_to_win", "content": {"segments": slices}}).json()["id"]  # fmt: skip
    spun = {**body, "popup_id": wheel, "email": "bo@example.com", "platform": "shopify"}
    prize = tour.call("POST", url, 200, json=spun).json()["prize"]
    assert prize["code"] == slices[prize["segment"]]["code"] and prize["apply_url"]
    tour.call("POST", url, 400, conforms=False, json={**spun, "platform": "wix"})
    tour.call("POST", url, 400, conforms=None, json={**body, "email": "ann@"})
    tour.call("POST", url, 400, conforms=None, json={**body, "popup_id": shop.rules["flash"]})
    not_json = {"content-type": "application/json"}
    tour.call("POST", url, 400, conforms=False, content="{", headers=not_json)
    tour.call("POST", url, 400, conforms=False, json={"k": shop.public_key})
    tour.call("POST", url, 401, json={**body, "k": "pk_unknown_0"})
    tour.call("POST", url, 403, json=body, headers=EVIL)
    tour.call("POST", url, 413, conforms=None, content=b" " * (subscribers.MAX_BODY + 1))

    listed = tour.call("GET", "/v1/admin/subscribers", 200, headers=shop.auth).json()
    assert [s["email"] for s in listed["subscribers"]] == ["ann@example.com", "bo@example.com"]
    exported = tour.call("GET", "/v1/admin/subscribers?format=csv", 200, headers=shop.auth)
    assert exported.text.startswith("email,vid,popup_id,ts")
    tour.call("GET", "/v1/admin/subscribers", 401, conforms=False)
    erase = "/v1/admin/subscribers/Ann@Example.com"
    tour.call("DELETE", erase, 204, headers=shop.auth)
    tour.call("DELETE", erase, 404, headers=shop.auth)
    tour.call("DELETE", erase, 401, conforms=False)
    # Past the sign-ups one address may make in an hour (a new hour starts anew).
    for n in range(3 * subscribers.PER_ADDRESS_PER_HOUR):
        response = tour.client.post(url, json={**body, "email": f"n{n}@example.com"})
        if response.status_code != 200:
            break
    tour.check(response)
    assert response.status_code == 429 and int(response.headers["retry-after"]) > 0


def _stats(tour: Tour, shop: Shop) -> None:
    summary = tour.call("GET", "/v1/stats/summary", 200, headers=shop.auth).json()
    assert summary["purchases"] == 1 and summary["days"][-1]["revenue"] == 12.5
    attribution = tour.call("GET", "/v1/stats/attribution", 200, headers=shop.auth).json()
    assert attribution["popups"][shop.rules["flash"]]["click"]["revenue"] == 12.5
    assert attribution["showcases"]["placements"]["similar"]["rec_ids"]
    for path in ("/v1/stats/summary", "/v1/stats/attribution"):
        tour.call("GET", path, 400, conforms=None, params={"from": "yesterday"}, headers=shop.auth)
        backwards = {"from": "2026-01-02", "to": "2026-01-01"}
        tour.call("GET", path, 400, params=backwards, headers=shop.auth)
        tour.call("GET", path, 401, conforms=False)
    year = {"from": "2025-01-01", "to": "2025-12-31"}
    tour.call("GET", "/v1/stats/attribution", 400, params=year, headers=shop.auth)


# What a traffic report needs beyond the defaults of every other parameter.
REPORT_PARAMETERS = {"/v1/stats/breakdown": {"by": "device"}}


def _reports(tour: Tour, shop: Shop) -> None:
    summary = {"/v1/stats/summary", "/v1/stats/attribution"}
    paths = [p for p in tour.paths if p.startswith("/v1/stats/") and p not in summary]
    assert paths
    for path in paths:
        params = REPORT_PARAMETERS.get(path, {})
        answer = tour.call("GET", path, 200, params=params, headers=shop.auth).json()
        assert answer["store_id"]
        table = tour.call("GET", path, 200, params={**params, "format": "csv"}, headers=shop.auth)
        assert table.headers["content-type"].startswith("text/csv")
        bad = {**params, "format": "xml"}
        tour.call("GET", path, 400, conforms=False, params=bad, headers=shop.auth)
        tour.call("GET", path, 401, conforms=False, params=params)


def _operations(tour: Tour, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    whole = tour.call("GET", "/t.js", 200, headers={"accept-encoding": "gzip"})
    tour.call("GET", "/t.js", 200, headers={"accept-encoding": "identity"})
    tour.call("GET", "/t.js", 304, headers={"if-none-match": whole.headers["etag"]})
    tour.call("GET", "/healthz", 200)
    tour.call("GET", "/readyz", 200)
    assert "tarry_http_requests_total" in tour.call("GET", "/metrics", 200).text
    tour.call("GET", "/openapi.json", 200)
    monkeypatch.setattr(snippet, "loader", snippet.Loader(tmp_path / "missing.js"))
    tour.call("GET", "/t.js", 503)


def _rule_limit(tour: Tour, shop: Shop) -> None:
    count = len(tour.client.get("/v1/admin/rules", headers=shop.auth).json()["rules"])
    for _ in range(MAX_RULES - count):
        response = tour.client.post("/v1/admin/rules", json={"preset": "dont_go"},
                                    headers=shop.auth)  # fmt: skip
        assert response.status_code == 201
    tour.call("POST", "/v1/admin/rules", 409, json={"preset": "dont_go"}, headers=shop.auth)


def _outage(tour: Tour, lost: subprocess.Popen[bytes], public_key: str, secret: str) -> None:
    """Every operation that reads Redis, once it is gone."""
    auth = {"authorization": f"Bearer {secret}"}
    lost.terminate()
    lost.wait(10)
    assert tour.call("GET", "/readyz", 503).json()["status"] == "unavailable"
    page = {"k": public_key, "vid": "v1", "sid": "s1"}
    tour.call("GET", "/v1/decide", 503, params=page)
    tour.call("GET", "/v1/recommendations", 503, params=page)
    tour.call("POST", "/v1/collect", 503, json={"k": public_key, "events": [event()]})
    signup = {"k": public_key, "vid": "v1", "popup_id": "r_1", "email": "a@example.com"}
    tour.call("POST", "/v1/subscribe", 503, json=signup)
    secret_operations = {
        (path, method): operation
        for path, operations in tour.paths.items()
        for method, operation in operations.items()
        if operation["security"] and "secretKey" in operation["security"][0]
    }
    bodies = {"/v1/admin/coupons/{pool}": {"codes": ["X"]}}
    for path, method in secret_operations:
        url = path.replace("{rule_id}", "r_1").replace("{pool}", "p").replace("{email}", "a@b.cd")
        body = bodies.get(path, NEWSLETTER if method in ("post", "put") else {})
        tour.call(method.upper(), url, 503, conforms=None, json=body, headers=auth)


def test_every_route_answers_as_its_description_says(
    tour: Tour,
    app_settings: Settings,
    lost_redis: tuple[subprocess.Popen[bytes], str],
    seen: Seen,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    shop = _admin(tour, app_settings)
    _decide(tour, shop)
    _collect(tour, shop)
    _subscribe(tour, shop)
    _stats(tour, shop)
    _reports(tour, shop)
    _rule_limit(tour, shop)
    _operations(tour, monkeypatch, tmp_path)

    process, url = lost_redis
    gone = Settings.from_env({"TARRY_REDIS_URL": url, "TARRY_DATA_DIR": str(tmp_path / "gone")})
    store, secret = make_store(gone)
    with TestClient(create_app(gone), headers={"user-agent": BROWSER_UA}) as client:
        _outage(Tour(client, tour.spec, tour.paths, seen), process, store.public_key, secret)

    missing = described(tour.paths) - seen
    assert not missing, f"described but never answered: {sorted(missing)}"


def test_the_check_refuses_what_is_not_described(tour: Tour) -> None:
    """The validation above is not vacuous: an undescribed status, field, content
    type or a missing required header each fail it."""
    health = tour.client.get("/healthz")
    request = _openapi_request(health.request)
    tour.spec.validate_response(request, _openapi_response(health))
    wrong = [
        MockResponse(health.content, 418),
        MockResponse(b'{"status": "ok", "uptime": 3}', 200),
        MockResponse(b'{"status": "fine"}', 200),
        MockResponse(health.content, 200, content_type="text/plain"),
    ]
    for response in wrong:
        with pytest.raises(OpenAPIError):
            tour.spec.validate_response(request, response)
    lost = tour.client.get("/v1/decide", params={"k": "pk_unknown_0", "vid": "v", "sid": "s"})
    request = _openapi_request(lost.request)
    tour.spec.validate_response(request, _openapi_response(lost))
    busy = MockResponse(b'{"error": "storage: down"}', 503)  # no Retry-After
    with pytest.raises(OpenAPIError):
        tour.spec.validate_response(request, busy)


def test_the_document_is_the_one_the_code_builds(tour: Tour) -> None:
    assert tour.client.get("/openapi.json").json() == json.loads(json.dumps(document()))
