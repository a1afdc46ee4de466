"""Past hours of a store's event stream, deflated: what keeps a stored event within
250 bytes of Redis when it carries every field the snippet sends.

In the stream an event costs its JSON, 150-300 bytes as the snippet sends it (the
page's address and type on every event, a page view's title and referrer, a
product's name, price, image and address), besides the stream's own share. Once an
hour is over nothing joins its entries (an entry's id is when it arrived), so
`archive` moves them, hour by hour from the oldest, into one string an hour
(`keys.events_archive`): the entries, ids and fields as XRANGE gives them, as
MessagePack deflated together. An hour's events repeat the store's addresses,
titles and field names, so it takes about a fifth of the bytes. The stream keeps
the hour under way and the one just over; readers read both through `pages`,
which gives the entries in stream order as XRANGE would have.

An hour moves in one script call (MOVE_HOUR): it writes the archive and trims the
hour off the stream only if the stream still holds exactly the entries that were
read (an erasure may rewrite one meanwhile); else nothing changes and the hour
moves on the next pass. So an event is never in both places, nor in neither. An
archived hour expires when its last events leave the retention period.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
import zlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import msgspec

from widget_server.storage import keys
from widget_server.storage.background import pause, raise_if_cancelled
from widget_server.storage.scripts import register

log = logging.getLogger("tarry")

HOUR_MS = 3_600_000
# An hour moves once it has been over this long: an entry's id is Redis' clock when
# the entry was written, this server's clock may differ a little.
SETTLE_MS = 10 * 60_000
READ_PAGE = 5_000
CHECK_EVERY_S = 300.0
FIRST_PASS_S = 30.0
LOCK_S = 600
LEVEL = 6  # zlib: 9 saves under 1% more and compresses at half the speed

Entry = tuple[bytes, Mapping[bytes, bytes]]
_pack = msgspec.msgpack.Encoder().encode
_unpack = msgspec.msgpack.Decoder(list[tuple[bytes, dict[bytes, bytes]]]).decode

MOVE_HOUR = """
-- KEYS: the event stream, the hour's archive, the archive index.
-- ARGV: the hour's last millisecond, entries read, the last one's id, the archive,
-- when it expires (s), its index value, the hour, the archive found before ('' none)
if (redis.call('GET', KEYS[2]) or '') ~= ARGV[8] then return 0 end
local n = tonumber(ARGV[2])
local held = redis.call('XRANGE', KEYS[1], '-', ARGV[1], 'COUNT', n + 1)
if #held ~= n or held[n][1] ~= ARGV[3] then return 0 end
redis.call('SET', KEYS[2], ARGV[4])
redis.call('EXPIREAT', KEYS[2], ARGV[5])
redis.call('HSET', KEYS[3], ARGV[7], ARGV[6])
redis.call('XTRIM', KEYS[1], 'MINID', tostring(tonumber(ARGV[1]) + 1))
return 1
"""


def _bytes(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else value


def pack(entries: Sequence[tuple[bytes, Mapping[Any, Any]]]) -> bytes:
    """An hour's entries as its archive holds them: fields as XRANGE gives them
    (bytes), or as a writer makes them (`event_entries.entry`: str names)."""
    packed = [
        (entry_id, {_bytes(k): _bytes(v) for k, v in fields.items()})
        for entry_id, fields in entries
    ]
    return zlib.compress(_pack(packed), LEVEL)


def unpack(blob: bytes) -> list[Entry]:
    """The entries of an archive, oldest first."""
    return list(_unpack(zlib.decompress(blob)))


def index_value(entries: Sequence[tuple[bytes, Any]]) -> str:
    return f"{len(entries)} {entries[0][0].decode()} {entries[-1][0].decode()}"


def _id(entry_id: bytes | str) -> tuple[int, int]:
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


_MAX_SEQ = 2**64 - 1


def _lower(start: str) -> tuple[int, int]:
    """The first id a range's start (as XRANGE takes it) admits."""
    if start == "-":
        return 0, 0
    if start.startswith("("):
        ms, seq = _id(start[1:])
        return (ms, seq + 1) if seq < _MAX_SEQ else (ms + 1, 0)
    return _id(start)


