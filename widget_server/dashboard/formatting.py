"""Numbers, money, dates and changes as the pages write them.

Each value is an element carrying the value itself (`<data value>`, `<time
datetime>`) and `data-fmt`; the text inside is a plain fallback, which `format.js`
replaces with the store locale's own formatting (`Intl`). A missing value is a
dash.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from markupsafe import Markup

NONE = Markup('<span class="none">\u2013</span>')  # an en dash


def _data(value: float, fmt: str, text: str, **attributes: str) -> Markup:
    extra = Markup("").join(Markup(' data-{}="{}"').format(k, v) for k, v in attributes.items())
    return Markup('<data value="{}" data-fmt="{}"{}>{}</data>').format(
        repr(float(value)) if isinstance(value, float) else value, fmt, extra, text
    )


def _missing(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def number(value: float | None, digits: int = 0) -> Markup:
    if value is None or _missing(value):
        return NONE
    return _data(value, "number", f"{value:,.{digits}f}", digits=str(digits))


def percent(value: float | None, digits: int = 1) -> Markup:
    """A share (0.123) as a percentage (12.3%)."""
    if value is None or _missing(value):
        return NONE
    return _data(value, "percent", f"{value * 100:.{digits}f}%", digits=str(digits))


def money(value: float | None, currency: str) -> Markup:
    if value is None or _missing(value):
        return NONE
    return _data(value, "money", f"{value:,.2f} {currency}", currency=currency)


def seconds(value: float | None) -> Markup:
    """A duration: 83 seconds as 1m 23s."""
    if value is None or _missing(value):
        return NONE
    minutes, secs = divmod(round(value), 60)
    text = f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"
    return _data(round(value), "duration", text)


def day(iso: str) -> Markup:
    """A local date (YYYY-MM-DD), or a local hour (YYYY-MM-DDTHH:MM+zz:zz)."""
    kind = "hour" if "T" in iso else "date"
    return Markup('<time datetime="{}" data-fmt="{}">{}</time>').format(iso, kind, iso[:16])


def month(iso: str) -> Markup:
    """The month a date (YYYY-MM-01) starts: its name in Gregorian locales, the date
    itself where the locale counts months otherwise (a Gregorian month is no month
    of the Solar Hijri calendar)."""
    return Markup('<time datetime="{}" data-fmt="month">{}</time>').format(iso, iso[:7])


def moment(ms: int | float | None) -> Markup:
    """An instant (ms since the epoch), in the reader's own time."""
    if ms is None:
        return NONE
    when = datetime.fromtimestamp(ms / 1000, UTC)
    return Markup('<time datetime="{}" data-fmt="datetime">{}</time>').format(
        when.isoformat(timespec="seconds").replace("+00:00", "Z"),
        when.strftime("%Y-%m-%d %H:%M UTC"),
    )


def points(value: float | None) -> Markup:
    """A difference of two rates, in percentage points (0.012 as +1.2 pp)."""
    if value is None or _missing(value):
        return NONE
    return _data(value, "points", f"{value * 100:+.1f} pp")


def change(value: float | None, kind: str, *, lower_is_better: bool = False) -> Markup:
    """A change against the previous period, as the stats API reports it: relative
    for counts and money, in percentage points for rates, in seconds for time."""
    if value is None or _missing(value):
        return NONE
    # Below what the figure shows (half a second, a twentieth of a point) is no change.
    if abs(value) < {"seconds": 0.5, "rate": 0.0005}.get(kind, 0.005):
        tone, arrow = "flat", ""
    else:
        better = (value < 0) if lower_is_better else (value > 0)
        tone = "good" if better else "bad"
        arrow = "▲ " if value > 0 else "▼ "
    if kind == "rate":
        inner = points(value)
    elif kind == "seconds":
        inner = _data(round(value), "delta-seconds", f"{value:+.0f} s")
    else:
        inner = _data(value, "change", f"{value * 100:+.0f}%")
    return Markup('<span class="change {}"><span aria-hidden="true">{}</span>{}</span>').format(
        tone, arrow, inner
    )
