"""Columns: the training path reads interactions as arrays, and every step over
them gives what the record-at-a-time code gave (kept here, as it was, as the
reference: sessions, splits, the profile, weights, trending, baskets)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from recommender import synthetic
from recommender.columns import (
    Columns,
    Interaction,
    as_columns,
    first_positions,
    grouped_order,
    recode,
    renumbered,
)
from recommender.datasets import online_retail
from recommender.interactions import DEFAULT_WEIGHTS, IdMap, Weighting, build_matrix
from recommender.models.als import ItemWeights
from recommender.models.item_knn import ItemKNN
from recommender.models.sknn import sessions_matrix
from recommender.models.together import BASKET_EVENTS, baskets_matrix
from recommender.models.trending import HOUR_MS, trending_scores
from recommender.profile import MIN_PURCHASES, repeat_share, returning_share
from recommender.splits import session_split, user_split

DATA = Path(__file__).resolve().parents[1] / "data"
KINDS = ("view_item", "add_to_cart", "purchase", "page_view", "showcase_click")


# -- the record-at-a-time reference ---------------------------------------------


def reference_matrix(records: list[Interaction], weighting: Weighting) -> tuple:
    """`build_matrix` as it was: the matrix, its users and items, `last_ms`."""
    users, items = IdMap(), IdMap()
    codes = {name: code for code, name in enumerate(weighting.weights)}
    rows, cols, kinds, times = [], [], [], []
    for r in records:
        if r.event in codes:
            rows.append(users.add(r.visitor_id))
            cols.append(items.add(r.item_id))
            kinds.append(codes[r.event])
            times.append(r.timestamp_ms)
    shape = (len(users), len(items))
    if not rows:
        return sp.csr_matrix(shape, dtype=np.float32), users.ids, items.ids, np.zeros(0)
    row, col, kind, ts = (np.asarray(x, dtype=np.int64) for x in (rows, cols, kinds, times))
    decay = np.power(0.5, np.maximum(ts.max() - ts, 0) / 86_400_000 / weighting.half_life_days)
    key = (row * shape[1] + col) * len(codes) + kind
    unique, inverse = np.unique(key, return_inverse=True)
    counts = np.bincount(inverse, weights=decay)
    latest = np.full(len(unique), np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(latest, inverse, ts)
    u_kind = unique % len(codes)
    weights = np.array(list(weighting.weights.values()))
    damped = np.array([name in weighting.damped for name in weighting.weights])
    values = np.where(damped[u_kind], np.log2(1 + counts), counts) * weights[u_kind]
    cell = unique // len(codes)
    matrix = sp.csr_matrix(
        (values.astype(np.float32), (cell // shape[1], cell % shape[1])), shape=shape
    )
    matrix.sum_duplicates()
    firsts = np.flatnonzero(np.concatenate([[True], cell[1:] != cell[:-1]]))
    return matrix, users.ids, items.ids, np.maximum.reduceat(latest, firsts)


def reference_user_split(records: list[Interaction], repeats: bool) -> tuple:
    cut = int(np.quantile(np.array([r.timestamp_ms for r in records]), 0.8))
    train = [r for r in records if r.timestamp_ms < cut]
    known = {r.visitor_id for r in train}
    relevant: dict[str, set[str]] = {}
    for r in records:
        if r.timestamp_ms >= cut and r.visitor_id in known:
            relevant.setdefault(r.visitor_id, set()).add(r.item_id)
    if not repeats:
        had: dict[str, set[str]] = {}
        for r in train:
            had.setdefault(r.visitor_id, set()).add(r.item_id)
        relevant = {u: new for u, items in relevant.items() if (new := items - had[u])}
    return train, relevant, cut


def reference_session_split(records: list[Interaction], repeats: bool) -> tuple:
    ordered = sorted(records, key=lambda r: r.timestamp_ms)
    starts: dict[str, int] = {}
    for r in ordered:
        starts.setdefault(r.session_id, r.timestamp_ms)
    cut = int(np.quantile(np.array(sorted(starts.values())), 0.8))
    train = [r for r in ordered if starts[r.session_id] < cut and r.timestamp_ms < cut]
    events: dict[str, list[Interaction]] = {}
    for r in ordered:
        if starts[r.session_id] >= cut:
            events.setdefault(r.session_id, []).append(r)
    history, relevant = {}, {}
    for session, rs in events.items():
        distinct = list(dict.fromkeys(r.item_id for r in rs))
        if len(distinct) < 2:
            continue
        split_at = min(max(1, round(len(distinct) * 0.5)), len(distinct) - 1)
        first = set(distinct[:split_at])
        boundary = next(i for i, r in enumerate(rs) if r.item_id not in first)
        history[session] = rs[:boundary]
        later = {r.item_id for r in rs[boundary:]} if repeats else set()
        relevant[session] = set(distinct[split_at:]) | later
    return train, history, relevant, cut


def reference_returning_share(records: list[Interaction]) -> float:
    starts: dict[str, tuple[int, str]] = {}
    for r in records:
        known = starts.get(r.session_id)
        if known is None or r.timestamp_ms < known[0]:
            starts[r.session_id] = (r.timestamp_ms, r.visitor_id)
    visitors = {visitor for _, visitor in starts.values()}
    return (len(starts) - len(visitors)) / len(starts) if starts else 0.0


def reference_repeat_share(records: list[Interaction]) -> tuple[float, str]:
    lines = [r for r in records if r.event == "purchase"]
    basis = "purchases"
    if len({(r.visitor_id, r.item_id, r.session_id) for r in lines}) < MIN_PURCHASES:
        lines, basis = [r for r in records if r.event in DEFAULT_WEIGHTS], "item events"
    first: dict[tuple[str, str], tuple[int, str]] = {}
    seen: set[tuple[str, str, str]] = set()
    for r in sorted(lines, key=lambda r: r.timestamp_ms):
        line = (r.visitor_id, r.item_id, r.session_id)
        if line not in seen:
            seen.add(line)
            first.setdefault((r.visitor_id, r.item_id), (r.timestamp_ms, r.session_id))
    repeated = sum(1 for v, i, s in seen if first[(v, i)][1] != s)
    return (repeated / len(seen) if seen else 0.0), basis


def reference_trending(records: list[Interaction], items: IdMap, now_ms: int) -> np.ndarray:
    oldest = now_ms - 14 * 24 * HOUR_MS
    index, ages, values = [], [], []
    for r in records:
        weight = DEFAULT_WEIGHTS.get(r.event)
        column = items.get(r.item_id)
        if weight is None or column is None or not oldest <= r.timestamp_ms <= now_ms:
            continue
        index.append(column)
        ages.append((now_ms - r.timestamp_ms) / HOUR_MS)
        values.append(weight)
    scores = np.zeros(len(items))
    if not index:
        return scores
    age = np.asarray(ages)
    age -= age.min()
    for half_life in (6.0, 72.0):
        decayed = np.bincount(
            index, weights=np.asarray(values) * np.power(0.5, age / half_life), minlength=len(items)
        )
        scores += decayed / decayed.sum()
    return scores / 2


def reference_sessions(
    records: list[Interaction], items: IdMap, events: frozenset[str]
) -> sp.csr_matrix:
    sessions, rows, cols, last = IdMap(), [], [], []
    for r in records:
        column = items.get(r.item_id)
        if r.event not in events or column is None:
            continue
        row = sessions.add(r.session_id)
        if row == len(last):
            last.append(r.timestamp_ms)
        last[row] = max(last[row], r.timestamp_ms)
        rows.append(row)
        cols.append(column)
    if not rows:
        return sp.csr_matrix((0, len(items)), dtype=np.float32)
    matrix = sp.csr_matrix(
        (np.ones(len(rows), np.float32), (rows, cols)), shape=(len(sessions), len(items))
    )
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    keep = np.diff(matrix.indptr) >= 2
    order = np.argsort(np.asarray(last), kind="stable")
    return matrix[order[keep[order]]]


def reference_baskets(records: list[Interaction], items: IdMap) -> sp.csr_matrix:
    baskets, rows, cols = IdMap(), [], []
    for r in records:
        column = items.get(r.item_id)
        if r.event in BASKET_EVENTS and column is not None:
            rows.append(baskets.add(r.session_id))
            cols.append(column)
    matrix = sp.csr_matrix(
        (np.ones(len(rows), np.float32), (rows, cols)), shape=(len(baskets), len(items))
    )
    matrix.data[:] = 1.0
    return matrix


# -- the comparisons ----------------------------------------------------------


def same_sparse(a: sp.csr_matrix, b: sp.csr_matrix) -> bool:
    return a.shape == b.shape and (a != b).nnz == 0 and a.nnz == b.nnz


def check_alike(records: list[Interaction]) -> None:
    """Every columnar step on `records` against the reference."""
    columns = as_columns(records)
    assert list(columns) == records
    weighting = Weighting()
    matrix, users, items, last_ms = reference_matrix(records, weighting)
    built = build_matrix(columns, weighting)
    assert built.users.ids == users and built.items.ids == items
    assert same_sparse(built.matrix, matrix) and np.array_equal(built.matrix.data, matrix.data)
    assert np.array_equal(built.last_ms, last_ms)
    assert returning_share(columns) == reference_returning_share(records)
    assert repeat_share(columns) == reference_repeat_share(records)
    for repeats in (True, False):
        train, relevant, cut = reference_user_split(records, repeats)
        split = user_split(columns, repeats=repeats)
        assert (list(split.train), split.relevant, split.cut_ms) == (train, relevant, cut)
        assert list(split.relevant) == list(relevant)  # the same order too
        train, history, relevant, cut = reference_session_split(records, repeats)
        ssplit = session_split(columns, repeats=repeats)
        assert (list(ssplit.train), ssplit.relevant, ssplit.cut_ms) == (train, relevant, cut)
        assert list(ssplit.relevant) == list(relevant)
        assert dict(ssplit.history) == history
    now = max(r.timestamp_ms for r in records)
    assert np.array_equal(
        trending_scores(columns, built.items, now), reference_trending(records, built.items, now)
    )
    weighted = frozenset(weighting.weights)
    assert same_sparse(
        sessions_matrix(columns, built.items, weighted),
        reference_sessions(records, built.items, weighted),
    )
    assert same_sparse(
        baskets_matrix(columns, built.items), reference_baskets(records, built.items)
    )
    # A part of the columns (the maps shared, codes not all present) reads alike.
    part = columns.take(np.arange(len(columns))[::2])
    assert list(part) == records[::2]
    assert build_matrix(part, weighting).users.ids == reference_matrix(records[::2], weighting)[1]


records_strategy = st.lists(
    st.builds(
        lambda t, v, s, e, i: Interaction(t, f"v{v}", f"v{v}-s{s}", e, f"i{i}"),
        st.integers(0, 40),  # few distinct times: ties
        st.integers(0, 5),
        st.integers(0, 3),
        st.sampled_from(KINDS),
        st.integers(0, 8),
    ),
    min_size=1,
    max_size=80,
)


@settings(max_examples=150, deadline=None)
@given(records_strategy)
def test_columnar_steps_equal_the_record_at_a_time_ones(records: list[Interaction]) -> None:
    check_alike(records)


def test_columnar_steps_on_a_synthetic_shop_and_on_online_retail() -> None:
    shop = synthetic.generate(synthetic.SyntheticShop(n_users=300, n_items=120, seed=3))
    assert len({r.event for r in shop}) >= 3 and len(shop) > 2_000
    check_alike(shop)
    retail = list(online_retail(DATA / "online-retail-sample.csv.gz"))
    check_alike(retail)


def test_columns_hold_an_interaction_in_22_bytes() -> None:
    """The point of columns: memory per interaction is the arrays' (ids are kept
    once each in the maps), not an object per interaction."""
    records = [
        Interaction(t, f"v{t % 50}", f"s{t % 200}", KINDS[t % 3], f"i{t % 97}")
        for t in range(10_000)
    ]
    columns = as_columns(records)
    arrays = [columns.ts, columns.visitor, columns.session, columns.event, columns.item]
    assert sum(a.nbytes for a in arrays) == 22 * len(records)
    assert [
        len(m) for m in (columns.visitors, columns.sessions, columns.events, columns.items)
    ] == [50, 200, 3, 97]
    assert isinstance(as_columns(columns), Columns) and as_columns(columns) is columns


@pytest.mark.parametrize("scaling", ["confidence", "bm25", "tfidf"])
def test_confidence_weights_of_the_whole_matrix_equal_each_rows_fold_in_weights(
    scaling: str,
) -> None:
    """ALS trains on what a visitor's fold-in sees, bit for bit: the matrix is
    scaled in one pass, each history row by row."""
    rng = np.random.default_rng(4)
    matrix = sp.random(400, 90, density=0.06, random_state=4, format="csr", dtype=np.float64)
    matrix.data = rng.random(matrix.nnz) * 9 + 0.1
    weights = ItemWeights(scaling, alpha=0.7).fit(matrix)  # type: ignore[arg-type]
    scaled = weights.matrix(matrix)
    assert scaled.dtype == np.float32
    for row in range(matrix.shape[0]):
        span = slice(matrix.indptr[row], matrix.indptr[row + 1])
        one = weights.history(matrix.indices[span], matrix.data[span])
        assert np.array_equal(scaled.data[span].view(np.uint32), one.view(np.uint32)), row


def test_a_partial_columns_record_keeps_its_fields() -> None:
    records = [
        Interaction(5, "a", "a1", "purchase", "x"),
        Interaction(3, "b", "b1", "view_item", "y"),
    ]
    columns = as_columns(records)
    assert list(columns.take(np.array([1]))) == [records[1]]
    assert dataclasses.astuple(next(iter(columns))) == (5, "a", "a1", "purchase", "x")


def test_item_knn_worked_out_in_blocks_equals_the_whole_product() -> None:
    """Blocks of items bound the memory of the similarity product (2 GB at 100,000
    items); each row is the same sum either way, so the neighbours are too."""
    rng = np.random.default_rng(5)
    matrix = sp.random(600, 150, density=0.04, random_state=5, format="csr", dtype=np.float64)
    matrix.data = rng.integers(1, 4, matrix.nnz).astype(np.float64)
    whole = ItemKNN(neighbours=12, include_self=False).fit(matrix, block=10_000).similarity
    blocked = ItemKNN(neighbours=12, include_self=False).fit(matrix, block=7).similarity
    assert whole.nnz > 12 * 100 and whole.diagonal().max() == 0
    for a, b in (
        (whole.indptr, blocked.indptr),
        (whole.indices, blocked.indices),
        (whole.data, blocked.data),
    ):
        assert np.array_equal(a, b)
    # each row keeps its 12 best cosines (the dense product, the diagonal left out)
    binary = (matrix > 0).toarray().astype(np.float64)
    norms = np.sqrt(binary.sum(axis=0))
    norms[norms == 0] = 1.0
    cosine = (binary / norms).T @ (binary / norms)
    np.fill_diagonal(cosine, 0)
    for row in range(cosine.shape[0]):
        best = np.sort(cosine[row][cosine[row] > 0])[::-1][:12]
        kept = np.sort(whole.data[whole.indptr[row] : whole.indptr[row + 1]])[::-1]
        np.testing.assert_allclose(kept, best, rtol=1e-6)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 40), st.integers(-(2**40), 2**40) | st.integers(0, 5)),
        max_size=60,
    ),
    st.sampled_from([0, 2**55]),
)
def test_grouped_order_is_lexsort(pairs: list[tuple[int, int]], far: int) -> None:
    """One int64 key where group and value fit side by side, lexsort where not
    (`far` pushes a value span past what fits): the same order, ties in place."""
    groups = np.array([g for g, _ in pairs], dtype=np.int64)
    values = np.array([v for _, v in pairs], dtype=np.int64)
    if far and len(values):
        values[0] += far
    assert np.array_equal(grouped_order(groups, values), np.lexsort((values, groups)))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(0, 30), max_size=80),
    st.lists(st.sampled_from("abcdefghij"), max_size=6, unique=True),
    st.booleans(),
)
def test_recoding_equals_adding_one_id_at_a_time(
    codes: list[int], known: list[str], add: bool
) -> None:
    """`recode` and `renumbered` number ids as a map filled one interaction at a time
    would: new ids after the target's own, in the order they first appear."""
    source = IdMap([*"abcdefghij", *(f"x{n}" for n in range(21))])
    array = np.array(codes, dtype=np.int64)
    target, reference = IdMap(known), IdMap(known)
    expected = []
    for code in codes:
        name = source.id_of(code)
        if add:
            expected.append(reference.add(name))
        else:
            found = reference.get(name)
            expected.append(-1 if found is None else found)
    assert recode(array, source, target, add=add).tolist() == expected
    assert target.ids == reference.ids
    fresh = IdMap()
    assert renumbered(array).tolist() == [fresh.add(str(code)) for code in codes]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 50) | st.integers(-5, 2**40), max_size=80))
def test_first_positions_are_where_each_value_first_occurs(values: list[int]) -> None:
    """Dense codes take a table, anything else the sort: the same positions."""
    array = np.array(values, dtype=np.int64)
    expected = {}
    for position, value in enumerate(values):
        expected.setdefault(value, position)
    assert first_positions(array).tolist() == [expected[v] for v in sorted(expected)]
