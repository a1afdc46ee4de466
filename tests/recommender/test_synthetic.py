"""The synthetic shop: a well-formed funnel, and the structure it plants is there to find.

Each planted effect is measured against a baseline computed from the same data, and
checked to vanish (or shrink) when its parameter is turned off, so that a passing
test means the effect comes from the planting, not from how the baseline is drawn.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter, defaultdict
from datetime import UTC, datetime
from itertools import combinations, pairwise

import pytest

from recommender.interactions import Interaction
from recommender.synthetic import SyntheticShop, generate, item_categories

SHOP = SyntheticShop(n_users=300, n_items=200, n_categories=10, seed=1)
START_MS = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp() * 1000)


@pytest.fixture(scope="module")
def traffic() -> list[Interaction]:
    return generate(SHOP)


def shop(**changes: float) -> SyntheticShop:
    return dataclasses.replace(SHOP, **changes)


def sessions_by_visitor(
    data: list[Interaction], categories: dict[str, str]
) -> dict[str, dict[str, list[str]]]:
    """visitor -> session -> categories of its views, sessions in time order."""
    out: dict[str, dict[str, list[str]]] = defaultdict(dict)
    for r in data:
        if r.event == "view_item":
            out[r.visitor_id].setdefault(r.session_id, []).append(categories[r.item_id])
    return out


def taste_shares(data: list[Interaction], categories: dict[str, str]) -> tuple[float, float]:
    """For visitors who return: the share of their later views in the categories of
    their first session, and the share a visitor-blind popularity would give them."""
    views = Counter(categories[r.item_id] for r in data if r.event == "view_item")
    total = sum(views.values())
    hits = expected = n = 0.0
    for sessions in sessions_by_visitor(data, categories).values():
        first, *later_sessions = sessions.values()
        later = [c for session in later_sessions for c in session]
        hits += sum(c in set(first) for c in later)
        expected += len(later) * sum(views[c] for c in set(first)) / total
        n += len(later)
    return hits / n, expected / n


def stay_rates(data: list[Interaction], categories: dict[str, str]) -> tuple[float, float]:
    """How often a view is in the same category as the one before it in the session,
    and how often it would be if it were drawn from the visitor's other sessions."""
    same = expected = pairs = 0.0
    for sessions in sessions_by_visitor(data, categories).values():
        for sid, views in sessions.items():
            others = Counter(c for o, cs in sessions.items() if o != sid for c in cs)
            n_others = sum(others.values())
            for before, after in pairwise(views):
                if n_others:
                    same += before == after
                    expected += others[before] / n_others
                    pairs += 1
    return same / pairs, expected / pairs


