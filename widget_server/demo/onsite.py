"""Tarry on the demo shop's pages, for the simulated shoppers of the last two days:
the carousels they saw and clicked and the popups that fired for them, recorded as
the snippet records them.

Popups follow the store's own rules as the server keeps them (ids, holdouts,
variants, frequency caps, the store-wide governor), and the variant and holdout
come from the same hash `/v1/decide` uses, so each simulated visitor is in the
group the server would put them in. What a popup does is planted: a shown "last
chance" brings some abandoned carts back, a flash promo sells now and then, and
"don't go" keeps a few shoppers browsing; a held-out visitor gets none of it, which
is what the dashboard's lift measures.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from widget_server.decide.endpoint import in_showcase_holdout
from widget_server.demo.journeys import Page, Walk
from widget_server.demo.shoppers import unit
from widget_server.models.showcases import rec_id
from widget_server.popups.assignment import in_holdout, pick_variant
from widget_server.popups.schema import Rule, ShowcaseSlot, StoreSettings

DAY_MS = 86_400_000
EXIT_SHARE = {"desktop": 0.75, "mobile": 0.45, "tablet": 0.5}  # leavers whose exit is seen
EXIT_SIGNAL = {
    "desktop": "exit_intent:mouse",
    "mobile": "exit_intent:back",
    "tablet": "exit_intent:back",
}
SEEN_SHARE = 0.65  # carousels scrolled into view
CLICK_SHARE = 0.3  # of the next products viewed, the ones found through a carousel
CLICK_MEMORY_MS = DAY_MS  # the snippet carries a carousel click's rec_id this long
# How shoppers answer a popup: the planted effects that the dashboard's lift finds.
# Shares of the visitors it fires for, drawn once per popup: below CLICKS[preset] a
# click, below CLOSES a close, else it is left alone.
CLICKS = {"dont_go": 0.14, "flash_promo": 0.16, "last_chance": 0.25}
CLOSES = 0.85
RESCUED = 0.18  # "last chance": clicked, and went on to check out
BOUGHT_NOW = 0.10  # "flash promo": clicked, and bought the product there and then
ANYWAY = 0.05  # leavers of a full cart who come back and buy, popup or not
assert CLICKS["last_chance"] >= RESCUED and CLICKS["flash_promo"] >= BOUGHT_NOW


@dataclasses.dataclass
class Memory:
    """What the server knows of a visitor's popups, as the caps need it."""

    shows: dict[str, list[int]] = dataclasses.field(default_factory=dict)  # rule -> times
    session_shows: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)
    first_shown: dict[str, int] = dataclasses.field(default_factory=dict)
    clicked: set[str] = dataclasses.field(default_factory=set)
    orders: list[int] = dataclasses.field(default_factory=list)
    last_shown: int = -(10**15)
    recs: dict[str, tuple[str, int]] = dataclasses.field(default_factory=dict)


