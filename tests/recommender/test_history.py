"""One way from events to a history: the server's stored entries, a test session's
start and the page's `history=` become the same weights the training matrix holds."""

from __future__ import annotations

import math

import pytest

from recommender import history
from recommender.interactions import Interaction, Weighting, build_matrix

WEIGHTING = Weighting(half_life_days=None)


def test_stored_entries_parse_and_bad_ones_are_skipped() -> None:
    entries = [b"SKU-1 v 300", "i2 c 200", b"i3 p 100", b"i4 x 50", b"broken", b"i5 v soon"]
    assert history.parse_stored(entries) == [
        ("SKU-1", "view_item", 300),
        ("i2", "add_to_cart", 200),
        ("i3", "purchase", 100),
    ]


def test_weights_are_the_training_matrix_values_and_the_order_is_by_latest_event() -> None:
    events = [
        ("a", "view_item", 1),
        ("a", "view_item", 2),
        ("b", "purchase", 3),
        ("a", "add_to_cart", 4),
        ("c", "view_item", 5),
    ]
    items, weights = history.from_events(events, WEIGHTING)
    assert items == ["b", "a", "c"]  # a's latest event (the cart) came after b's purchase
    built = build_matrix(
        [Interaction(ts, "v", "s", event, item) for item, event, ts in events], WEIGHTING
    )
    row = built.matrix.getrow(0)
    expected = {
        built.items.id_of(int(i)): float(v) for i, v in zip(row.indices, row.data, strict=True)
    }
    assert dict(zip(items, weights, strict=True)) == pytest.approx(expected)
    assert weights[1] == pytest.approx(math.log2(3) * 1 + 4)  # two damped views and a cart


def test_kinds_the_weighting_leaves_out_are_left_out() -> None:
    only_purchases = Weighting({"purchase": 8.0}, half_life_days=None)
    events = [("a", "view_item", 1), ("b", "purchase", 2)]
    assert history.from_events(events, only_purchases) == (["b"], [8.0])


def test_the_newer_history_comes_last_and_shared_items_keep_the_larger_weight() -> None:
    older = (["a", "b", "c"], [8.0, 1.0, 4.0])
    newer = (["b", "d"], [2.0, 1.0])
    assert history.merge(older, newer) == (["a", "c", "b", "d"], [8.0, 4.0, 2.0, 1.0])
    assert history.merge((["a"], [8.0]), (["a"], [1.0])) == (["a"], [8.0])
    assert history.merge(([], []), newer) == (["b", "d"], [2.0, 1.0])


def test_the_pages_history_is_views_each_item_at_its_latest_place() -> None:
    assert history.views(["a", "b", "a", "c"], WEIGHTING) == (["b", "a", "c"], [1.0, 1.0, 1.0])
