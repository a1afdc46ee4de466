"""`bought_together`: items that go into the same basket, by association rules.

Baskets are sessions' carted and bought items. For items a and b,
`confidence(a→b) = baskets with both / baskets with a` and
`lift = confidence(a→b) / share of baskets with b`. A pair is kept when it was seen
in at least `min_support` baskets and its lift is at least `min_lift` (lift > 1:
more often together than chance, which filters out bestsellers that are in every
basket anyway); the score is the confidence. Only the `keep` best partners of each
item are stored, so memory grows with items x keep.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import scipy.sparse as sp

from recommender.columns import Columns, Interaction, as_columns, recode, renumbered
from recommender.interactions import IdMap
from recommender.models.item_knn import top_per_row

BASKET_EVENTS = frozenset({"add_to_cart", "begin_checkout", "purchase"})


def baskets_matrix(
    interactions: Iterable[Interaction] | Columns,
    items: IdMap,
    events: frozenset[str] = BASKET_EVENTS,
) -> sp.csr_matrix:
    """Binary baskets x items matrix: one row per session with a basket event,
    numbered in the order the sessions first appear."""
    columns = as_columns(interactions)
    chosen = np.flatnonzero(columns.is_event(events))
    cols = recode(columns.item[chosen], columns.items, items, add=False)
    known = cols >= 0
    rows = renumbered(columns.session[chosen][known])
    cols = cols[known]
    n_baskets = int(rows.max()) + 1 if len(rows) else 0
    matrix = sp.csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(n_baskets, len(items))
    )
    matrix.data[:] = 1.0  # duplicates summed: back to "in the basket"
    return matrix


def bought_together(
    baskets: sp.csr_matrix, *, min_support: int = 2, min_lift: float = 1.0, keep: int = 50
) -> sp.csr_matrix:
    """Items x items confidence of "bought with", zero on the diagonal."""
    if min_support < 1:
        raise ValueError(f"min_support: must be at least 1, got {min_support}")
    if keep < 1:
        raise ValueError(f"keep: must be at least 1, got {keep}")
    n_baskets, n_items = baskets.shape
    if n_baskets == 0:
        return sp.csr_matrix((n_items, n_items), dtype=np.float32)
    binary = baskets.copy()
    binary.data[:] = 1.0
    together = (binary.T @ binary).tocoo()
    share = np.asarray(binary.sum(axis=0)).ravel()
    a, b, both = together.row, together.col, together.data
    confidence = both / share[a]
    lift = confidence / (share[b] / n_baskets)
    keep_pair = (a != b) & (both >= min_support) & (lift >= min_lift)
    kept = sp.csr_matrix(
        (confidence[keep_pair].astype(np.float32), (a[keep_pair], b[keep_pair])),
        shape=(n_items, n_items),
    )
    return top_per_row(kept, keep)
