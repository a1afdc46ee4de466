"""Query latency in process: every showcase strategy against implicit's own recommend.

    python benchmarks/recommend_latency.py [--items 50000] [--factors 64] [--history 50]
                                           [--queries 2000] [--seed 0]

The budget (from `DESIGN.md`): personal recommendations for an anonymous visitor
from a fresh session history, with filters and business rules, answer with p99
under 1 ms in process for 64 factors and 50k items, and no slower than 1.5x
`implicit`'s `recommend(..., recalculate_user=True)` on the same model. Histories
are 50 items by default: what the server keeps of a visitor (their last 50 events).

Two more `recommended` rows: with every signal of the blend on (ALS, co-occurrence,
session-kNN, trending and repeat, which a store's search may pick), and for a
returning visitor the model was trained on, asked by id alone (their history, up
to 200 items, comes from the bundle).

One model serves both sides. A synthetic shop (power-law item popularity, visitors
who favour two categories, views, carts and purchases in sessions, every item
touched at least once) trains a Tarry bundle with `scaling="confidence"` and
`alpha=1`, so a history's confidences are its weights on both sides; its item
factors are installed into an `implicit.cpu.als.AlternatingLeastSquares` with the
same regularisation (`implicit`'s own fit would only repeat the one inside
`train_bundle`). About 5% of items are out of stock, and every item has a category.

Each query is a different history of `--history` distinct items drawn as a session
is (mostly from one favourite category, by popularity; about one in seven weighs 4,
a cart, the rest 1, a view). Each row times single calls with `perf_counter_ns`,
after a warm-up, with BLAS pinned to one thread (`threadpoolctl`) and `implicit`'s
own threads set to 1: a server answers many small queries, one per core. The rows
take turns, 200 queries at a time after 20 untimed ones, so that a slow spell of a
shared machine is not charged to one row. `implicit` gets its CSR row built
beforehand, so its time is the call alone; the `ALS` rows take item indices; the
`Showcases` rows start from what the page sends (item ids, as a `Query`).

Prints the machine, a markdown table, the fold-in agreement, how many items
`recommended`'s pruned walk scores (and that its first items are those of ranking
the full scores) and the verdict on both budgets (printed, not asserted), and writes
benchmarks/results/recommend_latency.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import itertools
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import implicit
import numpy as np
import scipy.sparse as sp
from _machine import cpu_model
from implicit.cpu.als import AlternatingLeastSquares
from threadpoolctl import threadpool_info, threadpool_limits

from recommender.bundle import Bundle, TrainingConfig, train_bundle
from recommender.catalog import ItemInfo
from recommender.interactions import Interaction
from recommender.models.bounded import BestFirst
from recommender.models.personal import BlendWeights
from recommender.models.ranking import ranked
from recommender.serving import Pick, Query, Rules, Showcases

BUDGET_P99_US = 1000.0
BUDGET_RATIO = 1.5
WARMUP = 200
BLOCK = 200  # queries a row answers before the next row's turn
REWARM = 20
ITEMS_PER_CATEGORY = 250
UNAVAILABLE_SHARE = 0.05
EXCLUDED_PER_QUERY = 5  # Rules.exclude: items the store hides from this showcase
CART_ITEMS = 5
PRUNED_DEPTH = 30  # items of `recommended`'s pruned walk compared with the full ranking
DAY_MS = 86_400_000
NOW_MS = 1_767_225_600_000  # 2026-01-01 UTC
IMPLICIT = "implicit recommend(recalculate_user=True)"
RECOMMENDED = "recommended (Showcases, rules and fallbacks)"
EVERY_SIGNAL = "recommended, every signal on"
RETURNING = "recommended, a known visitor by id"


class Shop:
    """Item popularity and categories, and the way visitors draw items from them."""

    def __init__(self, n_items: int, rng: np.random.Generator) -> None:
        self.n_items = n_items
        self.n_categories = max(1, n_items // ITEMS_PER_CATEGORY)
        self.category = rng.integers(0, self.n_categories, n_items)
        rank = rng.permutation(n_items)
        self.popularity = 1.0 / (rank + 1.0) ** 0.9
        self.popularity /= self.popularity.sum()
        # items ordered by category, so a draw within one category is a searchsorted
        self.order = np.argsort(self.category, kind="stable")
        self.cumulative = np.cumsum(self.popularity[self.order])
        mass = np.bincount(self.category, weights=self.popularity, minlength=self.n_categories)
        self.category_mass = mass
        self.category_start = np.concatenate([[0.0], np.cumsum(mass)[:-1]])

    def draw(self, rng: np.random.Generator, categories: np.ndarray, taste: float) -> np.ndarray:
        """One item per entry of `categories`: with probability `taste` from that
        category, else from the whole shop, by popularity either way."""
        n = len(categories)
        in_category = rng.random(n) < taste
        start = np.where(in_category, self.category_start[categories], 0.0)
        width = np.where(in_category, self.category_mass[categories], 1.0)
        target = start + rng.random(n) * width
        position = np.searchsorted(self.cumulative, target, side="right")
        return self.order[np.minimum(position, self.n_items - 1)]


def interactions(shop: Shop, n: int, rng: np.random.Generator) -> list[Interaction]:
    """About `n` interactions of n / 50 visitors over 30 days; every item at least once."""
    n_users = max(1, n // 50)
    counts = rng.geometric(1 / 50, n_users)
    user = np.repeat(np.arange(n_users), counts)
    favourites = rng.integers(0, shop.n_categories, (n_users, 2))
    item = shop.draw(rng, favourites[user, rng.integers(0, 2, len(user))], taste=0.7)
    # every item is touched: one view each by a random visitor
    user = np.concatenate([user, rng.integers(0, n_users, shop.n_items)])
    item = np.concatenate([item, np.arange(shop.n_items)])
    event = rng.choice(3, len(user), p=[0.85, 0.10, 0.05])
    sessions = 1 + np.bincount(user, minlength=n_users) // 8  # about 8 events a session
    session = user * 1000 + (rng.random(len(user)) * sessions[user]).astype(np.int64)
    timestamp = NOW_MS - (rng.random(len(user)) * 30 * DAY_MS).astype(np.int64)
    names = ("view_item", "add_to_cart", "purchase")
    return [
        Interaction(t, f"u{u}", f"s{s}", names[e], f"i{i}")
        for t, u, s, e, i in zip(
            timestamp.tolist(),
            user.tolist(),
            session.tolist(),
            event.tolist(),
            item.tolist(),
            strict=True,
        )
    ]


def known_items(shop: Shop, rng: np.random.Generator) -> dict[str, ItemInfo]:
    available = rng.random(shop.n_items) >= UNAVAILABLE_SHARE
    return {
        f"i{i}": ItemInfo(None, f"c{c}", bool(a))
        for i, (c, a) in enumerate(zip(shop.category.tolist(), available.tolist(), strict=True))
    }


class Session:
    """One query's inputs: a fresh anonymous session as the page sends it."""

    def __init__(
        self, bundle: Bundle, shop: Shop, size: int, share: np.ndarray, rng: np.random.Generator
    ) -> None:
        favourite = int(rng.integers(0, shop.n_categories))
        seen: dict[int, None] = {}
        while len(seen) < size:  # distinct items, in the order they were viewed
            for i in shop.draw(rng, np.full(2 * size, favourite), taste=0.6).tolist():
                seen.setdefault(i, None)
        ids = [f"i{i}" for i in list(seen)[:size]]
        self.ids = ids
        self.index = np.array([bundle.items.get(i) for i in ids], dtype=np.int64)
        self.weights = np.where(rng.random(size) < 1 / 7, 4.0, 1.0)  # a cart, or a view
        order = np.argsort(self.index)
        self.row = sp.csr_matrix(
            (self.weights[order].astype(np.float32), self.index[order], [0, size]),
            shape=(1, len(bundle.items)),
        )
        popular = rng.choice(len(bundle.items), EXCLUDED_PER_QUERY, p=share)
        self.exclude = frozenset(bundle.items.id_of(int(i)) for i in popular)
        self.cart = ids[-CART_ITEMS:]


