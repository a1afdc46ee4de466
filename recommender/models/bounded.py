"""`recommended` best first without scoring the whole catalog: the items, order and
scores that ranking `Personal.scores` gives, from a few thousand items' scores.

Most of a query's time went on one product, the visitor's ALS vector against every
item's factors (12.8 MB for 50,000 items of 64 factors, read from memory each
time), for a showcase of ten. Bounds say which items cannot be among the best
without scoring them:

- ALS: u · v <= |u| |v| (Cauchy-Schwarz), and the items are sorted once by the
  length of their factors (`ALS.set_factors`, which keeps a copy of the factors in
  that order), so past some point in that order every item's ALS score is below
  any given value;
- trending: each item's share, sorted once too (`Personal.set_trending`);
- the neighbour signals (co-occurrence, session-kNN, repeat) reach only the items
  near the history, and what they add to each is known before its ALS score.

So:

1. the catalog's best ALS score, the blend's unit (every other signal is scaled to
   it), is the best of the longest factors, scored down to where the bound falls
   below the best so far;
2. the `depth`-th best of the scores so far (the longest factors', the most
   trending's, and those of the neighbours with the highest bounds) is a
   threshold: every item whose bound reaches it is scored too, which raises it;
3. the scores above the bound of every item not scored (`ceiling`) are final, and
   come out best first, ties by index, as `ranked` gives them;
4. a walker that wants more (tight rules) gets twice the depth, and the full
   scores once bounds would have it score about half of the catalog.

The bounds allow for float32 rounding, and every score is worked out as the full
pass works it out (`ALS.partial` and `ALS.longest`, `Personal.add_trending`,
`Personal.increments`), so an item's score is the same bit for bit either way.
"""

from __future__ import annotations

import numpy as np

from recommender.models.gather import distinct
from recommender.models.personal import Evidence, Personal
from recommender.models.ranking import Ranked, ranked

LONGEST = 256  # the longest factors scored first, for the best ALS score
FIRST_DEPTH = 64  # the walker's first wish: ten picks, a few of them ruled out
FIRST_REACHED = 256  # the neighbours with the highest bounds, scored first for a threshold
DEEPER = 2  # a walker past the first depth: tight rules, which rarely need much more
# Past this share of the catalog in the norm order, bounds save too little: a row
# read in order costs what it costs in the full pass, and the books kept on each
# row scored about half that again, against the full pass's one sampled ranking.
FULL_SHARE = 1 / 2
SCATTERED = 4  # what a row of factors read out of order costs, in rows read in order
# A float32 sum of k products is within k units of rounding (2^-24) of the exact
# dot product's bound; twice that covers the float64 norms and their product.
ROUNDING = 2.0**-23
# A score is a few float32 sums of terms whose sizes the bound adds up: each sum
# rounds by at most a unit (2^-24) of that total; this allows for sixteen.
MARGIN = 1 + 2.0**-20
SPLITS = (0.5, 0.75, 0.9, 0.97)  # shares of a threshold left to the ALS bound


class BestFirst:
    """`ranked(scores)` for `Personal.scores(history, weights, repeat=repeat)` with
    the `blocked` items (as they are now) at -inf. `history` must not be empty."""

    def __init__(
        self,
        personal: Personal,
        history: np.ndarray,
        weights: np.ndarray,
        blocked: set[int],
        *,
        repeat: bool = True,
    ) -> None:
        # The walk's state apart from its generator: a generator that held this
        # object would make a cycle, freed (with its arrays) only by the cyclic GC,
        # whose rounds then cost a query's time every few dozen queries.
        self._walk = _Walk(personal, history, weights, blocked, repeat)
        self._steps = self._walk.steps()

    @property
    def scored(self) -> int:
        """How many items' scores it has worked out so far (the catalog's size once
        it has fallen back to the full scores)."""
        return self._walk.scored

    def __iter__(self) -> BestFirst:
        return self

    def __next__(self) -> tuple[int, float, str | None]:
        return next(self._steps)


