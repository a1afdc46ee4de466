"""What a store's data is like, for the two decisions training takes from it.

- **The protocol** it is validated under: `user` when most sessions are of
  customers who came before (a shop of regulars: predict a returning customer's
  next items from their past), `session` when most are first visits (anonymous
  traffic: predict the rest of a session from its start).
- **Repeats**: whether a visitor's own items may come back in `recommended`. Yes
  when customers re-buy: when at least `REPEAT_SHARE` of purchases (a customer, an
  item, an order) repeat an item the same customer bought in an earlier order. A
  store with too few purchases to tell is judged by all its item events (a view of
  an item seen in an earlier session counts as a repeat).

The server's exclusions follow the repeat decision, and the validation scores it:
with repeats, items a visitor saw and took again count as hits; without, they are
neither shown nor counted.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any, Literal

import numpy as np

from recommender.columns import (
    Columns,
    Interaction,
    as_columns,
    distinct,
    first_positions,
    group_starts,
    grouped_order,
)
from recommender.interactions import DEFAULT_WEIGHTS

Protocol = Literal["user", "session"]

RETURNING_SHARE = 0.5  # of sessions, from visitors seen in an earlier session: `user`
REPEAT_SHARE = 0.10  # of purchases, of an item the customer bought before: repeats allowed
MIN_PURCHASES = 100  # below, purchases are too few to tell: every item event is read


@dataclasses.dataclass(frozen=True)
class Profile:
    returning_share: float  # sessions of visitors with an earlier session / sessions
    repeat_share: float  # repeated (visitor, item) in a later session / all, on `repeat_basis`
    repeat_basis: str  # "purchases" or "item events"
    protocol: Protocol
    repeat: bool

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def describe(self) -> str:
        return (
            f"{self.returning_share:.0%} of sessions are returning visitors' → {self.protocol} "
            f"protocol; {self.repeat_share:.0%} of {self.repeat_basis} repeat an earlier "
            f"session's → repeats {'allowed' if self.repeat else 'left out'}"
        )


def returning_share(interactions: Iterable[Interaction] | Columns) -> float:
    """Sessions whose visitor had an earlier session, as a share of all sessions."""
    columns = as_columns(interactions)
    if not len(columns):
        return 0.0
    # Per session, its earliest event (the first of equals): whose session it is.
    order = grouped_order(columns.session, columns.ts)
    heads = group_starts(columns.session[order])[:-1]
    visitors = len(distinct(columns.visitor[order[heads]]))
    return (len(heads) - visitors) / len(heads)


def repeat_share(interactions: Iterable[Interaction] | Columns) -> tuple[float, str]:
    """The share of (visitor, item, session) lines whose visitor had the item in an
    earlier session, over purchases (or every weighted item event, when there are
    fewer than MIN_PURCHASES purchase lines), and which of the two it is."""
    columns = as_columns(interactions)
    basis = "purchases"
    lines = _distinct_lines(columns, np.flatnonzero(columns.is_event(["purchase"])))
    if len(lines[0]) < MIN_PURCHASES:
        lines = _distinct_lines(columns, np.flatnonzero(columns.is_event(DEFAULT_WEIGHTS)))
        basis = "item events"
    pair, session, first_session = lines
    if not len(pair):
        return 0.0, basis
    repeated = int(np.count_nonzero(session != first_session))
    return repeated / len(pair), basis


def _distinct_lines(
    columns: Columns, chosen: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct (visitor and item, session) lines among the interactions at
    `chosen`: each one's pair code, session, and the session of the pair's first
    line in time (the first of equals in stream order)."""
    pair = columns.visitor[chosen].astype(np.int64) * len(columns.items) + columns.item[chosen]
    session = columns.session[chosen]
    by_time = np.argsort(columns.ts[chosen], kind="stable")
    first = first_positions(pair[by_time])
    pairs, first_session = pair[by_time][first], session[by_time][first]
    order = np.lexsort((session, pair))
    heads = group_starts([pair[order], session[order]])[:-1]
    line_pair, line_session = pair[order][heads], session[order][heads]
    return line_pair, line_session, first_session[np.searchsorted(pairs, line_pair)]


def profile(interactions: Iterable[Interaction] | Columns) -> Profile:
    columns = as_columns(interactions)
    returning = returning_share(columns)
    share, basis = repeat_share(columns)
    protocol: Protocol = "user" if returning >= RETURNING_SHARE else "session"
    return Profile(returning, share, basis, protocol, share >= REPEAT_SHARE)
