"""Variant and holdout assignment: stable per visitor, in proportion to the weights,
and independent between rules."""

from __future__ import annotations

from collections import Counter

from widget_server.popups.assignment import DEFAULT_VARIANT, in_holdout, pick_variant, unit

VISITORS = [f"v{n:06d}" for n in range(100_000)]


def test_holdout_matches_its_percentage_over_100k_visitors() -> None:
    held = sum(in_holdout("r_exit", v, 10) for v in VISITORS)
    # Binomial(100k, 0.1) has a standard deviation of 95: allow six of them.
    assert abs(held - 10_000) < 600
    assert not any(in_holdout("r_exit", v, 0) for v in VISITORS[:1000])


def test_variants_match_their_weights_over_100k_visitors() -> None:
    variants = [("a", 1.0), ("b", 2.0), ("c", 1.0)]
    counts = Counter(pick_variant("r_exit", v, variants) for v in VISITORS)
    for variant, share in (("a", 0.25), ("b", 0.5), ("c", 0.25)):
        assert abs(counts[variant] / len(VISITORS) - share) < 0.008, counts
    assert pick_variant("r_exit", "v1", []) == DEFAULT_VARIANT


def test_assignment_is_stable_per_visitor_and_rule() -> None:
    variants = [("a", 1.0), ("b", 1.0)]
    first = [(pick_variant("r1", v, variants), in_holdout("r1", v, 20)) for v in VISITORS[:2000]]
    again = [(pick_variant("r1", v, variants), in_holdout("r1", v, 20)) for v in VISITORS[:2000]]
    assert first == again
    # Another rule draws anew: its groups do not line up with this rule's.
    other = [in_holdout("r2", v, 20) for v in VISITORS[:2000]]
    assert other != [held for _, held in first]


def test_holdout_and_variant_draws_are_independent() -> None:
    both = Counter(
        (in_holdout("r1", v, 50), pick_variant("r1", v, [("a", 1.0), ("b", 1.0)])) for v in VISITORS
    )
    for cell in both.values():  # four cells of 25% each
        assert abs(cell - 25_000) < 900
    assert min(unit("x", "r", v) for v in VISITORS[:100]) >= 0
    assert max(unit("x", "r", v) for v in VISITORS[:100]) < 1