def timed(rows: dict[str, Callable[[int], object]], n: int) -> dict[str, np.ndarray]:
    """Microseconds of each of n single calls per row (call(i) for query i), after a
    warm-up. The rows take turns, BLOCK queries at a time, so that a slow spell of a
    shared machine falls on every row rather than on one; each turn starts with REWARM
    untimed calls, so that no row pays for the caches the row before it left cold."""
    for call in rows.values():
        for i in range(min(WARMUP, n)):
            call(i)
    gc.collect()
    out = {name: np.empty(n, dtype=np.int64) for name in rows}
    for start in range(0, n, BLOCK):
        for name, call in rows.items():
            for i in range(REWARM):
                call((start + BLOCK + i) % n)  # queries of another turn
            times = out[name]
            for i in range(start, min(start + BLOCK, n)):
                started = time.perf_counter_ns()
                call(i)
                times[i] = time.perf_counter_ns() - started
    return {name: times / 1000.0 for name, times in out.items()}


def machine() -> dict[str, object]:
    model = cpu_model()
    blas = [
        {
            "package": next((p for p in ("numpy", "scipy") if p in pool["filepath"]), "other"),
            **{key: pool.get(key) for key in ("internal_api", "version", "architecture")},
        }
        for pool in threadpool_info()
        if pool.get("user_api") == "blas"
    ]
    return {
        "cpus": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "implicit": implicit.__version__,
        "blas": blas,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--factors", type=int, default=64)
    parser.add_argument("--history", type=int, default=50)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--interactions", type=int, default=1_000_000)
    parser.add_argument("--iterations", type=int, default=3, help="ALS training iterations")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--json", type=Path, default=Path("benchmarks/results/recommend_latency.json")
    )
    args = parser.parse_args()
    started = time.perf_counter()
    rng = np.random.default_rng(args.seed)

    shop = Shop(args.items, rng)
    records = interactions(shop, args.interactions, rng)
    config = TrainingConfig(
        factors=args.factors, iterations=args.iterations, scaling="confidence", alpha=1.0
    )
    built = time.perf_counter()
    bundle = train_bundle(records, config, known_items=known_items(shop, rng), now_ms=NOW_MS)
    train_seconds = time.perf_counter() - built
    n_records = len(records)
    del records

    reference = AlternatingLeastSquares(
        factors=args.factors,
        regularization=config.regularization,
        alpha=config.alpha,
        num_threads=1,
    )
    reference.item_factors = np.ascontiguousarray(bundle.als.item_factors, dtype=np.float32)
    reference.user_factors = np.zeros((1, args.factors), dtype=np.float32)
    reference._YtY = None  # its cached YᵀY belongs to whatever factors it held before
    showcases = Showcases(bundle)
    every_signal = Showcases(
        bundle.variant(dataclasses.replace(config, blend=BlendWeights(1, 0.5, 0.5, 0.5, 0.5)))
    )
    share = bundle.popularity / bundle.popularity.sum()
    queries = [Session(bundle, shop, args.history, share, rng) for _ in range(args.queries)]
    rules = [Rules(exclude=q.exclude, max_per_category=3) for q in queries]
    known = rng.choice(len(bundle.users.ids), len(queries), replace=False)
    visitors = [bundle.users.ids.id_of(int(u)) for u in known]

    def answer(strategy: str, served: Showcases = showcases) -> Callable[[int], list[Pick]]:
        def call(i: int) -> list[Pick]:
            q = queries[i]
            query = Query(
                strategy,
                n=10,
                history=q.ids,
                history_weights=q.weights.tolist(),
                item=q.ids[-1] if strategy in ("similar", "bought_together") else None,
                cart=q.cart if strategy == "cart" else (),
            )
            return served.answer(query, rules[i])

        return call

    def returning(i: int) -> list[Pick]:
        return showcases.answer(Query("recommended", n=10, visitor=visitors[i]), rules[i])

    rows: dict[str, Callable[[int], object]] = {
        IMPLICIT: lambda i: reference.recommend(
            0, queries[i].row, N=10, filter_already_liked_items=True, recalculate_user=True
        ),
        "implicit recalculate_user only": lambda i: reference.recalculate_user(0, queries[i].row),
        "ALS.fold_in only": lambda i: bundle.als.fold_in(queries[i].index, queries[i].weights),
        "als (fold-in + scoring + top 10)": lambda i: bundle.als.recommend(
            queries[i].index, 10, weights=queries[i].weights, exclude=queries[i].index
        ),
        RECOMMENDED: answer("recommended"),
        EVERY_SIGNAL: answer("recommended", every_signal),
        RETURNING: returning,
        "similar": answer("similar"),
        "bought_together": answer("bought_together"),
        "cart (5 cart items)": answer("cart"),
        "trending": answer("trending"),
        "popular": answer("popular"),
        "recently_viewed": answer("recently_viewed"),
    }
    with threadpool_limits(1, "blas"):
        timings = timed(rows, len(queries))
        agreement = fold_in_agreement(bundle, reference, queries)
        picks = [len(answer("recommended")(i)) for i in range(len(queries))]
        pruning = {
            name: pruned_walks(served, queries, rules)
            for name, served in ((RECOMMENDED, showcases), (EVERY_SIGNAL, every_signal))
        }

    results, verdict = summary(timings)
    model = {
        "items": len(bundle.items),
        "factors": bundle.als.factors,
        "interactions": n_records,
        "users": bundle.meta["users"],
        "categories": len(bundle.catalog.categories),
        "unavailable": int((~bundle.catalog.available).sum()),
        "knn_neighbours": int(bundle.knn.similarity.nnz),
        "together_pairs": int(bundle.together.nnz),
        "train_seconds": round(train_seconds, 1),
    }
    command = "python benchmarks/recommend_latency.py" + "".join(
        f" {flag}" for flag in sys.argv[1:]
    )
    info = machine()
    print(header(info, model, args))
    print(table(results))
    print(
        f"\nfold-in agreement over {len(queries):,} histories: max |Tarry - implicit| "
        f"{agreement['max_abs']:.2e} (largest entry {agreement['max_entry']:.2f}); "
        f"identical top-10 {agreement['same_top10']:.1%}; `recommended` filled "
        f"{min(picks)}-{max(picks)} of 10"
    )
    for name, walks in pruning.items():
        served = "" if walks["served"] else " (not served: too small a catalog for it to pay)"
        print(
            f"{name}: pruned walk{served}: {walks['median_scored']:,.0f} items scored at "
            f"the median ({walks['median_share']:.1%} of the catalog; "
            f"p99 {walks['p99_scored']:,.0f}), "
            f"the first {PRUNED_DEPTH} the same as ranking the full scores for "
            f"{walks['same']:,} of {len(queries):,} histories"
        )
    print(
        f"\nBudget, `recommended`: p99 {verdict['p99_us']:,.0f} µs "
        f"(< {BUDGET_P99_US:,.0f} µs: {'PASS' if verdict['p99_pass'] else 'FAIL'}); "
        f"ratio to implicit p50 {verdict['p50_ratio']:.2f}, p99 {verdict['p99_ratio']:.2f} "
        f"(<= {BUDGET_RATIO}: {'PASS' if verdict['ratio_pass'] else 'FAIL'})"
    )
    seconds = time.perf_counter() - started
    print(f"\ncommand: {command} ({seconds:.0f} s in all)")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "command": command,
        "machine": info,
        "model": model,
        "queries": len(queries),
        "history": args.history,
        "rows": results,
        "fold_in_agreement": agreement,
        "pruning": pruning,
        "verdict": verdict,
        "seconds": round(seconds, 1),
    }
    args.json.write_text(json.dumps(payload, indent=1))


