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
from collections.abc import Sequence
from typing import Any, Literal

from recommender.interactions import DEFAULT_WEIGHTS, Interaction

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


def returning_share(interactions: Sequence[Interaction]) -> float:
    """Sessions whose visitor had an earlier session, as a share of all sessions."""
    starts: dict[str, tuple[int, str]] = {}
    for r in interactions:
        known = starts.get(r.session_id)
        if known is None or r.timestamp_ms < known[0]:
            starts[r.session_id] = (r.timestamp_ms, r.visitor_id)
    visitors = {visitor for _, visitor in starts.values()}
    return (len(starts) - len(visitors)) / len(starts) if starts else 0.0


def repeat_share(interactions: Sequence[Interaction]) -> tuple[float, str]:
    """The share of (visitor, item, session) lines whose visitor had the item in an
    earlier session, over purchases (or every weighted item event, when there are
    fewer than MIN_PURCHASES purchase lines), and which of the two it is."""
    purchases = [r for r in interactions if r.event == "purchase"]
    basis = "purchases"
    lines = purchases
    if len({(r.visitor_id, r.item_id, r.session_id) for r in purchases}) < MIN_PURCHASES:
        lines = [r for r in interactions if r.event in DEFAULT_WEIGHTS]
        basis = "item events"
    first: dict[tuple[str, str], tuple[int, str]] = {}
    seen: set[tuple[str, str, str]] = set()
    for r in sorted(lines, key=lambda r: r.timestamp_ms):
        line = (r.visitor_id, r.item_id, r.session_id)
        if line in seen:
            continue
        seen.add(line)
        first.setdefault((r.visitor_id, r.item_id), (r.timestamp_ms, r.session_id))
    repeated = sum(1 for visitor, item, session in seen if first[(visitor, item)][1] != session)
    return (repeated / len(seen) if seen else 0.0), basis


def profile(interactions: Sequence[Interaction]) -> Profile:
    returning = returning_share(interactions)
    share, basis = repeat_share(interactions)
    protocol: Protocol = "user" if returning >= RETURNING_SHARE else "session"
    return Profile(returning, share, basis, protocol, share >= REPEAT_SHARE)
