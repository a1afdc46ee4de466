"""The server's clock, and the UTC day a stored counter or id belongs to."""

from __future__ import annotations

import functools
import time
from datetime import UTC, datetime

DAY_MS = 86_400_000
# Live events are accepted this long after they happened: past the 48-hour duplicate
# window a retry could count twice. Readers of the stream look this far past a range.
MAX_EVENT_AGE_MS = 47 * 3600 * 1000


@functools.lru_cache(maxsize=64)
def _day_name(day_number: int) -> str:
    return datetime.fromtimestamp(day_number * 86400, UTC).strftime("%Y-%m-%d")


def utc_day(ms: int) -> str:
    return _day_name(ms // DAY_MS)


def now_ms() -> int:
    return time.time_ns() // 1_000_000