def summary(
    timings: dict[str, np.ndarray],
) -> tuple[list[dict[str, object]], dict[str, float | bool]]:
    """Table rows (percentiles and ratios to implicit) and the verdict on both budgets."""
    base50, base99 = np.percentile(timings[IMPLICIT], [50, 99])
    results: list[dict[str, object]] = []
    for name, us in timings.items():
        p50, p99 = np.percentile(us, [50, 99])
        results.append(
            {
                "row": name,
                "p50_us": round(float(p50), 1),
                "p99_us": round(float(p99), 1),
                "mean_us": round(float(us.mean()), 1),
                "p50_ratio": round(float(p50 / base50), 2),
                "p99_ratio": round(float(p99 / base99), 2),
            }
        )
    p50, p99 = np.percentile(timings[RECOMMENDED], [50, 99])
    verdict = {
        "p99_us": round(float(p99), 1),
        "p99_pass": bool(p99 < BUDGET_P99_US),
        "p50_ratio": round(float(p50 / base50), 2),
        "p99_ratio": round(float(p99 / base99), 2),
        "ratio_pass": bool(max(p50 / base50, p99 / base99) <= BUDGET_RATIO),
    }
    return results, verdict


def fold_in_agreement(
    bundle: Bundle, reference: AlternatingLeastSquares, queries: list[Session]
) -> dict[str, float]:
    """Tarry's fold-in against implicit's recalculate_user, and their top 10s."""
    worst, largest, same = 0.0, 0.0, 0
    for q in queries:
        ours = bundle.als.fold_in(q.index, q.weights)
        theirs = reference.recalculate_user(0, q.row)
        worst = max(worst, float(np.abs(ours - theirs).max()))
        largest = max(largest, float(np.abs(theirs).max()))
        top = [i for i, _ in bundle.als.recommend(q.index, 10, weights=q.weights, exclude=q.index)]
        ids, _ = reference.recommend(
            0, q.row, N=10, filter_already_liked_items=True, recalculate_user=True
        )
        same += set(top) == set(ids.tolist())
    return {"max_abs": worst, "max_entry": largest, "same_top10": same / len(queries)}


