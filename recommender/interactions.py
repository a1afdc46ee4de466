"""Interactions: from events to a user x item matrix.

One path for every source: a store's Redis stream and a CSV file of events both
become `Interaction` records, and `build_matrix` turns records into a weighted
`scipy.sparse.csr_matrix`. Each event type has a weight (a purchase says more
than a view); older events count less (exponential decay with a half-life); and
repeated events of a damped type (views, by default) add less and less, so that
a visitor reloading a page does not outweigh a purchase.
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

import msgspec
import numpy as np
import scipy.sparse as sp

from recommender.event_names import EVENT_ALIASES

DEFAULT_WEIGHTS: Mapping[str, float] = {
    "view_item": 1.0,
    "showcase_click": 1.0,
    "add_to_cart": 4.0,
    "begin_checkout": 4.0,
    "purchase": 8.0,
}


@dataclasses.dataclass(frozen=True, slots=True)
class Interaction:
    """One visitor touching one item: an event, reduced to what the models use."""

    timestamp_ms: int
    visitor_id: str
    session_id: str
    event: str
    item_id: str


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


class IdMap:
    """Ids to dense indices, append-only: an id keeps its index when new ids arrive,
    so factors of a model trained earlier still line up with a newer matrix."""

    def __init__(self, ids: Iterable[str] = ()) -> None:
        self._ids: list[str] = []
        self._index: dict[str, int] = {}
        for id_ in ids:
            self.add(id_)

    def add(self, id_: str) -> int:
        index = self._index.get(id_)
        if index is None:
            index = self._index[id_] = len(self._ids)
            self._ids.append(id_)
        return index

    def get(self, id_: str) -> int | None:
        return self._index.get(id_)

    @property
    def lookup(self) -> Callable[[str], int | None]:
        """`get` without a method call in between, for hot loops."""
        return self._index.get

    def id_of(self, index: int) -> str:
        return self._ids[index]

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, id_: object) -> bool:
        return id_ in self._index

    def to_array(self) -> np.ndarray:
        return np.array(self._ids, dtype=str)

    @classmethod
    def from_array(cls, array: np.ndarray) -> IdMap:
        return cls(str(x) for x in array)


@dataclasses.dataclass
class InteractionMatrix:
    """The users x items matrix with the id maps of its rows and columns, and when
    each cell was last touched (ms, aligned with `matrix.data`): a history's order."""

    matrix: sp.csr_matrix
    users: IdMap
    items: IdMap
    last_ms: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, dtype=np.int64))


def build_matrix(
    interactions: Iterable[Interaction],
    weighting: Weighting | None = None,
    *,
    now_ms: int | None = None,
    users: IdMap | None = None,
    items: IdMap | None = None,
) -> InteractionMatrix:
    """Weighted users x items matrix (float32 CSR).

    `now_ms` is the reference time for decay (default: the newest interaction).
    Existing `users` / `items` maps are extended, never reordered.
    """
    weighting = weighting or Weighting()
    users = users if users is not None else IdMap()
    items = items if items is not None else IdMap()
    event_codes = {name: code for code, name in enumerate(weighting.weights)}
    rows: list[int] = []
    cols: list[int] = []
    kinds: list[int] = []
    times: list[int] = []
    for record in interactions:
        code = event_codes.get(record.event)
        if code is None:
            continue
        rows.append(users.add(record.visitor_id))
        cols.append(items.add(record.item_id))
        kinds.append(code)
        times.append(record.timestamp_ms)
    shape = (len(users), len(items))
    if not rows:
        return InteractionMatrix(sp.csr_matrix(shape, dtype=np.float32), users, items)

    row = np.asarray(rows, dtype=np.int64)
    col = np.asarray(cols, dtype=np.int64)
    kind = np.asarray(kinds, dtype=np.int64)
    ts = np.asarray(times, dtype=np.int64)
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
    while parsing, which is most of the cost saved over `json.loads`)."""

    ts: int
    vid: str
    sid: str
    type: str
    items: list[StoredItem] | None = None


_decode_entry = msgspec.json.Decoder(list[StoredEvent]).decode


def read_stream(
    redis: Any,
    stream_key: str,
    batch: int = 10_000,
    on_item: Callable[[StoredItem], None] | None = None,
) -> Iterator[Interaction]:
    """Interactions from a store's event stream (a synchronous redis-py client),
    read in pages so that memory does not grow with the stream. `on_item` sees every
    item record on the way (the catalog fills itself from them)."""
    start = "-"
    while True:
        entries = redis.xrange(stream_key, min=start, count=batch)
        for _, fields in entries:
            for event in _decode_entry(fields[b"events"]):
                if not event.items:
                    continue
                for item in event.items:
                    if on_item is not None:
                        on_item(item)
                    yield Interaction(event.ts, event.vid, event.sid, event.type, item.item_id)
        if len(entries) < batch:
            return
        last = entries[-1][0].decode()
        start = "(" + last
