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
SEEN_QUARTER = "seen:q"
SESSION = "sess:"
TRANSACTION = "tx:"
DAY = "day:"
VISITORS = ":visitors"
RATE_IP = "rl:ip:"
RATE_VISITOR = "rl:v:"
VISITOR = "v:"
CATALOG = "catalog"
QUARTER = "q:"
HOUR = "h:"
DIMS_QUARTER = "dq:"
DIMS_DAY = "dd:"
DIMS_RANK = "dz:"
DIMS_RANK_WEEK = "dzw:"
DIMS_RANK_MONTH = "dzm:"
DIMS_WEEK = "dw:"
SETTLED_SUMS = "sums"
VISITOR_COUNTS = "vc"
IMPORTED = "imported:"
VISITOR_ITEMS = "vi:"
ATTRIBUTION_LOG = "attrib"
ATTRIBUTION_HOUR = "ah:"
REPORT_GENERATION = "report-generation"
CUSTOMER_ITEMS = "ci:"
LIVE = "live:"
SESSION_LOG = "sessions"
ORDER_LOG = "orders"
# The dimensions sessions are broken down by, and the short codes their counters are
# named with (`dims_quarter`, `dims_day`), in the order the ingest script gets them.
DIMENSION_CODES = {
    "page_type": "pt",
    "device": "dv",
    "channel": "ch",
    "referrer": "rf",
    "utm_source": "us",
    "utm_medium": "um",
    "utm_campaign": "uc",
    "landing_page": "lp",
}
DIMENSIONS = tuple(DIMENSION_CODES.values())


def store_prefix(store_id: str) -> str:
    """What every key of the store starts with: `t:{store_id}:`."""
    return f"{PREFIX}:{{{store_id}}}:"


# -- global ------------------------------------------------------------------


def store_index() -> str:
    """Set of every store id."""
    return f"{PREFIX}:stores"


def demo() -> str:
    """Hash: the store `tarry demo` made in this Redis (`store_id`), the moment its
    simulated history ends (`anchor_ms`), and `seeded` once that history is in."""
    return f"{PREFIX}:demo"


def daily_salt(day: str) -> str:
    """Random salt for hashing IP addresses on one UTC day; expires after two days."""
    return f"{PREFIX}:salt:{day}"


# -- per store ---------------------------------------------------------------


def store(store_id: str) -> str:
    """Hash: the store's name, domains, public key, secret-key hash, flags."""
    return f"{store_prefix(store_id)}store"


def events(store_id: str) -> str:
    """Stream of accepted events, an entry per ingest call (field `events`: a JSON
    array; `who`: who sent them, see event_entries.py, whose `events` reads an
    entry), trimmed to the retention period."""
    return f"{store_prefix(store_id)}events"


def events_archive(store_id: str, hour: int) -> str:
    """String: the stream entries that arrived in one UTC hour (hours since the
    epoch), moved out of `events` once the hour is over and deflated together
    (storage/event_archive.py); expires with the retention period."""
    return f"{store_prefix(store_id)}events:z:{hour}"


def events_archive_index(store_id: str) -> str:
    """Hash: hour -> "entries first_id last_id" of each `events_archive` hour."""
    return f"{store_prefix(store_id)}events:z"


def events_archive_lock(store_id: str) -> str:
    """Set while a server moves the store's past hours to `events_archive`."""
    return f"{store_prefix(store_id)}events:z:lock"


def report_generation(store_id: str) -> str:
    """Counter: bumped by whatever rewrites stored events or logs of the past (an
    erasure, an import), so that what a process kept of them (`analytics/walks.py`,
    `analytics/customers.py`) is read again."""
    return f"{store_prefix(store_id)}{REPORT_GENERATION}"


def rank_scratch(store_id: str) -> str:
    """Sorted set that exists only inside one script call: the union of a
    dimension's rankings, of which the script returns the top."""
    return f"{store_prefix(store_id)}rank-scratch"


def attribution_hour(store_id: str, hour: int) -> str:
    """String: the events popup and showcase statistics read (popups, showcases,
    carts, purchases), only the fields they read, that arrived in one UTC hour
    (hours since the epoch), each as a JSON object after a comma. A report reads
    these instead of every page view: one GET an hour and one decode, where a
    stream would cost an entry (and a parse in Python) per request. Each expires
    after the retention period from its first write."""
    return f"{store_prefix(store_id)}{ATTRIBUTION_HOUR}{hour}"