def _upper(end: str) -> tuple[int, int]:
    """The last id a range's end admits. As in Redis, an id without its sequence
    number is completed first (to the millisecond's last), then made exclusive."""
    if end == "+":
        return 2**63, 0
    exclusive = end.startswith("(")
    ms, _, seq = (end[1:] if exclusive else end).partition("-")
    last = (int(ms), int(seq) if seq else _MAX_SEQ)
    if not exclusive:
        return last
    return (last[0], last[1] - 1) if last[1] > 0 else (last[0] - 1, _MAX_SEQ)


def pages(
    redis: Any, store_id: str, start: str = "-", end: str = "+", batch: int = 10_000
) -> Iterator[list[Entry]]:
    """The store's event entries from `start` to `end` (ids as XRANGE takes them),
    oldest first, in lists of at most about `batch`: the archived hours', then the
    stream's (a synchronous redis-py client). An hour archived while this reads is
    found where the stream skips it, and read from its archive."""
    stream, index = keys.events(store_id), keys.events_archive_index(store_id)
    cursor, high = _lower(start), _upper(end)
    read: set[int] = set()

    def archived(before: tuple[int, int] | None) -> Iterator[list[Entry]]:
        """The archived hours not read yet from the cursor on (and before `before`)."""
        nonlocal cursor
        hours = sorted(int(h) for h in redis.hkeys(index))
        for hour in hours:
            if hour in read or (hour + 1) * HOUR_MS <= cursor[0] or hour * HOUR_MS > high[0]:
                continue
            if before is not None and hour * HOUR_MS > before[0]:
                break
            read.add(hour)
            blob = redis.get(keys.events_archive(store_id, hour))
            if not blob:  # expired since the index was read
                continue
            kept = [
                e
                for e in unpack(blob)
                if cursor <= _id(e[0]) <= high and (before is None or _id(e[0]) < before)
            ]
            for at in range(0, len(kept), batch):
                yield kept[at : at + batch]
            if kept:
                ms, seq = _id(kept[-1][0])
                cursor = (ms, seq + 1)

    yield from archived(None)
    checked = -1  # the hour of the cursor when the index was last looked at
    upper = "+" if end == "+" else f"{high[0]}-{high[1]}"
    while True:
        entries = redis.xrange(stream, min=f"{cursor[0]}-{cursor[1]}", max=upper, count=batch)
        first = _id(entries[0][0]) if entries else None
        # The stream skips an hour only when it was archived meanwhile: its entries
        # go first. (Without a gap this costs one HKEYS per hour the pages cross.)
        skipped = first is None or first[0] // HOUR_MS != cursor[0] // HOUR_MS
        if skipped and checked != cursor[0] // HOUR_MS:
            checked = cursor[0] // HOUR_MS
            gap = list(archived(first))
            if gap:
                yield from gap
                continue
        if not entries:
            return
        yield entries
        ms, seq = _id(entries[-1][0])
        cursor = (ms, seq + 1)
        if len(entries) < batch:
            return


def _spans(values: list[bytes]) -> list[tuple[int, tuple[int, int], tuple[int, int]]]:
    """(entries, first id, last id) of each archived hour, from its index values."""
    spans = []
    for value in values:
        count, first, last = value.decode().split(" ")
        spans.append((int(count), _id(first), _id(last)))
    return spans


def extent(redis: Any, store_id: str) -> tuple[int, int, int] | None:
    """(entries, first arrival ms, last arrival ms) of the store's events, archived
    and in the stream; None when there are none (a synchronous client)."""
    stream = keys.events(store_id)
    spans = _spans(redis.hvals(keys.events_archive_index(store_id)))
    head, tail = redis.xrange(stream, count=1), redis.xrevrange(stream, count=1)
    firsts = [first for _, first, _ in spans] + [_id(e[0]) for e in head]
    lasts = [last for _, _, last in spans] + [_id(e[0]) for e in tail]
    if not firsts:
        return None
    total = redis.xlen(stream) + sum(count for count, _, _ in spans)
    return total, min(firsts)[0], max(lasts)[0]


