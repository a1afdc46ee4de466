"""Interactions: from events to a user x item matrix.

One path for every source: a store's Redis stream and a CSV file of events both
become interactions (`Columns` for training, `Interaction` records where a few
are easier to read), and `build_matrix` turns them into a weighted
`scipy.sparse.csr_matrix`. Each event type has a weight (a purchase says more
than a view); older events count less (exponential decay with a half-life); and
repeated events of a damped type (views, by default) add less and less, so that
a visitor reloading a page does not outweigh a purchase.
"""

from __future__ import annotations

import array
import csv
import dataclasses
import gzip
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO, TypeVar

import msgspec
import numpy as np
import scipy.sparse as sp

from recommender.columns import Columns, as_columns, recode
from recommender.columns import Interaction as Interaction
from recommender.event_names import EVENT_ALIASES
from recommender.ids import IdMap as IdMap

T = TypeVar("T")

DEFAULT_WEIGHTS: Mapping[str, float] = {
    "view_item": 1.0,
    "showcase_click": 1.0,
    "add_to_cart": 4.0,
    "begin_checkout": 4.0,
    "purchase": 8.0,
}


@dataclasses.dataclass(frozen=True)
class Weighting:
    """How events become matrix values.

    Parameters
    ----------
    weights : mapping of event name to weight; events not in it are ignored.
    half_life_days : an event this old counts half; None for no decay.
    damped : event names whose repeats add log2(1 + n) rather than n.
    """

    weights: Mapping[str, float] = dataclasses.field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    half_life_days: float | None = 30.0
    damped: frozenset[str] = frozenset({"view_item", "showcase_click"})

    def __post_init__(self) -> None:
        for name, weight in self.weights.items():
            if not weight > 0:
                raise ValueError(f"weights.{name}: must be positive, got {weight}")
        if self.half_life_days is not None and not self.half_life_days > 0:
            raise ValueError(f"half_life_days: must be positive, got {self.half_life_days}")


@dataclasses.dataclass
class InteractionMatrix:
    """The users x items matrix with the id maps of its rows and columns, and when
    each cell was last touched (ms, aligned with `matrix.data`): a history's order."""

    matrix: sp.csr_matrix
    users: IdMap
    items: IdMap
    last_ms: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, dtype=np.int64))