def attribution_log(store_id: str) -> str:
    """Stream of the same events, an entry per ingest call (field `events`, a JSON
    array), as versions before `attribution_hour` wrote them: still read and
    erased from until it empties, never written."""
    return f"{store_prefix(store_id)}{ATTRIBUTION_LOG}"


def seen_events(store_id: str, quarter: int) -> str:
    """Hash whose fields are the digests (collect/ingest.py seen_digest) of the ids
    of accepted events sent in one quarter-hour (by the sender's clock, the same on
    every retry); kept 48 hours after its last write."""
    return f"{store_prefix(store_id)}{SEEN_QUARTER}{quarter}"


def seen_events_of_hour(store_id: str, hour: int) -> str:
    """What `seen_events` was before: one hash per hour. Still read, for the 48 hours
    after an upgrade in which it may hold ids accepted before it."""
    return f"{store_prefix(store_id)}{SEEN}{hour}"


def visitor_items(store_id: str, visitor_id: str) -> str:
    """List: the visitor's last items, newest first, at most 50, as
    "<item id> <kind> <ts>" (kind: v viewed, c added to cart, p bought); kept as long
    as the visitor's record. What the server knows of a returning visitor."""
    return f"{store_prefix(store_id)}{VISITOR_ITEMS}{visitor_id}"


def customer_items(store_id: str, customer: str) -> str:
    """List: the same, for a customer id (`uid`) seen on any of their devices."""
    return f"{store_prefix(store_id)}{CUSTOMER_ITEMS}{customer}"


def imported_events(store_id: str, hour: int) -> str:
    """Hash whose fields are the ids of imported events of one hour (by their `ts`):
    an import remembers what it counted for good, so a second import of the same
    file, or an overlapping export, changes nothing."""
    return f"{store_prefix(store_id)}{IMPORTED}{hour}"


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
    """HyperLogLog of the visitor ids whose session started on one UTC day."""
    return f"{store_prefix(store_id)}{DAY}{day}{VISITORS}"


def quarter(store_id: str, number: int) -> str:
    """Hash: one UTC quarter-hour's counters (number: quarter-hours since the epoch),
    the same fields as a day's; with `hour` and `day`, any local period is a sum of
    these (analytics/periods.py)."""
    return f"{store_prefix(store_id)}{QUARTER}{number}"


def hour(store_id: str, number: int) -> str:
    """Hash: one UTC hour's counters (number: hours since the epoch)."""
    return f"{store_prefix(store_id)}{HOUR}{number}"


def visitors_of(bucket_key: str) -> str:
    """HyperLogLog of the visitors whose session started in a day, hour or quarter."""
    return f"{bucket_key}{VISITORS}"


def dims_quarter(store_id: str, number: int) -> str:
    """Hash: one UTC quarter-hour's session counters by dimension value, fields
    `<dim>\t<value>\t<metric>` (dims and metrics: analytics/breakdown.py)."""
    return f"{store_prefix(store_id)}{DIMS_QUARTER}{number}"


def dims_day(store_id: str, day: str, dim: str) -> str:
    """Hash: one UTC day's session counters of one dimension, fields
    `<value>\t<metric>`, and `\t#`, how many values the day admitted (the rest
    count as `(other)`)."""
    return f"{store_prefix(store_id)}{DIMS_DAY}{day}:{dim}"


def dims_rank_month(store_id: str, month: str, dim: str) -> str:
    """Sorted set: one UTC calendar month's (`2026-05`) sessions by value."""
    return f"{store_prefix(store_id)}{DIMS_RANK_MONTH}{month}:{dim}"


def dims_week(store_id: str, week: int, dim: str) -> str:
    """Hash: one UTC week's session counters of one dimension (as `dims_day`; week
    as in `dims_rank_week`), so that a quarter's breakdown reads 13 of these."""
    return f"{store_prefix(store_id)}{DIMS_WEEK}{week}:{dim}"


