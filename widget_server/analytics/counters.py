"""Summing the counters the ingest script keeps, over any local period.

A period is read as its signed cover (`periods.signed_cover`): whole UTC days, and
the hours and quarter-hours at its edges, added or taken away. Each bucket is read
once per request however many periods share it, in one pipeline.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from datetime import date, timedelta

from widget_server.analytics.periods import (
    DAY_MS,
    HOUR_MS,
    QUARTER_MS,
    WEEK_MS,
    Bucket,
    Period,
    cover,
    signed_cover,
    with_weeks,
)
from widget_server.storage import keys
from widget_server.storage.clock import MAX_EVENT_AGE_MS, utc_day
from widget_server.storage.clock import now_ms as clock_now
from widget_server.storage.connect import AsyncRedis
from widget_server.storage.scripts import PFCOUNTS, SIGNED_FIELD_SUMS, TOP_OF_UNION, register

# Breakdowns are kept per quarter-hour and per day only (no hours): the edges of a
# period cost a few more reads, and a dimension's values are not kept three times.
DIMENSION_SIZES = (DAY_MS, QUARTER_MS)
# A period that ended this long ago gets no more live events (they are refused past
# 47 hours), so its distinct visitors are final.
SETTLED_MS = MAX_EVENT_AGE_MS + HOUR_MS


def bucket_key(store_id: str, bucket: Bucket) -> str:
    if bucket.size == DAY_MS:
        return keys.day(store_id, utc_day(bucket.number * DAY_MS))
    if bucket.size == HOUR_MS:
        return keys.hour(store_id, bucket.number)
    return keys.quarter(store_id, bucket.number)


def _number(raw: bytes) -> int:
    return int(raw)


async def sums(
    redis: AsyncRedis, store_id: str, periods: Sequence[Period], now_ms: int | None = None
) -> list[Counter[str]]:
    """Every counter of each period, summed (fields absent from a bucket are 0). The
    sums of periods no live event can change any more are kept (`keys.settled_sums`;
    an import deletes them), so a long timeseries reads one field a period."""
    settled_before = (now_ms if now_ms is not None else clock_now()) - SETTLED_MS
    names = [f"{p.start_ms}:{p.end_ms}" for p in periods]
    settled = [p.end_ms <= settled_before for p in periods]
    kept: list[bytes | None] = [None] * len(periods)
    if any(settled):
        kept = await redis.hmget(keys.settled_sums(store_id), names)
    missing = [i for i, hit in enumerate(kept) if hit is None]
    computed = await _sums(redis, store_id, [periods[i] for i in missing])
    out: list[Counter[str]] = [
        Counter(json.loads(hit)) if hit is not None else Counter() for hit in kept
    ]
    keep: dict[str, str] = {}
    for i, total in zip(missing, computed, strict=True):
        out[i] = total
        if settled[i]:
            keep[names[i]] = json.dumps(dict(total))
    if keep:
        await redis.hset(keys.settled_sums(store_id), mapping=keep)
    return out


async def _sums(redis: AsyncRedis, store_id: str, periods: Sequence[Period]) -> list[Counter[str]]:
    if not periods:
        return []
    covers = [signed_cover(p.start_ms, p.end_ms) for p in periods]
    wanted = sorted({bucket_key(store_id, b) for c in covers for b, _ in c})
    async with redis.pipeline(transaction=False) as pipe:
        for key in wanted:
            pipe.hgetall(key)
        replies = await pipe.execute()
    read: dict[str, dict[bytes, bytes]] = dict(zip(wanted, replies, strict=True))
    out = []
    for signed in covers:
        total: Counter[str] = Counter()
        for bucket, sign in signed:
            for field, value in read[bucket_key(store_id, bucket)].items():
                total[field.decode()] += sign * _number(value)
        out.append(total)
    return out


async def visitors(
    redis: AsyncRedis, store_id: str, periods: Sequence[Period], now_ms: int | None = None
) -> list[int]:
    """Distinct visitors whose session started in each period: the union of its
    buckets' HyperLogLogs (a standard error of 0.81%; exact for small numbers).
    A union cannot be taken away from, so this reads the plain cover. The count of
    a period that no late event can change any more is kept, so a long timeseries
    merges each day's HyperLogLogs once (`keys.visitor_counts`; an import clears it)."""
    settled_before = (now_ms if now_ms is not None else clock_now()) - SETTLED_MS
    names = [f"{p.start_ms}:{p.end_ms}" for p in periods]
    settled = [p.end_ms <= settled_before for p in periods]
    cached: list[bytes | None] = [None] * len(periods)
    if any(settled):
        cached = await redis.hmget(keys.visitor_counts(store_id), names)
    union_keys: list[str] = []
    sizes: list[int] = []
    missing = [i for i, hit in enumerate(cached) if hit is None]
    for i in missing:
        period = periods[i]
        union = [
            keys.visitors_of(bucket_key(store_id, b)) for b in cover(period.start_ms, period.end_ms)
        ]
        union_keys += union
        sizes.append(len(union))
    counted = await register(redis, PFCOUNTS)(keys=union_keys, args=sizes) if union_keys else []
    if not union_keys:
        counted = [0] * len(missing)
    out = [int(hit) if hit is not None else 0 for hit in cached]
    keep: dict[str, int] = {}
    for i, n in zip(missing, counted, strict=True):
        out[i] = int(n)
        if settled[i]:
            keep[names[i]] = int(n)
    if keep:
        await redis.hset(keys.visitor_counts(store_id), mapping=keep)
    return out


