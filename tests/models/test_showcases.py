"""Showcase contents as `/v1/decide` and `/v1/recommendations` serve them: catalog
cards only, never empty while the catalog has something to show, readable reasons.

The property test draws catalogs (some items without an image, out of stock, or
unknown to the model) and queries against a trained model in a real Redis."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recommender.bundle import TrainingConfig, train_bundle
from recommender.catalog import ItemInfo
from recommender.serving import STRATEGIES, Pick, Query, Rules, Showcases
from recommender.synthetic import SyntheticShop, generate, item_categories
from widget_server.models import showcases
from widget_server.models.registry import Served
from widget_server.models.showcases import ItemCards, PickCache, Shopper, SlotRequest, fill, reason
from widget_server.settings import Settings
from widget_server.storage import keys
from widget_server.storage.catalog import upsert_cards
from widget_server.storage.connect import AsyncRedis, open_storage

SHOP = SyntheticShop(n_users=150, n_items=40, n_categories=4, n_tastes=4, days=15, seed=5)
ITEMS = sorted(item_categories(SHOP))
EXTRA = [f"new{n}" for n in range(5)]  # in the catalog, unknown to the model
KNOWN = {
    item: ItemInfo(f"Name {item}", category) for item, category in item_categories(SHOP).items()
}
SERVED = Served(
    "v1", Showcases(train_bundle(generate(SHOP), TrainingConfig(factors=8), known_items=KNOWN))
)
STORE = "showcasetest"


class Loop:
    """One event loop and Redis client for all of a property test's examples."""

    def __init__(self, url: str, data_dir: Path) -> None:
        self.loop = asyncio.new_event_loop()
        settings_ = Settings.from_env({"TARRY_REDIS_URL": url, "TARRY_DATA_DIR": str(data_dir)})
        self.storage = self.loop.run_until_complete(open_storage(settings_))
        self.redis: AsyncRedis = self.storage.client

    def run(self, work: Any) -> Any:
        return self.loop.run_until_complete(work)

    def close(self) -> None:
        self.run(self.storage.close())
        self.loop.close()


@pytest.fixture(scope="module")
def loop(embedded_redis: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loop]:
    running = Loop(embedded_redis.url, tmp_path_factory.mktemp("showcases"))
    yield running
    running.close()


def card(item_id: str, flaw: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "item_id": item_id,
        "name": f"Name {item_id}",
        "url": f"https://shop.example/{item_id}",
        "image": f"https://shop.example/{item_id}.jpg",
        "price": 5.0,
    }
    if flaw == "no_image":
        del out["image"]
    elif flaw == "no_name":
        del out["name"]
    elif flaw == "sold_out":
        out["availability"] = "https://schema.org/OutOfStock"
    return out


flaws = st.sampled_from([None, None, None, "no_image", "no_name", "sold_out", "absent"])


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    catalog=st.fixed_dictionaries({item: flaws for item in ITEMS + EXTRA}),
    strategy=st.sampled_from(STRATEGIES),
    n=st.integers(1, 12),
    item=st.none() | st.sampled_from(ITEMS + EXTRA),
    history=st.lists(st.sampled_from(ITEMS + EXTRA), max_size=5),
    cart=st.lists(st.sampled_from(ITEMS), max_size=3),
    with_model=st.booleans(),
)
def test_a_showcase_is_full_of_showable_items_whenever_the_catalog_allows(
    loop: Loop,
    catalog: dict[str, str | None],
    strategy: str,
    n: int,
    item: str | None,
    history: list[str],
    cart: list[str],
    with_model: bool,
) -> None:
    cards = [card(i, flaw) for i, flaw in catalog.items() if flaw != "absent"]
    loop.run(loop.redis.delete(keys.catalog(STORE)))
    if cards:
        loop.run(upsert_cards(loop.redis, STORE, cards))
    showable = {i for i, flaw in catalog.items() if flaw is None}
    shopper = Shopper(item=item, history=tuple(history), cart=tuple(cart))
    request = SlotRequest("slot", strategy, n)
    served = SERVED if with_model else None
    filled = loop.run(
        fill(loop.redis, ItemCards(loop.redis, ttl=0), STORE, served, [request], shopper, "USD")
    )
    items = filled["slot"]["items"]
    ids = [i["item_id"] for i in items]

    assert len(ids) == len(set(ids))
    assert set(ids) <= showable  # never a card without name, link, image or stock
    excluded = set(cart) | ({item} if item else set())
    assert not set(ids) & excluded
    # Never empty while something may be shown; full when enough may.
    assert len(ids) == min(n, len(showable - excluded))
    if strategy == "recently_viewed":  # the visitor's own items come first
        own = [i for i in ids if i in history]
        assert ids[: len(own)] == own
    assert all(i["reason"] and i["currency"] == "USD" for i in items)
    for shown in items:  # a reason never names the item it explains
        assert shown["because"] != shown["item_id"]
        assert not shown["reason"].endswith(f"Name {shown['item_id']}"), shown
    assert filled["slot"]["rec_id"].startswith("r")


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("with_model", [True, False])
def test_variants_of_one_product_show_once_and_never_on_its_own_page(
    loop: Loop, strategy: str, with_model: bool
) -> None:
    """Items in threes are variants of one product, on one page (a Shopify export's
    card per SKU): a slot shows each page once, and not the page being viewed."""
    everything = ITEMS + EXTRA
    page_of = {item: f"https://shop.example/p/{at // 3}#top" for at, item in enumerate(everything)}
    cards = [{**card(item, None), "url": page_of[item]} for item in everything]
    loop.run(loop.redis.delete(keys.catalog(STORE)))
    loop.run(upsert_cards(loop.redis, STORE, cards))
    current = ITEMS[4]
    shopper = Shopper(item=current, history=(ITEMS[0], ITEMS[7]))
    served = SERVED if with_model else None
    request = SlotRequest("slot", strategy, 12)
    cards_read = ItemCards(loop.redis, ttl=0)
    filled = loop.run(fill(loop.redis, cards_read, STORE, served, [request], shopper, "USD"))
    links = [page_of[item["item_id"]] for item in filled["slot"]["items"]]
    assert len(links) == len(set(links))
    assert page_of[current] not in links
    others = set(page_of.values()) - {page_of[current]}
    assert len(links) == min(12, len(others))  # still full: other products fill it