class _Walk:
    """A walk's state; `steps` is the walk."""

    def __init__(
        self,
        personal: Personal,
        history: np.ndarray,
        weights: np.ndarray,
        blocked: set[int],
        repeat: bool,
    ) -> None:
        self.personal = personal
        self.history = history
        self.weights = weights
        self.repeat = repeat
        self.blocked = np.sort(np.fromiter(blocked, dtype=np.int64, count=len(blocked)))
        self.scored = 0
        self.evidence: Evidence

    def steps(self) -> Ranked:
        personal = self.personal
        als = personal.als
        evidence = personal.evidence(self.history, self.weights, repeat=self.repeat)
        self.evidence = evidence
        vector = evidence.vector
        if vector is None or not als.finite or not np.isfinite(vector).all():
            yield from self._full(set())
            return
        length = float(np.sqrt(np.square(vector, dtype=np.float64).sum()))
        reach = length * (1 + als.factors * ROUNDING)  # no ALS score is above reach x |v|
        n = als.n_items
        most = int(n * FULL_SHARE)
        # 1. The best ALS score: only an item whose bound reaches the best of the
        # longest factors can beat it.
        longest = min(LONGEST, n)
        values = als.longest(vector, 0, longest)
        best = float(values.max())
        if best > 0:
            further = _reaching(als.norm_keys, best / reach)
            if further > max(longest, most):  # a vector that reaches too far down
                yield from self._full(set())
                return
            if further > longest:
                values = np.concatenate([values, als.longest(vector, longest, further)])
                best = float(values.max())
                longest = further
        if not best > 0:  # no positive ALS evidence: the full pass ranks without ALS
            yield from self._full(set())
            return
        # 2. A first threshold, from the longest factors, the most trending and the
        # neighbours with the highest bounds.
        scored = _Scored(personal, evidence, vector, best / personal.blend.als, reach, self.blocked)
        scored.take(longest, FIRST_DEPTH, scored.first_floor(), values)
        done: set[int] = set()
        depth = FIRST_DEPTH
        while True:
            # Every item whose bound reaches the depth-th best score so far.
            wanted = scored.reaching(depth)
            if wanted is None or _too_far(wanted, most):
                yield from self._full(done)
                return
            if not scored.has(wanted):
                scored.take(*wanted)
            self.scored = scored.count()
            # 3. What no unscored item can reach is final: best first, ties by index.
            ceiling = scored.ceiling()
            for index, score in scored.above(ceiling):
                if index not in done:
                    done.add(index)
                    yield index, score, None
            if ceiling == -np.inf:
                return
            depth *= DEEPER  # 4.

    def _full(self, done: set[int]) -> Ranked:
        """The rest of the order from the full scores (what was yielded left out)."""
        self.scored = self.personal.n_items
        scores = self.personal.blended(self.evidence)
        scores[self.blocked] = -np.inf
        if done:
            scores[np.fromiter(done, dtype=np.int64, count=len(done))] = -np.inf
        yield from ranked(scores)


