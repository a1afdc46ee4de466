"""Every targeting, schedule, frequency and governor condition includes and excludes
exactly as specified: one table row per condition and side, plus property tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from widget_server.popups.eligibility import (
    DAY_MS,
    Page,
    RuleHistory,
    Visitor,
    frequency_allows,
    governor_allows,
    rule_allows,
    schedule_allows,
    targeting_allows,
    visitor_from_redis,
)
from widget_server.popups.schema import Frequency, Governor, Rule, Schedule, Targeting

NOW = int(datetime(2026, 11, 25, 12, 0, tzinfo=UTC).timestamp() * 1000)  # a Wednesday
UTC_ZONE = ZoneInfo("UTC")


def page(**fields: Any) -> Page:
    return Page(**{"now_ms": NOW, "url": "https://shop.example/", **fields})


def visitor(**fields: Any) -> Visitor:
    return Visitor(**fields)


# (targeting, page, visitor, expected)
TARGETING = [
    ({}, page(), visitor(), True),
    ({"page_types": ["home"]}, page(page_type="home"), visitor(), True),
    ({"page_types": ["home"]}, page(page_type="product"), visitor(), False),
    ({"page_types": ["home"]}, page(page_type=None), visitor(), False),
    ({"url_contains": ["/sale"]}, page(url="https://s.example/SALE/x"), visitor(), True),
    ({"url_contains": ["/sale"]}, page(url="https://s.example/new"), visitor(), False),
    ({"url_not_contains": ["/account"]}, page(url="https://s.example/account"), visitor(), False),
    ({"url_not_contains": ["/account"]}, page(url="https://s.example/shop"), visitor(), True),
    ({"visitor": "new"}, page(), visitor(returning=False), True),
    ({"visitor": "new"}, page(), visitor(returning=True), False),
    ({"visitor": "returning"}, page(), visitor(returning=True), True),
    ({"visitor": "returning"}, page(), visitor(returning=False), False),
    ({"devices": ["mobile"]}, page(device="mobile"), visitor(), True),
    ({"devices": ["mobile"]}, page(device="desktop"), visitor(), False),
    ({"cart": "non_empty"}, page(cart_items=("a",)), visitor(), True),
    ({"cart": "non_empty"}, page(), visitor(), False),
    ({"cart": "empty"}, page(), visitor(), True),
    ({"cart": "empty"}, page(cart_items=("a",)), visitor(), False),
    ({"cart_value_min": 50}, page(cart_value=50.0), visitor(), True),
    ({"cart_value_min": 50}, page(cart_value=49.99), visitor(), False),
    ({"cart_value_max": 50}, page(cart_value=50.0), visitor(), True),
    ({"cart_value_max": 50}, page(cart_value=50.01), visitor(), False),
    ({"utm_source": ["Newsletter"]}, page(utm_source="newsletter"), visitor(), True),
    ({"utm_source": ["newsletter"]}, page(utm_source="google"), visitor(), False),
    ({"utm_source": ["newsletter"]}, page(), visitor(), False),
    ({"utm_campaign": ["bf"]}, page(utm_campaign="bf"), visitor(), True),
    ({"utm_campaign": ["bf"]}, page(utm_campaign="xmas"), visitor(), False),
    (
        {"referrer_domains": ["google.com"]},
        page(referrer="https://www.google.com/s"),
        visitor(),
        True,
    ),
    (
        {"referrer_domains": ["google.com"]},
        page(referrer="https://news.google.com/"),
        visitor(),
        True,
    ),
    (
        {"referrer_domains": ["google.com"]},
        page(referrer="https://notgoogle.com/"),
        visitor(),
        False,
    ),
    ({"referrer_domains": ["google.com"]}, page(), visitor(), False),
    ({"min_session_page_views": 3}, page(), visitor(session_page_views=3), True),
    ({"min_session_page_views": 3}, page(), visitor(session_page_views=2), False),
    (
        {"viewed_categories": ["Shoes"]},
        page(),
        visitor(session_categories=frozenset({"shoes"})),
        True,
    ),
    (
        {"viewed_categories": ["shoes"]},
        page(),
        visitor(session_categories=frozenset({"bags"})),
        False,
    ),
    ({"days_since_last_visit_min": 7}, page(), visitor(last_visit_ms=NOW - 7 * DAY_MS), True),
    ({"days_since_last_visit_min": 7}, page(), visitor(last_visit_ms=NOW - 6 * DAY_MS), False),
    ({"days_since_last_visit_min": 7}, page(), visitor(last_visit_ms=None), True),
    ({"days_since_last_visit_max": 7}, page(), visitor(last_visit_ms=None), False),
    ({"days_since_last_visit_max": 7}, page(), visitor(last_visit_ms=NOW - 2 * DAY_MS), True),
    (
        {"days_since_last_purchase_min": 30},
        page(),
        visitor(last_purchase_ms=NOW - 31 * DAY_MS),
        True,
    ),
    (
        {"days_since_last_purchase_min": 30},
        page(),
        visitor(last_purchase_ms=NOW - 29 * DAY_MS),
        False,
    ),
    ({"days_since_last_purchase_max": 30}, page(), visitor(last_purchase_ms=None), False),
    ({"past_orders_min": 2}, page(), visitor(orders=2), True),
    ({"past_orders_min": 2}, page(), visitor(orders=1), False),
    ({"past_orders_max": 0}, page(), visitor(orders=0), True),
    ({"past_orders_max": 0}, page(), visitor(orders=1), False),
]


@pytest.mark.parametrize(("targeting", "page_", "visitor_", "expected"), TARGETING)
def test_targeting_condition(
    targeting: dict[str, Any], page_: Page, visitor_: Visitor, expected: bool
) -> None:
    assert targeting_allows(Targeting(**targeting), page_, visitor_) is expected


def _at(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


PARIS = ZoneInfo("Europe/Paris")
# (schedule, now, zone, expected); 2026-11-25 is a Wednesday; Paris is UTC+1 then.
SCHEDULE = [
    ({}, _at("2026-11-25T12:00+00:00"), UTC_ZONE, True),
    ({"start": "2026-11-25T12:00"}, _at("2026-11-25T11:59+00:00"), UTC_ZONE, False),
    ({"start": "2026-11-25T12:00"}, _at("2026-11-25T12:00+00:00"), UTC_ZONE, True),
    # A naive time is the store's: 12:00 in Paris is 11:00 UTC.
    ({"start": "2026-11-25T12:00"}, _at("2026-11-25T11:00+00:00"), PARIS, True),
    ({"start": "2026-11-25T12:00"}, _at("2026-11-25T10:59+00:00"), PARIS, False),
    ({"end": "2026-11-26T00:00"}, _at("2026-11-25T23:59+00:00"), UTC_ZONE, True),
    ({"end": "2026-11-26T00:00"}, _at("2026-11-26T00:00+00:00"), UTC_ZONE, False),
    ({"start": "2026-11-25T12:00+00:00"}, _at("2026-11-25T11:30+00:00"), PARIS, False),
    ({"days": ["wed"]}, _at("2026-11-25T12:00+00:00"), UTC_ZONE, True),
    ({"days": ["thu"]}, _at("2026-11-25T12:00+00:00"), UTC_ZONE, False),
    # 23:30 UTC Wednesday is already Thursday in Paris.
    ({"days": ["thu"]}, _at("2026-11-25T23:30+00:00"), PARIS, True),
    ({"hours": {"start": 9, "end": 17}}, _at("2026-11-25T09:00+00:00"), UTC_ZONE, True),
    ({"hours": {"start": 9, "end": 17}}, _at("2026-11-25T17:00+00:00"), UTC_ZONE, False),
    ({"hours": {"start": 9, "end": 17}}, _at("2026-11-25T08:59+00:00"), UTC_ZONE, False),
    ({"hours": {"start": 9, "end": 17}}, _at("2026-11-25T16:30+00:00"), PARIS, False),
    ({"hours": {"start": 22, "end": 6}}, _at("2026-11-25T23:00+00:00"), UTC_ZONE, True),
    ({"hours": {"start": 22, "end": 6}}, _at("2026-11-25T05:59+00:00"), UTC_ZONE, True),
    ({"hours": {"start": 22, "end": 6}}, _at("2026-11-25T12:00+00:00"), UTC_ZONE, False),
]


@pytest.mark.parametrize(("schedule", "now", "zone", "expected"), SCHEDULE)
def test_schedule_condition(
    schedule: dict[str, Any], now: int, zone: ZoneInfo, expected: bool
) -> None:
    assert schedule_allows(Schedule.model_validate(schedule), now, zone) is expected


HOUR = 3_600_000
# (frequency, rule history, visitor, expected)
FREQUENCY = [
    ({}, RuleHistory(), visitor(), True),
    ({"max_per_session": 2}, RuleHistory(session_shows=1), visitor(), True),
    ({"max_per_session": 2}, RuleHistory(session_shows=2), visitor(), False),
    (
        {"max_per_session": 5, "max_per_visitor": 2, "per_days": 7},
        RuleHistory(shows=(NOW - 8 * DAY_MS, NOW - DAY_MS)),
        visitor(),
        True,
    ),
    (
        {"max_per_session": 5, "max_per_visitor": 2, "per_days": 7},
        RuleHistory(shows=(NOW - 6 * DAY_MS, NOW - DAY_MS)),
        visitor(),
        False,
    ),
    (
        {"max_per_session": 5, "max_per_visitor": None},
        RuleHistory(shows=tuple(NOW - i * HOUR for i in range(10, 0, -1))),
        visitor(),
        True,
    ),
    ({"stop_after_click": True}, RuleHistory(clicked_ms=NOW - DAY_MS), visitor(), False),
    ({"stop_after_click": False}, RuleHistory(clicked_ms=NOW - DAY_MS), visitor(), True),
    (
        {"stop_after_purchase": True, "max_per_visitor": None},
        RuleHistory(first_shown_ms=NOW - 2 * DAY_MS),
        visitor(last_purchase_ms=NOW - DAY_MS),
        False,
    ),
    (  # bought before ever seeing it: still eligible
        {"stop_after_purchase": True},
        RuleHistory(first_shown_ms=NOW - DAY_MS),
        visitor(last_purchase_ms=NOW - 2 * DAY_MS),
        True,
    ),
    (
        {"stop_after_purchase": False, "max_per_visitor": None},
        RuleHistory(first_shown_ms=NOW - 2 * DAY_MS),
        visitor(last_purchase_ms=NOW - DAY_MS),
        True,
    ),
    ({"cooldown_minutes": 30}, RuleHistory(), visitor(last_popup_ms=NOW - 29 * 60_000), False),
    ({"cooldown_minutes": 30}, RuleHistory(), visitor(last_popup_ms=NOW - 31 * 60_000), True),
]


@pytest.mark.parametrize(("frequency", "history", "visitor_", "expected"), FREQUENCY)
def test_frequency_condition(
    frequency: dict[str, Any], history: RuleHistory, visitor_: Visitor, expected: bool
) -> None:
    assert frequency_allows(Frequency(**frequency), history, visitor_, NOW) is expected


GOVERNOR = [
    ({}, visitor(), True),
    ({"max_per_session": 2}, visitor(session_popups=2), False),
    ({"max_per_session": 2, "min_gap_seconds": 0}, visitor(session_popups=1), True),
    ({"max_per_visitor_per_day": 3}, visitor(day_popups=3), False),
    ({"min_gap_seconds": 60}, visitor(last_popup_ms=NOW - 59_000), False),
    ({"min_gap_seconds": 60}, visitor(last_popup_ms=NOW - 60_000), True),
]


@pytest.mark.parametrize(("governor", "visitor_", "expected"), GOVERNOR)
def test_governor_condition(governor: dict[str, Any], visitor_: Visitor, expected: bool) -> None:
    assert governor_allows(Governor(**governor), visitor_, NOW) is expected


def test_visitor_state_is_read_as_the_ingest_script_writes_it() -> None:
    fields = {
        b"sid": b"s2",
        b"ss": str(NOW - HOUR).encode(),
        b"ps": str(NOW - 9 * DAY_MS).encode(),
        b"fs": str(NOW - 30 * DAY_MS).encode(),
        b"o": b"2",
        b"lp": str(NOW - 3 * DAY_MS).encode(),
        b"t:r1": f"{NOW - 2 * DAY_MS} {NOW - HOUR}".encode(),
        b"n:r1": b"s2 1",
        b"n:r2": b"s1 4",  # an older session's count
        b"f:r1": str(NOW - 2 * DAY_MS).encode(),
        b"c:r2": str(NOW - DAY_MS).encode(),
        b"g:s": b"s2 1",
        b"g:d": b"2026-11-25 2",
        b"g:l": str(NOW - HOUR).encode(),
    }
    state = visitor_from_redis(fields, b"2026-11-25 3 1 0|shoes|bags", "s2", "2026-11-25")
    assert state.returning and state.last_visit_ms == NOW - 9 * DAY_MS
    assert state.orders == 2 and state.last_purchase_ms == NOW - 3 * DAY_MS
    assert state.session_page_views == 4  # three recorded, plus the page asking
    assert state.session_categories == {"shoes", "bags"}
    assert state.history("r1") == RuleHistory(
        shows=(NOW - 2 * DAY_MS, NOW - HOUR), session_shows=1, first_shown_ms=NOW - 2 * DAY_MS
    )
    assert state.history("r2").session_shows == 0 and state.history("r2").clicked_ms is not None
    assert (state.session_popups, state.day_popups, state.last_popup_ms) == (1, 2, NOW - HOUR)

    # A new session whose first events are not stored yet: the last visit is `ss`.
    fresh = visitor_from_redis(fields, None, "s3", "2026-11-26")
    assert fresh.returning and fresh.last_visit_ms == NOW - HOUR
    assert fresh.session_page_views == 1 and fresh.session_popups == 0 and fresh.day_popups == 0
    assert not visitor_from_redis({}, None, "s1", "2026-11-25").returning


RULE = {
    "name": "r",
    "template": "announcement",
    "trigger": {"type": "page_load"},
    "content": {"headline": "Hi"},
    "id": "r1",
}


@given(
    page_type=st.sampled_from(["home", "product", "cart", None]),
    allowed=st.lists(st.sampled_from(["home", "product", "cart"]), min_size=1, unique=True),
    session_shows=st.integers(0, 5),
    max_per_session=st.integers(1, 5),
    device=st.sampled_from(["desktop", "mobile", "tablet"]),
    devices=st.none() | st.lists(st.sampled_from(["desktop", "mobile", "tablet"]), min_size=1),
)
def test_a_rule_is_allowed_exactly_when_every_condition_holds(
    page_type: str | None,
    allowed: list[str],
    session_shows: int,
    max_per_session: int,
    device: str,
    devices: list[str] | None,
) -> None:
    rule = Rule.model_validate(
        {
            **RULE,
            "targeting": {"page_types": allowed, "devices": devices},
            "frequency": {"max_per_session": max_per_session, "max_per_visitor": None},
        }
    )
    state = Visitor(rules={"r1": RuleHistory(session_shows=session_shows)})
    expected = (
        page_type in allowed
        and (devices is None or device in devices)
        and session_shows < max_per_session
    )
    assert rule_allows(rule, page(page_type=page_type, device=device), state, UTC_ZONE) is expected


@given(
    shows=st.lists(st.integers(0, 30 * DAY_MS), max_size=20),
    limit=st.integers(1, 20),
    days=st.integers(1, 30),
)
def test_per_visitor_cap_counts_only_shows_inside_the_window(
    shows: list[int], limit: int, days: int
) -> None:
    history = RuleHistory(shows=tuple(sorted(NOW - s for s in shows)))
    frequency = Frequency(max_per_session=20, max_per_visitor=limit, per_days=days)
    inside = sum(1 for s in shows if s < days * DAY_MS)
    assert frequency_allows(frequency, history, Visitor(), NOW) is (inside < limit)