@pytest.mark.parametrize(
    ("pick", "expected"),
    [
        (Pick("a", 1, "recommended", "b"), "Because you viewed Blue bag"),
        (Pick("a", 1, "similar", "b"), "Similar to Blue bag"),
        (Pick("a", 1, "bought_together", "b"), "Often bought with Blue bag"),
        (Pick("a", 1, "cart", "b"), "Often bought with Blue bag"),
        (Pick("a", 1, "trending", "shoes"), "Trending in shoes"),
        (Pick("a", 1, "trending", None), "Trending now"),
        (Pick("a", 1, "popular", None), "Popular right now"),
        (Pick("a", 1, "recently_viewed", None), "You viewed this"),
        (Pick("a", 1, "recommended", "unknown"), "Recommended for you"),
        (Pick("a", 1, "recommended", None, "viewed"), "You viewed this before"),
        (Pick("a", 1, "recommended", None, "bought"), "You bought this before"),
        (Pick("a", 1, "recommended", None, "in_cart"), "Still in your cart"),
    ],
)
def test_reasons_read_naturally(pick: Pick, expected: str) -> None:
    assert reason(pick, {"b": "Blue bag"}) == expected


def test_cached_cards_and_misses_last_until_the_catalog_version_moves(loop: Loop) -> None:
    loop.run(loop.redis.delete(keys.catalog(STORE), keys.catalog_version(STORE)))
    cards = ItemCards(loop.redis)
    cards.at_version(STORE, 0)
    assert loop.run(cards.get(STORE, ["late"])) == {}
    # Written behind the cache's back (no version bump): the miss is still kept.
    loop.run(loop.redis.hset(keys.catalog(STORE), "late", '{"item_id": "late", "name": "Late"}'))
    assert loop.run(cards.get(STORE, ["late"])) == {}
    cards.at_version(STORE, 0)
    assert loop.run(cards.get(STORE, ["late"])) == {}
    # An upsert bumps the version; a request that reads it forgets the miss.
    loop.run(upsert_cards(loop.redis, STORE, [card("other", None)]))
    version = int(loop.run(loop.redis.get(keys.catalog_version(STORE))))
    assert version == 1
    cards.at_version(STORE, version)
    assert loop.run(cards.get(STORE, ["late"]))["late"]["name"] == "Late"


def test_picks_keep_the_rules_of_the_request(loop: Loop) -> None:
    loop.run(loop.redis.delete(keys.catalog(STORE)))
    loop.run(upsert_cards(loop.redis, STORE, [card(i, None) for i in ITEMS]))
    categories = item_categories(SHOP)
    category = categories[ITEMS[0]]
    request = SlotRequest("s", "trending", 5, Rules(exclude=frozenset(ITEMS[:3])), category)
    filled = loop.run(
        fill(loop.redis, ItemCards(loop.redis), STORE, SERVED, [request], Shopper(), "EUR")
    )
    ids = [i["item_id"] for i in filled["s"]["items"]]
    assert ids and not set(ids) & set(ITEMS[:3])
    assert all(categories[i] == category for i in ids)


