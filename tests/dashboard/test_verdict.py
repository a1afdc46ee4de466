"""Lift in one plain sentence, and the sample-size estimate behind "N more sessions"."""

from __future__ import annotations

import math
import re

import pytest

from widget_server.analytics.lift import Group, compare
from widget_server.dashboard import verdict
from widget_server.dashboard.language import language_for

ENGLISH = language_for("en")


def _text(markup: object) -> str:
    """The sentence as the server writes it, without the number elements."""
    return re.sub(r"<[^>]+>", "", str(markup))


def report(x1: int, n1: int, x2: int, n2: int) -> dict:  # type: ignore[type-arg]
    return compare(Group(n1, x1), Group(n2, x2)).to_json()  # type: ignore[return-value]


def test_the_sample_size_is_the_textbook_one() -> None:
    # 10% against 15%, 80% power, 5% two-sided: 686 per group (Fleiss, no continuity
    # correction), the figure every sample-size table gives.
    shown, held = verdict.sample_size(0.15, 0.10, 1.0)
    assert math.ceil(shown) == math.ceil(held) == 686


def test_an_uneven_split_needs_more_sessions_in_all() -> None:
    even = sum(verdict.sample_size(0.12, 0.10, 1.0))
    shown, held = verdict.sample_size(0.12, 0.10, 9.0)  # a 10% holdout
    assert shown == pytest.approx(9 * held)
    assert shown + held > even
    assert verdict.sample_size(0.1, 0.1, 1.0) == (math.inf, math.inf)


def test_sessions_needed_follow_the_split_seen_and_round_up_to_two_figures() -> None:
    seen = report(30, 900, 2, 100)  # 3.3% against 2%, a 10% holdout
    need_shown, need_held = verdict.sample_size(30 / 900, 2 / 100, 9.0)
    exact = max((need_shown - 900) * 10 / 9, (need_held - 100) * 10)
    more = verdict.sessions_needed(seen, 10)
    assert more is not None and exact <= more < exact * 1.1
    assert len(str(more).rstrip("0")) <= 2  # two significant figures


def test_before_any_difference_the_estimate_plans_for_a_ten_percent_lift() -> None:
    seen = report(5, 500, 1, 100)  # 1% both
    base = 6 / 600
    need_shown, need_held = verdict.sample_size(base * 1.1, base, 5.0)
    more = verdict.sessions_needed(seen, 100 / 6)
    assert more is not None
    assert more >= max((need_shown - 500) * 6 / 5, (need_held - 100) * 6)


def test_nothing_to_plan_from_says_so() -> None:
    assert verdict.sessions_needed(report(0, 40, 0, 10), 20) is None  # no conversion yet
    assert verdict.sessions_needed(report(3, 40, 0, 0), 0) is None  # no holdout at all
    # No one held out yet: the rule's holdout gives the split.
    assert verdict.sessions_needed(report(3, 40, 0, 0), 20) is not None


def test_the_relative_interval_is_katz() -> None:
    low, high = verdict.relative_interval(120, 1000, 100, 1000)
    se = math.sqrt(1 / 120 - 1 / 1000 + 1 / 100 - 1 / 1000)
    assert low == pytest.approx(math.exp(math.log(1.2) - 1.959964 * se) - 1, abs=1e-6)
    assert high == pytest.approx(math.exp(math.log(1.2) + 1.959964 * se) - 1, abs=1e-6)
    assert verdict.relative_interval(0, 100, 4, 100) is None


def test_a_clear_lift_is_said_with_its_size_and_interval() -> None:
    said = verdict.verdict(report(600, 10_000, 70, 2_000), ENGLISH, 20)  # 6% against 3.5%
    low, high = verdict.relative_interval(600, 10_000, 70, 2_000)  # type: ignore[misc]
    assert said.tone == "good"
    assert _text(said.text) == (
        f"Shoppers who saw it bought 71% more often; we are 95% sure the effect is "
        f"between {low:.0%} and {high:.0%}."
    )
    # The numbers are elements the browser writes in the store's locale.
    assert re.search(r'<data value="0\.714285\d*" data-fmt="percent"', str(said.text))


def test_a_clear_drop_no_clear_difference_and_too_little_data() -> None:
    assert verdict.verdict(report(300, 10_000, 120, 2_000), ENGLISH, 20).tone == "bad"
    unclear = verdict.verdict(report(420, 10_000, 40, 1_000), ENGLISH, 10)
    assert unclear.tone == "neutral" and unclear.more_sessions
    assert _text(unclear.text).startswith(
        "No clear difference yet: shoppers who saw it bought 5% more"
    )
    assert "more sessions would tell an effect of this size apart." in _text(unclear.text)
    early = verdict.verdict(report(4, 90, 0, 10), ENGLISH, 10)
    assert early.tone == "pending"
    assert _text(early.text) == (
        f"Not enough data yet: about {early.more_sessions:,} more sessions needed."
    )


def test_without_a_holdout_there_is_no_lift_to_tell() -> None:
    said = verdict.verdict(report(40, 1_000, 0, 0), ENGLISH, 0)
    assert _text(said.text).startswith("No holdout, so no lift")


def test_a_group_with_no_conversion_is_told_in_percentage_points() -> None:
    said = verdict.verdict(report(60, 2_000, 0, 500), ENGLISH, 20)
    assert said.tone == "good"
    assert _text(said.text).startswith("It lifts conversion. Sessions that saw it bought in 3.0%")


def test_the_sentence_is_in_the_store_language() -> None:
    said = verdict.verdict(report(600, 10_000, 70, 2_000), language_for("fa-IR"), 20)
    assert _text(said.text).startswith("خریدارانی که آن را دیدند")