class _Scored:
    """The items scored so far, as `Personal.scores` scores them once the unit (the
    best ALS score) is known, blocked ones at -inf, each item in one of three parts:

    - `reached`: every item the neighbour signals reach (ascending), each with the
      most it can score (`bounds`), scored once its bound reaches a threshold;
    - `prefix`: a stretch of the norm order (-inf for the items of other parts);
    - `extra_items`: the most trending of the others (ascending).
    """

    def __init__(
        self,
        personal: Personal,
        evidence: Evidence,
        vector: np.ndarray,
        unit: float,
        reach: float,
        blocked: np.ndarray,
    ) -> None:
        self.personal = personal
        self.als = personal.als
        self.evidence = evidence
        self.vector = vector
        self.unit = unit
        self.reach = reach
        self.blocked = blocked
        self.trend = unit * personal.blend.trending
        self.n = personal.n_items
        self.prefix = np.zeros(0, dtype=np.float32)
        self.trending_taken = 0
        self.extra_items = np.zeros(0, dtype=np.int64)
        self.extra_values = np.zeros(0, dtype=np.float32)
        increments = personal.increments(evidence, unit)
        found = [items for items, _, _ in increments]
        reached = distinct(np.concatenate(found)) if found else np.zeros(0, dtype=np.int64)
        self.reached = reached
        self.passes = _passes(increments, reached, self.n)
        bounds = self.reach * self.als.norms[reached]
        if self.trend > 0:
            bounds += self.trend * personal.trending_share[reached]
        for amounts in self.passes:
            bounds += amounts
        self.bounds = bounds * MARGIN
        self.reached_values = np.full(len(reached), -np.inf, dtype=np.float32)
        self.unscored = np.ones(len(reached), dtype=bool)
        self.reached_blocked = _marked(reached, blocked)
        # Where the items kept apart from the norm order's stretch sit in that order.
        self.reached_rank = self.als.norm_rank[reached]
        self.blocked_rank = self.als.norm_rank[blocked]
        self.extra_rank = np.zeros(0, dtype=np.int64)

    def first_floor(self) -> float:
        """The bound of the FIRST_REACHED-th most promising reached item."""
        if len(self.bounds) <= FIRST_REACHED:
            return -np.inf
        return float(np.partition(self.bounds, len(self.bounds) - FIRST_REACHED)[-FIRST_REACHED])

    def count(self) -> int:
        return len(self.prefix) + len(self.extra_items) + int((~self.unscored).sum())

    def has(self, wanted: tuple[int, int, float]) -> bool:
        """Whether every item down to these positions of the norm and trending orders
        and every reached item whose bound is at least the floor is scored."""
        norms_to, trending_to, floor = wanted
        return (
            norms_to <= len(self.prefix)
            and (trending_to <= self.trending_taken or self.trend == 0)
            and not (self.bounds[self.unscored] >= floor).any()
        )

    def take(
        self,
        norms_to: int,
        trending_to: int,
        floor: float,
        als_scores: np.ndarray | None = None,
    ) -> None:
        """Score every item down to these positions of the norm and trending orders
        (the longest factors' ALS scores given, or worked out here), and every
        reached item whose bound is at least `floor`."""
        pick = self.unscored & (self.bounds >= floor)
        if pick.any():
            self._score_reached(pick)
        als = self.als
        start = len(self.prefix)
        norms_to = min(max(norms_to, start), self.n)
        if norms_to > start:
            if als_scores is None:
                als_scores = als.longest(self.vector, start, norms_to)
            self.personal.add_trending(als_scores, self.unit, als.by_norm[start:norms_to])
            for ranks in (self.reached_rank, self.extra_rank, self.blocked_rank):
                at = ranks[(ranks >= start) & (ranks < norms_to)] - start
                als_scores[at] = -np.inf
            self.prefix = np.concatenate([self.prefix, als_scores])
        if self.trend > 0:
            self._take_trending(min(max(trending_to, self.trending_taken), self.n))

    def _score_reached(self, pick: np.ndarray) -> None:
        at = pick.nonzero()[0]
        items = self.reached[at]
        values = self.als.partial(self.vector, items)
        self.personal.add_trending(values, self.unit, items)
        for amounts in self.passes:  # as the full pass adds them: see Personal.increments
            values = (values.astype(np.float64) + amounts[at]).astype(np.float32)
        values[self.reached_blocked[at]] = -np.inf
        self.reached_values[at] = values
        self.unscored[at] = False

    def _take_trending(self, trending_to: int) -> None:
        als = self.als
        fresh = self.personal.by_trending[self.trending_taken : trending_to]
        self.trending_taken = trending_to
        fresh = np.sort(fresh[als.norm_rank[fresh] >= len(self.prefix)])
        fresh = fresh[~(_contains(self.extra_items, fresh) | _contains(self.reached, fresh))]
        if len(fresh):
            values = als.partial(self.vector, fresh)
            self.personal.add_trending(values, self.unit, fresh)
            values[_contains(self.blocked, fresh)] = -np.inf
            items = np.concatenate([self.extra_items, fresh])
            values = np.concatenate([self.extra_values, values])
            order = items.argsort(kind="stable")
            self.extra_items, self.extra_values = items[order], values[order]
            self.extra_rank = als.norm_rank[self.extra_items]

    def reaching(self, depth: int) -> tuple[int, int, float] | None:
        """How far down the norm and trending orders an item can reach the depth-th
        best score so far, and that score (with fewer scores than that, twice as
        far and every reached item); None where nothing is scored that high."""
        threshold = _depth_best(
            np.concatenate([self.prefix, self.extra_values, self.reached_values]), depth
        )
        if threshold is None:
            trending_to = max(self.trending_taken, 1) * DEEPER if self.trend > 0 else 0
            return len(self.prefix) * DEEPER, trending_to, -np.inf
        if not threshold > 0:
            return None
        floor = threshold / MARGIN
        norm_keys = self.als.norm_keys
        if self.trend == 0:
            return _reaching(norm_keys, floor / self.reach), 0, threshold
        # Past both the norm and the trending stretches, an item's ALS bound is
        # below a share of the threshold and its trending part below the rest: of a
        # few such splits, the one that costs the least to score.
        trending_keys = self.personal.trending_keys
        splits = []
        for share in SPLITS:
            norms_to = _reaching(norm_keys, floor * share / self.reach)
            trending_to = _reaching(trending_keys, floor * (1 - share) / self.trend)
            splits.append((norms_to + SCATTERED * trending_to, norms_to, trending_to))
        _, norms_to, trending_to = min(splits)
        return norms_to, trending_to, threshold

    def ceiling(self) -> float:
        """The most an unscored item can score; -inf when every item is scored."""
        ceiling = -np.inf
        norms_taken = len(self.prefix)
        if norms_taken < self.n:
            ceiling = self.reach * -float(self.als.norm_keys[norms_taken])
            if self.trend > 0 and self.trending_taken < self.n:
                ceiling += self.trend * -float(self.personal.trending_keys[self.trending_taken])
            ceiling *= MARGIN
        if self.unscored.any():
            ceiling = max(ceiling, float(self.bounds[self.unscored].max()))
        return ceiling

    def above(self, ceiling: float) -> list[tuple[int, float]]:
        """The scored items above `ceiling`, best first, ties by index."""
        at = (self.prefix > ceiling).nonzero()[0]
        extra = (self.extra_values > ceiling).nonzero()[0]
        reached = (self.reached_values > ceiling).nonzero()[0]
        items = np.concatenate(
            [self.als.by_norm[at], self.extra_items[extra], self.reached[reached]]
        )
        values = np.concatenate(
            [self.prefix[at], self.extra_values[extra], self.reached_values[reached]]
        )
        order = np.lexsort((items, -values))
        return list(zip(items[order].tolist(), values[order].tolist(), strict=True))