class Tarry:
    """Implements journeys.Onsite for the store's rules and settings."""

    def __init__(self, rules: list[Rule], settings: StoreSettings) -> None:
        self.rules = {r.preset: r for r in rules if r.enabled and r.preset}
        self.settings = settings
        self.slots: dict[str, ShowcaseSlot] = {
            page_type: slot for slot in settings.showcases for page_type in slot.page_types or ()
        }
        self.memory: dict[str, Memory] = {}

    # -- journeys.Onsite ---------------------------------------------------

    def on_page(self, walk: Walk, index: int) -> list[dict[str, Any]]:
        memory = self.memory.setdefault(walk.shopper.visitor_id, Memory())
        walk.clicked = {
            item: rec for item, (rec, at) in memory.recs.items()
            if walk.pages[index].ts - at < CLICK_MEMORY_MS
        }  # fmt: skip
        events = self._showcase(walk, index, memory)
        events += self._popup(walk, index, memory)
        return events

    def on_order(self, walk: Walk, at: int) -> None:
        self.memory.setdefault(walk.shopper.visitor_id, Memory()).orders.append(at)

    # -- carousels ---------------------------------------------------------

    def _showcase(self, walk: Walk, index: int, memory: Memory) -> list[dict[str, Any]]:
        page = walk.pages[index]
        slot = self.slots.get(page.kind)
        if slot is None or (page.kind == "cart" and not walk.cart):
            return []
        visitor = walk.shopper.visitor_id
        if unit("seen", visitor, page.ts) >= SEEN_SHARE:
            return []
        at = page.ts + 1500
        if in_showcase_holdout(self.settings, visitor):
            return [walk.event("showcase_suppressed", at, page, placement=slot.slot)]
        context = [page.product.sku] if page.product else sorted(walk.cart) or [page.kind]
        rec = rec_id(None, slot.slot, slot.strategy, context)
        events = [walk.event("showcase_view", at, page, placement=slot.slot, rec_id=rec)]
        following = walk.pages[index + 1] if index + 1 < len(walk.pages) else None
        if (
            following is not None
            and following.product is not None
            and following.product != page.product
            and unit("click", visitor, following.ts) < CLICK_SHARE
        ):
            clicked_at = max(at + 200, following.ts - 300)
            item = {"item_id": following.product.sku}
            events.append(
                walk.event(
                    "showcase_click",
                    clicked_at,
                    page,
                    placement=slot.slot,
                    rec_id=rec,
                    items=[item],
                )
            )
            memory.recs[following.product.sku] = (rec, clicked_at)
        return events

    # -- popups ------------------------------------------------------------

    def _popup(self, walk: Walk, index: int, memory: Memory) -> list[dict[str, Any]]:
        """At most one popup a page: the first of this page's triggers that fires."""
        page = walk.pages[index]
        leave = walk.leave_ms(index)
        leaving = index + 1 == len(walk.pages)
        device = walk.shopper.device
        visitor = walk.shopper.visitor_id
        fired: tuple[Rule, int, str] | None = None
        exit_seen = unit("exit", visitor, page.ts) < (EXIT_SHARE[device] if leaving else 0.1)
        if page.kind == "product" and leave - page.ts > 8_500 and "flash_promo" in self.rules:
            fired = (self.rules["flash_promo"], page.ts + 8_000, "time_on_page")
        elif page.kind == "home" and exit_seen and "dont_go" in self.rules:
            fired = (self.rules["dont_go"], leave - 800, EXIT_SIGNAL[device])
        elif page.kind == "cart" and walk.cart and exit_seen and "last_chance" in self.rules:
            following = walk.pages[index + 1] if not leaving else None
            if following is None or following.kind != "checkout":
                fired = (self.rules["last_chance"], leave - 800, EXIT_SIGNAL[device])
        if fired is None:
            return []
        rule, at, trigger = fired
        if at - page.ts < rule_min_ms(rule) or not self._allowed(rule, walk, memory, at):
            return []
        assert rule.id is not None
        self._count(rule.id, walk.session_id, memory, at)
        variants = [(v.id, v.weight) for v in rule.variants]
        fields = {"popup_id": rule.id, "variant": pick_variant(rule.id, visitor, variants)}
        if in_holdout(rule.id, visitor, rule.holdout):
            events = [walk.event("popup_suppressed", at, page, trigger=trigger, **fields)]
            if rule.preset == "last_chance" and unit("anyway", visitor, at) < ANYWAY:
                self._checkout(walk, index, at + 30_000)
            return events
        events = [walk.event("popup_shown", at, page, trigger=trigger, **fields)]
        draw = unit("answer", visitor, at)
        click = draw < CLICKS[rule.preset or ""]
        if click:
            memory.clicked.add(rule.id)
            events.append(walk.event("popup_click", at + 2_500, page, **fields))
        elif draw < CLOSES:
            events.append(walk.event("popup_close", at + 2_000, page, **fields))
        if rule.preset == "last_chance" and (draw < RESCUED or draw > 1 - ANYWAY):
            self._checkout(walk, index, at + 4_000)
        elif rule.preset == "flash_promo" and draw < BOUGHT_NOW and not walk.bought:
            assert page.product is not None
            if not any(p.kind == "thank_you" for p in walk.pages[index:]):
                page.adds.append((page.product, 1, at + 20_000))
                self._checkout(walk, index, at + 22_000, via_cart=True)
        elif rule.preset == "dont_go" and click and leaving:
            self._browse_on(walk, index, at + 4_000)
        return events

    def _allowed(self, rule: Rule, walk: Walk, memory: Memory, at: int) -> bool:
        assert rule.id is not None
        frequency, governor = rule.frequency, self.settings.governor
        in_session = memory.session_shows.get(walk.session_id, {})
        if in_session.get(rule.id, 0) >= frequency.max_per_session:
            return False
        if sum(in_session.values()) >= governor.max_per_session:
            return False
        recent = [t for t in memory.shows.get(rule.id, ()) if at - t < frequency.per_days * DAY_MS]
        if frequency.max_per_visitor is not None and len(recent) >= frequency.max_per_visitor:
            return False
        today = sum(1 for ts in _all(memory) if ts // DAY_MS == at // DAY_MS)
        if today >= governor.max_per_visitor_per_day:
            return False
        if at - memory.last_shown < governor.min_gap_seconds * 1000:
            return False
        if frequency.stop_after_click and rule.id in memory.clicked:
            return False
        first = memory.first_shown.get(rule.id)
        return not (
            frequency.stop_after_purchase and first is not None
            and any(t > first for t in memory.orders)
        )  # fmt: skip

    def _count(self, rule_id: str, session_id: str, memory: Memory, at: int) -> None:
        memory.shows.setdefault(rule_id, []).append(at)
        in_session = memory.session_shows.setdefault(session_id, {})
        in_session[rule_id] = in_session.get(rule_id, 0) + 1
        memory.first_shown.setdefault(rule_id, at)
        memory.last_shown = at

    def _checkout(self, walk: Walk, index: int, at: int, via_cart: bool = False) -> None:
        pages = [Page("cart", at)] if via_cart else []
        start = at + (2_000 if via_cart else 0)
        pages += [Page("checkout", start), Page("thank_you", start + 50_000)]
        walk.divert(index, pages)

    def _browse_on(self, walk: Walk, index: int, at: int) -> None:
        """Clicked a pick in the "don't go" popup: one more product page."""
        seen = next((p.product for p in walk.pages if p.product is not None), None)
        pool = walk.catalog.in_category(seen.category.slug) if seen else walk.catalog.products
        choice = [p for p in pool if p.in_stock][int(unit("pick", walk.session_id) * 10)]
        walk.divert(index, [Page("product", at, product=choice)])


def _all(memory: Memory) -> list[int]:
    return [ts for times in memory.shows.values() for ts in times]


def rule_min_ms(rule: Rule) -> float:
    return float(getattr(rule.trigger, "min_seconds", 0.0)) * 1000
