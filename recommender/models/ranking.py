"""A score array's items best first, in growing chunks: most walkers need only the
first few, and sorting the whole catalog would cost more than scoring it."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

Ranked = Iterator[tuple[int, float, str | None]]


def ranked(scores: np.ndarray) -> Ranked:
    """Items by score, best first (items at -inf, no evidence, never), in growing
    chunks: most queries need only the first few, and sorting the whole catalog
    would cost more than scoring it."""
    chunk = 64
    total = len(scores)
    done: set[int] = set()
    order = _first_cut(scores, chunk)
    while len(done) < total:
        size = min(chunk, total)
        if order is None and chunk > 64 and not np.isnan(scores).any():
            # A walker this deep (tight category caps) takes the sampled cut again,
            # aiming nearer `size` (what it sorts is what a deep walk pays for): the
            # same order as the exact partition at a fraction of its cost. Not past a
            # NaN, where the partition is what stops the walk.
            order = _first_cut(scores, size, aims=(2, 8, 32))
        if order is None:
            order = _best(scores, size)
        values = scores[order]
        best_first = (-values).argsort(kind="stable")
        # Among tied scores each round may pick a different few, so skip what was
        # yielded rather than the first `len(done)` of the order.
        for index, score in zip(
            order[best_first].tolist(), values[best_first].tolist(), strict=True
        ):
            if index in done:
                continue
            if score == -math.inf or score != score:  # no evidence, or NaN
                return
            done.add(index)
            yield index, score, None
        if size == total:
            return
        chunk *= 8
        order = None


def _best(scores: np.ndarray, size: int) -> np.ndarray:
    """The `size` best items and any tied with the last of them, unordered."""
    total = len(scores)
    if size >= total:
        return np.arange(total)
    # The size-th best value, then everything at least as good: cheaper than
    # argpartition, and ties at the threshold all come along.
    part = scores.copy()
    part.partition(total - size)
    threshold = part[total - size]
    kept: np.ndarray = scores > threshold if threshold == -np.inf else scores >= threshold
    best: np.ndarray = kept.nonzero()[0]
    return best


def _first_cut(
    scores: np.ndarray, size: int, aims: tuple[int, ...] = (4, 16, 64)
) -> np.ndarray | None:
    """Every item at least as good as a threshold read off a 1-in-64 sample, so
    about `aims[0]` x `size` items: exactly the best ones (all items above the
    threshold are in), without partitioning the whole catalog. Where the sample
    misjudges (fewer than `size` items above it: it caught several of the very best,
    as one query in fifty does at 4 x), a lower threshold of the same sample for each
    further aim; None when even those do (or there is no evidence) and the exact way
    must run."""
    stride = 64
    if len(scores) < 64 * stride:
        return None
    # Array methods, not the np. wrappers: see recommender.models.gather.
    sample = scores[::stride].copy()
    sample.sort()
    for aim in aims:
        rank = len(sample) - max(aim * size // stride, 1)
        if rank < 0:  # a cut this deep is most of the catalog: the exact way costs no more
            return None
        threshold = sample[rank]
        if threshold == -np.inf or threshold != threshold:
            return None
        order: np.ndarray = (scores >= threshold).nonzero()[0]
        if len(order) >= size:
            return order
    return None