def baskets(data: list[Interaction]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = defaultdict(set)
    for r in data:
        if r.event == "purchase":
            out[r.session_id].add(r.item_id)
    return out


def test_same_seed_same_traffic(traffic: list[Interaction]) -> None:
    assert generate(SHOP) == traffic
    assert generate(shop(seed=2)) != traffic
    assert item_categories(SHOP) == item_categories(SHOP)
    assert item_categories(shop(seed=2)) != item_categories(SHOP)


def test_ids_and_categories(traffic: list[Interaction]) -> None:
    categories = item_categories(SHOP)
    assert len(categories) == SHOP.n_items
    assert all(re.fullmatch(r"i\d+", i) for i in categories)
    assert set(categories.values()) == {f"c{c}" for c in range(SHOP.n_categories)}
    assert {r.item_id for r in traffic} <= set(categories)
    for r in traffic:
        assert re.fullmatch(r"u\d+", r.visitor_id)
        assert r.session_id.startswith(f"s{r.visitor_id[1:]}-")
    assert len({r.visitor_id for r in traffic}) == SHOP.n_users


def test_events_are_a_time_ordered_funnel(traffic: list[Interaction]) -> None:
    times = [r.timestamp_ms for r in traffic]
    assert times == sorted(times)
    assert times[0] >= START_MS and times[-1] < START_MS + (SHOP.days + 1) * 86_400_000
    assert {r.event for r in traffic} == {"view_item", "add_to_cart", "purchase"}

    done: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    spans: dict[str, list[int]] = {}
    for r in traffic:
        needed = {"add_to_cart": "view_item", "purchase": "add_to_cart"}.get(r.event)
        assert needed is None or r.item_id in done[r.session_id][needed], r
        done[r.session_id][r.event].add(r.item_id)
        spans.setdefault(r.session_id, [r.timestamp_ms, r.timestamp_ms])[1] = r.timestamp_ms
    # sessions last minutes, not days, and one visitor's sessions never overlap
    assert max(end - start for start, end in spans.values()) < 6 * 3_600_000
    by_visitor: dict[str, list[list[int]]] = defaultdict(list)
    for sid, span in spans.items():
        by_visitor[sid.split("-")[0]].append(span)
    for visits in by_visitor.values():
        visits.sort()
        assert all(a[1] < b[0] for a, b in pairwise(visits))


def test_item_popularity_is_heavy_tailed(traffic: list[Interaction]) -> None:
    def top_decile_share(data: list[Interaction]) -> float:
        views = sorted(Counter(r.item_id for r in data if r.event == "view_item").values())
        return sum(views[-SHOP.n_items // 10 :]) / sum(views)

    assert top_decile_share(traffic) > 0.5
    assert top_decile_share(generate(shop(popularity_exponent=0))) < 0.25


def test_returning_visitors_keep_their_tastes(traffic: list[Interaction]) -> None:
    categories = item_categories(SHOP)
    observed, popularity = taste_shares(traffic, categories)
    assert observed > popularity + 0.25
    # with no planted tastes, popularity explains later sessions as well as the first does
    observed, popularity = taste_shares(generate(shop(taste_strength=0)), categories)
    assert abs(observed - popularity) < 0.05


def test_sessions_stay_in_category(traffic: list[Interaction]) -> None:
    categories = item_categories(SHOP)
    stay, chance = stay_rates(traffic, categories)
    assert stay > chance + 0.2
    stay, chance = stay_rates(generate(shop(category_stickiness=0)), categories)
    assert abs(stay - chance) < 0.05


def test_complements_are_bought_together(traffic: list[Interaction]) -> None:
    def recurring_pairs(data: list[Interaction]) -> int:
        together = (combinations(sorted(items), 2) for items in baskets(data).values())
        pairs = Counter(pair for basket in together for pair in basket)
        return sum(n > 1 for n in pairs.values())

    assert recurring_pairs(traffic) > 2 * recurring_pairs(generate(shop(complement_rate=0)))


def test_some_visitors_buy_again(traffic: list[Interaction]) -> None:
    def repeats(data: list[Interaction]) -> int:
        sessions: dict[tuple[str, str], set[str]] = defaultdict(set)
        for r in data:
            if r.event == "purchase":
                sessions[r.visitor_id, r.item_id].add(r.session_id)
        return sum(len(s) > 1 for s in sessions.values())

    assert repeats(traffic) > 1.5 * repeats(generate(shop(repeat_rate=0))) > 0


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("n_items", 0, "n_items: must be at least 1, got 0"),
        ("n_users", 2.5, "n_users: must be an integer, got 2.5"),
        ("seed", -1, "seed: must not be negative, got -1"),
        ("views_per_session", 0.5, "views_per_session: must be at least 1, got 0.5"),
        ("taste_strength", -1.0, "taste_strength: must not be negative, got -1.0"),
        ("cart_rate", 1.5, "cart_rate: must be between 0 and 1, got 1.5"),
        ("anonymous_share", float("nan"), "anonymous_share: must be between 0 and 1, got nan"),
        ("days", 0, "days: must be positive and finite, got 0"),
        ("days", float("inf"), "days: must be positive and finite, got inf"),
    ],
)
def test_bad_parameters_name_the_field(field: str, value: float, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        SyntheticShop(**{field: value})