def settled_sums(store_id: str) -> str:
    """Hash: the summed counters (JSON) of periods that can no longer change
    ("<start>:<end>", in ms), so that a long timeseries reads one field a period;
    an import, which changes the past, deletes it."""
    return f"{store_prefix(store_id)}{SETTLED_SUMS}"


def dims_rank(store_id: str, day: str, dim: str) -> str:
    """Sorted set: one UTC day's sessions by value of one dimension, so that the top
    values of a long range are one ZUNION away."""
    return f"{store_prefix(store_id)}{DIMS_RANK}{day}:{dim}"


def dims_rank_week(store_id: str, week: int, dim: str) -> str:
    """Sorted set: one UTC week's sessions by value (week: Monday-based weeks since
    the epoch, (day number + 3) // 7), so that a quarter's ranking reads 13 of these
    instead of 90 days' worth."""
    return f"{store_prefix(store_id)}{DIMS_RANK_WEEK}{week}:{dim}"


def scratch(store_id: str, name: str) -> str:
    """A short-lived key of the store's slot for one job (e.g. an import's count of
    distinct customers), which deletes it when done."""
    return f"{store_prefix(store_id)}scratch:{name}"


def visitor_counts(store_id: str) -> str:
    """Hash: distinct visitors of periods that can no longer change ("<start>:<end>",
    in ms), so that a long timeseries does not merge the same HyperLogLogs again."""
    return f"{store_prefix(store_id)}{VISITOR_COUNTS}"


def live(store_id: str, minute: int) -> str:
    """Hash: one minute of the server's clock (minutes since the epoch): `events`
    and `p\t<path>` page views; with its visitors' HyperLogLog, kept two hours for
    the realtime view."""
    return f"{store_prefix(store_id)}{LIVE}{minute}"


def session_log(store_id: str) -> str:
    """Stream of session starts, an entry per ingest call (field `s`: "vid ts" pairs
    separated by `;`): first visits and returns for visitor cohorts."""
    return f"{store_prefix(store_id)}{SESSION_LOG}"


def order_log(store_id: str) -> str:
    """Sorted set of counted orders by time (score: ms), members
    `<transaction id>\t<customer>\t<amount in minor units>\t<currency or ''>`:
    what retention and cohorts read."""
    return f"{store_prefix(store_id)}{ORDER_LOG}"


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


def model_bundles(store_id: str) -> str:
    """Hash: model version → how its bundle is stored (JSON: `bytes`, `chunks`,
    `sha256`), written once every chunk is: a version listed here is complete."""
    return f"{store_prefix(store_id)}model:bundles"


def model_chunk(store_id: str, version: str, index: int) -> str:
    """String: one piece (a few MB) of a version's bundle, in order from 0: one
    value of tens of MB would block Redis while it is written, read or moved."""
    return f"{store_prefix(store_id)}model:chunk:{version}:{index}"


def training_lock(store_id: str) -> str:
    """Held while one process trains the store's model (scheduled retraining)."""
    return f"{store_prefix(store_id)}model:lock"


def catalog(store_id: str) -> str:
    """Hash: item id → the item's card as JSON (name, url, image, price, currency,
    category, brand, availability, updated_ms), from imports and `view_item` events."""
    return f"{store_prefix(store_id)}{CATALOG}"


def catalog_version(store_id: str) -> str:
    """Counter bumped by every catalog import or upsert, so that servers know when
    the cards they cached (misses too) are stale. `view_item` product data does not
    bump it: it trickles in all day, and the cache's ttl covers it."""
    return f"{store_prefix(store_id)}{CATALOG}:ver"


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


def wheel_prizes(store_id: str, rule_id: str) -> str:
    """Hash: visitor id → the prize a spin-to-win rule gave them, for good (JSON:
    segment, label, code, ts): asking again answers the same prize."""
    return f"{store_prefix(store_id)}wheel:{rule_id}:won"


def subscribers(store_id: str) -> str:
    """Hash: e-mail address (lower case) → JSON of how it was given (visitor, popup,
    time). Personal data: listed and erased through the admin API."""
    return f"{store_prefix(store_id)}subscribers"


def subscribe_limit(store_id: str, ip_hash: str, hour: int) -> str:
    """Sign-ups from one (hashed) address in one hour: a public form is a spam target."""
    return f"{store_prefix(store_id)}rl:sub:{ip_hash}:{hour}"
