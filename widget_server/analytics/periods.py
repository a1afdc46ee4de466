"""A store's days, weeks and months, in its time zone, as sums of UTC buckets.

Counters are kept per UTC quarter-hour, hour and day (`storage/keys.py`). Every time
zone's offset is a whole number of quarter-hours (Asia/Kathmandu, +5:45, included),
so every local midnight falls on a quarter-hour boundary and any local period is an
exact union of buckets: a few quarter-hours and hours at its edges, whole UTC days
in between. Nothing is stored per local day, so changing a store's time zone
re-reads the whole history in the new zone and no day is ever counted in two.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

QUARTER_MS = 15 * 60 * 1000
HOUR_MS = 4 * QUARTER_MS
DAY_MS = 24 * HOUR_MS
SIZES = (DAY_MS, HOUR_MS, QUARTER_MS)
WEEK_MS = 7 * DAY_MS
# UTC weeks start on Monday: the epoch was a Thursday, three days after one.
WEEK_OFFSET_MS = 3 * DAY_MS

Interval = Literal["hour", "day", "week", "month"]
INTERVALS: tuple[Interval, ...] = ("hour", "day", "week", "month")
MAX_RANGE_DAYS = 3660
MAX_HOURLY_DAYS = 2


class PeriodError(ValueError):
    """A range or interval that cannot be read; the message names the parameter."""


@dataclass(frozen=True, slots=True)
class Bucket:
    """One stored bucket: `size` is QUARTER_MS, HOUR_MS or DAY_MS; `number` counts
    buckets of that size since the epoch."""

    size: int
    number: int

    @property
    def start_ms(self) -> int:
        return self.number * self.size - (WEEK_OFFSET_MS if self.size == WEEK_MS else 0)


@dataclass(frozen=True, slots=True)
class Period:
    """A local period, [start_ms, end_ms) in UTC milliseconds."""

    label: str  # the local date (`2026-03-08`), hour (`2026-03-08T14:00`) or week start
    start_ms: int
    end_ms: int


def local_midnight(day: date, zone: ZoneInfo) -> int:
    """The instant a local day starts. A day whose midnight is skipped by a clock
    change starts at the change (`fold=0` maps the missing time onto it)."""
    moment = datetime(day.year, day.month, day.day, tzinfo=zone)
    return _ms(moment)


def _ms(moment: datetime) -> int:
    return int(moment.astimezone(UTC).timestamp() * 1000)


def cover(start_ms: int, end_ms: int, sizes: tuple[int, ...] = SIZES) -> list[Bucket]:
    """The fewest buckets whose union is exactly [start_ms, end_ms), largest first
    where they fit (both ends must be quarter-hour boundaries)."""
    if start_ms % QUARTER_MS or end_ms % QUARTER_MS:
        raise ValueError("periods start and end on quarter-hours")
    out: list[Bucket] = []
    t = start_ms
    while t < end_ms:
        for size in sizes:
            if t % size == 0 and t + size <= end_ms:
                out.append(Bucket(size, t // size))
                t += size
                break
    return out


def signed_cover(
    start_ms: int, end_ms: int, sizes: tuple[int, ...] = SIZES
) -> list[tuple[Bucket, int]]:
    """Buckets with a sign (+1 or -1) whose signed sum is [start_ms, end_ms): for
    counters, which add, a local day is often cheaper as whole UTC days minus their
    overhang than as the hours and quarter-hours it is made of."""
    direct = [(bucket, 1) for bucket in cover(start_ms, end_ms, sizes)]
    if start_ms == end_ms:
        return direct
    # Each edge on its own: from the day's start, or to the next day's start.
    out: list[tuple[Bucket, int]] = []
    head_end = min(end_ms, start_ms + (-start_ms) % DAY_MS)
    tail_start = max(head_end, end_ms - end_ms % DAY_MS)
    out += _edge(start_ms, head_end, sizes, at_start=True)
    out += [(bucket, 1) for bucket in cover(head_end, tail_start, sizes)]
    out += _edge(tail_start, end_ms, sizes, at_start=False)
    return out if len(out) < len(direct) else direct


def _edge(
    start_ms: int, end_ms: int, sizes: tuple[int, ...], *, at_start: bool
) -> list[tuple[Bucket, int]]:
    """[start_ms, end_ms) within one UTC day, directly or as the whole day less the
    rest of it, whichever takes fewer buckets."""
    if start_ms >= end_ms:
        return []
    direct = [(bucket, 1) for bucket in cover(start_ms, end_ms, sizes)]
    day_start = start_ms - start_ms % DAY_MS
    whole_side = end_ms == day_start + DAY_MS if at_start else start_ms == day_start
    if not whole_side:
        return direct  # the part of a day in the middle of one: no whole day around it
    day_end = day_start + DAY_MS
    rest = cover(day_start, start_ms, sizes) if at_start else cover(end_ms, day_end, sizes)
    around = [(Bucket(DAY_MS, day_start // DAY_MS), 1)] + [(bucket, -1) for bucket in rest]
    return around if len(around) < len(direct) else direct


def with_weeks(signed: list[tuple[Bucket, int]]) -> list[tuple[Bucket, int]]:
    """The same signed cover with every whole UTC week (Monday to Sunday) of days
    counted positively as one week bucket (number: (day number + 3) // 7)."""
    days = {b.number for b, sign in signed if b.size == DAY_MS and sign > 0}
    weeks = {
        (d + 3) // 7 for d in days if (d + 3) % 7 == 0 and all(d + k in days for k in range(7))
    }
    if not weeks:
        return signed
    out = [
        (b, sign)
        for b, sign in signed
        if not (b.size == DAY_MS and sign > 0 and (b.number + 3) // 7 in weeks)
    ]
    return out + [(Bucket(WEEK_MS, w), 1) for w in sorted(weeks)]


def day_range(first: date, last: date, zone: ZoneInfo) -> Period:
    if last < first:
        raise PeriodError("to: must not be before from")
    if (last - first).days + 1 > MAX_RANGE_DAYS:
        raise PeriodError(f"to: a range covers at most {MAX_RANGE_DAYS} days")
    start = local_midnight(first, zone)
    end = local_midnight(last + timedelta(days=1), zone)
    return Period(first.isoformat(), start, end)


def previous(first: date, last: date) -> tuple[date, date]:
    """The period of equal length just before `first`..`last`."""
    length = (last - first).days + 1
    return first - timedelta(days=length), first - timedelta(days=1)


def periods(first: date, last: date, zone: ZoneInfo, interval: Interval) -> list[Period]:
    """`first`..`last` (local dates, inclusive) cut into local hours, days, ISO weeks
    (Monday first) or calendar months; the first and last are cut to the range."""
    whole = day_range(first, last, zone)
    if interval == "hour":
        if (last - first).days + 1 > MAX_HOURLY_DAYS:
            raise PeriodError(f"interval: hour is for ranges of at most {MAX_HOURLY_DAYS} days")
        return list(_hours(whole, zone))
    starts: list[date] = []
    day = first
    while day <= last:
        starts.append(day)
        if interval == "day":
            day += timedelta(days=1)
        elif interval == "week":
            day += timedelta(days=7 - day.weekday())
        else:
            day = date(day.year + day.month // 12, day.month % 12 + 1, 1)
    ends = [*starts[1:], last + timedelta(days=1)]
    return [
        Period(s.isoformat(), local_midnight(s, zone), local_midnight(e, zone))
        for s, e in zip(starts, ends, strict=True)
    ]


def _hours(whole: Period, zone: ZoneInfo) -> Iterator[Period]:
    # Local hours follow the clock on the wall: a day with a clock change has 23 or
    # 25 of them, and each is labelled with its local time and offset.
    t = whole.start_ms
    while t < whole.end_ms:
        local = datetime.fromtimestamp(t / 1000, zone)
        end = min(t + HOUR_MS - (local.minute * 60_000), whole.end_ms)
        yield Period(local.isoformat(timespec="minutes"), t, end)
        t = end


def parse_interval(raw: str) -> Interval:
    for interval in INTERVALS:
        if raw == interval:
            return interval
    raise PeriodError(f"interval: must be one of {', '.join(INTERVALS)}, got {raw!r}")


# Events carry times from 1990 to 2100 (collect/events.py): a date outside holds
# no figure, and arithmetic on one (the period before it, a stream id from it) can
# fall outside what `date` and Redis stream ids hold.
FIRST_DAY, LAST_DAY = date(1990, 1, 1), date(2099, 12, 31)


def parse_date(field: str, raw: str) -> date:
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise PeriodError(f"{field}: must be a date as YYYY-MM-DD, got {raw!r}") from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise PeriodError(f"{field}: must be a date from {FIRST_DAY} to {LAST_DAY}, got {raw!r}")
    return day


def today(zone: ZoneInfo, now_ms: int) -> date:
    return datetime.fromtimestamp(now_ms / 1000, zone).date()
