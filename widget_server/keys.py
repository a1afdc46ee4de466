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

# Parts of per-store key names, shared with the Lua scripts (see redis_scripts.py).
SEEN = "seen:"
SESSION = "sess:"
TRANSACTION = "tx:"
DAY = "day:"
VISITORS = ":visitors"
RATE_IP = "rl:ip:"
RATE_VISITOR = "rl:v:"


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
    """Stream of accepted events, an entry per request (field `events`: a JSON
    array), trimmed to the retention period."""
    return f"{store_prefix(store_id)}events"


def seen_events(store_id: str, hour: int) -> str:
    """Hash whose fields are the ids of accepted events sent in one hour (by the
    sender's clock, the same on every retry); kept 48 hours after its last write."""
    return f"{store_prefix(store_id)}{SEEN}{hour}"


def session(store_id: str, session_id: str) -> str:
    """One session's state, "day page_views engaged purchased"; expires after 30
    minutes without an event."""
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
