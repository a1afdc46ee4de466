"""The layouts of an entry of a store's event stream (`keys.events`), and the one
way to read them: `events`, which every reader of the stream uses, or
`with_senders`, the same with the senders as runs (training, which codes each
sender once a run).

An entry holds the events of one ingest call in field `events`, a JSON array. The
old layout repeats the server's facts in every event (`rt` the receive time, `dev`
the device class, `ih` the hashed client address). The current one stores each
event as sent (less the spaces some JSON libraries pad it with) without its `vid`
and `sid`, and says in field `who` who sent the events, once per run of events
alike: "desktop V S 3;mobile W T 1" says the first three events came from visitor
V's session S on a desktop browser, the next from W's session T on a phone. A
request's events share one visitor and session, so the 60-odd bytes of the
snippet's two ids are written once a request instead of once an event. Nothing
reads the receive time (the entry's id is when the call ran) or the address hash
(only the rate limit needs it, and never past its window), so they are gone.

A stream holds entries of both layouts for its whole retention after an upgrade:
`events` gives every event whole (with `vid`, `sid` and, as a dict, `dev`) from
either, and `entry` writes events back in the current layout (admin/visitors.py).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TypeVar, overload

import msgspec

T = TypeVar("T")

# What the server knows of an event, kept in `who` rather than in the event; and
# what older versions kept in every event instead.
SENDER_FIELDS = ("dev", "vid", "sid")
_OLD_SERVER_FIELDS = frozenset({*SENDER_FIELDS, "rt", "ih"})

_decoders: dict[Any, msgspec.json.Decoder[Any]] = {}
_encode = msgspec.json.Encoder().encode


def _decoder(as_type: Any) -> msgspec.json.Decoder[Any]:
    decoder = _decoders.get(as_type)
    if decoder is None:
        decoder = _decoders[as_type] = msgspec.json.Decoder(list[as_type])
    return decoder


@overload
def events(fields: Mapping[bytes, bytes]) -> list[dict[str, Any]]: ...


@overload
def events(fields: Mapping[bytes, bytes], as_type: type[T]) -> list[T]: ...


def events(fields: Mapping[bytes, bytes], as_type: Any = dict) -> list[Any]:
    """The events of one stream entry (its fields as XRANGE gives them), in order,
    each with its `vid` and `sid`: as dicts (with `dev` too), or decoded as
    `as_type`, a msgspec Struct whose `vid` and `sid` have defaults (the current
    layout's events lack them) and which reads only the fields it names."""
    decoded: list[Any] = _decoder(as_type).decode(fields[b"events"])
    who = fields.get(b"who")
    if who is None:  # the old layout: every event carries its own
        return decoded
    senders = _senders(who)
    if as_type is dict:
        for event, (dev, vid, sid) in zip(decoded, senders, strict=True):
            event["vid"], event["sid"], event["dev"] = vid, sid, dev
    else:
        for event, (_, vid, sid) in zip(decoded, senders, strict=True):
            event.vid, event.sid = vid, sid
    return decoded


def with_senders(
    fields: Mapping[bytes, bytes], as_type: type[T]
) -> tuple[list[T], list[tuple[str, str, int]]]:
    """The events of one entry decoded as `as_type` (as for `events`), and who sent
    them as runs of (vid, sid, how many events) that cover them in order: for a
    reader of millions (training) that codes a sender once a run rather than once
    an event. In the current layout the events' own `vid` and `sid` stay unset."""
    decoded: list[Any] = _decoder(as_type).decode(fields[b"events"])
    who = fields.get(b"who")
    if who is None:  # the old layout: every event carries its own
        return decoded, [(e.vid, e.sid, 1) for e in decoded]
    runs = []
    total = 0
    for run in who.decode().split(";"):
        _, vid, sid, count = run.split(" ")
        total += int(count)
        runs.append((vid, sid, int(count)))
    if total != len(decoded):
        raise ValueError(f"stream entry: `who` counts {total} events, it holds {len(decoded)}")
    return decoded, runs


def _senders(who: bytes) -> Iterator[tuple[str, str, str]]:
    """(device class, vid, sid) of each event of an entry, from its `who` field."""
    for run in who.decode().split(";"):
        dev, vid, sid, count = run.split(" ")
        yield from itertools.repeat((dev, vid, sid), int(count))


def runs(senders: Iterable[tuple[str, str, str]]) -> str:
    """The `who` field of an entry whose events have these (device class, vid, sid)."""
    return ";".join(
        f"{dev} {vid} {sid} {sum(1 for _ in run)}"
        for (dev, vid, sid), run in itertools.groupby(senders)
    )


def entry(kept: list[dict[str, Any]]) -> dict[str, bytes | str]:
    """The fields of an entry, in the current layout, holding these events (dicts as
    `events` gives them, of either layout)."""
    stored = [{k: v for k, v in e.items() if k not in _OLD_SERVER_FIELDS} for e in kept]
    return {
        "events": _encode(stored),
        "who": runs((str(e.get("dev", "other")), str(e["vid"]), str(e["sid"])) for e in kept),
    }
