"""Which stored buckets a reading takes: every day of a range exactly once."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from widget_server.analytics.counters import _rank_keys
from widget_server.storage import keys

EPOCH = date(1970, 1, 1)


def _days_of(name: str) -> list[int]:
    part = name.split("}:", 1)[1]
    kind, _, rest = part.partition(":")
    value = rest.rsplit(":", 1)[0]
    if kind + ":" == keys.DIMS_RANK_MONTH:
        first = date.fromisoformat(value + "-01")
        after = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
        return list(range((first - EPOCH).days, (after - EPOCH).days))
    if kind + ":" == keys.DIMS_RANK_WEEK:
        week = int(value)
        return list(range(7 * week - 3, 7 * week + 4))
    return [(date.fromisoformat(value) - EPOCH).days]


@given(start=st.integers(19_000, 20_000), length=st.integers(0, 400))
def test_rankings_cover_each_day_of_a_range_once(start: int, length: int) -> None:
    names = _rank_keys("s1", "lp", start, start + length)
    covered = sorted(d for name in names for d in _days_of(name))
    assert covered == list(range(start, start + length + 1))
    # at each end at most 6 days, 4 weeks and 6 days; a month a month between
    assert len(names) <= 2 * 16 + length // 28 + 1