def _passes(
    increments: list[tuple[np.ndarray, np.ndarray, bool]], reached: np.ndarray, n: int
) -> list[np.ndarray]:
    """Each increment as what it adds to each reached item, one array per addition
    an item gets (an item listed k times in an accumulating one gets k in a row),
    read through an array of the catalog's size: cheaper than finding each item's
    place among the reached ones. An item the increment does not reach gets 0,
    which leaves a float32 score as it is (but for the sign of a zero)."""
    scratch = np.empty(n)
    passes = []
    for items, amounts, accumulate in increments:
        rounds = [(items, amounts)]
        if accumulate and len(set(items.tolist())) < len(items):
            seen: dict[int, int] = {}
            occurrence = []
            for item in items.tolist():
                occurrence.append(seen.get(item, 0))
                seen[item] = occurrence[-1] + 1
            times = np.array(occurrence)
            rounds = [(items[times == k], amounts[times == k]) for k in range(times.max() + 1)]
        for listed, added in rounds:
            scratch[reached] = 0.0
            scratch[listed] = added
            passes.append(scratch[reached])
    return passes


def _too_far(wanted: tuple[int, int, float], most: int) -> bool:
    """Whether scoring down to these positions of the norm and trending orders costs
    about as much as the full pass (a row read out of order costs several in order)."""
    norms_to, trending_to, _ = wanted
    return norms_to + SCATTERED * trending_to > most


def _depth_best(values: np.ndarray, depth: int) -> float | None:
    """The depth-th best finite score; None if there are fewer."""
    finite = values[values > -np.inf]
    if len(finite) < depth:
        return None
    return float(np.partition(finite, len(finite) - depth)[len(finite) - depth])


def _reaching(keys: np.ndarray, floor: float) -> int:
    """How many leading items (their values negated, ascending) are at least `floor`."""
    return int(keys.searchsorted(-floor, side="right"))


def _marked(ascending: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Which entries of the ascending array are among `values` (a few: each is
    looked up, rather than each entry)."""
    marked = np.zeros(len(ascending), dtype=bool)
    at = ascending.searchsorted(values)
    inside = at < len(ascending)
    at = at[inside]
    marked[at[ascending[at] == values[inside]]] = True
    return marked


def _contains(ascending: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Whether each of `values` is in the ascending array."""
    if len(ascending) == 0:
        return np.zeros(len(values), dtype=bool)
    at = ascending.searchsorted(values).clip(max=len(ascending) - 1)
    found: np.ndarray = ascending[at] == values
    return found
