"""`DELETE /v1/admin/visitors/{vid}`: nothing of the visitor is left anywhere, and
nothing of anyone else is lost."""

from __future__ import annotations

import json

from conftest import BROWSER_UA
from helpers import ingest_together, make_store, run_with_redis, stored_events, sync_client
from starlette.testclient import TestClient

from widget_server.admin.visitors import erase_visitor
from widget_server.app import create_app
from widget_server.storage import keys
from widget_server.storage.clock import now_ms

GONE = "visitor-to-forget-7"
STAYS = "visitor-who-stays-3"
NEWSLETTER = {
    "name": "Newsletter",
    "template": "email_capture",
    "trigger": {"type": "scroll_depth", "percent": 50},
    "content": {"headline": "10% off", "button_text": "Subscribe",
                "coupon": {"pool": "welcome"}},
}  # fmt: skip


def _events(vid: str, sid: str, uid: str | None, t: int) -> list[dict[str, object]]:
    """Event ids are opaque (the snippet makes them at random): the duplicate check
    keeps them 48 hours after an erasure too, so a retry cannot bring anyone back."""
    common = {"vid": vid, "sid": sid, **({"uid": uid} if uid else {})}
    tag = "a" if vid == GONE else "b"
    return [
        {"id": f"{tag}1", "type": "page_view", "ts": t, "url": "https://shop.example/",
         **common},
        {"id": f"{tag}2", "type": "view_item", "ts": t + 1, "items": [{"item_id": "sku-1"}],
         **common},
        {"id": f"{tag}3", "type": "purchase", "ts": t + 2, "value": 20.0,
         "transaction_id": f"T-{vid}", "items": [{"item_id": "sku-1"}], **common},
        {"id": f"{tag}4", "type": "popup_shown", "ts": t + 3, "popup_id": "r1", **common},
    ]  # fmt: skip


def _everything(settings, store_id: str) -> bytes:
    """Every key of the store, dumped: what a search of Redis would find."""
    dump = b""
    with sync_client(settings) as r:
        for key in r.scan_iter(match=keys.store_prefix(store_id) + "*"):
            dump += key + b"\n" + (r.dump(key) or b"") + b"\n"
    return dump


