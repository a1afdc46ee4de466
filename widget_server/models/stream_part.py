"""Part of a store's event stream read in a process of its own, for `tarry train`.

    echo '{"connect": {...}, "store": "...", "start": "..."}' \
        | python -m widget_server.models.stream_part

Decoding millions of events is Python, one core's work: training reads the
earlier half of a long stream itself while this process reads the later half
(`training.read_events`). It connects as the JSON on stdin says (a socket path,
or host and port; db and credentials, which on stdin no `ps` shows), reads the
store's entries (archived hours, then the stream) from `start` on into columns,
and writes to stdout a pickle of the columns, the item records a catalog would
have observed on the way, in order, and its own peak RSS in KiB. A plain
program rather than a multiprocessing worker: those import the parent's main
module again, which for `python -m widget_server` is the command line itself.
"""

from __future__ import annotations

import json
import pickle
import resource
import sys
from typing import Any

from redis import Redis

from recommender.columns import Columns
from recommender.interactions import read_columns
from widget_server.storage import event_archive, event_entries


def read_part(connect: dict[str, Any], store_id: str, start: str) -> tuple[Columns, list[Any]]:
    records: list[Any] = []
    client = Redis(**connect)
    try:
        part = read_columns(
            event_archive.pages(client, store_id, start),
            event_entries.with_senders,
            on_item=records.append,
        )
    finally:
        client.close()
    return part, records


def main() -> int:
    ask = json.loads(sys.stdin.readline())  # one line: the rest is not waited for
    part, records = read_part(ask["connect"], ask["store"], ask["start"])
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    pickle.dump((part, records, peak_kib), sys.stdout.buffer, protocol=pickle.HIGHEST_PROTOCOL)
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
