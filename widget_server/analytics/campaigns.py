"""What each popup rule and variant, and each showcase placement, led to: the
`popups` and `showcases` statistics, read from the raw events (walked as
`walks.py` walks them: the settled part of a range once per process).

Popups, per rule and per variant: sessions shown, held out (`popup_suppressed`),
clicked and closed; e-mail sign-ups; orders (each once) credited within the
store's attribution window: by *click* to the popup the visitor clicked last before
the order, else by *view* to the one last shown, both within the window; revenue
per impression (credited revenue / sessions shown); and lift against the holdout
(`lift.py`: a session converts with a purchase after it was shown, or held out).
Showcases, per placement (with the strategy it is set to): views, clicks, cart
additions and bought items of the clicked items within the window, their revenue,
its share of all revenue of the period, and lift against the showcase holdout.
A spin-to-win rule's row also has `wheel`: spins, e-mails, prizes by slice, codes
redeemed and their revenue (`wheels.py`).
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from widget_server.analytics import walks
from widget_server.analytics.attribution import _NO_LIFT, ShowcaseReport
from widget_server.analytics.periods import day_range
from widget_server.analytics.wheels import wheel_figures
from widget_server.popups.rulebook import Rulebook
from widget_server.popups.schema import StoreSettings
from widget_server.storage import keys
from widget_server.storage.clock import now_ms
from widget_server.storage.connect import AsyncRedis

DAY_MS = 86_400_000
MAX_DAYS = 92


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
    walk = await walks.walk_range(
        redis,
        store_id,
        "popups",
        lambda: walks.PopupWalk(period.start_ms, window_ms, settings.currency),
        walks.POPUP_TYPES,
        since,
        period.end_ms,
        now_ms(),
        (settings.currency,),
    )
    walked: walks.PopupResult = walk
    figures, lifts_of_variants, lifts = walked.figures, walked.variant_lifts, walked.lifts
    signups = await _signups(redis, store_id, period.start_ms, period.end_ms)
    rules = {rule.id: rule for rule in await Rulebook(redis, store_id).rules() if rule.id}
    rows = []
    for rule_id in sorted(figures.keys() | set(rules)):
        tally, variants = figures.get(rule_id) or (walks.PopupTally(), {})
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
        if rule is not None and rule.template == "spin_to_win":
            rows[-1]["wheel"] = await wheel_figures(
                redis, store_id, rule, walked.coupon_purchases, period.start_ms, period.end_ms,
                signups.get(rule_id, 0), settings.currency,
            )  # fmt: skip
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
    report: ShowcaseReport = walk
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
