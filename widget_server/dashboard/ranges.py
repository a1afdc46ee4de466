"""The date range a page shows, from its URL: `?from=YYYY-MM-DD&to=YYYY-MM-DD`.

Presets are links with the dates written out, so a shared link shows the same
days tomorrow; `range=` only says which preset made them (for the picker). Month
to date starts on the first of the Gregorian month here; `format.js` moves that
link's start to the first of the locale's own month where Intl uses another
calendar (Solar Hijri for fa-IR).
"""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta
from urllib.parse import urlencode

from starlette.datastructures import QueryParams

from widget_server.analytics.periods import MAX_RANGE_DAYS, PeriodError, parse_date

PRESETS = ("today", "7d", "30d", "90d", "mtd")
DEFAULT_PRESET = "30d"


@dataclasses.dataclass(frozen=True, slots=True)
class DateRange:
    first: date
    last: date
    today: date
    preset: str | None = None

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def query(self, **extra: str) -> str:
        """The range as a query string, for links that keep it."""
        fields = {"from": self.first.isoformat(), "to": self.last.isoformat()}
        if self.preset:
            fields["range"] = self.preset
        return urlencode({**fields, **extra})

    def link(self, preset: str, **extra: str) -> str:
        return preset_range(preset, self.today).query(**extra)

    def last_days(self, most: int) -> DateRange:
        """At most the last `most` days of this range."""
        if self.days <= most:
            return self
        return dataclasses.replace(self, first=self.last - timedelta(days=most - 1), preset=None)


def preset_range(name: str, today: date) -> DateRange:
    if name == "today":
        first = today
    elif name == "mtd":
        first = today.replace(day=1)
    else:
        first = today - timedelta(days=int(name.removesuffix("d")) - 1)
    return DateRange(first, today, today, name)


def read_range(params: QueryParams, today: date) -> tuple[DateRange, str | None]:
    """The range the URL asks for, or the default and what was wrong with the URL's."""
    preset = params.get("range")
    preset = preset if preset in PRESETS else None
    if "from" not in params and "to" not in params:
        return preset_range(preset or DEFAULT_PRESET, today), None
    try:
        last = parse_date("to", params["to"]) if "to" in params else today
        first = parse_date("from", params["from"]) if "from" in params else last
        if last < first:
            raise PeriodError("to: must not be before from")
        if (last - first).days + 1 > MAX_RANGE_DAYS:
            raise PeriodError(f"to: a range covers at most {MAX_RANGE_DAYS} days")
    except PeriodError as exc:
        return preset_range(DEFAULT_PRESET, today), str(exc)
    return DateRange(first, last, today, preset), None