async def newest_ms(redis: Any, store_id: str) -> int | None:
    """When the store's newest event arrived (an asyncio client), or None."""
    newest = await redis.xrevrange(keys.events(store_id), count=1)
    if newest:
        return _id(newest[0][0])[0]
    spans = _spans(await redis.hvals(keys.events_archive_index(store_id)))
    return max(last for _, _, last in spans)[0] if spans else None


async def archive(
    redis: Any, store_id: str, *, now_ms: int, retention_ms: int, max_hours: int = 48
) -> int:
    """Move the store's hours that are over (by SETTLE_MS) from its stream to their
    archives, oldest first, at most `max_hours` of them (an asyncio client); forget
    index entries of hours past the retention. Returns the hours moved."""
    stream, index = keys.events(store_id), keys.events_archive_index(store_id)
    move = register(redis, MOVE_HOUR)
    moved = 0
    while moved < max_hours:
        head = await redis.xrange(stream, count=1)
        if not head:
            break
        hour = _id(head[0][0])[0] // HOUR_MS
        last_ms = (hour + 1) * HOUR_MS - 1
        if last_ms + SETTLE_MS >= now_ms:
            break
        entries: list[Entry] = []
        start = "-"
        while True:
            page = await redis.xrange(stream, min=start, max=str(last_ms), count=READ_PAGE)
            entries += page
            if len(page) < READ_PAGE:
                break
            start = "(" + page[-1][0].decode()
        if not entries:
            break
        archive_key = keys.events_archive(store_id, hour)
        before = await redis.get(archive_key) or b""
        # Only if Redis' clock lagged this one's: entries of an hour already moved.
        held = unpack(before) if before else []
        whole = held + entries
        blob = await asyncio.to_thread(pack, whole)
        expires_s = (last_ms + retention_ms) // 1000 + 1
        done = await move(
            keys=[stream, archive_key, index],
            args=[
                last_ms, len(entries), entries[-1][0], blob, expires_s,
                index_value(whole), hour, before,
            ],
        )  # fmt: skip
        if not done:  # the hour changed while it was read: the next pass moves it
            break
        moved += 1
    cutoff = (now_ms - retention_ms) // HOUR_MS
    gone = [h for h in await redis.hkeys(index) if int(h) + 1 < cutoff]
    if gone:
        await redis.hdel(index, *gone)
    return moved


async def run_schedule(redis: Any, retention_days: int, check_every: float = CHECK_EVERY_S) -> None:
    """Forever: every `check_every` seconds, archive every store's hours that are
    over. A store is archived by one server at a time. The first pass comes sooner
    (FIRST_PASS_S, or `check_every` if shorter, plus as much again at random): not
    at start, which it would slow, but soon enough that a server restarted more
    often than `check_every` (a deploy a few minutes apart) still archives, and at
    a different moment on each server of a fleet started together."""
    retention_ms = retention_days * 86_400_000
    first = min(check_every, FIRST_PASS_S)
    wait = first + random.uniform(0, first)
    while True:
        await pause(wait)
        wait = check_every
        try:
            for raw in await redis.smembers(keys.store_index()):
                store_id = raw.decode() if isinstance(raw, bytes) else raw
                lock = keys.events_archive_lock(store_id)
                if not await redis.set(lock, os.getpid(), nx=True, ex=LOCK_S):
                    continue
                try:
                    now = int(time.time() * 1000)
                    await archive(redis, store_id, now_ms=now, retention_ms=retention_ms)
                finally:
                    await redis.delete(lock)
        except asyncio.CancelledError:
            raise
        except Exception:
            raise_if_cancelled()
            log.exception("tarry: archiving past hours of events")
