"""Model quality: every model and baseline through the same temporal protocols and metrics.

    python benchmarks/model_quality.py [--data DIR] [--k 10] [--no-search] [--only NAME]

Data sets:
- `uci`: UCI Online Retail (Chen, Sain & Guo 2012; CC BY 4.0), the file
  `online-retail/online-retail.csv.gz` under `--data` (default `../shared/data`
  beside the repository): purchases of 4,339 customers; the invoice is the session.
  Without it the benchmark says where to get it and exits with status 2.
- `synthetic`: `recommender.synthetic` with its defaults (planted tastes, power-law
  popularity, sessions, views → carts → purchases, complements, repeat purchases).

For each data set and each protocol (`user`, `session`) the search picks the
parameters of `als` and `recommended` on a validation split of the training part,
then every model is scored once on the test part (see `recommender/experiment.py`).
Prints markdown tables and writes benchmarks/results/model_quality.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from recommender import experiment
from recommender.datasets import ONLINE_RETAIL, MissingDataset, locate, online_retail
from recommender.interactions import Interaction
from recommender.synthetic import generate

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"

# name: (title, files it needs under --data, loader given the --data folder)
DATASETS: dict[str, tuple[str, tuple[str, ...], Callable[[Path], Sequence[Interaction]]]] = {
    "uci": (
        "UCI Online Retail (purchases, 2010-11)",
        (ONLINE_RETAIL,),
        lambda data: list(online_retail(locate(data, ONLINE_RETAIL))),
    ),
    "synthetic": ("synthetic shop (defaults, seed 0)", (), lambda _: generate()),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--data",
        type=Path,
        metavar="DIR",
        default=DEFAULT_DATA,
        help="folder holding online-retail/online-retail.csv.gz (default: ../shared/data "
        "beside the repository)",
    )
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--no-search", action="store_true", help="default parameters only")
    parser.add_argument("--only", choices=sorted(DATASETS), help="one data set")
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/model_quality.json"))
    args = parser.parse_args()
    chosen = [name for name in DATASETS if not args.only or name == args.only]
    # Every file is looked for before minutes of work, and a missing one is a
    # sentence, not a traceback.
    try:
        for name in chosen:
            for needed in DATASETS[name][1]:
                locate(args.data, needed)
    except MissingDataset as exc:
        print(f"model_quality.py: {exc}; --data DIR reads another folder", file=sys.stderr)
        return 2

    results: dict[str, dict[str, object]] = {}
    for name in chosen:
        title, _, load = DATASETS[name]
        interactions = load(args.data)
        for protocol in experiment.PROTOCOLS:
            started = time.perf_counter()
            result = experiment.run(
                interactions,
                protocol,
                args.k,
                config=experiment.default_config() if args.no_search else None,
            )
            seconds = time.perf_counter() - started
            split = result["split"]
            unit = "customers" if protocol == "user" else "sessions"
            print(
                f"\n{title}, protocol `{protocol}`: {split['test_queries']:,} test {unit}, "
                f"{split['train_interactions']:,} training interactions, "
                f"{split['items']:,} items ({seconds:.0f} s with the search)\n"
            )
            print(experiment.table(result))
            results[f"{name}/{protocol}"] = result
    search = " --no-search" if args.no_search else ""
    only = f" --only {args.only}" if args.only else ""
    print(f"\ncommand: python benchmarks/model_quality.py{search}{only}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
