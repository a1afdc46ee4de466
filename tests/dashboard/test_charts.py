"""Charts drawn as SVG on the server, for given data."""

from __future__ import annotations

import re

import pytest

from widget_server.dashboard import charts
from widget_server.dashboard.charts import HEIGHT, LEFT, RIGHT, TOP, WIDTH, Series


def _points(svg: str, kind: str) -> list[list[tuple[float, float]]]:
    """Each unbroken run of the `kind` line, as (x, y) points."""
    [d] = re.findall(rf'<path class="line {kind}" d="([^"]+)"', svg)
    runs: list[list[tuple[float, float]]] = []
    for op, x, y in re.findall(r"([ML])([\d.]+) ([\d.]+)", d):
        if op == "M":
            runs.append([])
        runs[-1].append((float(x), float(y)))
    return runs


@pytest.mark.parametrize(
    ("top", "fmt", "expected"),
    [
        (23, "number", [0, 10, 20, 30]),
        (3, "number", [0, 1, 2, 3]),
        (0, "number", [0, 1]),
        (1234, "number", [0, 500, 1000, 1500]),
        (0.34, "percent", [0, 0.1, 0.2, 0.3, 0.4]),
        (0.031, "percent", [0, 0.01, 0.02, 0.03, 0.04]),
    ],
)
def test_gridlines_are_round_numbers_from_zero_past_the_top(
    top: float, fmt: charts.Format, expected: list[float]
) -> None:
    assert charts.ticks(top, fmt) == pytest.approx(expected)


def test_a_line_chart_places_each_value_and_breaks_where_one_is_missing() -> None:
    svg = charts.line_chart(
        "c", "Sessions", "desc", ["2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04"],
        [Series("now", [10, None, 30, 20]), Series("before", [5, 5, 5, 5], "previous")],
    )  # fmt: skip
    plot_h = HEIGHT - TOP - charts.BOTTOM
    runs = _points(svg, "current")
    # Two runs around the gap; x spread over the plot, y from the 0..30 scale.
    assert [len(run) for run in runs] == [1, 2]
    assert runs[0][0] == pytest.approx((LEFT, TOP + plot_h * (1 - 10 / 30)), abs=0.1)
    assert runs[1][0][0] == pytest.approx(LEFT + (WIDTH - LEFT - RIGHT) * 2 / 3, abs=0.1)
    assert runs[1][0][1] == pytest.approx(TOP, abs=0.1)  # 30 is the top gridline
    [previous] = _points(svg, "previous")
    assert len(previous) == 4
    assert [y for _, y in previous] == pytest.approx([TOP + plot_h * 5 / 6] * 4, abs=0.1)
    # A point per value shown, each with its value for a pointer's tooltip.
    assert svg.count('<circle class="point"') == 3
    assert "<title>2026-03-03: 30</title>" in svg
    # The axis carries its values for the locale's formatting.
    assert 'data-fmt="date-short" data-value="2026-03-01"' in svg
    assert 'data-fmt="number" data-value="30' in svg


def test_a_percent_chart_labels_its_axis_in_percent() -> None:
    svg = charts.line_chart("c", "Rate", "d", ["a", "b"], [Series("now", [0.02, 0.034])], "percent")
    labels = re.findall(r'class="axis"[^>]*data-fmt="percent"[^>]*>([^<]+)<', svg)
    assert labels == ["0%", "1%", "2%", "3%", "4%"]


def test_a_chart_is_an_image_with_a_title_and_description_and_escapes_them() -> None:
    svg = charts.line_chart("main", "<b>Sessions</b>", "now & then", ["x"], [Series("s", [1])])
    assert svg.startswith('<svg class="chart" id="main"') and 'role="img"' in svg
    assert 'aria-labelledby="main-title main-desc"' in svg
    assert '<title id="main-title">&lt;b&gt;Sessions&lt;/b&gt;</title>' in svg
    assert '<desc id="main-desc">now &amp; then</desc>' in svg


def test_no_data_draws_gridlines_and_no_line() -> None:
    svg = charts.line_chart("c", "t", "d", ["a", "b"], [Series("s", [None, None])])
    assert 'class="line' not in svg and svg.count('class="grid"') == 2


def test_columns_scale_to_the_highest_and_a_bar_to_its_share() -> None:
    svg = charts.columns("rt", "t", "d", ["10:00", "10:01", "10:02"], [0, 5, 10])
    heights = [float(h) for h in re.findall(r'height="([\d.]+)" rx', svg)]
    assert heights == [0.0, 30.0, 60.0]
    assert 'width="25.00"' in charts.bar(0.25)
    assert 'width="100.00"' in charts.bar(3) and 'width="0.00"' in charts.bar(None)
    assert 'aria-hidden="true"' in charts.bar(0.5)
