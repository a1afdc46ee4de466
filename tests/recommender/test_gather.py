"""The shared per-query array steps equal the plain loops they replace."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from recommender.models.gather import distinct, row_positions


@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n_rows=st.integers(1, 30),
    density=st.floats(0, 1),
    rows=st.lists(st.integers(0, 29), max_size=12),
)
def test_row_positions_read_every_entry_of_the_rows_in_order(
    seed: int, n_rows: int, density: float, rows: list[int]
) -> None:
    matrix = sp.random(n_rows, 20, density=density, format="csr", random_state=seed)
    picked = np.array([r % n_rows for r in rows], dtype=np.int64)  # repeats allowed
    positions, lengths = row_positions(matrix.indptr, picked)
    expected = [p for r in picked.tolist() for p in range(matrix.indptr[r], matrix.indptr[r + 1])]
    assert positions.tolist() == expected
    assert lengths.tolist() == [matrix.indptr[r + 1] - matrix.indptr[r] for r in picked.tolist()]


@given(st.lists(st.integers(-5, 50)))
def test_distinct_is_the_sorted_set(values: list[int]) -> None:
    array = np.array(values, dtype=np.int64)
    assert distinct(array).tolist() == sorted(set(values))
    assert array.tolist() == values  # the caller's array is left as it was
