"""Retention and cohorts: what customers do over months, from the order and session
logs the ingest script keeps (`keys.order_log`, `keys.session_log`).

A customer is the shop's own customer id when an event (or an import) gave one
(`uid`; an e-mail address only as a salted hash), else the visitor id; a customer
seen on several devices under one `uid` counts once. The definitions, as the
merchant articles give them:
- customers: customers with an order in the period; new: their first order ever
  is in it; returning: they had ordered before it;
- repeat_customer_rate: customers of the period with 2 or more orders (up to its
  end) / customers of the period;
- purchase_frequency: orders of known customers / customers of the period;
- average_order_value: revenue / orders;
- median_days_between_orders: over the orders of the period that follow an earlier
  order of the same customer, the median of the days since that earlier order;
- customer_retention_rate: ((E - N) / S) x 100, where S and E are the customers
  active at the period's start and end (an order within the activity window before
  that moment) and N the new customers of the period;
- customer_lifetime_value: average_order_value x yearly purchase frequency x
  expected lifetime in years, all over the year up to the period's end; the
  lifetime is the merchant's setting, else 1 / yearly churn (1 - that year's
  retention rate), at most 10 years.
Orders in another currency than the store's count as orders, never as revenue.
"""

from __future__ import annotations

import asyncio
import bisect
import copy
import dataclasses
import itertools
import statistics
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from widget_server.collect.money import from_minor
from widget_server.storage import keys
from widget_server.storage.clock import MAX_EVENT_AGE_MS
from widget_server.storage.clock import now_ms as clock_now
from widget_server.storage.connect import AsyncRedis

DAY_MS = 86_400_000
YEAR_MS = 365 * DAY_MS
MAX_LIFETIME_YEARS = 10.0
LOG_PAGE = 10_000
HOUR_MS = 3_600_000
# Orders before this long ago are final (see `orders_until`).
SETTLED_MS = MAX_EVENT_AGE_MS + HOUR_MS
KEPT_STORES = 16


class Order(msgspec.Struct, frozen=True, gc=False):
    """Untracked by the cycle collector: a process keeps a store's orders."""

    ts: int
    customer: str
    minor: int
    currency: str  # '' for the store's own


async def _read_orders(redis: AsyncRedis, store_id: str, low: int, high: int) -> list[Order]:
    """The orders with `low <= ts < high`, oldest first."""
    out: list[Order] = []
    start = 0
    while True:
        page = await redis.zrangebyscore(
            keys.order_log(store_id), low, f"({high}", start=start, num=LOG_PAGE,
            withscores=True,
        )  # fmt: skip
        for member, score in page:
            _, customer, minor, currency = member.decode().split("\t")
            out.append(Order(int(score), customer, int(minor), currency))
        if len(page) < LOG_PAGE:
            return out
        start += LOG_PAGE


@dataclasses.dataclass(frozen=True)
class _Kept:
    generation: int
    upto: Any  # orders: a time; session starts: the last entry id read
    items: list[Any]  # never changed once kept: a request extends a copy
    bounds: list[Any] = dataclasses.field(default_factory=list)


# What this process has read of each store's logs, the least recently used store
# dropped first.
_orders: OrderedDict[str, _Kept] = OrderedDict()
_starts: OrderedDict[str, _Kept] = OrderedDict()


def _keep(cache: OrderedDict[str, _Kept], store_id: str, kept: _Kept) -> None:
    cache[store_id] = kept
    cache.move_to_end(store_id)
    while len(cache) > KEPT_STORES:
        cache.popitem(last=False)


async def _generation(redis: AsyncRedis, store_id: str) -> int:
    return int(await redis.get(keys.report_generation(store_id)) or 0)


async def orders_until(
    redis: AsyncRedis, store_id: str, end_ms: int, now_ms: int | None = None
) -> _Log:
    """Every counted order before `end_ms`, oldest first. Orders more than 48 hours
    old are final (a live one is refused once 47 hours old; an import or an erasure
    bumps `keys.report_generation`): this process reads them once, and then only
    those after."""
    settled = ((now_ms if now_ms is not None else clock_now()) - SETTLED_MS) // HOUR_MS * HOUR_MS
    generation = await _generation(redis, store_id)
    kept = _orders.get(store_id)
    if kept is None or kept.generation != generation:
        kept = _Kept(generation, 0, [])
    if settled > kept.upto:
        more = await _read_orders(redis, store_id, kept.upto, settled)
        kept = _Kept(generation, settled, kept.items + more)
        _keep(_orders, store_id, kept)
    if end_ms <= kept.upto:
        return _Log(kept.items[: bisect.bisect_left(kept.items, end_ms, key=_order_ts)], generation)
    return _Log(kept.items + await _read_orders(redis, store_id, kept.upto, end_ms), generation)


class _Log(list[Any]):
    """A log's items as read, and what tells them apart from any other reading:
    the report generation, and (the logs only grow, or are trimmed at the start)
    how many there are and where they start."""

    def __init__(self, items: list[Any], generation: int, start: Any = None) -> None:
        super().__init__(items)
        self.token = (generation, start, len(items))


