"""An import: rows of an export file into the store, counted on their own days.

Rows come from `formats.read` (a generator over the file: memory stays flat). Each
event is checked against the collect schema, then batches go through the ingest
script in its import mode (`Ingestor.ingest_history`): events keep their own
times, are deduplicated for good by their ids (stable ids derived from the file's
content) and orders by the shop's order id, so importing a file twice, or two
overlapping exports, changes nothing the second time. Every script call is atomic
and counts whole records: an import stopped at any point (Ctrl-C) leaves nothing
half counted, and a re-run finishes the job.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import secrets
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import msgspec

from widget_server.collect.events import decode_event, describe_error
from widget_server.collect.ingest import Context, DecodedEvent, Ingestor
from widget_server.imports.formats.rows import Row
from widget_server.storage import keys
from widget_server.storage.connect import AsyncRedis
from widget_server.storage.stores import Store, customer_id

BATCH_EVENTS = 500
BATCH_BYTES = 512 * 1024
FIRST_ERRORS = 50
# What an imported event's server fields say: not a browser, not an address.
IMPORT_DEVICE = "unknown"


@dataclasses.dataclass
class Summary:
    """What an import did: every line read is imported, already there, skipped
    (deliberately, with the reason) or bad (with its line number)."""

    records: int = 0  # records read (a multi-line order is one)
    lines: int = 0  # the file's lines read, up to the last record's first line
    events: int = 0  # events counted now
    orders: int = 0  # orders counted now
    already: int = 0  # events that an earlier import (or this file) already counted
    customers: int = 0  # distinct customers in the file
    skipped: Counter[str] = dataclasses.field(default_factory=Counter)
    bad: int = 0
    first_errors: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    interrupted: bool = False

    def bad_row(self, line: int, error: str) -> None:
        self.bad += 1
        if len(self.first_errors) < FIRST_ERRORS:
            self.first_errors.append({"line": line, "error": error})

    def as_json(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "lines": self.lines,
            "imported": {"events": self.events, "orders": self.orders},
            "already_there": self.already,
            "customers": self.customers,
            "skipped": dict(self.skipped),
            "bad_rows": self.bad,
            "errors": self.first_errors,
            "complete": not self.interrupted,
        }


Progress = Callable[[Summary], None]


# The customer of an imported order that names none: the ingest script counts the
# order, but no customer for it (a visitor id of a past order is nobody's).
NO_CUSTOMER = "-"


def _batches(
    rows: Iterable[Row], summary: Summary, orders_only: bool, salt: str
) -> Iterator[list[tuple[int, DecodedEvent]]]:
    """The rows' events, checked, in batches for one script call each; bad rows and
    skips are tallied on the way."""
    batch: list[tuple[int, DecodedEvent]] = []
    size = 0
    last_line = 0
    for row in rows:
        if row.line != last_line:  # an order and its bad items may share a line
            summary.records += 1
            last_line = row.line
        summary.lines = max(summary.lines, row.line)
        if row.error is not None:
            summary.bad_row(row.line, row.error)
            continue
        if row.skipped is not None or row.event is None:
            summary.skipped[row.skipped or "empty"] += 1
            continue
        event = row.event
        uid = event.get("uid")
        if orders_only and not uid:
            event = {**event, "uid": NO_CUSTOMER}
        elif isinstance(uid, str) and "@" in uid:
            # The stand-in visitor of a customer known by e-mail is named by the same
            # salted hash as the customer, never by anything an address can be found from.
            event = {**event, "vid": "c:" + customer_id(salt, uid)}
        raw = json.dumps(event, separators=(",", ":")).encode()
        try:
            decoded: DecodedEvent = decode_event(raw)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            summary.bad_row(row.line, describe_error(exc, raw, "event"))
            continue
        batch.append((row.line, decoded))
        size += len(raw)
        if len(batch) >= BATCH_EVENTS or size >= BATCH_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


async def run_import(
    redis: AsyncRedis,
    store: Store,
    rows: Iterable[Row],
    *,
    orders_only: bool,
    now_ms: int,
    retention_days: int,
    progress: Progress | None = None,
    in_thread: bool = False,
) -> Summary:
    """Import the rows; `in_thread` reads (parses) them off the event loop, for a
    server that answers other requests meanwhile."""
    summary = Summary()
    ingestor = Ingestor(redis, retention_days=retention_days, rate_limit_ip=0, rate_limit_visitor=0)
    context = Context(store.id, now_ms, 0, IMPORT_DEVICE, "", store.salt, history=True)
    customers = keys.scratch(store.id, f"import:{secrets.token_hex(6)}")
    batches = _batches(rows, summary, orders_only, store.salt)
    done = object()
    try:
        while True:
            batch = (
                await asyncio.to_thread(next, batches, done) if in_thread else next(batches, done)
            )
            if batch is done:
                break
            assert isinstance(batch, list)
            result = await ingestor.ingest_history(
                [decoded for _, decoded in batch], context, orders_only=orders_only
            )
            for rejected in result.rejected:
                summary.bad_row(batch[rejected["index"]][0], rejected["error"])
            summary.events += result.accepted
            summary.already += result.duplicates
            summary.orders += result.orders
            people = {
                customer_id(store.salt, event.uid)
                for _, decoded in batch
                if not isinstance(decoded, str)
                and (event := decoded[1]).uid
                and event.uid != NO_CUSTOMER
            }
            if people:
                await redis.pfadd(customers, *people)
                await redis.expire(customers, 86_400)
            if progress is not None:
                progress(summary)
    except (KeyboardInterrupt, asyncio.CancelledError):
        summary.interrupted = True
        raise
    finally:
        summary.customers = int(await redis.pfcount(customers))
        await redis.delete(customers)
    return summary
