"""`GET /v1/decide`: what the snippet may show on this page, now.

The snippet calls it once per page with the public key, the visitor and session
ids, the page (type, url, item, cart, referrer, UTM parameters) and the showcase
slots it found. The answer lists the popups this visitor may see here (targeting,
schedule, frequency and the store's governor already applied), each with its
trigger and server-rendered HTML and CSS, plus the contents of each slot.

One Redis script call reads the rules and catalog versions, the visitor's record, the
session's state, the items the visitor touched and a known customer's items from
all their devices; the rules themselves, the model and hot
catalog cards come from in-process caches. The showcases answer from those stored
items merged with the page's `history` (see `showcases.with_stored`), so a
returning visitor is known even on a page that sends nothing.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import Response

from recommender.serving import STRATEGIES
from widget_server.auth import cors_headers, public_key_param, store_from_public_key
from widget_server.collect.useragent import classify
from widget_server.models import showcases
from widget_server.models.registry import ModelCache
from widget_server.popups.assignment import in_holdout, pick_variant, unit
from widget_server.popups.coupons import Coupons
from widget_server.popups.eligibility import (
    Page,
    Visitor,
    governor_allows,
    rule_allows,
    visitor_from_redis,
)
from widget_server.popups.render import CountdownView, clock, render_popup
from widget_server.popups.rulebook import Loaded, RulebookCache
from widget_server.popups.schema import Content, Rule, StoreSettings
from widget_server.popups.wheel import Wheel
from widget_server.responses import STORAGE_ERRORS, error, json_response, storage_unavailable
from widget_server.storage import keys, scripts
from widget_server.storage.clock import now_ms, utc_day
from widget_server.storage.stores import Store

# Popups offered per page, each with a different trigger: the snippet shows the
# first whose trigger fires, and never more than one.
MAX_POPUPS = 3
MAX_SLOTS = 8
MAX_IDS = 50
SHOWCASE_HOLDOUT = "showcases"  # the "rule id" under which showcase holdout is drawn
# A carousel's title unless the store set one (or the theme's `data-tarry-title`).
SLOT_TITLES = {
    "similar": "You may also like",
    "recommended": "Recommended for you",
    "bought_together": "Frequently bought together",
    "cart": "Goes with your cart",
    "trending": "Trending now",
    "popular": "Popular right now",
    "recently_viewed": "Recently viewed",
}
# `\Z`, not `$`: `$` also matches before a final newline ("v1\n").
_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}\Z")
_DEVICES = ("desktop", "mobile", "tablet")
_PAGE_TYPES = ("home", "product", "category", "search", "cart", "checkout", "thank_you", "other")


class BadParameter(ValueError):
    pass


@dataclasses.dataclass(frozen=True)
class DecideRequest:
    visitor_id: str
    session_id: str
    page: Page
    shopper: showcases.Shopper
    slots: tuple[showcases.SlotRequest, ...]


def _id(params: Any, name: str) -> str:
    value = params.get(name, "")
    if not _ID.match(value):
        raise BadParameter(f"{name}: required; 1-64 letters, digits or _.:-")
    return str(value)


def _ids(params: Any, name: str) -> tuple[str, ...]:
    ids = tuple(part for part in (p.strip() for p in params.get(name, "").split(",")) if part)
    if len(ids) > MAX_IDS:
        raise BadParameter(f"{name}: at most {MAX_IDS} item ids, got {len(ids)}")
    if any(len(i) > 128 for i in ids):
        raise BadParameter(f"{name}: item ids are at most 128 characters")
    return ids


def _number(params: Any, name: str) -> float | None:
    raw = params.get(name)
    if raw in (None, ""):
        return None
    try:
        value = float(raw)
    except ValueError:
        raise BadParameter(f"{name}: must be a number, got {raw!r}") from None
    if not 0 <= value <= 1e9:
        raise BadParameter(f"{name}: must be between 0 and 1e9")
    return value


def _text(params: Any, name: str, limit: int = 2048) -> str | None:
    value = params.get(name)
    if value is not None and len(value) > limit:
        raise BadParameter(f"{name}: at most {limit} characters")
    return value or None


def _slots(params: Any) -> tuple[showcases.SlotRequest, ...]:
    """`slots=similar,recommended` or `slots=main:similar` (slot name: strategy)."""
    n = _n(params)
    out = []
    for part in params.get("slots", "").split(","):
        part = part.strip()
        if not part:
            continue
        slot, _, strategy = part.partition(":")
        strategy = strategy or slot
        if not _ID.match(slot):
            raise BadParameter(f"slots: bad slot name {slot!r}")
        if strategy not in STRATEGIES:
            raise BadParameter(
                f"slots: unknown strategy {strategy!r}; one of {', '.join(STRATEGIES)}"
            )
        out.append(showcases.SlotRequest(slot, strategy, n))
    if len(out) > MAX_SLOTS:
        raise BadParameter(f"slots: at most {MAX_SLOTS}")
    return tuple(out)


def _n(params: Any) -> int:
    raw = params.get("n", "8")
    # isdigit() alone takes "²", which int() refuses
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= showcases.MAX_ITEMS:
        raise BadParameter(f"n: must be a whole number from 1 to {showcases.MAX_ITEMS}")
    return int(raw)


def parse(request: Request, now: int) -> DecideRequest:
    params = request.query_params
    page_type = params.get("page_type") or None
    if page_type is not None and page_type not in _PAGE_TYPES:
        raise BadParameter(f"page_type: must be one of {', '.join(_PAGE_TYPES)}")
    device = params.get("device")
    if not device:
        device = classify(request.headers.get("user-agent", ""))
        device = device if device in _DEVICES else "desktop"
    elif device not in _DEVICES:
        raise BadParameter(f"device: must be one of {', '.join(_DEVICES)}")
    cart = _ids(params, "cart")
    item = _text(params, "item_id", 128)
    page = Page(
        now_ms=now,
        url=_text(params, "url") or "",
        page_type=page_type,
        device=device,
        cart_items=cart,
        cart_value=_number(params, "cart_value"),
        referrer=_text(params, "ref"),
        utm_source=_text(params, "utm_source", 200),
        utm_campaign=_text(params, "utm_campaign", 200),
    )
    return DecideRequest(
        visitor_id=_id(params, "vid"),
        session_id=_id(params, "sid"),
        page=page,
        shopper=showcases.Shopper(item=item, history=_ids(params, "history"), cart=cart),
        slots=_slots(params),
    )


class Decider:
    """Everything `/v1/decide` needs between requests (caches, scripts)."""

    def __init__(self, redis: Any, models: ModelCache) -> None:
        self.redis = redis
        self.models = models
        self.rulebooks = RulebookCache(redis)
        self.cards = showcases.ItemCards(redis)
        self.picks = showcases.PickCache()
        self.coupons = Coupons(redis)
        self.wheel = Wheel(redis)
        self._read_state = scripts.register(redis, scripts.DECIDE_STATE)
        self._contents: dict[tuple[str, int, str, str], Content] = {}

    async def state(self, store_id: str, ask: DecideRequest) -> tuple[Loaded, Visitor, list[bytes]]:
        """The rules, the visitor and the items they touched (stored entries): one
        script call."""
        version, catalog_version, flat, session, items, others = await self._read_state(
            keys=(
                keys.rules_version(store_id),
                keys.catalog_version(store_id),
                keys.visitor(store_id, ask.visitor_id),
                keys.session(store_id, ask.session_id),
                keys.visitor_items(store_id, ask.visitor_id),
            ),
            args=(keys.store_prefix(store_id),),
        )
        self.cards.at_version(store_id, int(catalog_version or 0))
        fields = dict(zip(flat[::2], flat[1::2], strict=True))
        items = _merged(items, others)
        loaded = await self._rules(store_id, int(version or 0))
        day = utc_day(ask.page.now_ms)
        return loaded, visitor_from_redis(fields, session, ask.session_id, day), items

    async def loaded(self, store_id: str) -> Loaded:
        """The store's rules and settings, reading only the versions (rules, and the
        catalog's for the card cache) when cached."""
        return (await self.loaded_with_items(store_id, None))[0]

    async def loaded_with_items(
        self, store_id: str, visitor_id: str | None
    ) -> tuple[Loaded, list[bytes]]:
        """`loaded`, and the items `visitor_id` touched, in the same round trip."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.get(keys.rules_version(store_id))
        pipe.get(keys.catalog_version(store_id))
        if visitor_id is not None:
            pipe.lrange(keys.visitor_items(store_id, visitor_id), 0, -1)
            pipe.hget(keys.visitor(store_id, visitor_id), "u")
        version, catalog_version, *visitor = await pipe.execute()
        self.cards.at_version(store_id, int(catalog_version or 0))
        items: list[bytes] = []
        if visitor:
            items = await self._customer_items(store_id, visitor[1], visitor[0])
        return await self._rules(store_id, int(version or 0)), items

    async def _customer_items(
        self, store_id: str, customer: bytes | None, items: list[bytes]
    ) -> list[bytes]:
        """A visitor's items and, for a known customer (`u`), the customer's from
        every device: one more round trip, for known customers only. Entries of this
        device are in both lists; each is kept once, newest first."""
        if not customer:
            return items
        others = await self.redis.lrange(keys.customer_items(store_id, customer.decode()), 0, -1)
        return _merged(items, others)

    async def _rules(self, store_id: str, version: int) -> Loaded:
        return self.rulebooks.cached(store_id, version) or await self.rulebooks.load(
            store_id, version
        )

    def _over(
        self,
        store_id: str,
        loaded: Loaded,
        rule: Rule,
        ask: DecideRequest,
        visitor: Visitor,
        zone: ZoneInfo,
    ) -> bool:
        assert rule.id is not None
        variant = pick_variant(rule.id, ask.visitor_id, [(v.id, v.weight) for v in rule.variants])
        content = self.content(store_id, loaded, rule, variant)
        first = visitor.history(rule.id).first_shown_ms
        return offer_over(countdown_of(content, first, ask.page.now_ms, zone), ask.page.now_ms)

    def content(self, store_id: str, loaded: Loaded, rule: Rule, variant: str) -> Content:
        assert rule.id is not None
        key = (store_id, loaded.version, rule.id, variant)
        content = self._contents.get(key)
        if content is None:
            if len(self._contents) > 50_000:
                self._contents.clear()
            content = self._contents[key] = rule.variant_content(variant)
        return content

    async def decide(self, store: Store, ask: DecideRequest) -> dict[str, Any]:
        loaded, visitor, stored = await self.state(store.id, ask)
        settings = loaded.settings
        zone = ZoneInfo(settings.timezone)
        chosen: list[Rule] = []
        if governor_allows(settings.governor, visitor, ask.page.now_ms):
            triggers: set[str] = set()
            for rule in loaded.rules:
                if rule.trigger.type in triggers or not rule_allows(rule, ask.page, visitor, zone):
                    continue
                if (rule.content.countdown or rule.variants) and self._over(
                    store.id, loaded, rule, ask, visitor, zone
                ):
                    continue  # the offer is over for this visitor: the next rule may take its place
                triggers.add(rule.trigger.type)
                chosen.append(rule)
                if len(chosen) == MAX_POPUPS:
                    break
        served = await self.models.get(store.id)

        # Slots of the page, the store's configured ones, and popups' product strips.
        slots = list(ask.slots)
        named = {s.slot for s in slots}
        for configured in settings.showcases:
            if configured.slot in named:
                continue
            if configured.page_types is None or ask.page.page_type in configured.page_types:
                slots.append(
                    showcases.SlotRequest(configured.slot, configured.strategy, configured.n)
                )
        plans = []
        for rule in chosen:
            assert rule.id is not None
            holdout = in_holdout(rule.id, ask.visitor_id, rule.holdout)
            variant = pick_variant(
                rule.id, ask.visitor_id, [(v.id, v.weight) for v in rule.variants]
            )
            content = self.content(store.id, loaded, rule, variant)
            plans.append((rule, holdout, variant, content))
            if not holdout and content.products is not None:
                strip = showcases.SlotRequest(
                    f"popup:{rule.id}", content.products.strategy, content.products.count
                )
                slots.append(strip)
        showcase_holdout = in_showcase_holdout(settings, ask.visitor_id)
        shopper = showcases.with_stored(ask.shopper, ask.visitor_id, stored, served)
        filled = await showcases.fill(
            self.redis,
            self.cards,
            store.id,
            served,
            [s for s in slots if not (showcase_holdout and not s.slot.startswith("popup:"))],
            shopper,
            settings.currency,
            self.picks,
        )
        popups = []
        for rule, holdout, variant, content in plans:
            popup = await self._popup(
                store, ask, visitor, rule, holdout, variant, content, filled, zone
            )
            if popup is not None:
                popups.append(popup)
        page_slots: dict[str, Any] = {}
        for slot in slots:
            if slot.slot.startswith("popup:"):
                continue
            if showcase_holdout:
                page_slots[slot.slot] = {
                    "rec_id": None,
                    "strategy": slot.strategy,
                    "items": [],
                    "holdout": True,
                }
            else:
                page_slots[slot.slot] = {**filled[slot.slot], "holdout": False}
        placements = {s.slot: s for s in settings.showcases}
        for name, slot in page_slots.items():
            placement = placements.get(name)
            default = SLOT_TITLES.get(slot["strategy"], "")
            slot["title"] = (placement.title if placement else "") or default
            if placement is not None:
                slot["selector"] = placement.selector
        return {
            "popups": popups,
            "showcases": page_slots,
            "model_version": served.version if served is not None else None,
            # What the snippet must know before it records anything more.
            "config": {"respect_gpc": settings.respect_gpc},
        }

    async def _popup(
        self,
        store: Store,
        ask: DecideRequest,
        visitor: Visitor,
        rule: Rule,
        holdout: bool,
        variant: str,
        content: Content,
        filled: dict[str, Any],
        zone: ZoneInfo,
    ) -> dict[str, Any] | None:
        assert rule.id is not None
        answer: dict[str, Any] = {
            "id": rule.id,
            "variant": variant,
            "template": rule.template,
            "priority": rule.priority,
            "trigger": rule.trigger.model_dump(exclude_none=True),
            "holdout": holdout,
        }
        now = ask.page.now_ms
        countdown = countdown_of(content, visitor.history(rule.id).first_shown_ms, now, zone)
        if offer_over(countdown, now):
            return None
        if holdout:
            # Shown to nobody: the snippet records `popup_suppressed` when it fires.
            return {**answer, "html": "", "css": ""}
        code = None
        if content.coupon is not None:
            if content.coupon.pool is not None:
                code = await self.coupons.give(store.id, content.coupon.pool, ask.visitor_id)
                code = code or content.coupon.fallback_code
                if code is None:
                    return None  # pool ran dry and no fallback: better no popup
            else:
                code = content.coupon.code
        if content.segments and not await self.wheel.can_pay_out(store.id, content.segments):
            return None  # a wheel that can only say "no luck": better no popup
        products: list[dict[str, Any]] = []
        rec = strategy = None
        strip = filled.get(f"popup:{rule.id}")
        if strip is not None:
            products, rec, strategy = strip["items"], strip["rec_id"], strip["strategy"]
        cart: list[dict[str, Any]] = []
        if content.show_cart and ask.page.cart_items:
            cards = await self.cards.get(store.id, ask.page.cart_items)
            cart = [{"item_id": i, **cards[i]} for i in ask.page.cart_items if i in cards]
        html, css = render_popup(
            popup_id=rule.id,
            template=rule.template,
            variant=variant,
            content=content,
            coupon=code,
            countdown=countdown,
            products=products,
            rec_id=rec,
            strategy=strategy,
            cart=cart,
        )
        answer.update(html=html, css=css)
        if code is not None:
            answer["coupon"] = code
        if countdown is not None:
            answer["countdown"] = {"ends_at": countdown.ends_at, "minutes": countdown.minutes}
        if rec is not None:
            answer["rec_id"] = rec
        return answer


def _merged(items: list[bytes], others: list[bytes]) -> list[bytes]:
    """This device's item entries and a customer's from every device (which hold
    this device's too): each once, newest first."""
    if not others:
        return items
    return sorted(dict.fromkeys([*items, *others]), key=_entry_ms, reverse=True)


def _entry_ms(entry: bytes) -> int:
    """The time of a stored item entry ("<item id> <kind> <ts>")."""
    tail = entry.rpartition(b" ")[2]
    return int(tail) if tail.isdigit() else 0


def countdown_of(
    content: Content, first_shown_ms: int | None, now: int, zone: ZoneInfo
) -> CountdownView | None:
    """The popup's countdown for this visitor: to a fixed end, or N minutes from when
    they first saw it (from now, if they have not yet)."""
    if content.countdown is None:
        return None
    ends = content.countdown.ends_at
    if ends is not None:
        ends_ms = int((ends if ends.tzinfo else ends.replace(tzinfo=zone)).timestamp() * 1000)
        return CountdownView(ends_ms, None, clock((ends_ms - now) / 1000))
    minutes = content.countdown.minutes or 0
    if first_shown_ms is None:
        return CountdownView(None, minutes, clock(minutes * 60))
    ends_ms = first_shown_ms + minutes * 60_000
    return CountdownView(ends_ms, None, clock((ends_ms - now) / 1000))


def offer_over(countdown: CountdownView | None, now: int) -> bool:
    return countdown is not None and countdown.ends_at is not None and countdown.ends_at <= now


def in_showcase_holdout(settings: StoreSettings, visitor_id: str) -> bool:
    return settings.showcase_holdout > 0 and (
        unit("holdout", SHOWCASE_HOLDOUT, visitor_id) * 100 < settings.showcase_holdout
    )


async def decide(request: Request) -> Response:
    cors = cors_headers(request)
    params = request.query_params
    state = request.app.state
    try:
        param, key = public_key_param(params)
        store = await store_from_public_key(request, key, param)
        if isinstance(store, Response):
            return store
        try:
            ask = parse(request, now_ms())
        except BadParameter as exc:
            return error(400, str(exc), cors)
        decider: Decider = state.decider
        answer = await decider.decide(store, ask)
    except STORAGE_ERRORS:
        state.metrics.redis_errors.inc()
        return storage_unavailable(cors)
    # Per visitor and moment: never cached by the browser or a proxy.
    return json_response(answer, headers={**cors, "Cache-Control": "no-store"})
