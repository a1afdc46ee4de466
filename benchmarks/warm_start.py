"""How many ALS iterations the final fit of `tarry train` needs when it starts from the candidate.

    python benchmarks/warm_start.py [--data DIR] [--only uci|synthetic]

`tarry train` fits a candidate on the holdout's training part (15 iterations),
scores it, then fits the published model on every event starting from the
candidate's item factors. This measures how few iterations that last fit needs:
for each data set (`uci`: UCI Online Retail, `online-retail/online-retail.csv.gz`
under `--data`, by default `../shared/data` beside the repository; `synthetic`:
`recommender.synthetic` with its defaults) and each protocol (`user`, `session`),
the last part of the data is the test (`experiment.make_task`); the rest is the
"every event" of a training, and its own holdout split gives the candidate's
training part. The final model is fitted from scratch (15 iterations) and from
the candidate with 5, 3, 2 and 1 iterations, and each is scored on the test as
the server answers (`experiment.score_bundle`). Prints a markdown table and writes
benchmarks/results/warm_start.json. About a minute on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from model_quality import DATASETS, DEFAULT_DATA

from recommender import experiment
from recommender.bundle import train_bundle
from recommender.columns import as_columns
from recommender.datasets import MissingDataset
from recommender.models import als

ROOT = Path(__file__).resolve().parents[1]
METRICS = ("ndcg@10", "recall@10", "hit_rate@10", "coverage")
# (label, iterations of the last fit; None: from scratch with the configuration's)
VARIANTS: tuple[tuple[str, int | None], ...] = (
    ("from scratch, 15", None),
    ("warm, 5", 5),
    ("warm, 3", 3),
    ("warm, 2", 2),
    ("warm, 1", 1),
)


def measure(name: str, data: Any) -> list[dict[str, Any]]:
    config = experiment.default_config()
    columns = as_columns(data)
    rows = []
    for protocol in experiment.PROTOCOLS:
        task = experiment.make_task(columns, protocol, config.weighting)
        inner = experiment.make_task(task.train, protocol, config.weighting)
        candidate = train_bundle(inner.train, config, built=inner.built, now_ms=inner.cut_ms)
        for label, iterations in VARIANTS:
            saved = als.WARM_DIVISOR, als.WARM_MIN_ITERATIONS
            if iterations is not None:  # exactly this many, whatever the configuration's
                als.WARM_DIVISOR, als.WARM_MIN_ITERATIONS = 10**6, iterations
            try:
                started = time.perf_counter()
                final = train_bundle(
                    task.train,
                    config,
                    built=task.built,
                    now_ms=task.cut_ms,
                    warm_start=None if iterations is None else candidate,
                )
                seconds = time.perf_counter() - started
            finally:
                als.WARM_DIVISOR, als.WARM_MIN_ITERATIONS = saved
            scores = experiment.score_bundle(task, task.built, final, 10)
            rows.append(
                {
                    "data": name,
                    "protocol": protocol,
                    "final fit": label,
                    "fit_s": round(seconds, 2),
                    **{m: round(scores[m], 4) for m in METRICS},
                }
            )
            print(rows[-1], file=sys.stderr, flush=True)
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    head = ["data", "protocol", "final fit", *METRICS, "fit_s"]
    lines = ["| " + " | ".join(head) + " |", "|---|---|---|" + "---:|" * (len(head) - 3)]
    for row in rows:
        cells = [str(row[h]) if isinstance(row[h], str) else f"{row[h]:.4f}" for h in head[:-1]]
        lines.append("| " + " | ".join([*cells, f"{row['fit_s']:.2f}"]) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, metavar="DIR")
    parser.add_argument("--only", choices=sorted(DATASETS))
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks/results/warm_start.json")
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    for name in [args.only] if args.only else DATASETS:
        try:
            data = DATASETS[name][2](args.data)
        except MissingDataset as missing:
            print(missing, file=sys.stderr)
            return 2
        rows += measure(name, data)
    print(table(rows))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"command": " ".join(sys.argv), "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
