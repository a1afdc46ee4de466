"""`bought_together` (association rules over baskets) and `trending` (decayed shares),
on data small enough to compute by hand."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from recommender.interactions import IdMap, Interaction
from recommender.models.together import baskets_matrix, bought_together
from recommender.models.trending import HOUR_MS, trending_scores

NOW = 1_800_000_000_000
DAY_MS = 24 * HOUR_MS

# Items a b c d e, six baskets. Baskets holding each: a 4, b 3, c 3, d 2, e 1.
A, B, C, D, E = range(5)
BASKETS = [[A, B, C], [A, B], [A, B, D], [A, C], [C, D], [E]]


def basket_matrix(baskets: list[list[int]], n_items: int = 5) -> sp.csr_matrix:
    rows = [row for row, basket in enumerate(baskets) for _ in basket]
    cols = [item for basket in baskets for item in basket]
    ones = np.ones(len(rows), dtype=np.float32)
    return sp.csr_matrix((ones, (rows, cols)), shape=(len(baskets), n_items))


def pairs(matrix: sp.csr_matrix) -> dict[tuple[int, int], float]:
    coo = matrix.tocoo()
    return {
        (int(a), int(b)): float(v)
        for a, b, v in zip(coo.row, coo.col, coo.data, strict=True)
        if v != 0
    }


def reference(baskets: list[set[int]], n_items: int, min_support: int, min_lift: float) -> dict:
    """Association rules by counting, pair by pair."""
    out = {}
    for a, b in itertools.permutations(range(n_items), 2):
        with_a = sum(a in basket for basket in baskets)
        with_b = sum(b in basket for basket in baskets)
        both = sum(a in basket and b in basket for basket in baskets)
        if both < min_support:
            continue
        confidence = both / with_a
        if confidence / (with_b / len(baskets)) >= min_lift - 1e-9:
            out[(a, b)] = confidence
    return out


# -- bought_together ---------------------------------------------------------


def test_confidence_is_exact_and_rare_pairs_are_dropped() -> None:
    together = bought_together(basket_matrix(BASKETS), min_support=2, min_lift=1.0)
    # a-b in 3 baskets: 3 of a's 4, all 3 of b's (lift 1.5 both ways); a-c in 2: 2 of 4,
    # 2 of 3 (lift exactly 1, kept). Every other pair shares one basket: below support.
    assert pairs(together) == pytest.approx(
        {(A, B): 3 / 4, (B, A): 1.0, (A, C): 2 / 4, (C, A): 2 / 3}
    )
    assert together.dtype == np.float32


def test_pairs_below_min_lift_are_dropped() -> None:
    together = pairs(bought_together(basket_matrix(BASKETS), min_support=1, min_lift=1.0))
    # b-c: b→c 1/3 against c in half the baskets, lift 2/3; a-d: 1/4 against 1/3, lift 3/4
    for low in [(B, C), (C, B), (A, D), (D, A)]:
        assert low not in together
    # b-d: 1/3 against 1/3, lift 1; c-d: 1/3 against 1/3, lift 1
    assert together[(B, D)] == pytest.approx(1 / 3)
    assert together[(C, D)] == pytest.approx(1 / 3)
    stricter = pairs(bought_together(basket_matrix(BASKETS), min_support=2, min_lift=1.2))
    assert stricter == pytest.approx({(A, B): 3 / 4, (B, A): 1.0})


def test_keep_holds_the_best_partners_only() -> None:
    # a is with b in 3 baskets, with c in 2, with d in 1; nothing else is anywhere
    baskets = [[A, B, C, D], [A, B, C], [A, B], [E]]
    full = bought_together(basket_matrix(baskets), min_support=1, min_lift=0.0)
    one = bought_together(basket_matrix(baskets), min_support=1, min_lift=0.0, keep=1)
    assert np.diff(one.indptr).max() == 1
    assert pairs(one)[(A, B)] == pytest.approx(3 / 3)
    assert (A, C) in pairs(full) and (A, C) not in pairs(one)
    for (a, b), value in pairs(one).items():
        assert value == pytest.approx(full[a].toarray().max()), (a, b)


@settings(max_examples=60, deadline=None)
@given(
    baskets=st.lists(st.sets(st.integers(0, 5), min_size=1, max_size=4), min_size=1, max_size=12),
    min_support=st.integers(1, 3),
    # powers of two: a lift exactly at the bound is exact in floating point too
    min_lift=st.sampled_from([0.0, 0.5, 1.0, 2.0]),
    keep=st.integers(1, 6),
)
def test_bought_together_matches_counting_by_hand(
    baskets: list[set[int]], min_support: int, min_lift: float, keep: int
) -> None:
    matrix = basket_matrix([sorted(b) for b in baskets], n_items=6)
    found = bought_together(matrix, min_support=min_support, min_lift=min_lift, keep=keep)
    expected = reference(baskets, 6, min_support, min_lift)
    assert found.shape == (6, 6)
    assert not found.diagonal().any()
    got = pairs(found)
    assert np.diff(found.indptr).max(initial=0) <= keep
    if keep >= 5:  # 5 possible partners: nothing cut
        assert got == pytest.approx(expected, rel=1e-6)
    for pair, value in got.items():
        assert value == pytest.approx(expected[pair], rel=1e-6)
    # what `keep` cut is never better than what it kept
    for a in range(6):
        kept = [v for (x, _), v in got.items() if x == a]
        cut = [v for (x, b), v in expected.items() if x == a and (x, b) not in got]
        if kept and cut:
            assert max(cut) <= min(kept) + 1e-6


def test_bad_parameters_name_the_field() -> None:
    with pytest.raises(ValueError, match="min_support"):
        bought_together(basket_matrix(BASKETS), min_support=0)
    with pytest.raises(ValueError, match="keep"):
        bought_together(basket_matrix(BASKETS), keep=0)


def test_no_baskets_no_pairs() -> None:
    together = bought_together(sp.csr_matrix((0, 4), dtype=np.float32))
    assert together.shape == (4, 4) and together.nnz == 0


def test_baskets_are_sessions_carted_or_bought_items() -> None:
    items = IdMap(["a", "b", "c", "d"])

    def at(session: str, event: str, item: str) -> Interaction:
        return Interaction(NOW, "u-" + session, session, event, item)

    records = [
        at("s1", "view_item", "a"),  # a view is not a basket
        at("s1", "add_to_cart", "b"),
        at("s1", "add_to_cart", "b"),  # carted twice: still one "in the basket"
        at("s1", "purchase", "c"),
        at("s2", "view_item", "a"),
        at("s2", "showcase_click", "d"),  # nor is a click
        at("s3", "begin_checkout", "d"),
        at("s3", "purchase", "unknown"),  # not in `items`: skipped
        at("s1", "purchase", "b"),
    ]
    matrix = baskets_matrix(records, items)
    # one row per session with a basket event (s2 has none), in order of appearance
    assert matrix.shape == (2, 4)
    assert matrix.toarray().tolist() == [[0, 1, 1, 0], [0, 0, 0, 1]]


# -- trending ----------------------------------------------------------------


def view(item: str, ago_ms: int, event: str = "view_item") -> Interaction:
    return Interaction(NOW - ago_ms, "u", "s", event, item)


def test_recent_events_outrank_more_but_older_ones() -> None:
    items = IdMap(["fresh", "stale"])
    records = [view("fresh", HOUR_MS)] + [view("stale", 10 * DAY_MS)] * 5
    scores = trending_scores(records, items, NOW)
    assert scores[0] > scores[1] > 0
    # without decay worth the name, the five older views would win
    slow = trending_scores(records, items, NOW, half_lives_hours=(1e6,))
    assert slow[1] > slow[0]


def test_events_past_the_horizon_or_in_the_future_do_not_count() -> None:
    items = IdMap(["counted", "too_old", "future"])
    horizon = 14 * DAY_MS
    records = [
        view("counted", horizon),  # exactly at the horizon: counts
        view("too_old", horizon + 1),
        view("future", -1),
        view("counted", HOUR_MS, event="page_view"),  # no weight: not an interaction
    ]
    assert trending_scores(records, items, NOW).tolist() == [1.0, 0.0, 0.0]
    assert trending_scores(records[1:3], items, NOW).tolist() == [0.0, 0.0, 0.0]
    assert trending_scores(records, items, NOW, horizon_days=1).tolist() == [0.0, 0.0, 0.0]


def test_heavier_events_weigh_more() -> None:
    items = IdMap(["viewed", "bought"])
    records = [view("viewed", HOUR_MS), view("bought", HOUR_MS, event="purchase")]
    scores = trending_scores(records, items, NOW)
    assert scores[1] == pytest.approx(8 * scores[0])  # purchase 8, view 1 (DEFAULT_WEIGHTS)


def test_no_events_all_zeros() -> None:
    scores = trending_scores([], IdMap(["a", "b"]), NOW)
    assert scores.tolist() == [0.0, 0.0]


@settings(max_examples=80, deadline=None)
@given(
    events=st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c", "unknown"]),
            st.integers(-DAY_MS, 20 * DAY_MS),  # how long ago, some in the future
            st.sampled_from(["view_item", "add_to_cart", "purchase", "page_view"]),
        ),
        max_size=15,
    ),
    half_lives=st.lists(st.floats(1e-3, 1e4), min_size=1, max_size=3),
)
def test_scores_are_shares_summing_to_one(
    events: list[tuple[str, int, str]], half_lives: list[float]
) -> None:
    """Each half-life's decayed counts are divided by their sum (shares summing to 1),
    and the score is the mean over the half-lives, so it sums to 1 too — whatever
    the half-lives, even one so short that every event decays below float range."""
    items = IdMap(["a", "b", "c"])
    records = [view(item, ago, event) for item, ago, event in events]
    scores = trending_scores(records, items, NOW, half_lives_hours=tuple(half_lives))
    counted = [
        (item, ago)
        for item, ago, event in events
        if item != "unknown" and event != "page_view" and 0 <= ago <= 14 * DAY_MS
    ]
    assert np.isfinite(scores).all() and (scores >= 0).all()
    if counted:
        assert scores.sum() == pytest.approx(1.0)
    else:
        assert not scores.any()
    for index, item in enumerate("abc"):
        if scores[index] > 0:
            assert any(name == item for name, _ in counted), item


def test_a_half_life_short_beside_every_age_still_ranks() -> None:
    # two days are 48,000 half-lives of 3.6 s: 0.5 ** 48000 is 0.0 in floating point
    items = IdMap(["newer", "older"])
    records = [view("newer", 2 * DAY_MS), view("older", 3 * DAY_MS)]
    scores = trending_scores(records, items, NOW, half_lives_hours=(1e-3, 24.0))
    assert np.isfinite(scores).all()
    assert scores.sum() == pytest.approx(1.0)
    assert scores[0] > scores[1] > 0


@pytest.mark.parametrize("half_lives", [(0.0,), (6.0, -1.0), (float("nan"),), ()])
def test_bad_half_life_names_the_field(half_lives: tuple[float, ...]) -> None:
    with pytest.raises(ValueError, match="half_lives_hours"):
        trending_scores([view("a", 0)], IdMap(["a"]), NOW, half_lives_hours=half_lives)
