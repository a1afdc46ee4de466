"""What each popup rule and variant, and each showcase placement, led to: the
`popups` and `showcases` statistics, read from the raw event stream.

Popups, per rule and per variant: sessions shown, held out (`popup_suppressed`),
clicked and closed; e-mail sign-ups; orders (each once) credited within the
store's attribution window: by *click* to the popup the visitor clicked last before
the order, else by *view* to the one last shown, both within the window; revenue
per impression (credited revenue / sessions shown); and lift against the holdout
(`lift.py`: a session converts with a purchase after it was shown, or held out).
Showcases, per placement (with the strategy it is set to): views, clicks, cart
additions and bought items of the clicked items within the window, their revenue,
its share of all revenue of the period, and lift against the showcase holdout.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections import defaultdict
from collections.abc import Sequence
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from widget_server.analytics import walks
from widget_server.analytics.attribution import (
    _NO_LIFT,
    NONE,
    Event,
    _lift_by,
    _minor,
    prepare,
)
from widget_server.analytics.lift import Group, Lift, compare
from widget_server.analytics.periods import day_range
from widget_server.analytics.stats import read_events
from widget_server.collect.money import from_minor
from widget_server.popups.rulebook import Rulebook
from widget_server.popups.schema import StoreSettings
from widget_server.storage import keys
from widget_server.storage.clock import MAX_EVENT_AGE_MS, now_ms
from widget_server.storage.connect import AsyncRedis

DAY_MS = 86_400_000
MAX_DAYS = 92


@dataclasses.dataclass
class _Tally:
    shown: set[str] = dataclasses.field(default_factory=set)
    suppressed: set[str] = dataclasses.field(default_factory=set)
    clicked: set[str] = dataclasses.field(default_factory=set)
    closed: set[str] = dataclasses.field(default_factory=set)
    click_orders: int = 0
    click_revenue: int = 0
    view_orders: int = 0
    view_revenue: int = 0

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


_POPUP_TYPES = frozenset(
    {"popup_shown", "popup_suppressed", "popup_click", "popup_close", "purchase"}
)
# Purchases are in both: an order counts once, where it first appeared, whichever
# report reads it.
_SHOWCASE_TYPES = frozenset(
    {"showcase_view", "showcase_suppressed", "showcase_click", "add_to_cart", "purchase"}
)
_SESSION_SETS = {
    "popup_shown": "shown",
    "popup_suppressed": "suppressed",
    "popup_click": "clicked",
    "popup_close": "closed",
}


def popup_figures(
    events: list[Event], start_ms: int, end_ms: int, window_ms: int
) -> dict[str, tuple[_Tally, dict[str, _Tally]]]:
    """Per rule: its tally and its variants'; `events` prepared (in time order, each
    order once), from `window_ms` before `start_ms` (context for the credit)."""
    tallies: defaultdict[tuple[str, str | None], _Tally] = defaultdict(_Tally)
    last_click: dict[str, tuple[str, str, int]] = {}  # visitor -> (rule, variant, ts)
    last_shown: dict[str, tuple[str, str, int]] = {}
    for event in events:
        kind, ts = event.type, event.ts
        counted = start_ms <= ts < end_ms
        if kind in _SESSION_SETS:
            rule = event.popup_id
            if not rule:
                continue
            variant = event.variant or NONE
            if kind == "popup_click":
                last_click[event.vid] = (rule, variant, ts)
            elif kind == "popup_shown":
                last_shown[event.vid] = (rule, variant, ts)
            if counted:
                for key in ((rule, None), (rule, variant)):
                    getattr(tallies[key], _SESSION_SETS[kind]).add(event.sid)
        elif kind == "purchase" and counted:
            by_click = last_click.get(event.vid)
            if by_click is not None and ts - by_click[2] > window_ms:
                by_click = None
            by_view = last_shown.get(event.vid)
            if by_view is not None and ts - by_view[2] > window_ms:
                by_view = None
            target = by_click or by_view
            if target is None:
                continue
            revenue = _minor(event.value)
            for key in ((target[0], None), (target[0], target[1])):
                tally = tallies[key]
                if by_click is not None:
                    tally.click_orders += 1
                    tally.click_revenue += revenue
                else:
                    tally.view_orders += 1
                    tally.view_revenue += revenue
    out: dict[str, tuple[_Tally, dict[str, _Tally]]] = {}
    for (rule, of_variant), tally in sorted(
        tallies.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")
    ):
        if of_variant is None:
            out[rule] = (tally, {})
        else:
            out.setdefault(rule, (_Tally(), {}))[1][of_variant] = tally
    return out


def variant_lifts(events: list[Event], start_ms: int) -> dict[tuple[str, str], Lift]:
    """Each variant's sessions against its rule's holdout, in one pass, as
    `attribution._lift_by` counts a rule's: a session is treated from its first
    `popup_shown` of the rule, held out from its first `popup_suppressed` (treated
    wins when it has both), and converts with a purchase after that; one whose first
    such event is before `start_ms` is not counted."""
    # An assignment is one int, as in `_lift_by`: the index of the event that made
    # it, times 2, plus 1 when counted.
    treated: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    treated_rule: dict[str, set[str]] = defaultdict(set)
    held: dict[str, dict[str, int]] = defaultdict(dict)
    last_purchase: dict[str, int] = {}  # session -> index of its last purchase
    for index, event in enumerate(events):
        kind, sid = event.type, event.sid
        if kind == "purchase":
            last_purchase[sid] = index
            continue
        rule = event.popup_id
        if not rule or kind not in ("popup_shown", "popup_suppressed"):
            continue
        packed = index * 2 + (1 if event.ts >= start_ms else 0)
        if kind == "popup_shown":
            key = (rule, event.variant or NONE)
            if sid in treated[key]:
                continue
            treated[key][sid] = packed
            treated_rule[rule].add(sid)
            held[rule].pop(sid, None)
        elif sid not in held[rule] and sid not in treated_rule[rule]:
            held[rule][sid] = packed

    def group(assigned: dict[str, int]) -> Group:
        counted = [(sid, packed) for sid, packed in assigned.items() if packed & 1]
        converted = sum(last_purchase.get(sid, -1) > packed >> 1 for sid, packed in counted)
        return Group(len(counted), converted)

    out = {}
    for (rule, variant), sessions in treated.items():
        out[(rule, variant)] = compare(group(sessions), group(held.get(rule, {})))
    return out


def _popup_work(
    raw: Sequence[Event], start_ms: int, end_ms: int, window_ms: int
) -> tuple[
    dict[str, tuple[_Tally, dict[str, _Tally]]], dict[tuple[str, str], Lift], dict[str, Lift]
]:
    events = prepare(raw, end_ms=end_ms - 1)
    return (
        popup_figures(events, start_ms, end_ms, window_ms),
        variant_lifts(events, start_ms),
        _lift_by(events, start_ms, "popup_shown", "popup_suppressed", "popup_id", None),
    )


async def _signups(redis: AsyncRedis, store_id: str, start_ms: int, end_ms: int) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for raw in (await redis.hgetall(keys.subscribers(store_id))).values():
        record = json.loads(raw)
        if start_ms <= int(record.get("ts", 0)) < end_ms:
            counts[str(record.get("popup_id"))] += 1
    return counts


async def popups(
    redis: AsyncRedis,
    store_id: str,
    first: date,
    last: date,
    zone: ZoneInfo,
    settings: StoreSettings,
) -> dict[str, Any]:
    period = day_range(first, last, zone)
    window_ms = settings.attribution_window_days * DAY_MS
    since = period.start_ms - window_ms
    raw = await read_events(
        redis, store_id, since, period.end_ms + MAX_EVENT_AGE_MS, since, _POPUP_TYPES
    )
    # Walking a month of events is CPU work: off the event loop, so that the worker
    # keeps answering collect and decide meanwhile.
    figures, lifts_of_variants, lifts = await asyncio.to_thread(
        _popup_work, raw, period.start_ms, period.end_ms, window_ms
    )
    signups = await _signups(redis, store_id, period.start_ms, period.end_ms)
    rules = {rule.id: rule for rule in await Rulebook(redis, store_id).rules() if rule.id}
    rows = []
    for rule_id in sorted(figures.keys() | set(rules)):
        tally, variants = figures.get(rule_id) or (_Tally(), {})
        rule = rules.get(rule_id)
        lift = lifts.get(rule_id)
        rows.append(
            {
                "rule_id": rule_id,
                "name": rule.name if rule else None,
                "template": rule.template if rule else None,
                "enabled": rule.enabled if rule else False,
                **tally.as_json(settings.currency, signups.get(rule_id, 0)),
                "lift": (lift or _NO_LIFT).to_json(),
                "variants": [
                    {
                        "variant": variant,
                        **v.as_json(settings.currency, 0),
                        "lift": (lifts_of_variants.get((rule_id, variant)) or _NO_LIFT).to_json(),
                    }
                    for variant, v in variants.items()
                ],
            }
        )
    return {
        "from": first.isoformat(),
        "to": last.isoformat(),
        "timezone": zone.key,
        "currency": settings.currency,
        "attribution_window_days": settings.attribution_window_days,
        "rows": rows,
    }


async def showcases(
    redis: AsyncRedis,
    store_id: str,
    first: date,
    last: date,
    zone: ZoneInfo,
    settings: StoreSettings,
    total_revenue: float,
) -> dict[str, Any]:
    period = day_range(first, last, zone)
    window_ms = settings.attribution_window_days * DAY_MS
    since = period.start_ms - window_ms
    walk = await walks.walk_range(
        redis,
        store_id,
        "showcases",
        lambda: walks.ShowcaseWalk(period.start_ms, window_ms),
        walks.SHOWCASE_TYPES,
        since,
        period.end_ms,
        now_ms(),
    )
    report = walk.result()
    strategies = {slot.slot: slot.strategy for slot in settings.showcases}
    rows = []
    for placement, figures in report.placements.items():
        revenue = figures.credit.revenue
        rows.append(
            {
                "placement": placement,
                "strategy": strategies.get(placement),
                "views": figures.views,
                "clicks": figures.clicks,
                "click_through_rate": figures.click_rate,
                "add_to_carts": figures.credit.add_to_carts,
                "orders": figures.credit.purchases,
                "items_purchased": figures.credit.items_purchased,
                "revenue": revenue,
                "share_of_revenue": revenue / total_revenue if total_revenue else None,
                "suppressed": figures.suppressed,
                "lift": figures.lift.to_json(),
            }
        )
    return {
        "from": first.isoformat(),
        "to": last.isoformat(),
        "timezone": zone.key,
        "currency": settings.currency,
        "attribution_window_days": settings.attribution_window_days,
        "lift": report.lift.to_json(),
        "rows": rows,
    }
