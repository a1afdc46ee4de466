"""Reading the per-day aggregates that ingest keeps, for any range of UTC days.

Definitions (the README repeats them):
- a session is a `sid`; it belongs to the UTC day of its first event;
- a session is engaged once it has 2+ page views, an `engagement` event with
  `engaged_ms` >= 10000, an `add_to_cart` or a `purchase`;
- bounce rate = 1 - engaged sessions / sessions;
- conversion rate = sessions with a purchase / sessions;
- purchases and revenue count each `transaction_id` once.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

import msgspec

from widget_server.analytics.periods import FIRST_DAY, LAST_DAY
from widget_server.collect.money import from_minor
from widget_server.storage import keys
from widget_server.storage.connect import AsyncRedis


def _about(text: str) -> msgspec.Meta:
    return msgspec.Meta(description=text)


class Counters(msgspec.Struct):
    """The counters ingest keeps per UTC day (events by the day of their `ts`,
    sessions by the day of their first event); a range adds them up."""

    sessions: Annotated[int, _about("sessions (`sid`) that started then")]
    engaged_sessions: Annotated[
        int,
        _about(
            "of those, engaged ones: 2+ page views, an `engagement` event with"
            " `engaged_ms` >= 10000, an `add_to_cart` or a `purchase`"
        ),
    ]
    purchase_sessions: Annotated[int, _about("of those, sessions with a purchase")]
    page_views: Annotated[int, _about("`page_view` events")]
    product_views: Annotated[int, _about("`view_item` events")]
    add_to_carts: Annotated[int, _about("`add_to_cart` events")]
    purchases: Annotated[
        int, _about("orders: each `transaction_id` once (a purchase without one is its own)")
    ]
    revenue_minor: Annotated[
        int,
        _about(
            "the orders' `value` in minor units of their currency (cents; a yen has none, a"
            " dinar three)"
        ),
    ]
    events: Annotated[int, _about("accepted events of every type (duplicates not counted)")]
    bots: Annotated[int, _about("events dropped because a bot sent them, by the day they arrived")]


COUNTERS = tuple(Counters.__struct_fields__)


class DayFigures(Counters):
    """One UTC day's counters."""

    day: Annotated[str, _about("the UTC day, YYYY-MM-DD")]
    revenue: Annotated[float, _about("the day's `revenue_minor` as a decimal of `currency`")]


class Summary(Counters):
    """A range's totals (the counters summed over its days), its distinct visitors
    and rates, and each day's counters."""

    store_id: str
    first_day: Annotated[str, _about("the range's first UTC day")] = msgspec.field(name="from")
    last_day: Annotated[str, _about("the range's last UTC day")] = msgspec.field(name="to")
    visitors: Annotated[
        int,
        _about("distinct `vid`s over the whole range, each once (HyperLogLog, ~0.8% error)"),
    ]
    revenue: Annotated[float, _about("`revenue_minor` as a decimal of `currency`")]
    currency: Annotated[str, _about("the store's currency (its settings)")]
    bounce_rate: Annotated[
        float | None, _about("1 - engaged_sessions / sessions; null without sessions")
    ]
    conversion_rate: Annotated[
        float | None, _about("purchase_sessions / sessions; null without sessions")
    ]
    days: list[DayFigures]


MAX_RANGE_DAYS = 3660


class RangeError(ValueError):
    pass


def parse_day(field: str, raw: str) -> date:
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise RangeError(f"{field}: must be a date as YYYY-MM-DD, got {raw!r}") from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise RangeError(f"{field}: must be a date from {FIRST_DAY} to {LAST_DAY}, got {raw!r}")
    return day


def days_between(first: date, last: date) -> list[str]:
    if last < first:
        raise RangeError("to: must not be before from")
    count = (last - first).days + 1
    if count > MAX_RANGE_DAYS:
        raise RangeError(f"to: a range covers at most {MAX_RANGE_DAYS} days")
    return [(first + timedelta(days=n)).isoformat() for n in range(count)]


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


async def summary(
    redis: AsyncRedis, store_id: str, first: date, last: date, currency: str
) -> Summary:
    """Totals, unique visitors and rates over the days from `first` to `last`, and
    each day's counters."""
    days = days_between(first, last)
    async with redis.pipeline(transaction=False) as pipe:
        for day in days:
            pipe.hmget(keys.day(store_id, day), COUNTERS)
        rows = await pipe.execute()
    totals = dict.fromkeys(COUNTERS, 0)
    per_day = []
    for day, row in zip(days, rows, strict=True):
        values = {
            name: int(v) if v is not None else 0 for name, v in zip(COUNTERS, row, strict=True)
        }
        for name, value in values.items():
            totals[name] += value
        revenue = from_minor(values["revenue_minor"], currency)
        per_day.append(DayFigures(**values, day=day, revenue=revenue))
    # PFCOUNT of several keys is the size of their union; a Cluster allows that in
    # one call because all of a store's keys share a slot.
    visitors = await redis.pfcount(*(keys.day_visitors(store_id, d) for d in days))
    engaged = _ratio(totals["engaged_sessions"], totals["sessions"])
    return Summary(
        **totals,
        store_id=store_id,
        first_day=days[0],
        last_day=days[-1],
        visitors=int(visitors),
        revenue=from_minor(totals["revenue_minor"], currency),
        currency=currency,
        bounce_rate=None if engaged is None else 1 - engaged,
        conversion_rate=_ratio(totals["purchase_sessions"], totals["sessions"]),
        days=per_day,
    )