def _order_ts(order: Order) -> int:
    return order.ts


def _in_store_currency(order: Order, currency: str) -> bool:
    return order.currency in ("", currency)


def _active(orders_by: dict[str, list[int]], at_ms: int, window_ms: int) -> int:
    """Customers with an order in (at - window, at]."""
    return sum(
        1 for times in orders_by.values() if any(at_ms - window_ms < t <= at_ms for t in times)
    )


def retention(
    orders: list[Order],
    start_ms: int,
    end_ms: int,
    currency: str,
    activity_days: int,
    lifetime_years: float | None,
) -> dict[str, Any]:
    window = activity_days * DAY_MS
    by_customer: dict[str, list[int]] = defaultdict(list)
    for order in orders:
        if order.customer:  # an imported order without a customer has none to retain
            by_customer[order.customer].append(order.ts)
    in_period = [o for o in orders if start_ms <= o.ts < end_ms]
    customers = {o.customer for o in in_period if o.customer}
    first_order = {c: times[0] for c, times in by_customer.items()}
    new = {c for c in customers if first_order[c] >= start_ms}
    repeat = {c for c in customers if len(by_customer[c]) >= 2}
    money = [o for o in in_period if _in_store_currency(o, currency)]
    revenue_minor = sum(o.minor for o in money)
    aov = from_minor(revenue_minor, currency) / len(money) if money else None
    gaps = []
    for times in by_customer.values():
        for before, after in itertools.pairwise(times):
            if start_ms <= after < end_ms:
                gaps.append((after - before) / DAY_MS)
    s = _active(by_customer, start_ms - 1, window)
    e = _active(by_customer, end_ms - 1, window)
    rate = ((e - len(new)) / s) * 100 if s else None
    return {
        "customers": len(customers),
        "new_customers": len(new),
        "returning_customers": len(customers - new),
        "repeat_customer_rate": len(repeat) / len(customers) if customers else None,
        "orders": len(in_period),
        "purchase_frequency": (
            sum(1 for o in in_period if o.customer) / len(customers) if customers else None
        ),
        "revenue": from_minor(revenue_minor, currency),
        "revenue_minor": revenue_minor,
        "average_order_value": None if aov is None else round(aov, 4),
        "median_days_between_orders": statistics.median(gaps) if gaps else None,
        "customers_at_start": s,
        "customers_at_end": e,
        "customer_retention_rate": rate,
        **_lifetime_value(orders, end_ms, currency, window, lifetime_years),
    }


def _lifetime_value(
    orders: list[Order], end_ms: int, currency: str, window: int, lifetime_years: float | None
) -> dict[str, Any]:
    start = end_ms - YEAR_MS
    year = [o for o in orders if start <= o.ts < end_ms]
    customers = {o.customer for o in year if o.customer}
    money = [o for o in year if _in_store_currency(o, currency)]
    if not customers or not money:
        return {"customer_lifetime_value": None, "expected_lifetime_years": lifetime_years}
    aov = from_minor(sum(o.minor for o in money), currency) / len(money)
    frequency = sum(1 for o in year if o.customer) / len(customers)
    if lifetime_years is None:
        by_customer: dict[str, list[int]] = defaultdict(list)
        for order in orders:
            if order.customer:
                by_customer[order.customer].append(order.ts)
        first = {c: t[0] for c, t in by_customer.items()}
        s = _active(by_customer, start - 1, window)
        e = _active(by_customer, end_ms - 1, window)
        new = sum(1 for c in customers if first[c] >= start)
        churn = 1 - (e - new) / s if s else None
        lifetime_years = (
            MAX_LIFETIME_YEARS if churn is None or churn <= 1 / MAX_LIFETIME_YEARS else 1 / churn
        )
    return {
        "customer_lifetime_value": round(aov * frequency * lifetime_years, 2),
        "expected_lifetime_years": round(lifetime_years, 3),
    }


def _cohort_start(moment: date, by: str) -> date:
    if by == "week":
        return moment - timedelta(days=moment.weekday())
    return moment.replace(day=1)


def _offset(first: date, later: date, by: str) -> int:
    if by == "week":
        return (later - first).days // 7
    return (later.year - first.year) * 12 + later.month - first.month


def cohorts(
    activity: Iterable[tuple[str, int]],
    zone: ZoneInfo,
    by: str,
    first_cohort: date,
    last_cohort: date,
) -> list[dict[str, Any]]:
    """Cohorts of whoever was first seen (first order, first visit) in each week or
    month from `first_cohort` to `last_cohort`: their size, and the share of them
    active again in each later week or month (offset 0 is the cohort's own)."""
    periods: dict[str, set[date]] = defaultdict(set)
    first_seen: dict[str, date] = {}
    for who, ts in activity:
        local = datetime.fromtimestamp(ts / 1000, zone).date()
        bucket = _cohort_start(local, by)
        periods[who].add(bucket)
        if who not in first_seen or bucket < first_seen[who]:
            first_seen[who] = bucket
    groups: dict[date, list[str]] = defaultdict(list)
    for who, bucket in first_seen.items():
        if _cohort_start(first_cohort, by) <= bucket <= last_cohort:
            groups[bucket].append(who)
    rows = []
    for bucket in sorted(groups):
        members = groups[bucket]
        counts: dict[int, int] = defaultdict(int)
        for who in members:
            for later in periods[who]:
                offset = _offset(bucket, later, by)
                if offset > 0:
                    counts[offset] += 1
        horizon = max(counts, default=0)
        rows.append(
            {
                "cohort": bucket.isoformat(),
                "size": len(members),
                "returned": [counts[k] / len(members) for k in range(1, horizon + 1)],
                "returned_count": [counts[k] for k in range(1, horizon + 1)],
            }
        )
    return rows


