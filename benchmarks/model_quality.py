"""Model quality on real data: every model through the same temporal split and metrics.

    python benchmarks/model_quality.py [--k 10] [--json PATH]

Data: UCI Online Retail (Chen, Sain & Guo 2012; CC BY 4.0) from ../shared/data,
protocol `user` (global 80/20 time split; returning customers' later purchases,
repeats included, are what a model should predict). Prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from recommender.datasets import online_retail
from recommender.evaluation import evaluate
from recommender.interactions import Weighting, build_matrix
from recommender.models import ItemKNN, Popular, Recommender
from recommender.splits import user_split

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/model_quality.json"))
    args = parser.parse_args()

    split = user_split(list(online_retail(DATA / "online-retail" / "online-retail.csv.gz")))
    built = build_matrix(split.train, Weighting(half_life_days=None))
    users_per_item = np.asarray((built.matrix > 0).sum(axis=0)).ravel() / built.matrix.shape[0]
    popularity = {built.items.id_of(i): float(p) for i, p in enumerate(users_per_item)}
    models: dict[str, Recommender] = {"popular": Popular(), "item_knn": ItemKNN(neighbours=100)}

    results = {}
    for name, model in models.items():
        start = time.perf_counter()
        model.fit(built.matrix)
        fit_s = time.perf_counter() - start
        recommended = {}
        for user in split.relevant:
            row = built.matrix.getrow(built.users.get(user))
            got = model.recommend(row.indices, args.k, weights=row.data)
            recommended[user] = [built.items.id_of(i) for i, _ in got]
        metrics = evaluate(
            recommended,
            split.relevant,
            k=args.k,
            catalog_size=len(built.items),
            popularity=popularity,
        )
        results[name] = {**metrics, "fit_s": fit_s}

    k = args.k
    columns = [
        f"ndcg@{k}",
        f"precision@{k}",
        f"recall@{k}",
        f"map@{k}",
        f"hit_rate@{k}",
        "coverage",
    ]
    print(f"UCI Online Retail, protocol user, {len(split.relevant):,} test customers\n")
    print("| model | " + " | ".join(columns) + " | fit s |")
    print("|---|" + "---:|" * (len(columns) + 1))
    for name, m in results.items():
        print(
            f"| {name} | " + " | ".join(f"{m[c]:.3f}" for c in columns) + f" | {m['fit_s']:.1f} |"
        )
    print("\ncommand: python benchmarks/model_quality.py")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"k": k, "split": {"cut_ms": split.cut_ms}, "models": results}))


if __name__ == "__main__":
    main()
