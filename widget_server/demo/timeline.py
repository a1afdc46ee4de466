"""The synthetic shop's year laid onto the calendar that ends now.

`recommender.synthetic` spreads sessions evenly over its span. A shop's traffic is
not even: it grows, weekends are busier, nights are quiet. Each session's start is
moved by one monotone map (so every visitor's sessions keep their order and stay
apart) onto the year before the anchor: days weighted by growth, weekday and a
little noise, and within a day by the hour. Events keep their offsets from their
session's start.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Iterable, Sequence

import numpy as np

from recommender.interactions import Interaction
from recommender.synthetic import SyntheticShop

DAY_MS = 86_400_000
GROWTH = 10.0  # the last day has this many times the first day's traffic
# Sessions starting in each hour of the day (the store's zone, UTC), relative.
HOURS = (
    0.35, 0.2, 0.12, 0.08, 0.08, 0.12, 0.3, 0.55, 0.8, 0.95, 1.0, 1.05,
    1.2, 1.15, 1.0, 0.95, 1.0, 1.1, 1.3, 1.55, 1.7, 1.6, 1.2, 0.7,
)  # fmt: skip
WEEKDAYS = (0.95, 0.95, 1.0, 1.0, 0.95, 1.15, 1.2)  # Monday first
DAY_NOISE = 0.08


@dataclasses.dataclass(frozen=True, slots=True)
class Step:
    kind: str  # view_item, add_to_cart or purchase
    item: str  # the synthetic shop's item id
    offset_ms: int  # from the session's start


@dataclasses.dataclass(frozen=True, slots=True)
class Visit:
    visitor: int  # the synthetic visitor's number
    number: int  # the visitor's sessions before this one
    start_ms: int
    steps: tuple[Step, ...]

    @property
    def end_ms(self) -> int:
        return self.start_ms + self.steps[-1].offset_ms


def _visits(interactions: Iterable[Interaction]) -> list[tuple[int, int, int, list[Step]]]:
    """(visitor, number, original start, steps) per session of the synthetic shop."""
    by_session: dict[str, list[Interaction]] = {}
    for record in interactions:
        by_session.setdefault(record.session_id, []).append(record)
    found = []
    for session, records in by_session.items():
        visitor, number = session[1:].split("-")
        start = records[0].timestamp_ms
        steps = [Step(r.event, r.item_id, r.timestamp_ms - start) for r in records]
        found.append((int(visitor), int(number), start, steps))
    return found


def _day_weights(first_day: int, days: int, rng: np.random.Generator) -> np.ndarray:
    position = np.arange(days) / max(days - 1, 1)
    weekday = (np.arange(first_day, first_day + days) + 3) % 7  # day 0 was a Thursday
    noise = rng.lognormal(0, DAY_NOISE, days)
    return np.asarray(GROWTH**position * np.take(WEEKDAYS, weekday) * noise)


def _hour_cdf() -> tuple[np.ndarray, np.ndarray]:
    """The share of a day's sessions that start before each hour (edges in ms)."""
    weights = np.asarray(HOURS)
    cdf = np.concatenate([[0.0], np.cumsum(weights) / weights.sum()])
    return cdf, np.arange(25) * 3_600_000.0


def lay_out(
    interactions: Sequence[Interaction], shop: SyntheticShop, anchor_ms: int
) -> list[Visit]:
    """The sessions of `interactions` (from `generate(shop)`), moved onto the
    `shop.days` before `anchor_ms`, oldest first; sessions that would run past the
    anchor are left out."""
    rng = np.random.default_rng(shop.seed + 1)
    found = _visits(interactions)
    starts = np.asarray([start for _, _, start, _ in found], dtype=np.float64)
    origin = starts.min() if starts.size else 0.0
    span = shop.days * DAY_MS
    share = np.clip((starts - origin) / span, 0.0, 1.0 - 1e-12)

    days = math.ceil(shop.days)
    last_day = anchor_ms // DAY_MS
    first_day = last_day - days + 1
    cdf, edges = _hour_cdf()
    weights = _day_weights(first_day, days, rng)
    # The anchor's own day has only its hours before the anchor.
    weights[-1] *= np.interp(anchor_ms - last_day * DAY_MS, edges, cdf)
    day_cdf = np.concatenate([[0.0], np.cumsum(weights) / weights.sum()])
    day = np.clip(np.searchsorted(day_cdf, share, side="right") - 1, 0, days - 1)
    within = (share - day_cdf[day]) / (day_cdf[day + 1] - day_cdf[day])
    within[day == days - 1] *= np.interp(anchor_ms - last_day * DAY_MS, edges, cdf)
    moved = (first_day + day) * DAY_MS + np.interp(within, cdf, edges)

    visits = [
        Visit(visitor, number, int(start), tuple(steps))
        for (visitor, number, _, steps), start in zip(found, moved.tolist(), strict=True)
    ]
    kept = [v for v in visits if v.end_ms < anchor_ms]
    kept.sort(key=lambda v: (v.start_ms, v.visitor))
    return kept


def by_visitor(visits: Iterable[Visit]) -> dict[int, list[Visit]]:
    """Each visitor's visits, oldest first."""
    ordered = sorted(visits, key=lambda v: (v.visitor, v.start_ms))
    return {
        visitor: list(group)
        for visitor, group in itertools.groupby(ordered, key=lambda v: v.visitor)
    }
