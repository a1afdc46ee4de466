"""Every Redis key name Tarry uses, and nowhere else.

A store's keys carry its id in a hash tag (`t:{store_id}:...`) so that all of them
live on one Redis Cluster slot and one Lua script may touch them together. The
few global keys (the store index, the daily salt) are never used inside a script.

The ingest script builds the keys of each event itself, from the store's prefix
and the part names below (substituted into its source), because passing a dozen
key names per request through redis-py cost more than the rest of the request.
"""

from __future__ import annotations

PREFIX = "t"

# Parts of per-store key names, shared with the Lua scripts (see scripts.py).
SEEN = "seen:"
SESSION = "sess:"
TRANSACTION = "tx:"
DAY = "day:"
VISITORS = ":visitors"
RATE_IP = "rl:ip:"
RATE_VISITOR = "rl:v:"
VISITOR = "v:"
CATALOG = "catalog"


def store_prefix(store_id: str) -> str:
    """What every key of the store starts with: `t:{store_id}:`."""
    return f"{PREFIX}:{{{store_id}}}:"


# -- global ------------------------------------------------------------------


def store_index() -> str:
    """Set of every store id."""
    return f"{PREFIX}:stores"


def daily_salt(day: str) -> str:
    """Random salt for hashing IP addresses on one UTC day; expires after two days."""
    return f"{PREFIX}:salt:{day}"


# -- per store ---------------------------------------------------------------


def store(store_id: str) -> str:
    """Hash: the store's name, domains, public key, secret-key hash, flags."""
    return f"{store_prefix(store_id)}store"


def events(store_id: str) -> str:
    """Stream of accepted events, an entry per ingest call (field `events`: a JSON
    array), trimmed to the retention period."""
    return f"{store_prefix(store_id)}events"


def seen_events(store_id: str, hour: int) -> str:
    """Hash whose fields are the ids of accepted events sent in one hour (by the
    sender's clock, the same on every retry); kept 48 hours after its last write."""
    return f"{store_prefix(store_id)}{SEEN}{hour}"


def session(store_id: str, session_id: str) -> str:
    """One session's state, "day page_views engaged purchased" followed by the
    categories viewed in it ("|shoes|bags"); expires after 30 minutes without an
    event."""
    return f"{store_prefix(store_id)}{SESSION}{session_id}"


def transaction(store_id: str, transaction_id: str) -> str:
    """Marker that a purchase with this transaction id was counted."""
    return f"{store_prefix(store_id)}{TRANSACTION}{transaction_id}"


def day(store_id: str, day: str) -> str:
    """Hash: one UTC day's counters (sessions, page views, revenue, ...)."""
    return f"{store_prefix(store_id)}{DAY}{day}"


def day_visitors(store_id: str, day: str) -> str:
    """HyperLogLog of the visitor ids seen on one UTC day."""
    return f"{store_prefix(store_id)}{DAY}{day}{VISITORS}"


def rate_visitor(store_id: str, visitor_id: str, window: int) -> str:
    """Event counter of one visitor in one rate-limit window."""
    return f"{store_prefix(store_id)}{RATE_VISITOR}{visitor_id}:{window}"


def models(store_id: str) -> str:
    """Hash: model version → its metadata (JSON: metrics, sizes, config, trained at)."""
    return f"{store_prefix(store_id)}models"


def model_current(store_id: str) -> str:
    """The model version in service (a version named in `models`)."""
    return f"{store_prefix(store_id)}model:current"


def model_sequence(store_id: str) -> str:
    """Counter that numbers model versions."""
    return f"{store_prefix(store_id)}model:seq"


def training_lock(store_id: str) -> str:
    """Held while one process trains the store's model (scheduled retraining)."""
    return f"{store_prefix(store_id)}model:lock"


def catalog(store_id: str) -> str:
    """Hash: item id → the item's card as JSON (name, url, image, price, currency,
    category, brand, availability, updated_ms), from imports and `view_item` events."""
    return f"{store_prefix(store_id)}{CATALOG}"


def visitor(store_id: str, visitor_id: str) -> str:
    """Hash: what decisions need to know about a visitor across sessions: visits
    (`sid`, `ss` session start, `ps` previous session start, `fs` first seen), orders
    (`o`, `lp` last purchase), and popup history per rule (`t:<rule>` recent show
    times, `n:<rule>` "<sid> <shows>", `f:<rule>` first shown, `c:<rule>` clicked)
    and over all rules (`g:s` "<sid> <shows>", `g:d` "<day> <shows>", `g:l` last
    shown). Written by the ingest script; expires a year after the last visit."""
    return f"{store_prefix(store_id)}{VISITOR}{visitor_id}"


def rules(store_id: str) -> str:
    """Hash: popup rule id → the rule as JSON."""
    return f"{store_prefix(store_id)}rules"


def rules_version(store_id: str) -> str:
    """Counter bumped by every change to the store's rules or settings, so that
    servers know when their cached copy is stale."""
    return f"{store_prefix(store_id)}rules:ver"


def store_settings(store_id: str) -> str:
    """The store's decision settings as JSON (time zone, governor, showcases)."""
    return f"{store_prefix(store_id)}settings"


def coupon_pool(store_id: str, pool: str) -> str:
    """List of unused unique coupon codes the merchant uploaded."""
    return f"{store_prefix(store_id)}coupons:{pool}"


def coupons_given(store_id: str, pool: str) -> str:
    """Hash: visitor id → the code of `pool` given to them (one per visitor)."""
    return f"{store_prefix(store_id)}coupons:{pool}:given"


def coupons_used(store_id: str, pool: str) -> str:
    """Set of every code of `pool` ever uploaded, so none is queued twice."""
    return f"{store_prefix(store_id)}coupons:{pool}:all"


def subscribers(store_id: str) -> str:
    """Hash: e-mail address (lower case) → JSON of how it was given (visitor, popup,
    time). Personal data: listed and erased through the admin API."""
    return f"{store_prefix(store_id)}subscribers"


def subscribe_limit(store_id: str, ip_hash: str, hour: int) -> str:
    """Sign-ups from one (hashed) address in one hour: a public form is a spam target."""
    return f"{store_prefix(store_id)}rl:sub:{ip_hash}:{hour}"