def pruned_walks(
    showcases: Showcases, queries: list[Session], rules: list[Rules]
) -> dict[str, float | int | bool]:
    """How many items `recommended`'s pruned walk scores for its first PRUNED_DEPTH
    items, and whether those equal ranking the full scores (the rules' exclusions
    and, as the showcase does, the visitor's own items when they may not come back,
    blocked on both sides)."""
    bundle = showcases.bundle
    scored, same = [], 0
    for q, rule in zip(queries, rules, strict=True):
        blocked = {bundle.items.get(i) for i in rule.exclude} - {None}
        if showcases.excludes_history(rule):
            blocked |= set(q.index.tolist())
        repeat = not blocked.issuperset(q.index.tolist())
        walk = BestFirst(bundle.personal, q.index, q.weights, blocked, repeat=repeat)
        got = list(itertools.islice(walk, PRUNED_DEPTH))
        scored.append(walk.scored)
        full = bundle.personal.scores(q.index, q.weights, repeat=repeat)
        full[list(blocked)] = -np.inf
        same += got == list(itertools.islice(ranked(full), PRUNED_DEPTH))
    median = float(np.median(scored))
    return {
        "served": showcases.bounded,
        "median_scored": median,
        "median_share": median / len(bundle.items),
        "p99_scored": float(np.percentile(scored, 99)),
        "same": same,
    }