def test_erasing_a_visitor_leaves_nothing_of_them(settings) -> None:
    store, secret = make_store(settings)
    auth = {"authorization": f"Bearer {secret}"}
    t = now_ms() - 60_000
    with TestClient(create_app(settings), headers={"user-agent": BROWSER_UA}) as client:
        rule = client.post("/v1/admin/rules", json=NEWSLETTER, headers=auth).json()["id"]
        client.post("/v1/admin/coupons/welcome", json={"codes": ["W1", "W2"]}, headers=auth)
        # Both visitors in one request: one stream entry holds them both.
        batch = _events(GONE, "s-gone", "customer-gone@example.com", t) + _events(
            STAYS, "s-stays", None, t
        )
        assert client.post("/v1/collect", json={"k": store.public_key, "events": batch}).json()[
            "accepted"
        ] == len(batch)
        for vid, email in ((GONE, "gone@example.org"), (STAYS, "stays@example.org")):
            body = {"k": store.public_key, "vid": vid, "popup_id": rule, "email": email}
            assert client.post("/v1/subscribe", json=body).status_code == 200
        decided = client.get(
            "/v1/decide",
            params={"k": store.public_key, "vid": GONE, "sid": "s-gone",
                    "url": "https://shop.example/p"},
        )  # fmt: skip
        assert decided.status_code == 200
        assert GONE.encode() in _everything(settings, store.id)

        erased = client.delete(f"/v1/admin/visitors/{GONE}", headers=auth)
        assert erased.status_code == 200, erased.text
        counts = erased.json()["erased"]
        assert counts["events"] == 4 and counts["orders"] == 1 and counts["subscriptions"] == 1
        assert counts["attribution_events"] == 2  # the purchase and the popup shown

        everything = _everything(settings, store.id)
        for trace in (GONE, "s-gone", "gone@example.org", f"T-{GONE}"):
            where = [chunk[:60] for chunk in everything.split(b"\nt:") if trace.encode() in chunk]
            assert not where, (trace, where)
        # The other visitor keeps every event, order and subscription.
        stream = stored_events(settings, store.id)
        assert sorted(e["id"] for e in stream) == sorted(
            e["id"] for e in _events(STAYS, "", None, 0)
        )
        with sync_client(settings) as r:
            assert len(r.zrange(keys.order_log(store.id), 0, -1)) == 1
            assert r.hexists(keys.subscribers(store.id), "stays@example.org")
            # What attribution reads of them (the purchase and the popup) stays too,
            # in the hour the request arrived in.
            hours = list(r.scan_iter(match=keys.attribution_hour(store.id, 0)[:-1] + "*"))
            attributed = [e for h in hours for e in json.loads(b"[" + r.get(h)[1:] + b"]")]
            assert sorted(e["id"] for e in attributed) == ["b3", "b4"]
        # The counters stay: sums of many visitors, with no id in them.
        overview = client.get("/v1/stats/overview", headers=auth).json()
        assert overview["figures"]["orders"]["value"] == 2

        again = client.delete(f"/v1/admin/visitors/{GONE}", headers=auth)
        assert again.status_code == 404
        # A retry of their events (the snippet's outbox) is still a duplicate.
        retried = client.post("/v1/collect", json={"k": store.public_key, "events": batch[:4]})
        assert retried.json() == {"accepted": 0, "duplicates": 4, "rejected": []}
        assert all(e["vid"] == STAYS for e in stored_events(settings, store.id))
        assert client.delete(f"/v1/admin/visitors/{STAYS}").status_code == 401
        _, other_secret = make_store(settings)
        theirs = client.delete(
            f"/v1/admin/visitors/{STAYS}", headers={"authorization": f"Bearer {other_secret}"}
        )
        assert theirs.status_code == 404  # another store's key erases nothing here
        assert STAYS.encode() in _everything(settings, store.id)
        bad = client.delete("/v1/admin/visitors/a%20b", headers=auth)
        assert bad.status_code == 400 and bad.json()["error"].startswith("vid:")


def test_erasure_rewrites_entries_of_either_layout_in_the_current_one(settings) -> None:
    """An entry as the ingest writes it (who sent the events, run-length, beside
    them) keeps the senders of the events left in step with them; one as older
    versions wrote it (the server's fields in every event) is written back in the
    current layout, less the receive time and the address hash."""
    store, _ = make_store(settings)
    t = now_ms() - 60_000
    gone, stays = _events(GONE, "s-gone", None, t), _events(STAYS, "s-stays", None, t)
    requests = [("desktop", stays[:2]), ("mobile", [gone[0], stays[2]]), ("mobile", gone[1:2])]
    assert ingest_together(settings, store.id, requests) == [2, 2, 1]
    older = [{**e, "id": f"old-{e['id']}", "rt": t, "dev": "tablet", "ih": "0123456789abcdef"}
             for e in (gone[2], stays[3])]  # fmt: skip
    with sync_client(settings) as r:
        r.xadd(keys.events(store.id), {"events": json.dumps(older)})

    erased = run_with_redis(settings, lambda redis: erase_visitor(redis, store.id, GONE))
    assert erased["events"] == 3

    with sync_client(settings) as r:
        entries = [fields for _, fields in r.xrange(keys.events(store.id))]
    assert [set(fields) for fields in entries] == [{b"events", b"who"}] * 2
    first, second = entries
    assert first[b"who"] == f"desktop {STAYS} s-stays 2;mobile {STAYS} s-stays 1".encode()
    assert second[b"who"] == f"tablet {STAYS} s-stays 1".encode()
    assert b"rt" not in second[b"events"] and b"0123456789abcdef" not in second[b"events"]
    assert stored_events(settings, store.id) == [*stays[:3], {
        k: v for k, v in older[1].items() if k not in ("rt", "ih", "dev")
    }]  # fmt: skip
    assert GONE.encode() not in b"".join(f[b"events"] + f[b"who"] for f in entries)
