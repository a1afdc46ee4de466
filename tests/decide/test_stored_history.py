"""The server remembers the visitor: `/v1/recommendations` and `/v1/decide` answer a
returning visitor from the events collect stored (and a visitor the model was
trained on from the model's own history of them), against a real Redis."""

from __future__ import annotations

from typing import Any

import pytest
from helpers import event, make_store, now_ms, run_with_redis, sync_client
from starlette.testclient import TestClient

from recommender.bundle import TrainingConfig, train_bundle
from recommender.interactions import Interaction
from widget_server.collect.ingest import VISITOR_TTL_S
from widget_server.models.registry import publish
from widget_server.settings import Settings
from widget_server.storage import keys
from widget_server.storage.catalog import upsert_cards

DAY_MS = 86_400_000
ITEMS = [f"i{n}" for n in range(12)]
CONFIG = TrainingConfig(factors=4, iterations=3, neighbours=10)


def traffic(rebuys: bool) -> list[Interaction]:
    """Two groups of items bought together (i0-i5, i6-i11) by 40 customers; with
    `rebuys`, each customer orders the same again a week later."""
    start = now_ms() - 30 * DAY_MS
    records = []
    for c in range(40):
        group = ITEMS[:6] if c % 2 else ITEMS[6:]
        picks = [group[(c + k) % 6] for k in range(3)]
        orders = [0, 7] if rebuys else [0]
        for day in orders:
            for n, item in enumerate(picks):
                ts = start + (day + c % 5) * DAY_MS + n
                records.append(Interaction(ts, f"known{c}", f"known{c}-{day}", "purchase", item))
    return records


class Store:
    def __init__(self, client: TestClient, settings: Settings, rebuys: bool = False) -> None:
        self.client, self.settings = client, settings
        self.store, _ = make_store(settings)
        self.key = self.store.public_key
        cards = [
            {"item_id": i, "name": f"Item {i}", "url": f"https://shop.example/{i}",
             "image": f"https://shop.example/{i}.jpg"}
            for i in ITEMS
        ]  # fmt: skip
        run_with_redis(settings, lambda r: upsert_cards(r, self.store.id, cards))
        self.bundle = train_bundle(traffic(rebuys), CONFIG)
        with sync_client(settings) as redis:
            publish(redis, settings.data_dir, self.store.id, self.bundle)

    def send(self, *events: dict[str, Any]) -> None:
        response = self.client.post("/v1/collect", json={"k": self.key, "events": list(events)})
        assert response.status_code == 200 and response.json()["accepted"] == len(events)

    def recommended(self, vid: str, **params: Any) -> list[dict[str, Any]]:
        query = {"k": self.key, "placement": "recommended", "vid": vid, "n": 4, **params}
        response = self.client.get("/v1/recommendations", params=query)
        assert response.status_code == 200, response.text
        return list(response.json()["items"])

    def decided(self, vid: str, sid: str = "s-now") -> list[dict[str, Any]]:
        query = {"k": self.key, "vid": vid, "sid": sid, "slots": "recommended", "n": 4}
        response = self.client.get("/v1/decide", params=query)
        assert response.status_code == 200, response.text
        return list(response.json()["showcases"]["recommended"]["items"])


@pytest.fixture
def store(client: TestClient, settings: Settings) -> Store:
    return Store(client, settings)


def item(item_id: str) -> list[dict[str, str]]:
    return [{"item_id": item_id}]


def test_a_returning_visitor_with_no_history_gets_a_personal_answer(store: Store) -> None:
    store.send(
        event("view_item", vid="back", sid="earlier", items=item("i1")),
        event("add_to_cart", vid="back", sid="earlier", items=item("i2")),
    )
    # A later page that sends no `history`: the stored events are the history.
    for items in (store.recommended("back"), store.decided("back")):
        assert {i["strategy"] for i in items} == {"recommended"}
        assert {i["because"] for i in items} <= {"i1", "i2"}
        assert {i["item_id"] for i in items[:3]} <= set(ITEMS[:6])  # i1 and i2's group
    # A visitor the server never saw gets no personal answer.
    assert "recommended" not in {i["strategy"] for i in store.recommended("stranger")}