def _money_metrics(currency: str) -> tuple[str, ...]:
    return ("o:", f"o:{currency}", "r:", f"r:{currency}")


SESSION_METRICS = ("s", "e", "1", "c")


def _weeks_and_days(store_id: str, code: str, first_day: int, last_day: int) -> list[str]:
    names = []
    day = first_day
    while day <= last_day:
        if (day + 3) % 7 == 0 and day + 6 <= last_day:
            names.append(keys.dims_rank_week(store_id, (day + 3) // 7, code))
            day += 7
        else:
            names.append(keys.dims_rank(store_id, utc_day(day * DAY_MS), code))
            day += 1
    return names


def _rank_keys(store_id: str, code: str, first_day: int, last_day: int) -> list[str]:
    """Whole UTC months as one sorted set each, whole weeks (Monday first) around
    them, and the days left: the fewest sets, so the fewest members to merge."""
    epoch = date(1970, 1, 1)
    first, last = epoch + timedelta(days=first_day), epoch + timedelta(days=last_day)
    month = first if first.day == 1 else (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    months = []
    while True:
        after = (month.replace(day=28) + timedelta(days=4)).replace(day=1)
        if after - timedelta(days=1) > last:
            break
        months.append(month)
        month = after
    if not months:
        return _weeks_and_days(store_id, code, first_day, last_day)
    head_end = (months[0] - epoch).days - 1
    tail_start = (month - epoch).days
    return [
        *_weeks_and_days(store_id, code, first_day, head_end),
        *(keys.dims_rank_month(store_id, m.strftime("%Y-%m"), code) for m in months),
        *_weeks_and_days(store_id, code, tail_start, last_day),
    ]


async def ranked_values(
    redis: AsyncRedis, store_id: str, code: str, period: Period, limit: int
) -> list[str]:
    """The values of one dimension with the most sessions on the UTC days the period
    touches (a ZUNION of their weeks' and days' sorted sets): the candidates whose
    exact figures `dimension_values` then reads. Counting whole edge days can only
    change which values tie for the last places, never a figure shown; a few more
    than `limit` are taken, so that those ties are settled by the exact figures."""
    names = _rank_keys(store_id, code, period.start_ms // DAY_MS, (period.end_ms - 1) // DAY_MS)
    if not names:
        return []
    top = await register(redis, TOP_OF_UNION)(
        keys=[keys.rank_scratch(store_id), *names], args=[limit + 10]
    )
    return [value.decode() for value in top]


async def dimension_values(
    redis: AsyncRedis,
    store_id: str,
    code: str,
    period: Period,
    values: list[str],
    currency: str,
) -> dict[str, Counter[str]]:
    """The exact session counters of these values of one dimension over a period:
    value -> metric -> sum, from the period's signed cover of day and quarter-hour
    breakdown hashes (HMGET of just these fields)."""
    metrics = SESSION_METRICS + _money_metrics(currency)
    wanted = [(value, metric) for value in values for metric in metrics]
    if not wanted:
        return {}
    signed = with_weeks(signed_cover(period.start_ms, period.end_ms, DIMENSION_SIZES))
    day_fields = [f"{v}\t{m}" for v, m in wanted]
    quarter_fields = [f"{code}\t{field}" for field in day_fields]
    names, signs, kinds = [], [], []
    for bucket, sign in signed:
        if bucket.size == WEEK_MS:
            names.append(keys.dims_week(store_id, bucket.number, code))
        elif bucket.size == DAY_MS:
            names.append(keys.dims_day(store_id, utc_day(bucket.number * DAY_MS), code))
        else:
            names.append(keys.dims_quarter(store_id, bucket.number))
        signs.append(sign)
        kinds.append(2 if bucket.size == QUARTER_MS else 1)
    # Summed in Redis: a local period's edges are dozens of quarter-hours, whose
    # every field would otherwise travel and be parsed here.
    totals = await register(redis, SIGNED_FIELD_SUMS)(
        keys=names, args=[len(wanted), *signs, *kinds, *day_fields, *quarter_fields]
    )
    out: dict[str, Counter[str]] = {value: Counter() for value in values}
    for (value, metric), total in zip(wanted, totals, strict=True):
        if total:
            out[value][metric] = total
    return out
