"""Traffic figures from the counters: overview, timeseries, breakdown, funnel,
realtime. Every figure is defined in `definitions.py`, under the same name."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from widget_server.analytics import counters
from widget_server.analytics.periods import Interval, day_range, periods, previous
from widget_server.collect.money import from_minor
from widget_server.storage import keys
from widget_server.storage.connect import AsyncRedis

RATES = frozenset({"bounce_rate", "single_page_rate", "conversion_rate", "average_engaged_seconds"})
FIGURES = (
    "sessions",
    "visitors",
    "page_views",
    "engaged_sessions",
    "bounce_rate",
    "single_page_rate",
    "average_engaged_seconds",
    "conversion_rate",
    "orders",
    "revenue",
    "average_order_value",
)
FUNNEL_STEPS = (
    ("sessions", "sessions"),
    ("viewed_product", "funnel_1"),
    ("added_to_cart", "funnel_2"),
    ("began_checkout", "funnel_3"),
    ("purchased", "funnel_4"),
)
REST = "(rest)"


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def _money(sums: Counter[str], currency: str) -> tuple[int, int]:
    """(orders, revenue in minor units) in the store's currency: orders sent in it
    and orders sent with none."""
    orders = sums["orders:"] + sums[f"orders:{currency}"]
    revenue = sums["revenue:"] + sums[f"revenue:{currency}"]
    return orders, revenue


def figures(sums: Counter[str], visitors: int | None, currency: str) -> dict[str, Any]:
    sessions = sums["sessions"]
    engaged = _ratio(sums["engaged_sessions"], sessions)
    orders, revenue_minor = _money(sums, currency)
    revenue = from_minor(revenue_minor, currency)
    others = []
    for field, count in sorted(sums.items()):
        code = field.removeprefix("orders:")
        if field.startswith("orders:") and code and code != currency and count:
            minor = sums[f"revenue:{code}"]
            others.append(
                {
                    "currency": code,
                    "orders": count,
                    "revenue": from_minor(minor, code),
                    "revenue_minor": minor,
                }
            )
    engaged_time = _ratio(sums["engaged_ms"], sessions)
    return {
        "sessions": sessions,
        "visitors": visitors,
        "page_views": sums["page_views"],
        "engaged_sessions": sums["engaged_sessions"],
        "bounce_rate": None if engaged is None else 1 - engaged,
        "single_page_rate": _ratio(sums["single_page_sessions"], sessions),
        "average_engaged_seconds": None if engaged_time is None else engaged_time / 1000,
        "conversion_rate": _ratio(sums["purchase_sessions"], sessions),
        "orders": orders,
        "revenue": revenue,
        "revenue_minor": revenue_minor,
        "average_order_value": None if not orders else round(revenue / orders, 4),
        "currency": currency,
        "other_currencies": others,
    }


def _change(name: str, current: Any, before: Any) -> float | None:
    if current is None or before is None:
        return None
    if name in RATES:
        return float(current - before)
    return None if not before else (current - before) / before


async def overview(
    redis: AsyncRedis, store_id: str, first: date, last: date, zone: ZoneInfo, currency: str
) -> dict[str, Any]:
    now = day_range(first, last, zone)
    before_first, before_last = previous(first, last)
    before = day_range(before_first, before_last, zone)
    sums = await counters.sums(redis, store_id, [now, before])
    seen = await counters.visitors(redis, store_id, [now, before])
    current = figures(sums[0], seen[0], currency)
    earlier = figures(sums[1], seen[1], currency)
    return {
        "from": first.isoformat(),
        "to": last.isoformat(),
        "previous_from": before_first.isoformat(),
        "previous_to": before_last.isoformat(),
        "timezone": zone.key,
        "currency": currency,
        "figures": {
            name: {
                "value": current[name],
                "previous": earlier[name],
                "change": _change(name, current[name], earlier[name]),
            }
            for name in FIGURES
        },
        "revenue_minor": current["revenue_minor"],
        "other_currencies": current["other_currencies"],
    }


async def timeseries(
    redis: AsyncRedis,
    store_id: str,
    first: date,
    last: date,
    zone: ZoneInfo,
    currency: str,
    interval: Interval,
) -> dict[str, Any]:
    cut = periods(first, last, zone, interval)
    sums = await counters.sums(redis, store_id, cut)
    seen = await counters.visitors(redis, store_id, cut)
    rows = []
    for period, total, visitors in zip(cut, sums, seen, strict=True):
        values = figures(total, visitors, currency)
        rows.append(
            {
                "period": period.label,
                **{name: values[name] for name in FIGURES},
                "revenue_minor": values["revenue_minor"],
            }
        )
    return {
        "from": first.isoformat(),
        "to": last.isoformat(),
        "interval": interval,
        "timezone": zone.key,
        "currency": currency,
        "rows": rows,
    }


async def funnel(
    redis: AsyncRedis, store_id: str, first: date, last: date, zone: ZoneInfo
) -> dict[str, Any]:
    (sums,) = await counters.sums(redis, store_id, [day_range(first, last, zone)])
    rows = []
    before: int | None = None
    top = sums["sessions"]
    for step, field in FUNNEL_STEPS:
        count = sums[field]
        rows.append(
            {
                "step": step,
                "sessions": count,
                "drop_off": None if before is None else before - count,
                "drop_off_rate": None if before is None else _ratio(before - count, before),
                "of_first_step": _ratio(count, top),
            }
        )
        before = count
    return {
        "from": first.isoformat(),
        "to": last.isoformat(),
        "timezone": zone.key,
        "rows": rows,
    }


def _value_row(value: str, metrics: Counter[str], currency: str) -> dict[str, Any]:
    sessions = metrics["s"]
    orders = metrics["o:"] + metrics[f"o:{currency}"]
    revenue_minor = metrics["r:"] + metrics[f"r:{currency}"]
    engaged = _ratio(metrics["e"], sessions)
    return {
        "value": value,
        "sessions": sessions,
        "engaged_sessions": metrics["e"],
        "bounce_rate": None if engaged is None else 1 - engaged,
        "single_page_rate": _ratio(metrics["1"], sessions),
        "conversion_rate": _ratio(metrics["c"], sessions),
        "orders": orders,
        "revenue": from_minor(revenue_minor, currency),
        "revenue_minor": revenue_minor,
    }


async def breakdown(
    redis: AsyncRedis,
    store_id: str,
    first: date,
    last: date,
    zone: ZoneInfo,
    currency: str,
    by: str,
    limit: int,
) -> dict[str, Any]:
    code = keys.DIMENSION_CODES[by]
    period = day_range(first, last, zone)
    candidates = await counters.ranked_values(redis, store_id, code, period, limit)
    values = await counters.dimension_values(redis, store_id, code, period, candidates, currency)
    (totals,) = await counters.sums(redis, store_id, [period])
    ranked = sorted(
        ((v, m) for v, m in values.items() if m["s"]), key=lambda kv: (-kv[1]["s"], kv[0])
    )
    rows = [_value_row(value, metrics, currency) for value, metrics in ranked[:limit]]
    # Every session has one value of every dimension: the rest is the whole period's
    # figure less the values shown.
    rest = Counter(
        {
            "s": totals["sessions"],
            "e": totals["engaged_sessions"],
            "1": totals["single_page_sessions"],
            "c": totals["purchase_sessions"],
            "o:": totals["orders:"],
            f"o:{currency}": totals[f"orders:{currency}"],
            "r:": totals["revenue:"],
            f"r:{currency}": totals[f"revenue:{currency}"],
        }
    )
    for _, metrics in ranked[:limit]:
        rest.subtract(metrics)
    if rest["s"] > 0:
        rows.append(_value_row(REST, rest, currency))
    return {
        "from": first.isoformat(),
        "to": last.isoformat(),
        "by": by,
        "timezone": zone.key,
        "currency": currency,
        "rows": rows,
    }


async def realtime(redis: AsyncRedis, store_id: str, now_ms: int) -> dict[str, Any]:
    minute = now_ms // 60_000
    minutes = list(range(minute - 29, minute + 1))
    visitors = await redis.pfcount(
        *(keys.visitors_of(keys.live(store_id, m)) for m in minutes[-5:])
    )
    async with redis.pipeline(transaction=False) as pipe:
        for m in minutes:
            pipe.hget(keys.live(store_id, m), "events")
        for m in minutes[-5:]:
            pipe.hgetall(keys.live(store_id, m))
        replies = await pipe.execute()
    events, recent = replies[:30], replies[30:]
    pages: Counter[str] = Counter()
    for fields in recent:
        for field, value in fields.items():
            if field.startswith(b"p\t"):
                pages[field[2:].decode()] += int(value)
    return {
        "visitors": int(visitors),
        "rows": [
            {"minute": _minute_label(m), "events": int(n or 0)}
            for m, n in zip(minutes, events, strict=True)
        ],
        "pages": [{"page": page, "page_views": n} for page, n in pages.most_common(10)],
    }


def _minute_label(minute: int) -> str:
    return datetime.fromtimestamp(minute * 60, UTC).isoformat(timespec="minutes")
