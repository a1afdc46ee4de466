"""The layouts of a stream entry and their one reader (storage/event_entries.py)."""

from __future__ import annotations

import itertools
import json

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from widget_server.storage.event_entries import entry, events, runs, with_senders

DEVICES = st.sampled_from(["desktop", "mobile", "tablet", "other"])
IDS = st.sampled_from(["V1", "V2", "x_-.:9", "Z0c4OC6i7SZ74OgcI41lYg"])
SENDERS = st.tuples(DEVICES, IDS, IDS)


class Read(msgspec.Struct):
    """A reader naming a few fields, as training's does."""

    ts: int
    vid: str = ""
    sid: str = ""


def test_runs_of_one_sender_are_one_count() -> None:
    senders = [("desktop", "V", "S"), ("desktop", "V", "S"), ("mobile", "V", "S")]
    assert runs(senders) == "desktop V S 2;mobile V S 1"


@given(st.lists(SENDERS, min_size=1, max_size=40))
def test_every_event_gets_its_sender_back(senders: list[tuple[str, str, str]]) -> None:
    sent = [{"ts": n, "dev": d, "vid": v, "sid": s} for n, (d, v, s) in enumerate(senders)]
    written = entry(sent)
    assert written["who"].count(";") == sum(a != b for a, b in itertools.pairwise(senders))
    fields = {k.encode(): v if isinstance(v, bytes) else v.encode() for k, v in written.items()}
    assert json.loads(fields[b"events"]) == [{"ts": n} for n in range(len(senders))]
    back = events(fields)
    assert [(e["dev"], e["vid"], e["sid"]) for e in back] == senders
    assert [(e.ts, e.vid, e.sid) for e in events(fields, Read)] == [
        (n, v, s) for n, (_, v, s) in enumerate(senders)
    ]
    # Training's reader: the events, and their senders as runs that cover them.
    decoded, covering = with_senders(fields, Read)
    assert [e.ts for e in decoded] == list(range(len(senders)))
    assert len(covering) == written["who"].count(";") + 1
    assert [(v, s) for v, s, count in covering for _ in range(count)] == [
        (v, s) for _, v, s in senders
    ]


def test_the_old_layout_reads_as_it_was_written() -> None:
    old = [{"id": "a", "ts": 1, "vid": "V", "sid": "S", "rt": 5, "dev": "mobile", "ih": "f0"}]
    fields = {b"events": json.dumps(old).encode()}
    assert events(fields) == old
    assert events(fields, Read) == [Read(1, "V", "S")]
    assert with_senders(fields, Read) == ([Read(1, "V", "S")], [("V", "S", 1)])
    # Written back, it takes the current layout, less the receive time and address.
    again = {k.encode(): v if isinstance(v, bytes) else v.encode() for k, v in entry(old).items()}
    assert again == {b"events": b'[{"id":"a","ts":1}]', b"who": b"mobile V S 1"}
    assert events(again) == [{"id": "a", "ts": 1, "vid": "V", "sid": "S", "dev": "mobile"}]


def test_senders_that_do_not_match_the_events_are_an_error() -> None:
    fields = {b"events": b'[{"ts":1},{"ts":2}]', b"who": b"desktop V S 1"}
    with pytest.raises(ValueError):
        events(fields)
    with pytest.raises(ValueError, match="`who` counts 1 events, it holds 2"):
        with_senders(fields, Read)
