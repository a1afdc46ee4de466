"""A visitor's history as the models take it: items oldest first, each with a weight.

One way from events to a history for every place one comes from, so that what the
trainer validates is what the server serves: the events the server keeps of a
visitor (`"<item id> <kind> <ts>"`, newest first, kinds `v` viewed, `c` added to
cart, `p` bought), a test session's first part in evaluation, and the page's
`history=` (item ids, which are views).

A history's weight for an item is what the training matrix holds for it, without
decay: each kind's count (damped where the weighting damps it) times its weight,
summed over the kinds. Its order is by each item's latest event.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence

import numpy as np

from recommender.interactions import Weighting

KIND_EVENTS = {"v": "view_item", "c": "add_to_cart", "p": "purchase"}
# Entries the server keeps per visitor (widget_server/storage/scripts.py).
MAX_STORED = 50

History = tuple[list[str], list[float]]


def parse_stored(entries: Iterable[bytes | str]) -> list[tuple[str, str, int]]:
    """Stored entries as (item id, event name, ts), in the order given; an entry
    that is not "<item> <kind> <ts>" with a known kind is skipped."""
    out: list[tuple[str, str, int]] = []
    for raw in entries:
        text = raw.decode() if isinstance(raw, bytes) else raw
        item, _, rest = text.rpartition(" ")
        item, _, kind = item.rpartition(" ")
        event = KIND_EVENTS.get(kind)
        if event is None or not item or not rest.isdigit():
            continue
        out.append((item, event, int(rest)))
    return out


def from_events(events: Iterable[tuple[str, str, int]], weighting: Weighting) -> History:
    """(item id, event name, ts) in any order -> the history: items by their latest
    event, oldest first, and their weights. Kinds the weighting does not weigh are
    left out."""
    counts: dict[str, dict[str, int]] = {}
    latest: dict[str, int] = {}
    weights = weighting.weights
    for item, event, ts in events:
        if event not in weights:
            continue
        kinds = counts.setdefault(item, {})
        kinds[event] = kinds.get(event, 0) + 1
        if ts > latest.get(item, -1):
            latest[item] = ts
    ordered = sorted(latest, key=latest.__getitem__)
    values = []
    for item in ordered:
        total = 0.0
        for event, n in counts[item].items():
            count = _damped(n) if event in weighting.damped else float(n)
            total += count * weights[event]
        values.append(total)
    return ordered, values


@functools.cache
def _damped(n: int) -> float:
    # numpy's log2, as the training matrix's; once per count (a few distinct ones),
    # since a numpy call per item costs more than the rest of the history.
    return float(np.log2(1 + n))


def merge(older: History, newer: History) -> History:
    """`older` then `newer`: newer's items come last, in their order (they are what
    the visitor did since), and an item in both keeps the larger weight (the two may
    describe the same events, which must not count twice)."""
    if not older[0]:
        return list(newer[0]), list(newer[1])
    merged = dict(zip(older[0], older[1], strict=True))
    for item, weight in zip(newer[0], newer[1], strict=True):
        merged[item] = max(merged.pop(item, weight), weight)
    return list(merged), list(merged.values())


def views(items: Sequence[str], weighting: Weighting) -> History:
    """The page's `history=` (oldest first): one view of each item."""
    ordered = list(dict.fromkeys(reversed(items)))[::-1]  # an item at its latest place
    weight = weighting.weights.get("view_item", 1.0)
    return ordered, [weight] * len(ordered)
