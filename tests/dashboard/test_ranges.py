"""The date range in the URL: presets written out as dates, errors told."""

from __future__ import annotations

from datetime import date

from starlette.datastructures import QueryParams

from widget_server.dashboard.ranges import preset_range, read_range

TODAY = date(2026, 3, 18)


def test_without_dates_the_last_30_days() -> None:
    shown, error = read_range(QueryParams(""), TODAY)
    assert (shown.first, shown.last, shown.preset, error) == (date(2026, 2, 17), TODAY, "30d", None)
    assert shown.days == 30


def test_presets_are_links_with_their_dates_written_out() -> None:
    assert preset_range("today", TODAY).query() == "from=2026-03-18&to=2026-03-18&range=today"
    assert preset_range("7d", TODAY).first == date(2026, 3, 12)
    assert preset_range("90d", TODAY).days == 90
    assert preset_range("mtd", TODAY).first == date(2026, 3, 1)
    # The same link tomorrow still shows these days.
    shown, _ = read_range(QueryParams(preset_range("7d", TODAY).query()), date(2026, 3, 19))
    assert (shown.first, shown.last) == (date(2026, 3, 12), TODAY)


def test_other_parameters_are_kept_in_links() -> None:
    shown, _ = read_range(QueryParams("from=2026-01-01&to=2026-01-31"), TODAY)
    assert shown.query(metric="revenue") == "from=2026-01-01&to=2026-01-31&metric=revenue"
    assert shown.link("7d", by="channel").endswith("&range=7d&by=channel")


def test_a_bad_range_is_told_and_the_default_shown() -> None:
    for query, message in (
        ("from=2026-13-01", "from: must be a date as YYYY-MM-DD, got '2026-13-01'"),
        ("from=2026-03-10&to=2026-03-01", "to: must not be before from"),
        ("from=2000-01-01&to=2026-03-01", "to: a range covers at most 3660 days"),
    ):
        shown, error = read_range(QueryParams(query), TODAY)
        assert error == message
        assert shown.preset == "30d"


def test_a_range_is_cut_to_its_last_days() -> None:
    shown, _ = read_range(QueryParams("from=2025-01-01&to=2025-12-31"), TODAY)
    cut = shown.last_days(92)
    assert (cut.first, cut.last, cut.days) == (date(2025, 10, 1), date(2025, 12, 31), 92)
    assert shown.last_days(400) is shown
