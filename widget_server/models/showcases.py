"""Showcase contents for a page: the model's picks turned into product cards that a
shopper can see, with a reason they can read.

Only catalog items with a name, a link and an image, in stock, are shown; the model
is asked for more than needed so that items without a card do not leave gaps, and
a store without a model (or whose model knows too little) is topped up from its
catalog, so a showcase is never empty while the catalog has items. Each answer has
a `rec_id` that the snippet sends back with clicks, which is how a later purchase
is attributed to the carousel.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from recommender import history as histories
from recommender.interactions import Weighting
from recommender.serving import DEFAULT_RULES, Pick, Query, Rules
from recommender.serving import MAX_ITEMS as SERVED_MAX_ITEMS
from widget_server.models.registry import Served
from widget_server.storage import keys
from widget_server.storage.catalog import decode_card, is_displayable, sample_cards
from widget_server.storage.connect import AsyncRedis

MAX_ITEMS = 24
# Cards some model picks lack: ask for a few more than n, and where too many lack
# one, GROWTH times as many again (most catalogs have a card for nearly every item
# the model knows, so most answers are read once, and short).
SPARE = 4
GROWTH = 4
CARD_FIELDS = ("item_id", "name", "url", "image", "price", "currency")


@dataclasses.dataclass(frozen=True, slots=True)
class SlotRequest:
    slot: str
    strategy: str
    n: int = 8
    rules: Rules = DEFAULT_RULES
    category: str | None = None  # every item in this category ("trending in shoes")


@dataclasses.dataclass(frozen=True, slots=True)
class Shopper:
    """What is known of the shopper's interest: the page's, and what the server
    stored of the visitor (`with_stored`)."""

    item: str | None = None
    history: tuple[str, ...] = ()  # oldest first
    cart: tuple[str, ...] = ()
    purchased: tuple[str, ...] = ()
    history_weights: tuple[float, ...] | None = None  # per history item; None: views
    visitor: str | None = None  # the visitor id, which the model may know from training


def with_stored(
    shopper: Shopper, visitor: str | None, entries: Sequence[bytes], served: Served | None
) -> Shopper:
    """The shopper with the visitor's stored events (`keys.visitor_items`, newest
    first) merged into the page's history: the page wins for the current page (its
    items come last, newest, in its order, each once), the stored ones it did not
    send come before them, and every item weighs what its events weigh in training.
    For a visitor the model was trained on, only events since its training are
    added: the model has the others."""
    if not entries and visitor is None:
        return shopper
    weighting = served.showcases.bundle.config.weighting if served is not None else Weighting()
    events = histories.parse_stored(entries)
    if served is not None and visitor is not None:
        bundle = served.showcases.bundle
        if visitor in bundle.users.ids:
            seen_until = int(bundle.meta.get("last_event_ms", bundle.meta.get("trained_at_ms", 0)))
            events = [e for e in events if e[2] > seen_until]
    stored = histories.from_events(events, weighting)
    page = histories.views(shopper.history, weighting)
    items, weights = histories.merge(stored, page)
    return dataclasses.replace(
        shopper, history=tuple(items), history_weights=tuple(weights), visitor=visitor
    )


# The visitor's own item, back in a showcase: what it is to them is the reason.
REPEAT_REASONS = {
    "bought": "You bought this before",
    "viewed": "You viewed this before",
    "in_cart": "Still in your cart",
}


def reason(pick: Pick, names: dict[str, str]) -> str:
    """A reason a shopper can read ("Because you viewed Red shoes")."""
    if pick.repeat is not None:
        return REPEAT_REASONS.get(pick.repeat, "Recommended for you")
    because = pick.because
    name = names.get(because or "", "") if because else ""
    if pick.strategy == "trending":
        return f"Trending in {because}" if because else "Trending now"
    if pick.strategy == "popular":
        return "Popular right now"
    if pick.strategy == "recently_viewed":
        return "You viewed this"
    if pick.strategy == "catalog":
        return "From the shop"
    if not name:
        return {
            "recommended": "Recommended for you",
            "similar": "Similar items",
            "bought_together": "Often bought together",
            "cart": "Goes with your cart",
        }.get(pick.strategy, "Recommended for you")
    return {
        "recommended": f"Because you viewed {name}",
        "similar": f"Similar to {name}",
        "bought_together": f"Often bought with {name}",
        "cart": f"Often bought with {name}",
    }.get(pick.strategy, f"Because you viewed {name}")


def rec_id(version: str | None, slot: str, strategy: str, item_ids: Sequence[str]) -> str:
    """The same showcase (model, slot, items) gets the same id from any endpoint."""
    text = "\0".join((version or "-", slot, strategy, *item_ids))
    return "r" + hashlib.blake2b(text.encode(), digest_size=6).hexdigest()


class CardView(NamedTuple):
    """A card as showcases read it, worked out once when it is read from Redis
    rather than on every pick of every page: its name (for reasons), and the fields
    a showcase item shows where the card may be shown at all (else None)."""

    card: dict[str, Any]
    name: str
    shown: dict[str, Any] | None


def card_view(card: dict[str, Any]) -> CardView:
    shown = _shown_fields(card) if is_displayable(card) else None
    return CardView(card, str(card.get("name") or ""), shown)


def _shown_fields(card: dict[str, Any]) -> dict[str, Any]:
    return {field: card.get(field) for field in CARD_FIELDS}


@dataclasses.dataclass(slots=True)
class _StoreCards:
    version: int | None  # the store's catalog version read before these cards
    cards: dict[str, tuple[float, CardView | None]] = dataclasses.field(default_factory=dict)


class ItemCards:
    """Catalog cards by item id, read from Redis and kept for `ttl` seconds, so that
    most decisions read no card at all (a store's hot items repeat). Misses are kept
    too; a request that sees the store's catalog version move on (an import) drops
    them all at once, so an imported item never waits out the ttl."""

    def __init__(self, redis: AsyncRedis, ttl: float = 30.0, max_items: int = 200_000) -> None:
        self._redis = redis
        self._ttl = ttl
        self._max = max_items
        self._stores: dict[str, _StoreCards] = {}
        self._size = 0

    def at_version(self, store_id: str, version: int) -> None:
        """The store's catalog version, as a request just read it (before its cards):
        cards read under another version are forgotten."""
        held = self._stores.get(store_id)
        if held is None or held.version != version:
            self._forget(store_id)
            self._stores[store_id] = _StoreCards(version)

    def _forget(self, store_id: str) -> None:
        held = self._stores.pop(store_id, None)
        if held is not None:
            self._size -= len(held.cards)

    async def get(self, store_id: str, item_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The cards of those of `item_ids` that have one."""
        return {
            item_id: view.card for item_id, view in (await self.views(store_id, item_ids)).items()
        }

    async def views(self, store_id: str, item_ids: Iterable[str]) -> dict[str, CardView]:
        """`get`, as the views showcases read."""
        held = self._stores.get(store_id)
        if held is None:
            held = self._stores[store_id] = _StoreCards(None)
        now = time.monotonic()
        found: dict[str, CardView] = {}
        missing: list[str] = []
        for item_id in dict.fromkeys(item_ids):
            entry = held.cards.get(item_id)
            if entry is not None and entry[0] > now:
                if entry[1] is not None:
                    found[item_id] = entry[1]
            else:
                missing.append(item_id)
        if not missing:
            return found
        raw = await self._redis.hmget(keys.catalog(store_id), missing)
        # Another request may have seen a newer version while this read was on its
        # way: its answer may predate the import, so it is used but not kept.
        keep = self._stores.get(store_id) is held
        if keep and self._size + len(missing) > self._max:
            self._stores.clear()
            self._size = 0
            self._stores[store_id] = held = _StoreCards(held.version)
        expires = now + self._ttl
        for item_id, value in zip(missing, raw, strict=True):
            card = decode_card(value)
            view = card_view(card) if card is not None else None
            if keep:
                if item_id not in held.cards:
                    self._size += 1
                held.cards[item_id] = (expires, view)
            if view is not None:
                found[item_id] = view
        return found


# Strategies whose answer depends on the page's item alone: many visitors of one
# product page share them, each with their own items (history, cart, purchases)
# taken out.
_ITEM_ONLY = frozenset({"similar", "bought_together", "trending", "popular"})
# Room for the visitor's own items in a shared answer: the histories the page sends
# (20) and the server keeps (50) fit, and a cart.
HISTORY_ROOM = 50


class PickCache:
    """Model answers that many requests share, per model version: a product page's
    similar items are the same for every visitor.

    What is kept is the answer with none of the visitor's own items blocked, a little
    longer than asked, and each visitor's items (the history where the rules leave it
    out, the cart, the purchases) are taken out of it when it is read: the walker's
    answer with some items blocked is the unblocked answer without them (the same
    order, the same reasons), so this is exact while enough picks are left. Keyed on
    the visitor's items it would be one entry per page view (a history changes with
    every page) that nobody reads again. Answers seeded by the visitor's items (no
    known page item: `similar` from the history, `bought_together` from the cart) are
    not kept, for the same reason. Under a per-category cap a visitor with items of
    their own gets the model's answer (taking an item out frees its category's place).

    Bounded by the picks it holds (about 110 bytes each), least recently used out,
    so that a busy store's memory levels off instead of filling to a count of
    answers; the model version in the key retires old answers."""

    def __init__(self, max_picks: int = 250_000) -> None:
        self._max = max_picks
        self._held = 0
        self._answers: dict[tuple[Any, ...], list[Pick]] = {}

    @staticmethod
    def key(
        served: Served, ask: tuple[str, Rules, str | None], n: int, shopper: Shopper
    ) -> tuple[tuple[Any, ...], Rules, int] | None:
        """The key of the shared answer, the rules it is computed under, and how many
        picks it holds; None when the answer is the visitor's own."""
        strategy, rules, category = ask
        # The page's item itself shown again would be "repeat"ed from the visitor's
        # items: leaving it out (as every served answer does) keeps the answer shared.
        if strategy not in _ITEM_ONLY or not rules.exclude_current:
            return None
        known = served.showcases.items.get(shopper.item) if shopper.item is not None else None
        seeded_by_visitor = shopper.history or shopper.cart  # seeds of similar, bought together
        if strategy in ("similar", "bought_together") and known is None and seeded_by_visitor:
            return None
        if served.showcases.excludes_history(rules):
            rules = dataclasses.replace(rules, exclude_history=False)
        size = min(SERVED_MAX_ITEMS, n + HISTORY_ROOM)
        return (served.version, strategy, size, shopper.item, category, rules), rules, size

    def get(self, key: tuple[Any, ...]) -> list[Pick] | None:
        picks = self._answers.pop(key, None)
        if picks is not None:
            self._answers[key] = picks  # the most recently used is last
        return picks

    def put(self, key: tuple[Any, ...], picks: list[Pick]) -> None:
        old = self._answers.pop(key, None)
        self._held += len(picks) - (len(old) if old is not None else 0)
        self._answers[key] = picks
        while self._held > self._max and len(self._answers) > 1:
            oldest = next(iter(self._answers))
            self._held -= len(self._answers.pop(oldest))

    @property
    def picks_held(self) -> int:
        return self._held

    def __len__(self) -> int:
        return len(self._answers)


def _own_items(served: Served, rules: Rules, shopper: Shopper) -> set[str]:
    """What the walker blocks for this visitor and not for another: their history
    (the page's and, for a visitor the model was trained on, the model's) where the
    rules leave it out, their cart and their purchases."""
    own: set[str] = set()
    if served.showcases.excludes_history(rules):
        own.update(shopper.history)
        known = served.showcases.bundle.users.history(shopper.visitor) if shopper.visitor else None
        if known is not None:
            id_of = served.showcases.items.id_of
            own.update(id_of(index) for index in known[0].tolist())
    if rules.exclude_cart:
        own.update(shopper.cart)
    if rules.exclude_purchased:
        own.update(shopper.purchased)
    return own


def _wanted(request: SlotRequest) -> int:
    return min(SERVED_MAX_ITEMS, request.n + SPARE)


def _card_ids(answers: Iterable[list[Pick]]) -> list[str]:
    """The items whose cards show these picks: each pick's, and the item its reason
    names ("Similar to X"; a trending pick names a category)."""
    wanted: list[str] = []
    for picks in answers:
        for pick in picks:
            wanted.append(pick.item_id)
            if pick.because and pick.strategy != "trending":
                wanted.append(pick.because)
    return wanted


def _picks(
    served: Served | None,
    ask: tuple[str, Rules, str | None],
    n: int,
    shopper: Shopper,
    cache: PickCache | None,
) -> list[Pick]:
    strategy, rules, category = ask
    if served is None:
        if strategy == "recently_viewed":  # needs no model
            excluded = _excluded(rules, shopper, served)
            seen = [i for i in reversed(shopper.history) if i not in excluded]
            return [Pick(i, 0.0, "recently_viewed") for i in dict.fromkeys(seen)][:n]
        return []
    shared = PickCache.key(served, ask, n, shopper) if cache is not None else None
    if shared is not None and cache is not None:
        key, shared_rules, size = shared
        picks = cache.get(key)
        if picks is None:
            base = Query(strategy=strategy, n=size, item=shopper.item, category=category)
            picks = served.showcases.answer(base, shared_rules)
            cache.put(key, picks)
        own = _own_items(served, rules, shopper)
        if not own:
            return picks[:n]
        if rules.max_per_category is None:
            kept = [pick for pick in picks if pick.item_id not in own]
            if len(kept) >= n or len(picks) < size:  # enough left, or all there is
                return kept[:n]
    query = Query(
        strategy=strategy,
        n=n,
        history=shopper.history,
        history_weights=shopper.history_weights,
        visitor=shopper.visitor,
        item=shopper.item,
        cart=shopper.cart,
        purchased=shopper.purchased,
        category=category,
    )
    return served.showcases.answer(query, rules)


def _public(
    shown: dict[str, Any], pick: Pick, names: dict[str, str], default_currency: str
) -> dict[str, Any]:
    """A showcase item: the card's `shown` fields (`CardView.shown`), and the pick's."""
    item = shown.copy()
    item["item_id"] = pick.item_id
    if item["currency"] is None and item["price"] is not None:
        item["currency"] = default_currency
    item["reason"] = reason(pick, names)
    item["strategy"] = pick.strategy
    item["because"] = pick.because
    return item


def _excluded(rules: Rules, shopper: Shopper, served: Served | None) -> set[str]:
    """Items that answers without the model must leave out, by the model's rules
    (the visitor's own items as the model decided, unless the rules say)."""
    out = set(rules.exclude)
    if rules.exclude_cart:
        out.update(shopper.cart)
    if rules.exclude_purchased:
        out.update(shopper.purchased)
    if rules.exclude_current and shopper.item:
        out.add(shopper.item)
    if rules.exclude_history or (
        rules.exclude_history is None
        and served is not None
        and served.showcases.excludes_history(rules)
    ):
        out.update(shopper.history)
    return out


# A catalog scan past a random sample reads at most this many cards: enough for a
# slot unless nearly every item is unshowable, and bounded for a huge catalog.
SCAN_LIMIT = 5_000


async def _top_up(
    redis: AsyncRedis,
    store_id: str,
    served: Served | None,
    request: SlotRequest,
    shopper: Shopper,
    items: list[dict[str, Any]],
    used: set[str],
    links: set[str],
    names: dict[str, str],
    default_currency: str,
) -> None:
    """Adds catalog items until the slot is full: a random sample first (large
    enough that the excluded and already shown cannot use it up), then, if still
    short, a scan of the catalog, so that a slot is empty only when no item may be
    shown."""
    excluded = _excluded(request.rules, shopper, served)

    def take(card: dict[str, Any]) -> bool:
        item_id = str(card.get("item_id") or "")
        if not item_id or item_id in used or item_id in excluded or not is_displayable(card):
            return False
        if request.category is not None and card.get("category") != request.category:
            return False
        shown = _shown_fields(card)
        if not _new_link(shown, links):
            return False
        used.add(item_id)
        items.append(_public(shown, Pick(item_id, 0.0, "catalog"), names, default_currency))
        return len(items) == request.n

    wanted = request.n - len(items) + len(excluded) + len(used)
    for card in await sample_cards(redis, store_id, wanted):
        if take(card):
            return
    cursor, read = 0, 0
    while read < SCAN_LIMIT:
        cursor, found = await redis.hscan(keys.catalog(store_id), cursor, count=500)
        for raw in found.values():
            read += 1
            scanned = decode_card(raw)
            if scanned is not None and take(scanned):
                return
        if cursor == 0:
            return


def _link(shown: dict[str, Any]) -> str:
    return str(shown.get("url") or "").partition("#")[0]


def _new_link(shown: dict[str, Any], links: set[str]) -> bool:
    """Whether a card's page is not yet in the slot, and now is. Variants of one
    product are items of their own (a Shopify export's card per SKU) that link to
    one page: to a shopper, two of them side by side are the same product twice."""
    link = _link(shown)
    if link in links:
        return False
    links.add(link)
    return True


def _links_of_current(
    request: SlotRequest, shopper: Shopper, known: dict[str, CardView]
) -> set[str]:
    """The page of the product being viewed, where the rules leave that product out:
    its other variants link back to the page the shopper is on."""
    view = known.get(shopper.item) if shopper.item and request.rules.exclude_current else None
    card = view.card if view is not None else None
    return {_link(card)} if card and card.get("url") else set()


async def fill(
    redis: AsyncRedis,
    cards: ItemCards,
    store_id: str,
    served: Served | None,
    requests: Sequence[SlotRequest],
    shopper: Shopper,
    default_currency: str,
    cache: PickCache | None = None,
) -> dict[str, dict[str, Any]]:
    """Every requested slot's contents: {"rec_id", "strategy", "items": [...]}."""
    # Slots asking the same question (a "recommended" carousel and a popup's strip)
    # share one model answer: the walker's answer for n is the first n of a longer one.
    sizes: dict[tuple[str, Rules, str | None], int] = {}
    for request in requests:
        ask = (request.strategy, request.rules, request.category)
        sizes[ask] = max(sizes.get(ask, 0), _wanted(request))
    answers = {ask: _picks(served, ask, n, shopper, cache) for ask, n in sizes.items()}
    current = [shopper.item] if shopper.item else []
    known = await cards.views(store_id, _card_ids(answers.values()) + current)
    names = {item_id: view.name for item_id, view in known.items()}
    version = served.version if served is not None else None
    out: dict[str, dict[str, Any]] = {}
    for request in requests:
        ask = (request.strategy, request.rules, request.category)
        items: list[dict[str, Any]] = []
        used: set[str] = set()
        links = _links_of_current(request, shopper, known)
        read = 0  # picks of the answer looked at
        while True:
            picks = answers[ask]
            for pick in picks[read:]:
                view = known.get(pick.item_id)
                if view is None or view.shown is None or pick.item_id in used:
                    continue
                if not _new_link(view.shown, links):
                    continue  # another variant of a product the slot shows
                used.add(pick.item_id)
                items.append(_public(view.shown, pick, names, default_currency))
                if len(items) == request.n:
                    break
            read = len(picks)
            full = len(picks) == sizes[ask] and sizes[ask] < SERVED_MAX_ITEMS
            if len(items) == request.n or not full:
                break
            # The model has more, and too few of its picks have a card to show: ask
            # again for a longer answer (this one is its start) and read on.
            sizes[ask] = min(SERVED_MAX_ITEMS, sizes[ask] * GROWTH)
            answers[ask] = _picks(served, ask, sizes[ask], shopper, cache)
            more = await cards.views(store_id, _card_ids([answers[ask][read:]]))
            known.update(more)
            names.update((item_id, view.name) for item_id, view in more.items())
        if len(items) < request.n:
            # Too few displayable picks (no model yet, or one that knows few of the
            # catalog's items): fill up with other catalog items, under the same rules.
            await _top_up(
                redis, store_id, served, request, shopper, items, used, links, names,
                default_currency,
            )  # fmt: skip
        ids = [item["item_id"] for item in items]
        out[request.slot] = {
            "rec_id": rec_id(version, request.slot, request.strategy, ids),
            "strategy": request.strategy,
            "items": items,
        }
    return out
