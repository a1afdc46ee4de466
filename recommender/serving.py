"""Answering showcase queries from a bundle: strategies, business rules, fallbacks.

Every strategy yields candidates best first; one walker applies the rules to all
of them (never show what is out of stock, in the cart, already bought, the item on
the page, or explicitly excluded; optionally only the current category; at most N
per category), and when a strategy runs dry the next in its fallback chain fills
the rest — so a showcase is never empty while any item passes the rules. Every
pick says which strategy produced it and, where there is one, the item or
category behind it ("because you viewed X", "often bought with X", "trending in Y"),
never the pick itself: one of the visitor's own items that comes back (a repeat
purchase, when the history is not excluded) says that instead (`repeat`).

`recommended` reads a visitor the bundle was trained on (`Query.visitor`) from the
bundle's own history of them, merged with what the query says they did since. Whether
a visitor's own items may come back follows the bundle (`Bundle.repeat`, decided
from the store's data) unless the rules say otherwise.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Iterator, Sequence
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from recommender.bundle import Bundle
from recommender.models.bounded import BestFirst
from recommender.models.personal import neighbour_scores
from recommender.models.ranking import ranked

STRATEGIES = (
    "recommended",
    "similar",
    "bought_together",
    "cart",
    "trending",
    "popular",
    "recently_viewed",
)

# What fills a showcase when its own strategy has nothing (more) to offer.
FALLBACKS: dict[str, tuple[str, ...]] = {
    "recommended": ("recommended", "similar", "trending", "popular"),
    "similar": ("similar", "bought_together", "trending", "popular"),
    "bought_together": ("bought_together", "similar", "trending", "popular"),
    "cart": ("cart", "recommended", "trending", "popular"),
    "trending": ("trending", "popular"),
    "popular": ("popular",),
    "recently_viewed": ("recently_viewed", "trending", "popular"),
}

MAX_ITEMS = 100
# Factor values (items x factors) from which bounding `recommended`'s scores pays: below,
# one product with the whole catalog costs less than the books the bounds keep (at 64
# factors 15,000 items were 18% slower bounded and 50,000 a third faster: the
# break-even is near 23,000, 1.5 M values).
BOUNDED_FROM = 2_000_000
UNAVAILABLE = -2  # in place of a category: never shown


@dataclasses.dataclass(frozen=True)
class Rules:
    """Business rules. Unavailable items are never shown; the rest is configurable."""

    exclude_cart: bool = True
    exclude_purchased: bool = True
    exclude_current: bool = True
    # The visitor's own items (a "new to you" showcase); None: as the model decided
    # from the store's data (`Bundle.repeat`: left out where customers do not re-buy).
    exclude_history: bool | None = None
    same_category: bool = False
    max_per_category: int | None = None
    exclude: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.max_per_category is not None and self.max_per_category < 1:
            raise ValueError(f"max_per_category: must be at least 1, got {self.max_per_category}")


@dataclasses.dataclass(frozen=True)
class Query:
    """What the page knows: the visitor's recent items (oldest first, this session
    included), the product on the page, the cart, past purchases, and a category
    that every item must be in ("trending in shoes"). `visitor`: their id, which
    finds what the bundle knows of them from training."""

    strategy: str
    n: int = 10
    history: Sequence[str] = ()
    history_weights: Sequence[float] | None = None  # per history item; default 1 (a view)
    visitor: str | None = None
    item: str | None = None
    cart: Sequence[str] = ()
    purchased: Sequence[str] = ()
    category: str | None = None

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy: must be one of {', '.join(STRATEGIES)}")
        # a float n would never equal len(picks): the walker would return every item
        if isinstance(self.n, bool) or not isinstance(self.n, numbers.Integral):
            raise ValueError(f"n: must be a whole number, got {self.n!r}")
        if not 1 <= self.n <= MAX_ITEMS:
            raise ValueError(f"n: must be between 1 and {MAX_ITEMS}, got {self.n}")
        if self.history_weights is not None:
            if len(self.history_weights) != len(self.history):
                raise ValueError("history_weights: must have one weight per history item")
            # NaN would silently turn `recommended` off, a negative weight rank the item first
            if not all(0 <= w < math.inf for w in self.history_weights):
                raise ValueError("history_weights: must be finite and not negative")


class Pick(NamedTuple):
    """One showcase item. A named tuple: a query makes ten of these, and a frozen
    dataclass costs several times more to create."""

    item_id: str
    score: float
    strategy: str
    because: str | None = None  # item id (or, for trending, category) behind the pick
    # The visitor's own item back ("bought", "viewed" or "in_cart"): nothing else
    # explains it, so `because` is None.
    repeat: str | None = None


DEFAULT_RULES = Rules()  # frozen: one for every query that names none

Candidates = Iterator[tuple[int, float, str | None]]


class Showcases:
    """`bounded`: whether `recommended` scores only the items that bounds on their
    scores cannot rule out (`recommender.models.bounded`: the same answers), rather
    than the whole catalog; None: where the catalog is large enough for that to pay."""

    def __init__(self, bundle: Bundle, *, bounded: bool | None = None) -> None:
        self.bundle = bundle
        if bounded is None:
            bounded = len(bundle.items) * bundle.als.factors >= BOUNDED_FROM
        self.bounded = bounded
        self.items = bundle.items
        self.n_items = len(bundle.items)
        self._index_of = bundle.items.lookup
        factors = bundle.als.item_factors
        norms = np.linalg.norm(factors, axis=1)
        norms[norms == 0] = 1.0
        self._unit_factors = (factors / norms[:, None]).astype(np.float32)
        # Per item, its category index (-1: none), or UNAVAILABLE: one list the walker
        # reads one item at a time, where a list index is several times cheaper than
        # a numpy scalar, and one read per item rather than two.
        self._shelf: list[int] = np.where(
            bundle.catalog.available, bundle.catalog.category_of, UNAVAILABLE
        ).tolist()
        # Rankings that do not depend on the query, as lists once: converting a
        # catalog-sized array on every query would cost more than the query.
        self._by_popularity: list[int] = np.argsort(-bundle.popularity, kind="stable").tolist()
        trending = np.argsort(-bundle.trending, kind="stable")
        self._by_trending: list[int] = trending[bundle.trending[trending] > 0].tolist()

    # -- the walker -----------------------------------------------------------

    def answer(self, query: Query, rules: Rules | None = None) -> list[Pick]:
        rules = rules or DEFAULT_RULES
        bundle = self.bundle
        catalog = bundle.catalog
        history, weights = self._history(query)
        own, own_weights = self._with_known(query.visitor, history, weights)
        cart = np.array(self._known(query.cart), dtype=np.int64)
        blocked: set[int] = set(self._known(rules.exclude))
        if rules.exclude_cart:
            blocked.update(cart.tolist())
        if rules.exclude_purchased:
            blocked.update(self._known(query.purchased))
        current = self.items.get(query.item) if query.item else None
        if rules.exclude_current and current is not None:
            blocked.add(current)
        if self.excludes_history(rules):
            blocked.update(own.tolist())
        category = -1  # no constraint
        if query.category:  # "trending in shoes": the named category
            category = catalog.category_index(query.category)
        elif rules.same_category and current is not None:
            category = int(catalog.category_of[current])
        per_category: dict[int, int] = {}
        cap = rules.max_per_category
        shelf = self._shelf
        kept: list[tuple[int, float, str, str | None]] = []
        reasons: list[tuple[int, int, np.ndarray]] = []  # (from, to, seeds) to explain
        for strategy in FALLBACKS[query.strategy]:
            if strategy == "recommended":
                candidates, seeds = self._recommended(own, own_weights, cart, blocked)
            else:
                candidates, seeds = self._candidates(
                    strategy, history, weights, cart, current, blocked
                )
            first = len(kept)
            for index, score, because in candidates:
                item_category = shelf[index]
                if item_category == UNAVAILABLE or index in blocked:
                    continue
                if category != -1 and item_category != category:
                    continue
                if cap is not None and item_category != -1:
                    if per_category.get(item_category, 0) >= cap:
                        continue
                    per_category[item_category] = per_category.get(item_category, 0) + 1
                blocked.add(index)
                kept.append((index, score, strategy, because))
                if len(kept) == query.n:
                    break
            if seeds is not None and len(kept) > first:
                reasons.append((first, len(kept), seeds))
            if len(kept) == query.n:
                break
        repeats: dict[int, str] = {}  # position in kept -> how the item is the visitor's
        for start, stop, seeds in reasons:
            explained = self._explain([index for index, *_ in kept[start:stop]], seeds)
            seeded = set(seeds.tolist())
            for position, because in enumerate(explained, start):
                index, score, strategy, _ = kept[position]
                if index in seeded:
                    # Its nearest seed is itself ("because you viewed X" under X):
                    # what explains it is that it is the visitor's own.
                    repeats[position] = self._repeat(index, query, own)
                    because = None
                kept[position] = (index, score, strategy, because)
        id_of = self.items.id_of
        return [
            Pick(id_of(i), score, strategy, because, repeats.get(position))
            for position, (i, score, strategy, because) in enumerate(kept)
        ]

    def _repeat(self, index: int, query: Query, history: np.ndarray) -> str:
        """How a pick that is one of the visitor's own items is theirs, the strongest
        way first: bought, viewed (the history), or in the cart."""
        item_id = self.items.id_of(index)
        if item_id in query.purchased:
            return "bought"
        return "viewed" if index in history.tolist() else "in_cart"

    def _history(self, query: Query) -> tuple[np.ndarray, np.ndarray]:
        """Known history items and their weights (items the model never saw drop out)."""
        found = list(map(self._index_of, query.history))
        weights = query.history_weights
        if None in found:
            keep = [at for at, index in enumerate(found) if index is not None]
            found = [found[at] for at in keep]
            weights = None if weights is None else [weights[at] for at in keep]
        history = np.array(found, dtype=np.int64)
        if weights is None:  # not `or`: an array of weights has no truth value
            return history, np.ones(len(history))
        return history, np.asarray(weights, dtype=np.float64)

    def excludes_history(self, rules: Rules) -> bool:
        """Whether the visitor's own items are left out: as the rules say, else as the
        bundle decided from the store's data."""
        if rules.exclude_history is None:
            return not self.bundle.repeat
        return rules.exclude_history

    def _with_known(
        self, visitor: str | None, history: np.ndarray, weights: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The history `recommended` reads: for a visitor the bundle was trained on,
        their training history with the query's (what they did since) after it; an
        item in both keeps the larger weight (both may tell of the same events)."""
        known = self.bundle.users.history(visitor) if visitor else None
        if known is None:
            return history, weights
        if not len(history):
            return known
        merged = dict(zip(known[0].tolist(), known[1].tolist(), strict=True))
        for index, weight in zip(history.tolist(), weights.tolist(), strict=True):
            merged[index] = max(merged.pop(index, weight), weight)
        return np.array(list(merged), dtype=np.int64), np.array(list(merged.values()))

    def _known(self, ids: Sequence[str] | frozenset[str]) -> list[int]:
        found = [self._index_of(i) for i in ids]
        return [i for i in found if i is not None]

    # -- strategies -----------------------------------------------------------

    def _candidates(
        self,
        strategy: str,
        history: np.ndarray,
        weights: np.ndarray,
        cart: np.ndarray,
        current: int | None,
        blocked: set[int],
    ) -> tuple[Candidates, np.ndarray | None]:
        """The strategy's items best first, and the seeds their reasons are drawn from
        (worked out once for the kept picks, not for every candidate walked). Items in
        `blocked` may be left out."""
        if strategy == "recommended":
            return self._recommended(history, weights, cart, blocked)
        if strategy == "similar":
            seed = current if current is not None else (history[-1] if len(history) else None)
            if seed is None:
                return iter(()), None
            return _unblocked(self.similar_scores(seed), blocked), np.array([seed])
        if strategy == "bought_together":
            seeds = np.array([current]) if current is not None else cart
            return self._sparse(self.bundle.together, seeds), None
        if strategy == "cart":
            return self._sparse(self.bundle.together, cart), None
        if strategy == "recently_viewed":
            return self._recently_viewed(history), None
        if strategy == "trending":
            return self._trending(), None
        return self._popular(), None

    def _recommended(
        self, history: np.ndarray, weights: np.ndarray, cart: np.ndarray, blocked: set[int]
    ) -> tuple[Candidates, np.ndarray | None]:
        seeds = history if len(history) else cart
        personal = self.bundle.personal
        if not len(seeds):
            if personal.blend.trending > 0:  # a first visit: the blend's trending part
                return _unblocked(personal.scores(seeds), blocked), None
            return iter(()), None
        seed_weights = weights if len(history) else np.ones(len(cart))
        # The repeat signal scores the seeds alone: not worth working out when the
        # rules show none of them.
        shown = not blocked.issuperset(seeds.tolist())
        if self.bounded and personal.blend.als > 0:
            return BestFirst(personal, seeds, seed_weights, blocked, repeat=shown), seeds
        scores = personal.scores(seeds, seed_weights, repeat=shown)
        return _unblocked(scores, blocked), seeds

    def _recently_viewed(self, history: np.ndarray) -> Candidates:
        seen: set[int] = set()
        for index in history[::-1].tolist():
            if index not in seen:
                seen.add(index)
                yield index, 0.0, None

    def _trending(self) -> Candidates:
        catalog = self.bundle.catalog
        trending = self.bundle.trending
        for index in self._by_trending:
            category = int(catalog.category_of[index])
            name = catalog.categories[category] if category >= 0 else None
            yield index, float(trending[index]), name

    def _popular(self) -> Candidates:
        popularity = self.bundle.popularity
        for index in self._by_popularity:
            yield index, float(popularity[index]), None

    def similar_scores(self, item: int) -> np.ndarray:
        """Cosine of ALS factors, blended with co-occurrence neighbours (which know
        items ALS has seen too rarely to place well)."""
        scores: np.ndarray = self._unit_factors @ self._unit_factors[item]
        scores[item] = -np.inf
        # One row's neighbours are distinct already: read them as stored, without
        # the sort that merging several rows needs (`neighbour_scores`).
        similarity = self.bundle.knn.similarity
        span = slice(similarity.indptr[item], similarity.indptr[item + 1])
        values = similarity.data[span].astype(np.float64)
        if len(values):
            scores[similarity.indices[span]] += values / values.max()
        return scores

    def _explain(self, picked: list[int], seeds: np.ndarray) -> list[str]:
        """Each pick's `because`: the seed item closest to it in ALS factors."""
        if len(seeds) == 1:
            return [self.items.id_of(int(seeds[0]))] * len(picked)
        closeness = self._unit_factors[seeds] @ self._unit_factors[picked].T
        id_of = self.items.id_of
        return [id_of(seed) for seed in seeds[closeness.argmax(axis=0)].tolist()]

    def _sparse(self, matrix: sp.csr_matrix, seeds: np.ndarray) -> Candidates:
        if len(seeds) == 0:
            return
        items, values = neighbour_scores(matrix, seeds, np.ones(len(seeds)))
        # "Often bought with X": X must be a seed the item was bought with, the one
        # with the strongest link (not the seed nearest in ALS factors).
        best = np.full(len(items), -np.inf)
        because = np.zeros(len(items), dtype=np.int64)
        for seed in seeds.tolist():
            span = slice(matrix.indptr[seed], matrix.indptr[seed + 1])
            at = items.searchsorted(matrix.indices[span])
            stronger = matrix.data[span] > best[at]
            best[at[stronger]] = matrix.data[span][stronger]
            because[at[stronger]] = seed
        for position in (-values).argsort(kind="stable").tolist():
            index = int(items[position])
            yield index, float(values[position]), self.items.id_of(int(because[position]))


def _unblocked(scores: np.ndarray, blocked: set[int]) -> Candidates:
    """`ranked` with the blocked items (a history the rules leave out, excluded
    ids, earlier picks) at -inf first, so that the walker need not skip them one by
    one: the repeat signal and co-occurrence rank the history near the top. `scores`
    is the caller's own array."""
    if blocked:
        scores[np.fromiter(blocked, dtype=np.int64, count=len(blocked))] = -np.inf
    return ranked(scores)