def test_the_page_history_joins_the_stored_one(store: Store) -> None:
    store.send(event("view_item", vid="both", sid="s", items=item("i7")))
    items = store.recommended("both", history="i1")
    # The page's item and the stored one each explain some of the picks.
    assert {i["because"] for i in items} == {"i1", "i7"}


def test_a_customer_on_two_devices_gets_the_same_history(store: Store) -> None:
    store.send(event("view_item", vid="phone", sid="p1", uid="ann", items=item("i1")))
    store.send(event("view_item", vid="laptop", sid="l1", uid="ann", items=item("i8")))
    on_phone, on_laptop = store.recommended("phone", n=8), store.recommended("laptop", n=8)
    assert on_phone == on_laptop
    assert {i["because"] for i in on_phone} == {"i1", "i8"}  # both devices' items
    assert store.decided("phone") == store.decided("laptop")
    # Without the customer id, each device knows only its own.
    store.send(event("view_item", vid="tablet", sid="t1", items=item("i1")))
    assert {i["because"] for i in store.recommended("tablet", n=8)} == {"i1"}


def test_the_stored_history_is_bounded_and_expires_with_the_visitor(
    store: Store, settings: Settings
) -> None:
    start = now_ms() - 120_000
    store.send(
        *[
            event("view_item", vid="busy", sid="b1", uid="bob", ts=start + n, items=item(f"x{n}"))
            for n in range(60)
        ]
    )
    with sync_client(settings) as redis:
        kept = redis.lrange(keys.visitor_items(store.store.id, "busy"), 0, -1)
        assert len(kept) == 50
        # Newest first: the last 50 views, as "<item> <kind> <ts>".
        assert kept[0] == f"x59 v {start + 59}".encode()
        assert kept[-1] == f"x10 v {start + 10}".encode()
        for key in (
            keys.visitor_items(store.store.id, "busy"),
            keys.customer_items(
                store.store.id, redis.hget(keys.visitor(store.store.id, "busy"), "u").decode()
            ),
        ):
            ttl = redis.ttl(key)
            assert VISITOR_TTL_S - 60 < ttl <= VISITOR_TTL_S
            assert abs(ttl - redis.ttl(keys.visitor(store.store.id, "busy"))) <= 2


def test_a_visitor_the_model_was_trained_on_is_answered_from_the_model(store: Store) -> None:
    # No stored events at all: the model's own history of them is the answer's seed.
    known = store.bundle.known_history("known3")
    assert known is not None
    items = store.recommended("known3")
    assert {i["strategy"] for i in items} == {"recommended"}
    assert {i["because"] for i in items if i["because"]} <= set(known[0])
    group = set(ITEMS[:6]) if set(known[0]) <= set(ITEMS[:6]) else set(ITEMS[6:])
    assert {i["item_id"] for i in items[:3]} <= group
    # What they did since training joins it.
    store.send(event("view_item", vid="known3", sid="now", items=item("i9")))
    assert "i9" in {i["because"] for i in store.recommended("known3")}


def test_seen_items_are_left_out_where_customers_do_not_rebuy(store: Store) -> None:
    assert not store.bundle.repeat  # every customer ordered once
    known = store.bundle.known_history("known3")
    assert known is not None
    assert not {i["item_id"] for i in store.recommended("known3", n=6)} & set(known[0])
    # The page may still ask for them.
    again = store.recommended("known3", n=6, exclude_history="false")
    assert {i["item_id"] for i in again} & set(known[0])


def test_seen_items_come_back_where_customers_rebuy(client: TestClient, settings: Settings) -> None:
    rebuying = Store(client, settings, rebuys=True)
    assert rebuying.bundle.repeat
    known = rebuying.bundle.known_history("known3")
    assert known is not None
    items = rebuying.recommended("known3", n=6)
    back = [i for i in items if i["item_id"] in known[0]]
    assert back and all(i["reason"] == "You viewed this before" for i in back)
    fresh = rebuying.recommended("known3", n=6, exclude_history="true")
    assert not {i["item_id"] for i in fresh} & set(known[0])


def test_a_bad_visitor_id_is_named(store: Store) -> None:
    response = store.client.get(
        "/v1/recommendations", params={"k": store.key, "placement": "recommended", "vid": "a b"}
    )
    assert response.status_code == 400
    assert response.json() == {"error": "vid: 1-64 letters, digits or _.:-"}
