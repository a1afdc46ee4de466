"""Synthetic shop traffic with planted structure, to benchmark recommenders.

A public data set tells us how well a model scores, not what it missed; here we know
what there is to find. Each category leans on one of `n_tastes` latent tastes, and
its items' taste vectors concentrate there; each visitor's taste vector is a sparse
Dirichlet draw. A visitor views item i with probability proportional to
``popularity_i ** popularity_exponent * exp(taste_strength * affinity)``, where
popularity follows Zipf ranks and affinity is the dot product of the two vectors.

- Popularity is heavy-tailed, so the popularity baseline is a fair opponent; but a
  visitor keeps their tastes from one session to the next, so a model that learns
  tastes from someone's past should beat it.
- Within a session the next view stays in the last view's category with probability
  `category_stickiness`, so the order of a session carries signal for session models.
- Each item has one or two complements in a related category (one that leans on the
  same taste). After carting an item a shopper often views and carts a complement,
  and a session that checks out buys its whole cart: bought-together pairs exist.
- A returning visitor sometimes comes back to re-buy something bought before (as in
  grocery and gift shops), so a model that never shows bought items loses recall.
- A share of visitors are anonymous: they come once and never return.

Four structures can be planted on top, each favouring a different kind of model
(`STRUCTURES` holds a shop for each; with the defaults none is, and the traffic is
the same as before they existed):

- **baskets with reorders** (`reorder_size`): a re-buying session re-buys several
  earlier purchases at once, as a grocery order does;
- **drifting popularity** (`drift_phases`): the popularity ranking is redrawn that
  many times over the span, so what sells now is not what sold last month;
- **session co-clicks** (`coclick_rate`): a view is often followed by one of a few
  fixed partners of the item viewed, wherever they are in the catalog: the next
  click of a session is predictable from the current one;
- **long-term taste** (a strong `taste_strength` and regulars): visitors keep their
  tastes over many sessions.

Output is deterministic for a seed: timestamps count from 2026-01-01 UTC.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import numpy as np

from recommender.interactions import Interaction

EVENTS = ("view_item", "add_to_cart", "purchase")
_VIEW, _CART, _PURCHASE = 0, 1, 2
_EPOCH_MS = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp() * 1000)
_DAY_MS = 86_400_000
_MIN_SESSION_GAP_MS = 6 * 3_600_000  # keeps a visitor's sessions apart (less if `days` is short)
_USER_CONCENTRATION = 0.3  # Dirichlet below 1: most visitors care for one or two tastes
_ITEM_MAIN_TASTE, _ITEM_OTHER_TASTE = 4.0, 0.1  # about 85% of an item on its category's taste
_CHUNK_CELLS = 2_000_000  # visitors x items probabilities held at once (16 MB)

_COUNTS = ("n_users", "n_items", "n_categories", "n_tastes", "reorder_size", "drift_phases")
_MEANS = ("sessions_per_user", "views_per_session")
_STRENGTHS = ("popularity_exponent", "taste_strength")
_RATES = (
    "category_stickiness",
    "cart_rate",
    "purchase_rate",
    "complement_rate",
    "repeat_rate",
    "anonymous_share",
    "coclick_rate",
)


@dataclasses.dataclass(frozen=True)
class SyntheticShop:
    """The parameters of a synthetic shop.

    Parameters
    ----------
    n_users : visitors, anonymous ones included.
    n_items : items in the catalogue.
    n_categories : categories; category c leans on taste c % n_tastes.
    n_tastes : latent taste dimensions.
    sessions_per_user : mean sessions of a visitor who is not anonymous (geometric,
        so many come once and a few many times).
    views_per_session : mean item views in a session (geometric).
    popularity_exponent : Zipf exponent of item popularity.
    taste_strength : weight of taste affinity against popularity (beta).
    category_stickiness : chance that a view stays in the last view's category.
    cart_rate : chance that a viewed item is carted.
    purchase_rate : chance that a session with a cart checks out, buying all of it.
    complement_rate : chance that carting an item leads to carting a complement.
    repeat_rate : chance that a returning visitor's session re-buys an earlier purchase.
    anonymous_share : share of visitors who come once.
    days : days the traffic spans.
    seed : seed for `np.random.default_rng`.
    reorder_size : earlier purchases a re-buying session re-buys (1: one).
    drift_phases : popularity rankings over the span (1: one, no drift).
    coclick_rate : chance that a view follows one of the last item's co-click partners.
    """

    n_users: int = 2000
    n_items: int = 1000
    n_categories: int = 20
    n_tastes: int = 8
    sessions_per_user: float = 4.0
    views_per_session: float = 6.0
    popularity_exponent: float = 1.1
    # 8: on the defaults, item-kNN beats popularity by about a third in recall@10 (user
    # split), so tastes are worth learning and popularity is still no straw man
    taste_strength: float = 8.0
    category_stickiness: float = 0.6
    cart_rate: float = 0.15
    purchase_rate: float = 0.4
    complement_rate: float = 0.5
    repeat_rate: float = 0.2
    anonymous_share: float = 0.3
    days: float = 90.0
    seed: int = 0
    reorder_size: int = 1
    drift_phases: int = 1
    coclick_rate: float = 0.0

    def __post_init__(self) -> None:
        for name in (*_COUNTS, "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name}: must be an integer, got {value!r}")
        for name in _COUNTS:
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be at least 1, got {getattr(self, name)}")
        if self.seed < 0:
            raise ValueError(f"seed: must not be negative, got {self.seed}")
        # `not x >= bound` rather than `x < bound`, so that NaN is refused too
        for name in _MEANS:
            if not getattr(self, name) >= 1:
                raise ValueError(f"{name}: must be at least 1, got {getattr(self, name)}")
        for name in _STRENGTHS:
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name}: must not be negative, got {getattr(self, name)}")
        for name in _RATES:
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name}: must be between 0 and 1, got {getattr(self, name)}")
        if not 0 < self.days < float("inf"):
            raise ValueError(f"days: must be positive and finite, got {self.days}")


@dataclasses.dataclass(frozen=True)
class _Catalog:
    """Items are numbered by category internally (category c holds items
    bounds[c]:bounds[c + 1]), so a within-category draw is a slice; `names` shuffles
    the public ids so that nothing can be read from them."""

    category: np.ndarray  # item -> category, non-decreasing
    bounds: np.ndarray  # n_categories + 1 offsets into the items
    names: np.ndarray  # item -> number in its public id
    log_weight: np.ndarray  # popularity_exponent * log(popularity)
    vectors: np.ndarray  # items x tastes, rows on the simplex
    complements: np.ndarray  # items x 2, valid ones first, -1 for none


def generate(shop: SyntheticShop = SyntheticShop()) -> list[Interaction]:
    """Generate a shop's traffic.

    Parameters
    ----------
    shop : the parameters; the defaults give about 51,000 interactions.

    Returns
    -------
    Interactions sorted by time, with ids "u17" (visitor), "s17-3" (visitor 17's
    fourth session), "i42" (item) and GA4 event names.
    """
    rng = np.random.default_rng(shop.seed)
    catalog = _catalog(shop, rng)
    tastes = _simplex(rng, np.full((shop.n_users, shop.n_tastes), _USER_CONCENTRATION))

    anonymous = rng.random(shop.n_users) < shop.anonymous_share
    per_user = np.where(anonymous, 1, rng.geometric(1 / shop.sessions_per_user, shop.n_users))
    session_user = np.repeat(np.arange(shop.n_users), per_user)
    first_session = np.cumsum(per_user) - per_user
    rank = np.arange(session_user.size) - first_session[session_user]
    lengths = rng.geometric(1 / shop.views_per_session, session_user.size)
    # The planted structures draw from a generator of their own, so that a shop
    # without them is the same traffic as before they existed.
    extra = np.random.default_rng([shop.seed, 1])
    start = phase = None
    if shop.drift_phases > 1:  # each session's popularity ranking: by its start
        start = _session_starts(shop, per_user, session_user, rank, rng)
        phase = np.minimum(
            (start / (shop.days * _DAY_MS) * shop.drift_phases).astype(np.int64),
            shop.drift_phases - 1,
        )
    v_session, v_pos, v_item = _views(
        shop, catalog, tastes, session_user, lengths, rng, phase=phase, extra=extra
    )

    carted = rng.random(v_item.size) < shop.cart_rate
    c_session, c_pos, c_item = v_session[carted], v_pos[carted], v_item[carted]
    options = catalog.complements[c_item]
    other = options[np.arange(c_item.size), rng.integers(2, size=c_item.size)]
    other = np.where(other < 0, options[:, 0], other)
    follow = (rng.random(c_item.size) < shop.complement_rate) & (other >= 0)
    f_session, f_pos, f_item = c_session[follow], c_pos[follow], other[follow]

    # Re-buys are drawn from purchases of the visitor's earlier sessions, so they are
    # decided before a re-buying session's own checkout (which it always makes).
    checkout = rng.random(session_user.size) < shop.purchase_rate
    cart_session = np.concatenate([c_session, f_session])
    cart_item = np.concatenate([c_item, f_item])
    bought = checkout[cart_session]
    order = np.argsort(cart_session[bought], kind="stable")
    pool_session, pool_item = cart_session[bought][order], cart_item[bought][order]
    rebuy = np.flatnonzero((rank > 0) & (rng.random(session_user.size) < shop.repeat_rate))
    lo = np.searchsorted(pool_session, first_session[session_user[rebuy]])
    hi = np.searchsorted(pool_session, rebuy)
    rebuy, lo, hi = rebuy[hi > lo], lo[hi > lo], hi[hi > lo]
    checkout[rebuy] = True
    # A reorder re-buys `reorder_size` earlier purchases (drawn with replacement).
    rebuy, lo, hi = (np.repeat(a, shop.reorder_size) for a in (rebuy, lo, hi))
    r_item = pool_item[lo + (rng.random(rebuy.size) * (hi - lo)).astype(np.int64)]

    # A checkout buys each carted item once, however often it went into the cart.
    cart_session = np.concatenate([cart_session, rebuy])
    cart_item = np.concatenate([cart_item, r_item])
    paid = checkout[cart_session]
    line = np.unique(cart_session[paid] * shop.n_items + cart_item[paid])
    p_session, p_item = line // shop.n_items, line % shop.n_items

    # Order within a session: a re-buy's view and cart first, then each view followed by
    # its cart and a complement's view and cart, then the checkout.
    zeros, ones = np.zeros(rebuy.size, np.int64), np.ones(rebuy.size, np.int64)
    last = 2 + 4 * int(lengths.max())
    session = np.concatenate([v_session, c_session, f_session, f_session, rebuy, rebuy, p_session])
    checkout_key = np.full(p_session.size, last)
    key = np.concatenate(
        [2 + 4 * v_pos, 3 + 4 * c_pos, 4 + 4 * f_pos, 5 + 4 * f_pos, zeros, ones, checkout_key]
    )
    sizes = [v_item.size, c_item.size, f_item.size, f_item.size, rebuy.size, rebuy.size]
    event = np.repeat([_VIEW, _CART, _VIEW, _CART, _VIEW, _CART, _PURCHASE], [*sizes, line.size])
    item = np.concatenate([v_item, c_item, f_item, f_item, r_item, r_item, p_item])
    order = np.lexsort((key, session))
    session, event, item = session[order], event[order], item[order]

    if start is None:
        start = _session_starts(shop, per_user, session_user, rank, rng)
    times = _EPOCH_MS + start[session] + _elapsed(session, event, rng)
    order = np.argsort(times, kind="stable")

    users = [f"u{u}" for u in range(shop.n_users)]
    sessions = [f"s{u}-{r}" for u, r in zip(session_user.tolist(), rank.tolist(), strict=True)]
    items = [f"i{name}" for name in catalog.names.tolist()]
    user_of = session_user.tolist()
    return [
        Interaction(t, users[user_of[s]], sessions[s], EVENTS[e], items[i])
        for t, s, e, i in zip(
            times[order].tolist(),
            session[order].tolist(),
            event[order].tolist(),
            item[order].tolist(),
            strict=True,
        )
    ]


def item_categories(shop: SyntheticShop = SyntheticShop()) -> dict[str, str]:
    """Map each item id of `generate(shop)` to its category id ("i42" -> "c3")."""
    catalog = _catalog(shop, np.random.default_rng(shop.seed))
    return {
        f"i{name}": f"c{category}"
        for name, category in zip(catalog.names.tolist(), catalog.category.tolist(), strict=True)
    }


def _catalog(shop: SyntheticShop, rng: np.random.Generator) -> _Catalog:
    """The items; drawn first from the generator, so `item_categories` can redraw them."""
    n = shop.n_items
    category = np.sort(rng.integers(shop.n_categories, size=n))
    bounds = np.searchsorted(category, np.arange(shop.n_categories + 1))
    names = rng.permutation(n)
    log_weight = -shop.popularity_exponent * np.log(rng.permutation(n) + 1.0)
    alpha = np.full((n, shop.n_tastes), _ITEM_OTHER_TASTE)
    alpha[np.arange(n), category % shop.n_tastes] = _ITEM_MAIN_TASTE
    vectors = _simplex(rng, alpha)

    complements = np.full((n, 2), -1)
    for c in range(shop.n_categories):
        members = np.arange(bounds[c], bounds[c + 1])
        if members.size == 0:
            continue
        related = [d for d in range(shop.n_categories) if d % shop.n_tastes == c % shop.n_tastes]
        related = [d for d in related if d != c and bounds[d + 1] > bounds[d]] or [c]
        pool = np.concatenate([np.arange(bounds[d], bounds[d + 1]) for d in related])
        picks = pool[rng.integers(pool.size, size=(members.size, 2))]
        picks[rng.random(members.size) < 0.5, 1] = -1  # half the items have one complement
        picks[picks == members[:, None]] = -1
        picks[picks[:, 1] == picks[:, 0], 1] = -1
        complements[members] = -np.sort(-picks, axis=1)
    return _Catalog(category, bounds, names, log_weight, vectors, complements)


def _simplex(rng: np.random.Generator, alpha: np.ndarray) -> np.ndarray:
    """One Dirichlet draw per row of `alpha` (numpy's `dirichlet` takes one alpha)."""
    draws = rng.standard_gamma(alpha)
    return np.asarray(draws / draws.sum(axis=1, keepdims=True))


def _views(
    shop: SyntheticShop,
    catalog: _Catalog,
    tastes: np.ndarray,
    session_user: np.ndarray,
    lengths: np.ndarray,
    rng: np.random.Generator,
    *,
    phase: np.ndarray | None = None,
    extra: np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every session's views: (session, position, item), by session then position.

    Visitors go in chunks, each with its visitors' cumulative item distributions laid
    end to end (row r spans [r, r + 1]), so that one `searchsorted` samples a view for
    every live session at once, from the whole row or from one category's slice of it.
    With drift, a visitor has a row per popularity phase and a session samples from
    its phase's; with co-clicks, a view may instead be a partner of the last one.
    """
    n = shop.n_items
    extra = extra if extra is not None else np.random.default_rng([shop.seed, 1])
    phases = shop.drift_phases if phase is not None else 1
    log_weights = [catalog.log_weight]
    for _ in range(phases - 1):
        log_weights.append(-shop.popularity_exponent * np.log(extra.permutation(n) + 1.0))
    partners = None
    if shop.coclick_rate > 0:
        # Three partners per item, anywhere in the catalog, the popular more often.
        weight = np.exp(catalog.log_weight)
        partners = extra.choice(n, size=(n, 3), p=weight / weight.sum())
    chunk = max(1, _CHUNK_CELLS // (n * phases))
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for first in range(0, shop.n_users, chunk):
        users = slice(first, min(first + chunk, shop.n_users))
        affinity = shop.taste_strength * tastes[users] @ catalog.vectors.T
        # Row (user - first) * phases + phase.
        logits = (affinity[:, None, :] + np.stack(log_weights)[None, :, :]).reshape(-1, n)
        weights = np.exp(logits - logits.max(axis=1, keepdims=True))
        cumulative = np.cumsum(weights, axis=1)
        cumulative /= cumulative[:, -1:]
        cumulative += np.arange(cumulative.shape[0])[:, None]
        # row r's item j owns (edges[r * n + j], edges[r * n + j + 1]]
        edges = np.concatenate([[0.0], cumulative.ravel()])

        s_lo, s_hi = np.searchsorted(session_user, [users.start, users.stop])
        row = (session_user[s_lo:s_hi] - users.start) * phases
        if phase is not None:
            row = row + phase[s_lo:s_hi]
        length = lengths[s_lo:s_hi]
        items = np.full((s_hi - s_lo, int(length.max(initial=0))), -1)
        for k in range(items.shape[1]):
            live = np.flatnonzero(length > k)
            a, b = np.zeros(live.size, np.int64), np.full(live.size, n)
            if k:
                stay = rng.random(live.size) < shop.category_stickiness
                category = catalog.category[items[live[stay], k - 1]]
                a[stay], b[stay] = catalog.bounds[category], catalog.bounds[category + 1]
            base = row[live] * n
            low, high = edges[base + a], edges[base + b]
            target = low + rng.random(live.size) * (high - low)
            # rounding can land a target on a slice's edge: clip back into the slice
            pick = np.searchsorted(edges, target, side="right") - 1 - base
            items[live, k] = np.clip(pick, a, b - 1)
            if k and partners is not None:
                follow = np.flatnonzero(extra.random(live.size) < shop.coclick_rate)
                previous = items[live[follow], k - 1]
                choice = extra.integers(3, size=follow.size)
                items[live[follow], k] = partners[previous, choice]
        where, pos = np.nonzero(items >= 0)
        parts.append((s_lo + where, pos, items[where, pos]))
    session, pos, item = (np.concatenate(column) for column in zip(*parts, strict=True))
    return session, pos, item


def _session_starts(
    shop: SyntheticShop,
    per_user: np.ndarray,
    session_user: np.ndarray,
    rank: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Session start times (ms from the epoch) spread over the span, in rank order
    within each visitor and at least a gap apart: sorted uniforms on the span less the
    gaps, plus rank times the gap."""
    span = shop.days * _DAY_MS
    gap = min(_MIN_SESSION_GAP_MS, span / per_user.max())
    draws = rng.random(session_user.size)
    draws = draws[np.lexsort((draws, session_user))]  # sessions are grouped by visitor
    free = span - per_user[session_user] * gap
    return np.asarray(draws * free + rank * gap, dtype=np.int64)


def _elapsed(session: np.ndarray, event: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Milliseconds from each event's session start: tens of seconds on a page before
    the next view, seconds to cart, a minute or two to check out, and one timestamp for
    all the lines of an order."""
    n = session.size
    seconds = np.select(
        [event == _VIEW, event == _CART],
        [5 + rng.exponential(45, n), 2 + rng.exponential(10, n)],
        30 + rng.exponential(90, n),
    )
    opens = np.ones(n, bool)
    opens[1:] = session[1:] != session[:-1]
    same_order = np.zeros(n, bool)
    same_order[1:] = (event[1:] == _PURCHASE) & (event[:-1] == _PURCHASE) & ~opens[1:]
    gaps = (seconds * 1000).astype(np.int64)
    gaps[opens | same_order] = 0
    total = np.cumsum(gaps)
    first = np.maximum.accumulate(np.where(opens, np.arange(n), 0))
    return np.asarray(total - total[first])


# One shop per planted structure (about 40-70 thousand interactions each), each the
# kind of store on which a different model is best.
STRUCTURES: dict[str, SyntheticShop] = {
    # Grocery-like: regulars who reorder several items of earlier baskets.
    "baskets": SyntheticShop(
        n_users=1500,
        sessions_per_user=8.0,
        views_per_session=4.0,
        cart_rate=0.4,
        purchase_rate=0.8,
        repeat_rate=0.7,
        reorder_size=4,
        anonymous_share=0.05,
        seed=11,
    ),
    # Fashion-like: bestsellers change every week or so; tastes matter little.
    "drift": SyntheticShop(
        n_users=4000,
        sessions_per_user=3.0,
        popularity_exponent=1.3,
        taste_strength=2.0,
        repeat_rate=0.0,
        anonymous_share=0.4,
        drift_phases=12,
        seed=12,
    ),
    # Anonymous browsing: one session each, the next click follows the current one.
    "sessions": SyntheticShop(
        n_users=9000,
        views_per_session=6.0,
        taste_strength=2.0,
        coclick_rate=0.6,
        repeat_rate=0.0,
        anonymous_share=1.0,
        seed=13,
    ),
    # Regulars with lasting, distinct tastes.
    "taste": SyntheticShop(
        n_users=2500,
        n_tastes=16,
        n_categories=40,
        sessions_per_user=6.0,
        popularity_exponent=0.8,
        taste_strength=12.0,
        category_stickiness=0.3,
        complement_rate=0.2,
        repeat_rate=0.0,
        anonymous_share=0.1,
        seed=14,
    ),
}
