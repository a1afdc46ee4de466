"""Which variant a visitor sees, and whether they are in the holdout group.

Both come from a hash of the visitor and the rule, so a visitor keeps their group
on every page, server and day, with nothing stored; different rules (and the two
questions) use independent hashes, so groups do not line up across rules.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

DEFAULT_VARIANT = "default"


def unit(purpose: str, rule_id: str, visitor_id: str) -> float:
    """A stable pseudo-random number in [0, 1)."""
    digest = hashlib.blake2b(f"{purpose}\0{rule_id}\0{visitor_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def in_holdout(rule_id: str, visitor_id: str, percent: float) -> bool:
    return percent > 0 and unit("holdout", rule_id, visitor_id) * 100 < percent


def pick_variant(rule_id: str, visitor_id: str, variants: Sequence[tuple[str, float]]) -> str:
    """One of `variants` ((id, weight), ...) in proportion to the weights."""
    if not variants:
        return DEFAULT_VARIANT
    total = sum(weight for _, weight in variants)
    point = unit("variant", rule_id, visitor_id) * total
    for variant_id, weight in variants:
        point -= weight
        if point < 0:
            return variant_id
    return variants[-1][0]