@pytest.mark.parametrize("strategy", ["similar", "bought_together", "trending", "recommended"])
def test_shared_and_cached_answers_equal_fresh_ones(loop: Loop, strategy: str) -> None:
    loop.run(loop.redis.delete(keys.catalog(STORE)))
    loop.run(upsert_cards(loop.redis, STORE, [card(i, None) for i in ITEMS]))
    cache = PickCache()

    def fill_slots(shopper: Shopper, use_cache: bool) -> dict[str, Any]:
        slots = [SlotRequest("short", strategy, 3), SlotRequest("long", strategy, 8)]
        return dict(
            loop.run(
                fill(
                    loop.redis,
                    ItemCards(loop.redis, ttl=0),
                    STORE,
                    SERVED,
                    slots,
                    shopper,
                    "USD",
                    cache if use_cache else None,
                )
            )
        )

    for item in ITEMS[:8]:
        shopper = Shopper(item=item, history=(ITEMS[9], ITEMS[10]))
        fresh = fill_slots(shopper, use_cache=False)
        assert fill_slots(shopper, use_cache=True) == fresh  # fills the cache
        assert fill_slots(shopper, use_cache=True) == fresh  # answered from it
        short, long = fresh["short"]["items"], fresh["long"]["items"]
        assert len(short) == 3 and short == long[:3]
    # A cart changes the answer, so it is never taken from the cache.
    with_cart = Shopper(item=ITEMS[0], cart=(ITEMS[1],))
    assert ITEMS[1] not in {i["item_id"] for i in fill_slots(with_cart, True)["long"]["items"]}


@pytest.mark.parametrize("strategy", ["similar", "bought_together", "trending", "popular"])
@pytest.mark.parametrize("seen", [0, 2, 6, 30])
@pytest.mark.parametrize("room", [showcases.HISTORY_ROOM, 0])
def test_an_answer_without_the_visitors_items_is_shared_and_equals_a_fresh_one(
    loop: Loop, strategy: str, seen: int, room: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One kept answer per page for every history, with the visitor's own items taken
    out when read: the same as asking the model with those items blocked. With no
    room for them (a kept answer no longer than asked), any of the visitor's items
    in it leaves it short, and the answer is the model's fresh one."""
    monkeypatch.setattr(showcases, "HISTORY_ROOM", room)
    loop.run(loop.redis.delete(keys.catalog(STORE)))
    loop.run(upsert_cards(loop.redis, STORE, [card(i, None) for i in ITEMS]))
    cache = PickCache()
    own = Rules(exclude_history=True)

    def fill_slot(shopper: Shopper, use_cache: bool) -> list[str]:
        slots = [SlotRequest("s", strategy, 6, own)]
        filled = loop.run(
            fill(loop.redis, ItemCards(loop.redis, ttl=0), STORE, SERVED, slots, shopper, "USD",
                 cache if use_cache else None)
        )  # fmt: skip
        return [item["item_id"] for item in filled["s"]["items"]]

    for item in ITEMS[:6]:
        # The history is what the page's answer would show first: each of its items
        # must be taken out of the shared answer.
        unblocked = fill_slot(Shopper(item=item), use_cache=False)
        history = (
            tuple(unblocked[:seen])
            + tuple(i for i in ITEMS if i not in unblocked)[: max(0, seen - len(unblocked))]
        )
        shopper = Shopper(item=item, history=history)
        fresh = fill_slot(shopper, use_cache=False)
        assert not set(fresh) & set(history)
        assert fill_slot(shopper, use_cache=True) == fresh
        assert fill_slot(shopper, use_cache=True) == fresh
        other = Shopper(item=item, history=history[::-1][: max(0, seen - 1)])
        assert fill_slot(other, use_cache=True) == fill_slot(other, use_cache=False)
    # One entry a page, whatever the histories were.
    assert len(cache) <= len(ITEMS[:6])


KNOWN_VISITORS = SERVED.showcases.bundle.users.ids.ids[:3]
SHARED = ["similar", "bought_together", "trending", "popular"]


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    strategy=st.sampled_from(SHARED),
    n=st.integers(1, 10),
    item=st.none() | st.sampled_from(ITEMS + EXTRA),
    history=st.lists(st.sampled_from(ITEMS + EXTRA), max_size=8),
    cart=st.lists(st.sampled_from(ITEMS + EXTRA), max_size=4),
    purchased=st.lists(st.sampled_from(ITEMS), max_size=4),
    visitor=st.none() | st.sampled_from([*KNOWN_VISITORS, "stranger"]),
    exclude_history=st.sampled_from([None, True, False]),
    exclude_cart=st.booleans(),
    exclude_purchased=st.booleans(),
    cap=st.sampled_from([None, None, 1, 2]),
    same_category=st.booleans(),
    room=st.sampled_from([showcases.HISTORY_ROOM, 3, 0]),
)
def test_every_visitor_reading_a_shared_answer_gets_the_models_own(
    loop: Loop,
    strategy: str,
    n: int,
    item: str | None,
    history: list[str],
    cart: list[str],
    purchased: list[str],
    visitor: str | None,
    exclude_history: bool | None,
    exclude_cart: bool,
    exclude_purchased: bool,
    cap: int | None,
    same_category: bool,
    room: int,
) -> None:
    """Whatever the visitor's items and the rules: the answer read from the cache
    (the first reader's, then a later one's) is the one the model gives this visitor
    with nothing cached, their history, cart and purchases (and, for a visitor the
    model was trained on, the model's history of them) left out as the rules say."""
    showcases.HISTORY_ROOM, before = room, showcases.HISTORY_ROOM
    try:
        loop.run(loop.redis.delete(keys.catalog(STORE)))
        loop.run(upsert_cards(loop.redis, STORE, [card(i, None) for i in ITEMS]))
        rules = Rules(
            exclude_cart=exclude_cart,
            exclude_purchased=exclude_purchased,
            exclude_history=exclude_history,
            same_category=same_category,
            max_per_category=cap,
        )
        shopper = Shopper(
            item=item,
            history=tuple(history),
            cart=tuple(cart),
            purchased=tuple(purchased),
            visitor=visitor,
        )
        slots = [SlotRequest("s", strategy, n, rules)]
        cache = PickCache()

        def ids(cached: PickCache | None, who: Shopper) -> list[tuple[str, str | None, str]]:
            filled = loop.run(
                fill(loop.redis, ItemCards(loop.redis, ttl=0), STORE, SERVED, slots, who,
                     "USD", cached)
            )  # fmt: skip
            # Past the model's picks the slot is topped up from a random sample.
            items = [i for i in filled["s"]["items"] if i["strategy"] != "catalog"]
            return [(i["item_id"], i["because"], i["reason"]) for i in items]

        # Another visitor of the page fills the cache, with no items of their own.
        ids(cache, Shopper(item=item))
        fresh = ids(None, shopper)
        assert ids(cache, shopper) == fresh, (strategy, n, shopper, rules)
        assert ids(cache, shopper) == fresh
    finally:
        showcases.HISTORY_ROOM = before


