"""Temporal splits, and the public data sets read through the same records."""

from __future__ import annotations

import csv
import gzip
from datetime import UTC, datetime
from pathlib import Path

import pytest

from recommender.datasets import online_retail, otto_sessions
from recommender.interactions import Interaction
from recommender.splits import session_split, user_split

DATA = Path(__file__).resolve().parents[1] / "data"  # tests/data: samples, credited there


def record(t: int, user: str, item: str) -> Interaction:
    return Interaction(t, user, user, "purchase", item)


def test_user_split_is_temporal_and_keeps_returning_users_only() -> None:
    data = [record(t, "u1", f"i{t}") for t in range(1, 9)]  # u1 all along
    data += [record(9, "u2", "late"), record(10, "u1", "i1")]  # u2 only after the cut
    split = user_split(data, test_fraction=0.2)
    assert split.cut_ms == 8  # the 80% quantile of times 1..10 is 8.2
    assert [r.timestamp_ms for r in split.train] == list(range(1, 8))
    # i8 comes after the cut, i1 is bought again (repeats count); u2 is unknown
    assert split.relevant == {"u1": {"i8", "i1"}}
    with pytest.raises(ValueError, match="test_fraction: must be between 0 and 1"):
        user_split(data, 1.5)


def test_session_split_predicts_late_sessions_from_their_first_items() -> None:
    def view(t: int, session: str, item: str) -> Interaction:
        return Interaction(t, "anon-" + session, session, "view_item", item)

    data = [view(t, f"old{t}", "a") for t in range(1, 9)]  # 8 sessions before the cut
    # s9 starts at the cut: a, b, a again, then c and d
    data += [view(9, "s9", "a"), view(10, "s9", "b"), view(11, "s9", "a")]
    data += [view(12, "s9", "c"), view(13, "s9", "d"), view(14, "single", "z")]
    split = session_split(data, test_fraction=0.2)
    assert split.cut_ms == 8  # session starts 1..9 and 14: the 80% quantile is 8.2
    assert {r.session_id for r in split.train} == {f"old{t}" for t in range(1, 8)}
    # four distinct items: the first two (and the repeat of a) are the history
    assert [r.item_id for r in split.history["s9"]] == ["a", "b", "a"]
    assert split.relevant == {"s9": {"c", "d"}}  # one-item sessions cannot be scored
    with pytest.raises(ValueError, match="history_fraction"):
        session_split(data, history_fraction=1.0)


def test_online_retail_reads_known_customers_purchases() -> None:
    path = DATA / "online-retail-sample.csv.gz"
    rows = list(online_retail(path))
    # The expected figures, counted here from the raw lines: a purchase is a line of
    # a known customer, not of a cancellation, with a positive quantity.
    with gzip.open(path, "rt", newline="", encoding="utf-8") as handle:
        header, *lines = list(csv.reader(handle))
    invoice, item, description, quantity, _, _, customer, _ = range(len(header))
    assert header[customer] == "CustomerID" and header[description] == "Description"
    anonymous = [line for line in lines if line[customer] == ""]
    cancelled = [line for line in lines if line[invoice].startswith("C")]
    returns = [line for line in lines if float(line[quantity]) <= 0]
    # The sample holds every kind of line the reader must skip, and quoted commas.
    assert anonymous and cancelled and returns
    assert any("," in line[description] for line in lines)
    bought = [
        line
        for line in lines
        if line[customer] and not line[invoice].startswith("C") and float(line[quantity]) > 0
    ]
    assert 0 < len(rows) == len(bought) < len(lines)
    assert [r.item_id for r in rows] == [line[item] for line in bought]
    assert [r.session_id for r in rows] == [line[invoice] for line in bought]
    customers = {line[customer].removesuffix(".0") for line in bought}
    assert {r.visitor_id for r in rows} == customers and len(customers) > 1
    # a customer who only ever cancelled is not a visitor
    only_cancelled = {line[customer] for line in cancelled} - {line[customer] for line in bought}
    assert only_cancelled and not {c.removesuffix(".0") for c in only_cancelled} & customers
    first = datetime(2010, 12, 1, 8, 26, tzinfo=UTC).timestamp() * 1000
    assert rows[0] == Interaction(int(first), "17850", "536365", "purchase", "85123A")


def test_otto_sessions_map_to_ga4_events() -> None:
    rows = list(otto_sessions(DATA / "otto-20-sessions.jsonl"))
    assert len(rows) == 862
    assert {r.event for r in rows} == {"view_item", "add_to_cart", "purchase"}
    assert sum(r.event == "purchase" for r in rows) == 10


def test_without_repeats_a_user_is_asked_only_for_items_new_to_them() -> None:
    data = [record(t, "u1", f"i{t}") for t in range(1, 9)]
    data += [record(9, "u3", "x"), record(10, "u1", "i1"), record(10, "u3", "x")]
    data += [record(2, "u3", "x")]  # u3 bought x before the cut, and only x after
    split = user_split(data, test_fraction=0.2, repeats=False)
    # i1 again is no longer something to predict; u3 has nothing new, so no query
    assert split.relevant == {"u1": {"i8"}}


def test_with_repeats_a_session_item_taken_again_is_relevant() -> None:
    def view(t: int, session: str, item: str, event: str = "view_item") -> Interaction:
        return Interaction(t, "anon-" + session, session, event, item)

    data = [view(t, f"old{t}", "a") for t in range(1, 9)]
    # s9 views a and b, then c and d, and goes back to cart a
    data += [view(9, "s9", "a"), view(10, "s9", "b"), view(12, "s9", "c")]
    data += [view(13, "s9", "d"), view(14, "s9", "a", "add_to_cart")]
    assert session_split(data, test_fraction=0.2).relevant == {"s9": {"c", "d"}}
    with_repeats = session_split(data, test_fraction=0.2, repeats=True)
    assert with_repeats.relevant == {"s9": {"c", "d", "a"}}
    assert [r.item_id for r in with_repeats.history["s9"]] == ["a", "b"]