def _entry_id(raw: bytes) -> tuple[int, int]:
    ms, _, seq = raw.decode().partition("-")
    return int(ms), int(seq or 0)


async def session_starts(redis: AsyncRedis, store_id: str) -> _Log:
    """(visitor id, time) of every session start the session log keeps. The log
    only grows at its end (and is trimmed at its start): this process reads each
    entry once; an erasure, which rewrites entries, bumps `keys.report_generation`."""
    generation = await _generation(redis, store_id)
    kept = _starts.get(store_id)
    if kept is None or kept.generation != generation:
        kept = _Kept(generation, "-", [], [])
    log = keys.session_log(store_id)
    first = await redis.xrange(log, count=1)
    # `bounds`: per entry read, its id and where its pairs start in `items`.
    pairs, bounds = kept.items, kept.bounds
    if not first:
        pairs, bounds = [], []
    elif bounds and bounds[0][0] < _entry_id(first[0][0]):
        # Trimmed since: drop the entries that are gone.
        cut = bisect.bisect_left(bounds, (_entry_id(first[0][0]), 0))
        offset = bounds[cut][1] if cut < len(bounds) else len(pairs)
        pairs, bounds = pairs[offset:], [(e, at - offset) for e, at in bounds[cut:]]
    new_pairs: list[tuple[str, int]] = []
    new_bounds: list[tuple[tuple[int, int], int]] = []
    start = kept.upto
    while True:
        entries = await redis.xrange(log, min=start, count=LOG_PAGE)
        for entry_id, fields in entries:
            new_bounds.append((_entry_id(entry_id), len(pairs) + len(new_pairs)))
            for pair in fields[b"s"].decode().split(";"):
                vid, _, ts = pair.rpartition(" ")
                new_pairs.append((vid, int(ts)))
        if entries:
            start = "(" + entries[-1][0].decode()
        if len(entries) < LOG_PAGE:
            break
    if new_pairs or pairs is not kept.items:
        pairs, bounds = pairs + new_pairs, bounds + new_bounds
        _keep(_starts, store_id, _Kept(generation, start, pairs, bounds))
    return _Log(pairs, generation, bounds[0][0] if bounds else None)


# Answers computed from the logs, by what they were computed from: a reading of
# the logs as it was (`_Log.token`) and the question. Exact: a new order or
# session start, an import or an erasure makes another token.
_answers: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
KEPT_ANSWERS = 64


async def _answer(key: tuple[Any, ...], compute: Callable[[], Any]) -> Any:
    kept = _answers.get(key)
    if kept is None:
        # Going over a year of orders is CPU work: off the event loop.
        kept = await asyncio.to_thread(compute)
        _answers[key] = kept
        while len(_answers) > KEPT_ANSWERS:
            _answers.popitem(last=False)
    _answers.move_to_end(key)
    return copy.deepcopy(kept)


async def retention_of(
    redis: AsyncRedis,
    store_id: str,
    start_ms: int,
    end_ms: int,
    currency: str,
    activity_days: int,
    lifetime_years: float | None,
) -> dict[str, Any]:
    """`retention` of the store's orders."""
    orders = await orders_until(redis, store_id, end_ms)
    key = ("retention", store_id, orders.token, start_ms, end_ms, currency, activity_days,
           lifetime_years)  # fmt: skip
    answer: dict[str, Any] = await _answer(
        key, lambda: retention(orders, start_ms, end_ms, currency, activity_days, lifetime_years)
    )
    return answer


async def cohorts_of(
    redis: AsyncRedis,
    store_id: str,
    of: str,
    zone: ZoneInfo,
    by: str,
    first: date,
    last: date,
    end_ms: int,
) -> list[dict[str, Any]]:
    """`cohorts` of the store's customers by their orders (`of="orders"`), or of
    its visitors by their session starts, before `end_ms`."""
    log: _Log
    if of == "orders":
        log = await orders_until(redis, store_id, end_ms)

        def activity() -> list[tuple[str, int]]:
            return [(o.customer, o.ts) for o in log if o.customer]
    else:
        log = await session_starts(redis, store_id)

        def activity() -> list[tuple[str, int]]:
            return [a for a in log if a[1] < end_ms]

    key = ("cohorts", store_id, of, log.token, zone.key, by, first, last, end_ms)
    rows: list[dict[str, Any]] = await _answer(
        key, lambda: cohorts(activity(), zone, by, first, last)
    )
    return rows
