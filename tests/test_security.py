"""Tenant isolation over every route the API describes, with every kind of key.

The table is the OpenAPI document itself (tests/test_openapi.py holds it to the
app's routes), so a new route is checked here the day it is added: a route that
takes the secret key answers 401 to no key, to the public key and to a key of
no store, and another store's secret key never reads or changes this store;
CORS is never `*`, and admin and stats answers carry no CORS header at all.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from conftest import BROWSER_UA
from helpers import make_store
from starlette.testclient import TestClient

from widget_server.app import create_app
from widget_server.openapi.document import document
from widget_server.storage.clock import now_ms

OPERATIONS = [
    (method.upper(), path, op)
    for path, ops in document()["paths"].items()
    for method, op in ops.items()
]
SECRET_OPERATIONS = [
    (m, p) for m, p, op in OPERATIONS if {"secretKey": []} in op.get("security", [])
]
PATH_VALUES = {"rule_id": "r_x", "pool": "flash", "vid": "v-mine", "email": "a@b.example"}
BODIES: dict[str, Any] = {
    "/v1/admin/rules": {"preset": "dont_go"},
    "/v1/admin/settings": {"timezone": "Asia/Kolkata"},
    "/v1/admin/coupons/{pool}": {"codes": ["C1"]},
    "/v1/admin/catalog": "item_id,name\nX,Y\n",
    "/v1/admin/import": "InvoiceNo,StockCode,Quantity,InvoiceDate,UnitPrice,CustomerID\n"
    "9,A,1,2024-01-01 10:00:00,2.5,5\n",
}


def _url(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES[m.group(1)], path)


def _send(client: TestClient, method: str, path: str, headers: dict[str, str]) -> Any:
    body = BODIES.get(path)
    if isinstance(body, str):
        return client.request(
            method, _url(path), content=body, headers={**headers, "content-type": "text/csv"}
        )
    if method in ("POST", "PUT", "PATCH"):
        return client.request(method, _url(path), json=body or {}, headers=headers)
    return client.request(method, _url(path), headers=headers)


def test_the_table_covers_every_secret_route() -> None:
    assert len(SECRET_OPERATIONS) >= 25
    assert ("DELETE", "/v1/admin/visitors/{vid}") in SECRET_OPERATIONS


@pytest.mark.parametrize(("method", "path"), SECRET_OPERATIONS)
def test_a_secret_route_lets_in_this_stores_secret_key_only(
    settings, method: str, path: str
) -> None:
    mine, my_secret = make_store(settings)
    theirs, their_secret = make_store(settings)
    with TestClient(create_app(settings), headers={"user-agent": BROWSER_UA}) as client:
        event = {"id": "only-mine", "type": "page_view", "ts": now_ms(), "vid": "v-mine",
                 "sid": "s-mine", "url": "https://shop.example/"}  # fmt: skip
        assert (
            client.post("/v1/collect", json={"k": mine.public_key, "events": [event]}).json()[
                "accepted"
            ]
            == 1
        )
        for headers in (
            {},
            {"authorization": f"Bearer {mine.public_key}"},
            {"authorization": "Bearer sk_nosuchstore00_" + "x" * 32},
            {"authorization": f"Basic {my_secret}"},
            {"authorization": f"Bearer {my_secret}", "origin": "https://evil.example"},
        ):
            answer = _send(client, method, path, headers)
            if "Bearer " + my_secret in headers.get("authorization", ""):
                # The right key from a foreign page: still no CORS to read it with.
                assert "access-control-allow-origin" not in answer.headers
                continue
            assert answer.status_code == 401, (headers, answer.text)
            assert answer.json()["error"].startswith("authorization:")
            assert "access-control-allow-origin" not in answer.headers
        # Another store's secret key: it sees and changes only its own store.
        before = client.get(
            "/v1/admin/settings", headers={"authorization": f"Bearer {my_secret}"}
        ).json()
        answer = _send(client, method, path, {"authorization": f"Bearer {their_secret}"})
        assert answer.status_code < 500
        assert mine.id not in answer.text and "only-mine" not in answer.text
        assert "v-mine" not in answer.text or path == "/v1/admin/visitors/{vid}"
        if path == "/v1/admin/visitors/{vid}":
            assert answer.status_code == 404  # nothing of v-mine in their store
        after = client.get(
            "/v1/admin/settings", headers={"authorization": f"Bearer {my_secret}"}
        ).json()
        assert after == before
        mine_stats = client.get(
            "/v1/stats/overview", headers={"authorization": f"Bearer {my_secret}"}
        ).json()
        assert mine_stats["figures"]["sessions"]["value"] == 1
        del theirs


@pytest.mark.parametrize("path", ["/v1/decide", "/v1/recommendations"])
def test_a_public_route_refuses_a_secret_key_and_foreign_pages(settings, path: str) -> None:
    mine, my_secret = make_store(settings)
    with TestClient(create_app(settings), headers={"user-agent": BROWSER_UA}) as client:
        params = {"vid": "v1", "sid": "s1", "url": "https://shop.example/", "placement": "popular"}
        leaked = client.get(path, params={**params, "k": my_secret})
        assert leaked.status_code == 401
        assert "secret key" in leaked.json()["error"]
        foreign = client.get(
            path,
            params={**params, "k": mine.public_key},
            headers={"origin": "https://evil.example"},
        )
        assert foreign.status_code == 403
        assert foreign.headers.get("access-control-allow-origin") in (None, "https://evil.example")
        assert foreign.headers.get("access-control-allow-origin") != "*"
        ours = client.get(
            path,
            params={**params, "k": mine.public_key},
            headers={"origin": "https://shop.example"},
        )
        assert ours.status_code == 200
        assert ours.headers["access-control-allow-origin"] == "https://shop.example"


def test_the_public_key_never_reads_stats_or_changes_rules(settings) -> None:
    mine, _ = make_store(settings)
    with TestClient(create_app(settings)) as client:
        for method, path in SECRET_OPERATIONS:
            answer = _send(client, method, path, {"authorization": f"Bearer {mine.public_key}"})
            assert answer.status_code == 401, (method, path)
            answer = client.request(method, _url(path), params={"k": mine.public_key})
            assert answer.status_code == 401, (method, path)


def test_a_secret_key_is_kept_only_as_its_hash(settings) -> None:
    """No key of Redis holds a secret key, only its SHA-256 (compared in constant
    time: `hmac.compare_digest` in storage/stores.py)."""
    import hashlib

    from helpers import sync_client

    store, secret = make_store(settings)
    with sync_client(settings) as r:
        # Every key's contents as Redis gives them back (DUMP's serialisation
        # compresses long strings, so a digest may not appear in it verbatim).
        stored = b"".join(key + b"\n" + _contents(r, key) for key in r.scan_iter(match="t:*"))
    assert secret.encode() not in stored
    assert hashlib.sha256(secret.encode()).hexdigest().encode() in stored
    assert store.public_key.encode() in stored  # the public key is public


def _contents(r: Any, key: bytes) -> bytes:
    kind = r.type(key)
    if kind == b"string":
        values = [r.get(key)]
    elif kind == b"hash":
        values = [part for pair in r.hgetall(key).items() for part in pair]
    elif kind == b"set":
        values = list(r.smembers(key))
    elif kind == b"zset":
        values = [member for member, _ in r.zrange(key, 0, -1, withscores=True)]
    elif kind == b"list":
        values = r.lrange(key, 0, -1)
    elif kind == b"stream":
        values = [part for _, fields in r.xrange(key) for pair in fields.items() for part in pair]
    else:
        raise AssertionError(f"{key!r}: a key of type {kind!r} this test cannot read")
    return b"\n".join(v for v in values if v is not None)


def test_security_md_names_only_tests_that_exist() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    text = (root / "SECURITY.md").read_text(encoding="utf-8")
    named = re.findall(r"`(tests/[\w/]+\.py)(?:::(\w+))?`", text)
    assert len(named) >= 10
    for path, test in named:
        source = (root / path).read_text(encoding="utf-8")
        assert not test or f"def {test}(" in source, (path, test)
