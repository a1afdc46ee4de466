"""Readers for public data sets, mapped onto Tarry's interactions.

Only the mapping lives here. The full files are not part of the repository (the
tests use small samples in `tests/data/`); `locate` finds one under a data folder,
laid out as `SOURCES` names, or says where to get it.
"""

from __future__ import annotations

import csv
import gzip
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from recommender.interactions import Interaction

OTTO_EVENTS = {"clicks": "view_item", "carts": "add_to_cart", "orders": "purchase"}

ONLINE_RETAIL = "online-retail/online-retail.csv.gz"
OTTO_SAMPLE = "otto-sample/train_sample_20_sessions.jsonl"
# Where each file comes from, as a person reading one line needs it.
SOURCES = {
    ONLINE_RETAIL: "UCI Online Retail as gzipped CSV (InvoiceDate as YYYY-MM-DD HH:MM:SS), "
    "from https://archive.ics.uci.edu/dataset/352/online+retail",
    OTTO_SAMPLE: "OTTO sessions as JSON lines (test/resources/train.jsonl), "
    "from https://github.com/otto-de/recsys-dataset",
}


class MissingDataset(FileNotFoundError):
    """A data file is not where it was looked for; the message says where to get it."""


def locate(data_dir: str | Path, name: str) -> Path:
    """`data_dir / name` if that file exists, else `MissingDataset` in one line."""
    path = Path(data_dir) / name
    if not path.is_file():
        raise MissingDataset(f"missing {path}: {SOURCES[name]}")
    return path


def online_retail(path: str | Path) -> Iterator[Interaction]:
    """UCI Online Retail: each order line of a known customer is a `purchase`; the
    invoice is the session. Cancellations, returns and anonymous lines are skipped."""
    with gzip.open(path, "rt", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if not row["CustomerID"] or row["InvoiceNo"].startswith("C"):
                continue
            if float(row["Quantity"]) <= 0:
                continue
            when = datetime.strptime(row["InvoiceDate"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
            yield Interaction(
                int(when.timestamp() * 1000),
                row["CustomerID"].split(".")[0],
                row["InvoiceNo"],
                "purchase",
                row["StockCode"],
            )


def otto_sessions(path: str | Path) -> Iterator[Interaction]:
    """OTTO sessions (JSON lines, gzipped or not): clicks, carts and orders of
    anonymous sessions; `ts` in ms, or in seconds as copies converted from the data
    set's parquet files write it. A bad line raises ValueError naming it."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                session = json.loads(line)
                sid = str(session["session"])
                for event in session["events"]:
                    ts = int(event["ts"])
                    yield Interaction(
                        ts * 1000 if ts < 10**11 else ts,
                        sid,
                        sid,
                        OTTO_EVENTS[event["type"]],
                        str(event["aid"]),
                    )
            except (ValueError, KeyError, TypeError) as exc:
                reason = f"missing {exc}" if isinstance(exc, KeyError) else str(exc)
                raise ValueError(f"{path}:{number}: not an OTTO session line ({reason})") from None