def build_matrix(
    interactions: Iterable[Interaction] | Columns,
    weighting: Weighting | None = None,
    *,
    now_ms: int | None = None,
    users: IdMap | None = None,
    items: IdMap | None = None,
) -> InteractionMatrix:
    """Weighted users x items matrix (float32 CSR).

    `now_ms` is the reference time for decay (default: the newest interaction).
    Existing `users` / `items` maps are extended, never reordered; new ids are
    appended in the order they first appear.
    """
    weighting = weighting or Weighting()
    users = users if users is not None else IdMap()
    items = items if items is not None else IdMap()
    columns = as_columns(interactions)
    event_codes = {name: code for code, name in enumerate(weighting.weights)}
    kind_of = np.array(columns.per_event(event_codes.get, -1), dtype=np.int64)
    kind = kind_of[columns.event]
    weighed = kind >= 0
    kind = kind[weighed]
    row = recode(columns.visitor[weighed], columns.visitors, users, add=True)
    col = recode(columns.item[weighed], columns.items, items, add=True)
    ts = columns.ts[weighed]
    shape = (len(users), len(items))
    if not len(row):
        return InteractionMatrix(sp.csr_matrix(shape, dtype=np.float32), users, items)

    reference = int(ts.max()) if now_ms is None else now_ms
    if weighting.half_life_days is None:
        decay = np.ones(len(ts))
    else:
        age_days = np.maximum(reference - ts, 0) / 86_400_000
        decay = np.power(0.5, age_days / weighting.half_life_days)

    # Sum decayed counts per (user, item, event type), then weight and damp each sum.
    n_kinds = len(event_codes)
    key = (row * shape[1] + col) * n_kinds + kind
    unique, inverse = np.unique(key, return_inverse=True)
    counts = np.bincount(inverse, weights=decay)
    latest = np.full(len(unique), np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(latest, inverse, ts)
    u_kind = unique % n_kinds
    weights = np.array(list(weighting.weights.values()), dtype=np.float64)
    damped = np.array([name in weighting.damped for name in weighting.weights])
    values = np.where(damped[u_kind], np.log2(1 + counts), counts) * weights[u_kind]
    cell = unique // n_kinds
    matrix = sp.csr_matrix(
        (values.astype(np.float32), (cell // shape[1], cell % shape[1])), shape=shape
    )
    matrix.sum_duplicates()  # the event types of one cell add up
    # `cell` is sorted, as the matrix's entries are (by row, then column).
    firsts = np.flatnonzero(np.concatenate([[True], cell[1:] != cell[:-1]]))
    last_ms = np.maximum.reduceat(latest, firsts)
    return InteractionMatrix(matrix, users, items, last_ms)


# -- sources ------------------------------------------------------------------

CSV_COLUMNS = ("timestamp", "visitor_id", "event", "item_id")


def _timestamp_ms(raw: str) -> int:
    text = raw.strip()
    if text.isdigit():
        value = int(text)
        return value if value > 10**11 else value * 1000  # seconds or milliseconds
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def _open_text(path: Path) -> TextIO:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", newline="", encoding="utf-8")
    return open(path, newline="", encoding="utf-8")


SESSION_GAP_MS = 30 * 60_000


def read_csv(path: str | Path) -> list[Interaction]:
    """Interactions from a CSV with columns `timestamp` (ms, s or ISO 8601),
    `visitor_id`, optional `session_id`, `event` (GA4 names, or a common alias such
    as `view`, `addtocart`, `transaction`) and `item_id`. Without session ids, a
    visitor's session ends after 30 minutes without an event (the web-analytics
    convention). A bad row raises ValueError naming its line and field."""
    path = Path(path)
    records: list[Interaction] = []
    with _open_text(path) as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(missing)}")
        for line, row in enumerate(reader, start=2):
            for column in CSV_COLUMNS:
                if not (row.get(column) or "").strip():
                    raise ValueError(f"{path}:{line}: {column}: empty")
            try:
                timestamp = _timestamp_ms(row["timestamp"])
            except ValueError:
                raise ValueError(
                    f"{path}:{line}: timestamp: not ms, seconds or ISO 8601: {row['timestamp']!r}"
                ) from None
            event = row["event"].strip()
            records.append(
                Interaction(
                    timestamp,
                    row["visitor_id"].strip(),
                    (row.get("session_id") or "").strip(),
                    EVENT_ALIASES.get(event.lower(), event),
                    row["item_id"].strip(),
                )
            )
    return with_sessions(records)


def with_sessions(records: list[Interaction], gap_ms: int = SESSION_GAP_MS) -> list[Interaction]:
    """Records without a session id get one: `<visitor>#<n>`, a new n after `gap_ms`
    without an event of that visitor. Order is kept."""
    if all(r.session_id for r in records):
        return records
    order = sorted(
        (i for i, r in enumerate(records) if not r.session_id),
        key=lambda i: (records[i].visitor_id, records[i].timestamp_ms),
    )
    out = list(records)
    visitor, last, number = None, 0, 0
    for i in order:
        r = records[i]
        if r.visitor_id != visitor:
            visitor, number = r.visitor_id, 0
        elif r.timestamp_ms - last > gap_ms:
            number += 1
        last = r.timestamp_ms
        out[i] = dataclasses.replace(r, session_id=f"{r.visitor_id}#{number}")
    return out


class StoredItem(msgspec.Struct):
    """The fields of a stored event's item that the recommender reads."""

    item_id: str
    item_name: str | None = None
    item_category: str | None = None
    availability: str | None = None


class StoredEvent(msgspec.Struct):
    """The fields of a stored event that the recommender reads (others are skipped
    while parsing, which is most of the cost saved over `json.loads`). An entry may
    keep `vid` and `sid` beside its events: its reader fills them in."""

    ts: int
    type: str
    vid: str = ""
    sid: str = ""
    items: list[StoredItem] | None = None


# The events of one stream entry (the fields XRANGE gives), decoded as the given
# type: the server's storage/event_entries.py `events`, which knows its layouts.
EntryReader = Callable[[Mapping[bytes, bytes], type[StoredEvent]], list[StoredEvent]]
# The same, and who sent them as runs of (vid, sid, events): its `with_senders`.
SenderReader = Callable[
    [Mapping[bytes, bytes], type[StoredEvent]],
    tuple[list[StoredEvent], list[tuple[str, str, int]]],
]


# A page of stream entries as XRANGE gives them: (id, fields), oldest first.
EntryPage = Sequence[tuple[Any, Mapping[bytes, bytes]]]


def xrange_pages(
    redis: Any, stream_key: str, batch: int = 10_000, *, start: str = "-", end: str = "+"
) -> Iterator[EntryPage]:
    """The entries of a stream (a synchronous redis-py client) between `start` and
    `end` as XRANGE reads them, in pages of `batch` entries so that memory does not
    grow with the stream."""
    while True:
        entries = redis.xrange(stream_key, min=start, max=end, count=batch)
        yield entries
        if len(entries) < batch:
            return
        start = "(" + entries[-1][0].decode()


def stream_events(
    redis: Any,
    stream_key: str,
    read_entry: Callable[[Mapping[bytes, bytes], type[StoredEvent]], T],
    batch: int = 10_000,
    *,
    start: str = "-",
    end: str = "+",
) -> Iterator[T]:
    """What `read_entry` makes of each entry (its events, and with `with_senders`
    their senders), oldest entry first, from a store's event stream between `start`
    and `end` (`xrange_pages`)."""
    for entries in xrange_pages(redis, stream_key, batch, start=start, end=end):
        for _, fields in entries:
            yield read_entry(fields, StoredEvent)


def read_stream(
    redis: Any,
    stream_key: str,
    read_entry: EntryReader,
    batch: int = 10_000,
    on_item: Callable[[StoredItem], None] | None = None,
) -> Iterator[Interaction]:
    """Interactions from a store's event stream, one record each. `on_item` sees
    every item record on the way (the catalog fills itself from them)."""
    for events in stream_events(redis, stream_key, read_entry, batch):
        for event in events:
            if not event.items:
                continue
            for item in event.items:
                if on_item is not None:
                    on_item(item)
                yield Interaction(event.ts, event.vid, event.sid, event.type, item.item_id)


def read_columns(
    pages: Iterable[EntryPage],
    read_entry: SenderReader,
    on_item: Callable[[StoredItem], None] | None = None,
    progress: Callable[[int], None] | None = None,
    every: int = 500_000,
) -> Columns:
    """The interactions of a store's event entries (pages of them as XRANGE gives
    them: `xrange_pages`, or the server's reader that adds archived hours) as
    columns, in stream order: what `read_stream` yields, with no Python object kept
    per interaction, each sender coded once a run of its events. `on_item` sees
    each item record that differs from that item's previous one (a catalog keeps
    the newest facts of an item, which a repeated record does not change);
    `progress` hears the count every `every` interactions."""
    visitors: dict[str, int] = {}
    sessions: dict[str, int] = {}
    kinds: dict[str, int] = {}
    items: dict[str, int] = {}
    previous: dict[str, StoredItem] = {}
    ts, visitor, session = array.array("q"), array.array("i"), array.array("i")
    kind, item = array.array("h"), array.array("i")
    next_report = every
    entries = (read_entry(fields, StoredEvent) for page in pages for _, fields in page)
    for events, runs in entries:
        run_of: list[int] = []
        for at, run in enumerate(runs):
            run_of += [at] * run[2]
        # A run's sender is coded at its first event with items (one that has
        # none is not an interaction, and its sender no id of the columns).
        coded: list[tuple[int, int] | None] = [None] * len(runs)
        for event, at in zip(events, run_of, strict=True):
            records = event.items
            if not records:
                continue
            sender = coded[at]
            if sender is None:
                vid, sid, _ = runs[at]
                # setdefault's default is worked out first: a new id gets the next code.
                sender = coded[at] = (
                    visitors.setdefault(vid, len(visitors)),
                    sessions.setdefault(sid, len(sessions)),
                )
            v, s = sender
            k = kinds.setdefault(event.type, len(kinds))
            for record in records:
                item_id = record.item_id
                if on_item is not None and previous.get(item_id) != record:
                    previous[item_id] = record
                    on_item(record)
                ts.append(event.ts)
                visitor.append(v)
                session.append(s)
                kind.append(k)
                item.append(items.setdefault(item_id, len(items)))
        if progress is not None and len(ts) >= next_report:
            progress(len(ts))
            next_report = (len(ts) // every + 1) * every
    return Columns.coded(ts, visitor, session, kind, item, (visitors, sessions, kinds, items))
