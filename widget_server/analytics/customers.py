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

import dataclasses
import itertools
import statistics
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from widget_server.collect.money import from_minor
from widget_server.storage import keys
from widget_server.storage.connect import AsyncRedis

DAY_MS = 86_400_000
YEAR_MS = 365 * DAY_MS
MAX_LIFETIME_YEARS = 10.0
LOG_PAGE = 10_000


@dataclasses.dataclass(frozen=True, slots=True)
class Order:
    ts: int
    customer: str
    minor: int
    currency: str  # '' for the store's own


async def orders_until(redis: AsyncRedis, store_id: str, end_ms: int) -> list[Order]:
    """Every counted order before `end_ms`, oldest first."""
    out: list[Order] = []
    start = 0
    while True:
        page = await redis.zrangebyscore(
            keys.order_log(store_id), "-inf", f"({end_ms}", start=start, num=LOG_PAGE,
            withscores=True,
        )  # fmt: skip
        for member, score in page:
            _, customer, minor, currency = member.decode().split("\t")
            out.append(Order(int(score), customer, int(minor), currency))
        if len(page) < LOG_PAGE:
            return out
        start += LOG_PAGE


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


async def session_starts(redis: AsyncRedis, store_id: str) -> list[tuple[str, int]]:
    """(visitor id, time) of every session start the session log keeps."""
    out: list[tuple[str, int]] = []
    start = "-"
    while True:
        entries = await redis.xrange(keys.session_log(store_id), min=start, count=LOG_PAGE)
        for _, fields in entries:
            for pair in fields[b"s"].decode().split(";"):
                vid, _, ts = pair.rpartition(" ")
                out.append((vid, int(ts)))
        if len(entries) < LOG_PAGE:
            return out
        start = "(" + entries[-1][0].decode()
