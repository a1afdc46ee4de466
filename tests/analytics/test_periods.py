"""Local periods as sums of UTC buckets: exact for every zone, offset and clock change."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, available_timezones

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from widget_server.analytics.periods import (
    DAY_MS,
    QUARTER_MS,
    PeriodError,
    cover,
    local_midnight,
    periods,
    signed_cover,
    with_weeks,
)

QUARTERS_IN_30_DAYS = 30 * 96


def quarters_of(signed: list) -> Counter[int]:
    """How many times each quarter-hour is counted by a signed cover."""
    counted: Counter[int] = Counter()
    for bucket, sign in signed:
        first = bucket.start_ms // QUARTER_MS
        for q in range(first, first + bucket.size // QUARTER_MS):
            counted[q] += sign
    return +counted


@settings(max_examples=300, deadline=None)
@given(
    start=st.integers(0, QUARTERS_IN_30_DAYS),
    length=st.integers(0, QUARTERS_IN_30_DAYS),
    dims_only=st.booleans(),
)
def test_a_signed_cover_counts_each_quarter_once(start: int, length: int, dims_only: bool) -> None:
    base = 20_000 * DAY_MS // QUARTER_MS
    a, b = (base + start) * QUARTER_MS, (base + start + length) * QUARTER_MS
    sizes = (DAY_MS, QUARTER_MS) if dims_only else (DAY_MS, 4 * QUARTER_MS, QUARTER_MS)
    expected = Counter(range(a // QUARTER_MS, b // QUARTER_MS))
    assert quarters_of([(bucket, 1) for bucket in cover(a, b, sizes)]) == expected
    signed = signed_cover(a, b, sizes)
    assert quarters_of(signed) == expected
    assert len(signed) <= len(cover(a, b, sizes))
    weekly = with_weeks(signed)
    assert quarters_of(weekly) == expected
    assert len(weekly) <= len(signed)


def test_a_kathmandu_day_takes_few_buckets() -> None:
    zone = ZoneInfo("Asia/Kathmandu")  # +5:45
    start = local_midnight(date(2026, 5, 10), zone)
    end = local_midnight(date(2026, 5, 11), zone)
    assert (start % DAY_MS) // 60_000 == 18 * 60 + 15  # 18:15 UTC
    assert len(cover(start, end)) == 27  # 3 quarters, 5 hours, 18 hours, 1 quarter
    assert len(signed_cover(start, end)) == 17


def test_every_zone_today_has_midnights_on_quarter_hours() -> None:
    """The layout's premise: since 1980 every IANA zone's offset is a whole number of
    quarter-hours, so every local midnight is a quarter-hour boundary."""
    odd = []
    for name in sorted(available_timezones()):
        zone = ZoneInfo(name)
        for year in range(1980, 2031, 5):
            for month in (1, 4, 7, 10):
                moment = datetime(year, month, 15, tzinfo=zone)
                offset = moment.utcoffset()
                assert offset is not None
                if offset.total_seconds() % 900:
                    odd.append((name, year, offset))
    assert odd == []


@pytest.mark.parametrize(
    ("zone", "day", "hours"),
    [
        ("America/New_York", date(2026, 3, 8), 23),
        ("America/New_York", date(2026, 11, 1), 25),
        ("Europe/London", date(2026, 3, 29), 23),
        ("Europe/London", date(2026, 10, 25), 25),
        ("Asia/Tehran", date(2026, 3, 21), 24),  # +3:30, no clock changes since 2022
        ("Asia/Kolkata", date(2026, 6, 1), 24),
        ("Australia/Lord_Howe", date(2026, 4, 5), 24.5),  # its clocks move by 30 minutes
    ],
)
def test_local_days_and_hours_follow_the_wall_clock(zone: str, day: date, hours: float) -> None:
    tz = ZoneInfo(zone)
    (whole,) = periods(day, day, tz, "day")
    assert (whole.end_ms - whole.start_ms) / 3_600_000 == hours
    cut = periods(day, day, tz, "hour")
    assert cut[0].start_ms == whole.start_ms and cut[-1].end_ms == whole.end_ms
    assert all(a.end_ms == b.start_ms for a, b in itertools.pairwise(cut))
    labels = [p.label for p in cut]
    assert len(set(labels)) == len(labels)  # the repeated hour carries its offset
    assert (
        labels[0]
        == datetime(day.year, day.month, day.day, tzinfo=tz).isoformat()[:16] + (labels[0][16:])
    )


def test_weeks_start_on_monday_and_months_on_the_first() -> None:
    zone = ZoneInfo("UTC")
    weeks = periods(date(2026, 6, 3), date(2026, 6, 20), zone, "week")
    assert [p.label for p in weeks] == ["2026-06-03", "2026-06-08", "2026-06-15"]
    months = periods(date(2026, 1, 20), date(2026, 3, 2), zone, "month")
    assert [p.label for p in months] == ["2026-01-20", "2026-02-01", "2026-03-01"]
    assert months[-1].end_ms == int(datetime(2026, 3, 3, tzinfo=UTC).timestamp() * 1000)


def test_hourly_ranges_are_bounded() -> None:
    with pytest.raises(PeriodError, match="interval: hour is for ranges of at most 2 days"):
        periods(date(2026, 6, 1), date(2026, 6, 1) + timedelta(days=2), ZoneInfo("UTC"), "hour")
