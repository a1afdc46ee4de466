"""Readers for public data sets, mapped onto Tarry's interactions.

Only the mapping lives here; the files stay where they are (`../shared/data/`).
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
    """OTTO sessions (JSON lines): clicks, carts and orders of anonymous sessions."""
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            session = json.loads(line)
            sid = str(session["session"])
            for event in session["events"]:
                yield Interaction(
                    event["ts"], sid, sid, OTTO_EVENTS[event["type"]], str(event["aid"])
                )
