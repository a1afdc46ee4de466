"""The two decisions training takes from a store's data: the protocol, and repeats."""

from __future__ import annotations

import pytest

from recommender.interactions import Interaction
from recommender.profile import MIN_PURCHASES, REPEAT_SHARE, profile, repeat_share, returning_share
from recommender.synthetic import STRUCTURES, generate

DAY = 86_400_000


def order(visitor: str, session: str, day: int, *items: str) -> list[Interaction]:
    return [
        Interaction(day * DAY + n, visitor, session, "purchase", i) for n, i in enumerate(items)
    ]


def test_returning_share_counts_sessions_after_a_visitors_first() -> None:
    records = [
        *order("a", "a1", 1, "x"),
        *order("a", "a2", 2, "y"),
        *order("a", "a3", 3, "z"),
        *order("b", "b1", 1, "x"),
    ]
    assert returning_share(records) == pytest.approx(2 / 4)


def test_repeat_share_is_purchases_of_an_item_bought_in_an_earlier_order() -> None:
    records: list[Interaction] = []
    for n in range(MIN_PURCHASES):
        # each customer buys x and y, then x again (and z new) in a second order
        records += order(f"c{n}", f"c{n}-1", 1, "x", "y")
        records += order(f"c{n}", f"c{n}-2", 5, "x", "z")
    share, basis = repeat_share(records)
    assert basis == "purchases"
    assert share == pytest.approx(1 / 4)  # of 4 lines per customer, one is a re-buy


def test_the_same_item_twice_in_one_order_is_not_a_repeat() -> None:
    records = []
    for n in range(MIN_PURCHASES):
        records += order(f"c{n}", f"c{n}-1", 1, "x", "x", "y")
    assert repeat_share(records) == (0.0, "purchases")


def test_too_few_purchases_read_every_item_event() -> None:
    records = [
        Interaction(1, "a", "a1", "view_item", "x"),
        Interaction(DAY, "a", "a2", "view_item", "x"),  # seen again in a later session
        Interaction(DAY + 1, "a", "a2", "view_item", "y"),
        Interaction(2, "b", "b1", "page_view", "x"),  # not an item event the models weigh
    ]
    share, basis = repeat_share(records)
    assert basis == "item events" and share == pytest.approx(1 / 3)


def test_regulars_who_rebuy_are_judged_by_the_user_protocol_with_repeats() -> None:
    found = profile(generate(STRUCTURES["baskets"]))
    assert found.protocol == "user" and found.repeat
    assert found.repeat_share >= REPEAT_SHARE


def test_anonymous_sessions_are_judged_by_the_session_protocol_without_repeats() -> None:
    found = profile(generate(STRUCTURES["sessions"]))
    assert (found.protocol, found.repeat) == ("session", False)
    assert found.returning_share == 0


def test_a_store_whose_customers_never_rebuy_leaves_seen_items_out() -> None:
    found = profile(generate(STRUCTURES["drift"]))
    assert not found.repeat and found.repeat_share < REPEAT_SHARE
    assert "left out" in found.describe()