@pytest.mark.parametrize("with_cache", [False, True])
def test_where_the_models_first_picks_have_no_card_it_is_asked_for_more(
    loop: Loop, with_cache: bool
) -> None:
    """Most of the model's best picks lack a card (an old model, a trimmed catalog):
    the slot still shows the model's picks, the first showable ones of its longer
    answer, rather than random catalog items."""
    item = ITEMS[0]
    ranking = [p.item_id for p in SERVED.showcases.answer(Query("similar", n=100, item=item))]
    # A card for every third pick past the first twelve (n + spare is 8)
    showable = [i for position, i in enumerate(ranking) if position >= 12 and position % 3 == 0]
    assert len(showable) >= 4
    loop.run(loop.redis.delete(keys.catalog(STORE)))
    loop.run(upsert_cards(loop.redis, STORE, [card(i, None) for i in [item, *showable]]))
    filled = loop.run(
        fill(loop.redis, ItemCards(loop.redis, ttl=0), STORE, SERVED,
             [SlotRequest("s", "similar", 4)], Shopper(item=item), "USD",
             PickCache() if with_cache else None)
    )  # fmt: skip
    items = filled["s"]["items"]
    assert [i["item_id"] for i in items] == showable[:4]
    assert {i["strategy"] for i in items} == {"similar"}


def test_the_pick_cache_is_bounded_by_picks_least_recently_used_out() -> None:
    cache = PickCache(max_picks=50)
    picks = [Pick(f"i{n}", 1.0, "similar") for n in range(10)]
    for page in range(5):
        cache.put(("v1", page), picks)
    assert cache.picks_held == 50
    assert cache.get(("v1", 0)) == picks  # now the most recently used
    cache.put(("v1", 5), picks)
    assert cache.picks_held == 50
    assert cache.get(("v1", 1)) is None  # the least recently used went out
    assert cache.get(("v1", 0)) == picks and cache.get(("v1", 5)) == picks


def test_a_store_without_a_model_fills_the_slot_even_when_most_items_are_excluded(
    loop: Loop,
) -> None:
    """The catalog top-up is random; it must not come back short because its sample
    happened to hold only items in the cart (Hypothesis found that once)."""
    loop.run(loop.redis.delete(keys.catalog(STORE)))
    loop.run(upsert_cards(loop.redis, STORE, [card(i, None) for i in ITEMS]))
    in_cart = tuple(ITEMS[:35])
    for _ in range(20):
        filled = loop.run(
            fill(
                loop.redis,
                ItemCards(loop.redis, ttl=0),
                STORE,
                None,
                [SlotRequest("s", "popular", 5)],
                Shopper(cart=in_cart),
                "EUR",
            )
        )
        assert {i["item_id"] for i in filled["s"]["items"]} == set(ITEMS[35:])
