"""Values as elements the browser formats, with plain fallbacks."""

from __future__ import annotations

import math

from widget_server.dashboard import formatting as fmt


def test_values_carry_their_number_and_a_fallback() -> None:
    assert fmt.number(1234) == '<data value="1234" data-fmt="number" data-digits="0">1,234</data>'
    assert fmt.percent(0.1234) == (
        '<data value="0.1234" data-fmt="percent" data-digits="1">12.3%</data>'
    )
    assert fmt.money(12.5, "EUR") == (
        '<data value="12.5" data-fmt="money" data-currency="EUR">12.50 EUR</data>'
    )
    assert fmt.seconds(83.4) == '<data value="83" data-fmt="duration">1m 23s</data>'
    assert fmt.day("2026-03-08") == '<time datetime="2026-03-08" data-fmt="date">2026-03-08</time>'
    assert 'data-fmt="hour"' in fmt.day("2026-03-08T14:00+01:00")
    assert 'datetime="2026-01-15T08:00:00Z"' in fmt.moment(1_768_464_000_000)


def test_missing_values_are_a_dash() -> None:
    for value in (None, math.nan, math.inf):
        assert fmt.number(value) == fmt.percent(value) == fmt.money(value, "EUR") == fmt.NONE
    assert fmt.change(None, "count") == fmt.NONE and fmt.moment(None) == fmt.NONE


def test_text_is_escaped() -> None:
    assert "&lt;" in fmt.money(1, "<b>") and "<b>" not in fmt.money(1, "<b>")


def test_a_change_reads_as_the_api_reports_it() -> None:
    up = fmt.change(0.25, "count")
    assert 'class="change good"' in up and 'data-fmt="change"' in up and "+25%" in up
    assert 'class="change bad"' in fmt.change(-0.1, "money")
    # Rates change in percentage points; for bounce rate, lower is better.
    bounce = fmt.change(0.012, "rate", lower_is_better=True)
    assert 'class="change bad"' in bounce and 'data-fmt="points"' in bounce and "+1.2 pp" in bounce
    assert 'data-fmt="delta-seconds"' in fmt.change(4.0, "seconds")
    # Below what the figure shows is no change at all.
    assert 'class="change flat"' in fmt.change(0.3, "seconds")
    assert 'class="change flat"' in fmt.change(0.0001, "rate")
