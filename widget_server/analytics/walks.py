"""The popup and showcase reports as walks over a range's events in time order that
can stop and go on, so that the part of a range no event can reach any more is
walked once, not on every request.

An event is refused once it is 47 hours old (`MAX_EVENT_AGE_MS`), so the events
whose `ts` is before `now - SETTLED_MS` are all in, for good. `walk_range` keeps,
per process, the walk of a range up to that moment (a *checkpoint*, rounded down
to the hour); a request copies it and walks only what came after: the last two
days, whatever the range. When the moment has moved on by an hour or more, the
checkpoint is walked on to it first. An erasure or an import (anything that
rewrites stored events) bumps the store's `keys.report_generation`, which drops
the store's checkpoints.

Fed in slices, a walk gives what one walk over all the events would give, because
the slices are taken by `ts` and each is taken in `ts` order (ties in arrival
order), as `attribution.prepare` does. Repeated event ids are skipped within a
slice: a repeat is the same event (the ingest script drops those it sees within
48 hours), with the same `ts`, so it never falls in another slice. Repeated orders
(a transaction id seen before) are skipped across slices.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar, cast

from widget_server.analytics.attribution import (
    NONE,
    Assigned,
    LiftWalk,
    StoredEvent,
    Walk,
)

# The showcase walk lives with the rest of showcase attribution; kept here by
# walk_range like the popup walk.
from widget_server.analytics.attribution import SHOWCASE_TYPES as SHOWCASE_TYPES
from widget_server.analytics.attribution import ShowcaseWalk as ShowcaseWalk
from widget_server.analytics.lift import Lift, compare
from widget_server.analytics.stats import read_events
from widget_server.collect.money import from_minor, to_minor
from widget_server.storage import keys
from widget_server.storage.clock import MAX_EVENT_AGE_MS
from widget_server.storage.connect import AsyncRedis

HOUR_MS = 3_600_000
# Before this long ago, no event can arrive any more (see the module's docstring).
SETTLED_MS = MAX_EVENT_AGE_MS + HOUR_MS
# Checkpoints a process keeps, the least recently used dropped first: a store's
# dashboard asks for a handful of ranges (the last 7, 30 and 90 days, ...).
CHECKPOINTS = 16


# -- popups --------------------------------------------------------------------------


@dataclasses.dataclass
class PopupTally:
    shown: set[str] = dataclasses.field(default_factory=set)
    suppressed: set[str] = dataclasses.field(default_factory=set)
    clicked: set[str] = dataclasses.field(default_factory=set)
    closed: set[str] = dataclasses.field(default_factory=set)
    click_orders: int = 0
    click_revenue: int = 0
    view_orders: int = 0
    view_revenue: int = 0

    def copy(self) -> PopupTally:
        return dataclasses.replace(
            self,
            shown=set(self.shown),
            suppressed=set(self.suppressed),
            clicked=set(self.clicked),
            closed=set(self.closed),
        )

    def as_json(self, currency: str, signups: int) -> dict[str, Any]:
        shown = len(self.shown)
        revenue = self.click_revenue + self.view_revenue
        return {
            "shown": shown,
            "suppressed": len(self.suppressed),
            "clicks": len(self.clicked),
            "click_through_rate": len(self.clicked) / shown if shown else None,
            "closes": len(self.closed),
            "signups": signups,
            "orders": self.click_orders + self.view_orders,
            "revenue": from_minor(revenue, currency),
            "orders_by_click": self.click_orders,
            "revenue_by_click": from_minor(self.click_revenue, currency),
            "orders_by_view": self.view_orders,
            "revenue_by_view": from_minor(self.view_revenue, currency),
            "revenue_per_impression": from_minor(revenue, currency) / shown if shown else None,
        }


POPUP_TYPES = frozenset(
    {"popup_shown", "popup_suppressed", "popup_click", "popup_close", "purchase"}
)
_SESSION_SETS = {
    "popup_shown": "shown",
    "popup_suppressed": "suppressed",
    "popup_click": "clicked",
    "popup_close": "closed",
}


@dataclasses.dataclass(frozen=True)
class PopupResult:
    figures: dict[str, tuple[PopupTally, dict[str, PopupTally]]]  # rule -> (total, variants)
    variant_lifts: dict[tuple[str, str], Lift]
    lifts: dict[str, Lift]
    coupon_purchases: tuple[StoredEvent, ...]  # orders of the range that name a code


class PopupWalk(Walk):
    """Per rule and variant: sessions shown, held out, clicked and closed (from
    `start_ms` on); orders credited by last click, else by last view, within
    `window_ms`; and lift against the holdout, of each rule and of each variant
    (against its rule's holdout). See `campaigns.py` for the rules."""

    def __init__(self, start_ms: int, window_ms: int, currency: str | None = None) -> None:
        super().__init__()
        self.start_ms, self.window_ms = start_ms, window_ms
        # Revenue is kept in the store currency's minor units (as_json reads them so).
        self.currency = currency
        self.tallies: dict[tuple[str, str | None], PopupTally] = {}
        self.last_click: dict[str, tuple[str, str, int]] = {}  # visitor -> (rule, variant, ts)
        self.last_shown: dict[str, tuple[str, str, int]] = {}
        self.rule_lift = LiftWalk(start_ms, "popup_shown", "popup_suppressed", "popup_id", None)
        # Variant lift: groups ("shown", rule, variant) and ("held", rule).
        self.variant_assigned = Assigned()
        self.variants: set[tuple[str, str]] = set()
        self.shown_rule: set[tuple[str, str]] = set()  # (rule, session) shown any variant
        self.coupon_purchases: list[StoredEvent] = []  # what spin-to-win redemptions read

    def _tally(self, key: tuple[str, str | None]) -> PopupTally:
        tally = self.tallies.get(key)
        if tally is None:
            tally = self.tallies[key] = PopupTally()
        return tally

    def feed(self, events: list[StoredEvent]) -> None:
        start_ms, window_ms = self.start_ms, self.window_ms
        for event in self._fresh(events):
            self.rule_lift.see(event)
            kind, ts = event.type, event.ts
            counted = ts >= start_ms
            if kind in _SESSION_SETS:
                rule = event.popup_id
                if not rule:
                    continue
                variant = event.variant or NONE
                if kind == "popup_click":
                    self.last_click[event.vid] = (rule, variant, ts)
                elif kind == "popup_shown":
                    self.last_shown[event.vid] = (rule, variant, ts)
                if counted:
                    for key in ((rule, None), (rule, variant)):
                        getattr(self._tally(key), _SESSION_SETS[kind]).add(event.sid)
                self._assign(event, rule, variant, counted)
            elif kind == "purchase":
                self.variant_assigned.purchase(event.sid)
                if counted:
                    self._credit(event, ts, window_ms)
                    if event.coupon:
                        self.coupon_purchases.append(event)

    def _assign(self, event: StoredEvent, rule: str, variant: str, counted: bool) -> None:
        """A session is treated by a variant from its first `popup_shown` of it, and
        held out from the rule's first `popup_suppressed` unless it was, or is later,
        shown the rule (treated wins)."""
        sid, assigned = event.sid, self.variant_assigned
        if event.type == "popup_shown":
            self.variants.add((rule, variant))
            if assigned.has(("shown", rule, variant), sid):
                return
            assigned.assign(("shown", rule, variant), sid, counted)
            self.shown_rule.add((rule, sid))
            assigned.remove(("held", rule), sid)
        elif (
            event.type == "popup_suppressed"
            and not assigned.has(("held", rule), sid)
            and (rule, sid) not in self.shown_rule
        ):
            assigned.assign(("held", rule), sid, counted)

    def _credit(self, event: StoredEvent, ts: int, window_ms: int) -> None:
        by_click = self.last_click.get(event.vid)
        if by_click is not None and ts - by_click[2] > window_ms:
            by_click = None
        by_view = self.last_shown.get(event.vid)
        if by_view is not None and ts - by_view[2] > window_ms:
            by_view = None
        target = by_click or by_view
        if target is None:
            return
        revenue = to_minor(event.value or 0, self.currency)
        for key in ((target[0], None), (target[0], target[1])):
            tally = self._tally(key)
            if by_click is not None:
                tally.click_orders += 1
                tally.click_revenue += revenue
            else:
                tally.view_orders += 1
                tally.view_revenue += revenue

    def copy(self) -> PopupWalk:
        other = PopupWalk(self.start_ms, self.window_ms, self.currency)
        self._copy_base(other)
        other.tallies = {key: tally.copy() for key, tally in self.tallies.items()}
        other.last_click = dict(self.last_click)
        other.last_shown = dict(self.last_shown)
        other.rule_lift = self.rule_lift.copy()
        other.variant_assigned = self.variant_assigned.copy()
        other.variants = set(self.variants)
        other.shown_rule = set(self.shown_rule)
        other.coupon_purchases = list(self.coupon_purchases)
        return other

    def result(self) -> PopupResult:
        figures: dict[str, tuple[PopupTally, dict[str, PopupTally]]] = {}
        for (rule, variant), tally in sorted(
            self.tallies.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")
        ):
            if variant is None:
                figures[rule] = (tally, {})
            else:
                figures.setdefault(rule, (PopupTally(), {}))[1][variant] = tally
        return PopupResult(
            figures,
            self._variant_lifts(),
            self.rule_lift.result(),
            tuple(self.coupon_purchases),
        )

    def _variant_lifts(self) -> dict[tuple[str, str], Lift]:
        group = self.variant_assigned.group
        return {
            (rule, variant): compare(group(("shown", rule, variant)), group(("held", rule)))
            for rule, variant in self.variants
        }


# -- checkpoints ---------------------------------------------------------------------


W = TypeVar("W", PopupWalk, ShowcaseWalk)


@dataclasses.dataclass(frozen=True)
class _Checkpoint:
    generation: int
    upto_ms: int  # every event before this moment has been walked
    walk: Any  # never changed once kept: requests walk on from copies


_checkpoints: OrderedDict[tuple[Any, ...], _Checkpoint] = OrderedDict()
# Results, by checkpoint and by how many events came after it (see `walk_range`).
_answers: OrderedDict[tuple[Any, ...], Any] = OrderedDict()


async def walk_range(
    redis: AsyncRedis,
    store_id: str,
    name: str,
    new_walk: Callable[[], W],
    types: frozenset[str],
    since_ms: int,
    end_ms: int,
    now_ms: int,
    parameters: tuple[Any, ...] = (),
) -> Any:
    """The result of the walk of the events of `types` with `ts` in [since_ms,
    end_ms): started from (and leaving behind) this process's checkpoint of the
    same report, range and `parameters`. Results are shared: never change one."""
    generation = int(await redis.get(keys.report_generation(store_id)) or 0)
    settled = min(end_ms, (now_ms - SETTLED_MS) // HOUR_MS * HOUR_MS)
    key: tuple[Any, ...] = (store_id, name, since_ms, end_ms, *parameters)
    kept = _checkpoints.get(key)
    walk: W
    if kept is not None and kept.generation == generation and kept.upto_ms <= settled:
        _checkpoints.move_to_end(key)
        walk, upto = cast(W, kept.walk), kept.upto_ms
    else:
        kept, walk, upto = None, new_walk(), since_ms
    if settled > upto:
        # The copy is walked on: a checkpoint another request is copying is never
        # changed under it.
        if kept is not None and walk is kept.walk:
            walk = walk.copy()
        # Read up to now, not only to 47 hours after `settled`: an event that came
        # under another clock (a test's, a skewed server's) is still found.
        events = await read_events(redis, store_id, upto, now_ms, upto, types, until_ms=settled)
        await asyncio.to_thread(walk.feed, events)
        _checkpoints[key] = _Checkpoint(generation, settled, walk)
        _checkpoints.move_to_end(key)
        while len(_checkpoints) > CHECKPOINTS:
            _checkpoints.popitem(last=False)
        upto = settled
    if upto >= end_ms:
        return walk.result()
    live = await read_events(redis, store_id, upto, now_ms, upto, types, until_ms=end_ms)
    # Stored events are only appended to (an erasure, which removes some, bumps the
    # generation): the same number of them after the checkpoint are the same ones.
    answer_key = (*key, generation, upto, len(live))
    answer = _answers.get(answer_key)
    if answer is None:
        walk = walk.copy()
        # Walking events is CPU work: off the event loop, so that the worker keeps
        # answering collect and decide meanwhile.
        await asyncio.to_thread(walk.feed, live)
        answer = _answers[answer_key] = walk.result()
        while len(_answers) > CHECKPOINTS:
            _answers.popitem(last=False)
    _answers.move_to_end(answer_key)
    return answer
