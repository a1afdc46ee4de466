"""E-mail capture: `POST /v1/subscribe`, and the merchant's list and erasure."""

from __future__ import annotations

import json

import pytest
from helpers import make_store, sync_client
from starlette.testclient import TestClient

from widget_server.settings import Settings
from widget_server.storage import keys

NEWSLETTER = {
    "name": "Newsletter",
    "template": "email_capture",
    "trigger": {"type": "scroll_depth", "percent": 50},
    "content": {"headline": "10% off for your e-mail", "button_text": "Subscribe",
                "coupon": {"code": "HELLO10"}},
}  # fmt: skip


def make_rule(client: TestClient, secret: str, rule: dict[str, object]) -> str:
    response = client.post(
        "/v1/admin/rules", json=rule, headers={"authorization": f"Bearer {secret}"}
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_subscribe_list_and_erase(client: TestClient, settings: Settings) -> None:
    store, secret = make_store(settings)
    auth = {"authorization": f"Bearer {secret}"}
    popup = make_rule(client, secret, NEWSLETTER)
    body = {"k": store.public_key, "vid": "v1", "popup_id": popup, "email": "Ann@Example.com"}
    # text/plain, as the snippet sends it: no CORS preflight
    first = client.post(
        "/v1/subscribe",
        content=json.dumps(body),
        headers={"content-type": "text/plain", "origin": "https://shop.example"},
    )
    assert first.status_code == 200 and first.json() == {"subscribed": True, "new": True}
    assert first.headers["access-control-allow-origin"] == "https://shop.example"
    again = client.post("/v1/subscribe", json={**body, "email": "ann@example.com"})
    assert again.json() == {"subscribed": True, "new": False}  # one address, kept once

    listed = client.get("/v1/admin/subscribers", headers=auth).json()["subscribers"]
    assert [(r["email"], r["vid"], r["popup_id"]) for r in listed] == [
        ("Ann@Example.com", "v1", popup)
    ]
    exported = client.get("/v1/admin/subscribers?format=csv", headers=auth)
    assert exported.headers["content-type"].startswith("text/csv")
    assert exported.text.splitlines()[0] == "email,vid,popup_id,ts"
    assert f"Ann@Example.com,v1,{popup}," in exported.text

    assert client.delete("/v1/admin/subscribers/ANN@example.com", headers=auth).status_code == 204
    assert client.get("/v1/admin/subscribers", headers=auth).json()["subscribers"] == []
    assert client.delete("/v1/admin/subscribers/ann@example.com", headers=auth).status_code == 404
    assert client.get("/v1/admin/subscribers").status_code == 401


@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        ({"email": "not-an-address"}, 400, "email: not an e-mail address"),
        ({"email": "a@b"}, 400, "email: not an e-mail address"),
        ({"email": None}, 400, "email: required"),
        ({"vid": "bad id"}, 400, "vid:"),
        ({"vid": "v1\n"}, 400, "vid:"),
        ({"popup_id": "r_doesnotexist"}, 400, "popup_id: no popup rule with this id"),
        ({"k": "pk_nosuchstore0_x"}, 401, "k: unknown"),
    ],
)
def test_bad_subscriptions_name_the_field(
    client: TestClient, settings: Settings, change: dict[str, object], status: int, message: str
) -> None:
    store, secret = make_store(settings)
    popup = make_rule(client, secret, NEWSLETTER)
    body = {"k": store.public_key, "vid": "v1", "popup_id": popup, "email": "a@b.example"}
    response = client.post("/v1/subscribe", json={**body, **change})
    assert response.status_code == status
    assert response.json()["error"].startswith(message)
    assert client.post("/v1/subscribe", content=b"{oops").status_code == 400


def test_an_email_capture_popup_hides_its_code_until_the_address_is_given(
    client: TestClient, settings: Settings
) -> None:
    store, secret = make_store(settings)
    make_rule(client, secret, NEWSLETTER)
    answer = client.get("/v1/decide", params={"k": store.public_key, "vid": "v", "sid": "s"})
    [popup] = answer.json()["popups"]
    assert 'type="email"' in popup["html"] and "data-tarry-email" in popup["html"]
    assert 'class="tarry-coupon" hidden data-tarry-reveal' in popup["html"]


def test_one_address_cannot_flood_the_list(client: TestClient, settings: Settings) -> None:
    store, secret = make_store(settings)
    body = {"k": store.public_key, "vid": "v1", "popup_id": make_rule(client, secret, NEWSLETTER)}
    for n in range(20):
        response = client.post("/v1/subscribe", json={**body, "email": f"a{n}@example.com"})
        assert response.status_code == 200
    refused = client.post("/v1/subscribe", json={**body, "email": "spam@example.com"})
    assert refused.status_code == 429 and refused.json()["error"].startswith("rate:")
    assert 0 < int(refused.headers["retry-after"]) <= 3600
    listed = client.get(
        "/v1/admin/subscribers", headers={"authorization": f"Bearer {secret}"}
    ).json()["subscribers"]
    assert len(listed) == 20 and "spam@example.com" not in {r["email"] for r in listed}


def test_only_an_email_capture_popup_of_the_store_takes_addresses(
    client: TestClient, settings: Settings
) -> None:
    store, secret = make_store(settings)
    auth = {"authorization": f"Bearer {secret}"}
    newsletter = make_rule(client, secret, NEWSLETTER)
    promo = make_rule(client, secret, {"preset": "dont_go"})
    _, other_secret = make_store(settings)
    elsewhere = make_rule(client, other_secret, NEWSLETTER)
    body = {"k": store.public_key, "vid": "v1", "email": "ann@example.com"}

    def subscribe(popup_id: str) -> tuple[int, dict[str, object]]:
        response = client.post("/v1/subscribe", json={**body, "popup_id": popup_id})
        return response.status_code, response.json()

    assert subscribe("r_doesnotexist") == (400, {"error": "popup_id: no popup rule with this id"})
    assert subscribe(elsewhere) == (400, {"error": "popup_id: no popup rule with this id"})
    assert subscribe(promo) == (
        400,
        {"error": "popup_id: this popup does not capture e-mail addresses"},
    )
    with sync_client(settings) as redis:  # a rule another version of Tarry wrote
        redis.hset(keys.rules(store.id), "r_future", '{"name": "x", "template": "wheel"}')
    assert subscribe("r_future") == (400, {"error": "popup_id: no popup rule with this id"})
    listed = client.get("/v1/admin/subscribers", headers=auth).json()["subscribers"]
    assert listed == []  # nothing refused was kept
    assert subscribe(newsletter) == (200, {"subscribed": True, "new": True})
    # Turned off since the shopper saw it: the address it asked for is still taken.
    disabled = client.patch(f"/v1/admin/rules/{newsletter}", json={"enabled": False}, headers=auth)
    assert disabled.status_code == 200, disabled.text
    body["email"] = "bob@example.com"
    assert subscribe(newsletter) == (200, {"subscribed": True, "new": True})
    listed = client.get("/v1/admin/subscribers", headers=auth).json()["subscribers"]
    assert [(r["email"], r["popup_id"]) for r in listed] == [
        ("ann@example.com", newsletter),
        ("bob@example.com", newsletter),
    ]
