"""Tarry's recommender: interaction matrices, models, evaluation, artefacts.

A library with no web code; the server and the `tarry train` job use it.
"""

from __future__ import annotations

from threadpoolctl import threadpool_limits


def pin_blas() -> None:
    """Run BLAS on one thread in this process, for good.

    Recommending is many small products (a 64-factor vector against the catalog);
    OpenBLAS's thread pool makes each of them tens of times slower (7 ms instead of
    0.2 ms on two busy cores), and a server scales by processes anyway. Servers and
    commands call this once at start; library entry points that loop over many
    queries (evaluation, training) also pin for their own duration.
    """
    threadpool_limits(1, "blas")
