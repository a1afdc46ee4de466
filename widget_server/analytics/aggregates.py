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
from typing import Any

from widget_server.storage import keys
from widget_server.storage.connect import AsyncRedis

COUNTERS = (
    "sessions",
    "engaged_sessions",
    "purchase_sessions",
    "page_views",
    "product_views",
    "add_to_carts",
    "purchases",
    "revenue_minor",
    "events",
    "bots",
)
MAX_RANGE_DAYS = 3660


class RangeError(ValueError):
    pass


def parse_day(field: str, raw: str) -> date:
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise RangeError(f"{field}: must be a date as YYYY-MM-DD, got {raw!r}") from None


def days_between(first: date, last: date) -> list[str]:
    if last < first:
        raise RangeError("to: must not be before from")
    count = (last - first).days + 1
    if count > MAX_RANGE_DAYS:
        raise RangeError(f"to: a range covers at most {MAX_RANGE_DAYS} days")
    return [(first + timedelta(days=n)).isoformat() for n in range(count)]


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


async def summary(redis: AsyncRedis, store_id: str, first: date, last: date) -> dict[str, Any]:
    """Totals, unique visitors and rates over the days from `first` to `last`."""
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
        per_day.append({"day": day, **values})
    # PFCOUNT of several keys is the size of their union; a Cluster allows that in
    # one call because all of a store's keys share a slot.
    visitors = await redis.pfcount(*(keys.day_visitors(store_id, d) for d in days))
    engaged = _ratio(totals["engaged_sessions"], totals["sessions"])
    return {
        "from": days[0],
        "to": days[-1],
        **totals,
        "visitors": int(visitors),
        "revenue": totals["revenue_minor"] / 100,
        "bounce_rate": None if engaged is None else 1 - engaged,
        "conversion_rate": _ratio(totals["purchase_sessions"], totals["sessions"]),
        "days": per_day,
    }