def header(info: dict[str, object], model: dict[str, object], args: argparse.Namespace) -> str:
    blas = ", ".join(
        f"{b['package']}: {b['internal_api']} {b['version']} ({b['architecture']})"
        for b in info["blas"]  # type: ignore[attr-defined]
    )
    return (
        f"\n{info['cpus']} CPUs ({info['cpu']}), Python {info['python']}, "
        f"numpy {info['numpy']}, implicit {info['implicit']}; BLAS {blas}, pinned to 1 thread\n"
        f"model: {model['items']:,} items, {model['factors']} factors, "
        f"{model['interactions']:,} interactions of {model['users']:,} visitors, "
        f"{model['categories']} categories, {model['unavailable']:,} items unavailable, "
        f"{model['knn_neighbours']:,} item-kNN and {model['together_pairs']:,} "
        f"bought-together pairs (trained in {model['train_seconds']} s)\n"
        f"queries: {args.queries:,} sessions of {args.history} items, top 10, "
        f"Rules(exclude={EXCLUDED_PER_QUERY} ids, max_per_category=3)\n"
    )


def table(results: list[dict[str, object]]) -> str:
    lines = [
        "| query | p50 µs | p99 µs | mean µs | p50 / implicit | p99 / implicit |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['row']} | {r['p50_us']:,.1f} | {r['p99_us']:,.1f} | {r['mean_us']:,.1f} "
            f"| {r['p50_ratio']:.2f} | {r['p99_ratio']:.2f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
