"""Charts as inline SVG, drawn on the server: no chart library, nothing to load.

Every chart is an `<svg role="img">` with a title and a description, and every page
that draws one also writes its numbers as a table (the chart is a picture of the
table, not a replacement for it). Axis labels carry their values in `data-*`
attributes, so `format.js` writes them in the store's locale like every other
number. Charts stay left to right in right-to-left pages: their time axis, like
the numbers on it, reads that way.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Literal

from markupsafe import Markup

WIDTH = 720
HEIGHT = 220
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 12, 28
MAX_X_LABELS = 7

Format = Literal["number", "percent"]


@dataclasses.dataclass(frozen=True, slots=True)
class Series:
    label: str
    values: Sequence[float | None]
    kind: Literal["current", "previous"] = "current"


def nice_step(span: float, count: int) -> float:
    """A round step (1, 2 or 5 times a power of ten) that cuts `span` into at most
    `count` parts."""
    if span <= 0:
        return 1.0
    raw = span / count
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if factor * power >= raw - 1e-12:
            return float(factor * power)
    return float(10 * power)


def ticks(top: float, fmt: Format, count: int = 4) -> list[float]:
    """Gridline values from 0 up to the first tick at or above `top`."""
    if fmt == "number":
        step = max(1.0, nice_step(top, count))
    else:
        step = nice_step(top, count) if top > 0 else 0.25
    n = max(1, math.ceil(top / step - 1e-9))
    return [round(i * step, 12) for i in range(n + 1)]


def _label_text(value: float, fmt: Format) -> str:
    if fmt == "percent":
        return f"{value * 100:.0f}%" if value * 100 == round(value * 100) else f"{value:.1%}"
    return f"{value:,.0f}"


def _x_positions(n: int) -> list[float]:
    plot = WIDTH - LEFT - RIGHT
    if n == 1:
        return [LEFT + plot / 2]
    return [LEFT + plot * i / (n - 1) for i in range(n)]


def _label_indexes(n: int) -> list[int]:
    if n <= MAX_X_LABELS:
        return list(range(n))
    step = math.ceil((n - 1) / (MAX_X_LABELS - 1))
    picked = list(range(0, n, step))
    if picked[-1] != n - 1:
        if n - 1 - picked[-1] < step / 2:
            picked[-1] = n - 1
        else:
            picked.append(n - 1)
    return picked


def _path(xs: Sequence[float], ys: Sequence[float | None]) -> str:
    """An SVG path through the points, broken where a value is missing."""
    parts: list[str] = []
    pen_down = False
    for x, y in zip(xs, ys, strict=True):
        if y is None:
            pen_down = False
            continue
        parts.append(f"{'L' if pen_down else 'M'}{x:.1f} {y:.1f}")
        pen_down = True
    return " ".join(parts)


def line_chart(
    chart_id: str,
    title: str,
    description: str,
    labels: Sequence[str],
    series: Sequence[Series],
    fmt: Format = "number",
    label_kind: str = "date",
) -> Markup:
    """Lines over time: the current period solid and shaded, the previous dashed.
    `labels` name the x positions (local dates or hours); each series has a value
    (or None) per label; longer series are cut, shorter ones end early."""
    n = len(labels)
    plot_h = HEIGHT - TOP - BOTTOM
    finite = [v for s in series for v in s.values[:n] if v is not None]
    top = max(finite, default=0.0)
    grid = ticks(top, fmt)
    scale_top = grid[-1] or 1.0

    def y_of(value: float | None) -> float | None:
        return None if value is None else TOP + plot_h * (1 - value / scale_top)

    xs = _x_positions(n) if n else []
    out = [
        Markup(
            '<svg class="chart" id="{0}" viewBox="0 0 {1} {2}" role="img" '
            'aria-labelledby="{0}-title {0}-desc" preserveAspectRatio="xMidYMid meet" '
            'direction="ltr"><title id="{0}-title">{3}</title><desc id="{0}-desc">{4}</desc>'
        ).format(chart_id, WIDTH, HEIGHT, title, description)
    ]
    for value in grid:
        y = y_of(value)
        assert y is not None
        out.append(
            Markup(
                '<line class="grid" x1="{0}" x2="{1}" y1="{2:.1f}" y2="{2:.1f}"/>'
                '<text class="axis" x="{3}" y="{4:.1f}" text-anchor="end" data-fmt="{5}" '
                'data-value="{6}" data-digits="0">{7}</text>'
            ).format(LEFT, WIDTH - RIGHT, y, LEFT - 8, y + 4, fmt, value, _label_text(value, fmt))
        )
    for index in _label_indexes(n):
        anchor = (
            "start" if index == 0 and n > 1 else "end" if index == n - 1 and n > 1 else "middle"
        )
        out.append(
            Markup(
                '<text class="axis" x="{0:.1f}" y="{1}" text-anchor="{2}" data-fmt="{3}-short" '
                'data-value="{4}">{5}</text>'
            ).format(xs[index], HEIGHT - 8, anchor, label_kind, labels[index], labels[index][5:16])
        )
    # The previous period first, so the current one is drawn over it.
    for line in sorted(series, key=lambda s: s.kind != "previous"):
        ys = [y_of(v) for v in list(line.values[:n])]
        ys += [None] * (n - len(ys))
        d = _path(xs, ys)
        if not d:
            continue
        if line.kind == "current":
            area = _area(xs, ys, TOP + plot_h)
            if area:
                out.append(Markup('<path class="area" d="{}"/>').format(area))
        out.append(Markup('<path class="line {}" d="{}"/>').format(line.kind, d))
        if line.kind == "current":
            for x, point_y, label, point in zip(xs, ys, labels, line.values[:n], strict=False):
                if point_y is not None and point is not None:
                    out.append(
                        Markup(
                            '<circle class="point" cx="{:.1f}" cy="{:.1f}" r="3">'
                            "<title>{}: {}</title></circle>"
                        ).format(x, point_y, label[:16], _label_text(point, fmt))
                    )
    out.append(Markup("</svg>"))
    return Markup("").join(out)


def _area(xs: Sequence[float], ys: Sequence[float | None], base: float) -> str:
    """The shape under each unbroken run of the line, down to the axis."""
    runs: list[list[tuple[float, float]]] = [[]]
    for x, y in zip(xs, ys, strict=True):
        if y is None:
            if runs[-1]:
                runs.append([])
            continue
        runs[-1].append((x, y))
    shapes = []
    for run in runs:
        if len(run) < 2:
            continue
        inner = " ".join(f"L{x:.1f} {y:.1f}" for x, y in run)
        shapes.append(f"M{run[0][0]:.1f} {base:.1f} {inner} L{run[-1][0]:.1f} {base:.1f} Z")
    return " ".join(shapes)


def columns(
    chart_id: str, title: str, description: str, labels: Sequence[str], values: Sequence[int]
) -> Markup:
    """Columns, one per label (the last 30 minutes' events)."""
    width, height, gap = 300, 60, 2
    n = max(1, len(values))
    top = max(values, default=0) or 1
    bar = (width - gap * (n - 1)) / n
    out = [
        Markup(
            '<svg class="columns" id="{0}" viewBox="0 0 {1} {2}" role="img" '
            'aria-labelledby="{0}-title {0}-desc" preserveAspectRatio="none" direction="ltr">'
            '<title id="{0}-title">{3}</title><desc id="{0}-desc">{4}</desc>'
        ).format(chart_id, width, height, title, description)
    ]
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        h = max(1.0 if value else 0.0, height * value / top)
        out.append(
            Markup(
                '<rect x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}" rx="1">'
                "<title>{}: {}</title></rect>"
            ).format(i * (bar + gap), height - h, bar, h, label, value)
        )
    out.append(Markup("</svg>"))
    return Markup("").join(out)


def bar(fraction: float | None) -> Markup:
    """A horizontal bar for a share (0..1), to sit in a table cell; decorative, as
    the cell beside it writes the number."""
    share = 0.0 if fraction is None or not math.isfinite(fraction) else min(max(fraction, 0), 1)
    return Markup(
        '<svg class="bar" viewBox="0 0 100 8" preserveAspectRatio="none" aria-hidden="true" '
        'focusable="false"><rect class="track" width="100" height="8" rx="2"/>'
        '<rect class="fill" width="{:.2f}" height="8" rx="2"/></svg>'
    ).format(share * 100)
