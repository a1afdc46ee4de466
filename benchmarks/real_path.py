"""What the server serves against what `tarry eval` promises, on the same split.

    python benchmarks/real_path.py [--data DIR] [--only NAME] [--protocol user|session]
                                   [--page-history] [--keep DIR]

For each data set and protocol:

1. `tarry eval --events FILE --protocol P --json` on the whole data set: every model
   and signal on the test part, after the validation search.
2. The same split (`recommender.experiment.make_task`); the training part goes
   through the real path into a fresh store: `tarry import-events` (UCI Online
   Retail's own order lines, `--format orders --currency GBP`, the rows before the
   cut; the synthetic shops as Tarry's event CSV, `--format tarry`), the catalog
   through `tarry import-catalog`, then `tarry train --protocol P`.
3. A real `tarry serve`, asked as the snippet asks: `GET /v1/recommendations
   ?placement=recommended&vid=...&n=10`.
   - `user`: each test customer is a returning visitor, and the page sends no
     `history`: the server answers from what it knows of them.
   - `session`: each test session is a new visitor; its first part goes through
     `POST /v1/collect` (one event per item event, as the snippet sends them, at
     the current time), then the page asks with no `history`; with
     `--page-history` it sends nothing to collect and passes the last 20 items as
     `history=`, as a fresh page with the snippet's local history would.
4. NDCG@10 and HR@10 of the served answers against the test part, next to
   `tarry eval`'s `recommended` and its best single signal or baseline.

Data sets: `uci` (UCI Online Retail, Chen, Sain & Guo 2012, CC BY 4.0; the file
`online-retail/online-retail.csv.gz` under `--data`, default `../shared/data`),
and the synthetic shops with one planted structure each (`recommender.synthetic.
STRUCTURES`: baskets, drift, sessions, taste), each under the protocol its data
calls for (`recommender.profile`) unless `--protocol` says. UCI runs both.

Prints a markdown table and writes benchmarks/results/real_path.json.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import gzip
import http.client
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from recommender import experiment
from recommender import history as histories
from recommender.datasets import ONLINE_RETAIL, MissingDataset, locate, online_retail
from recommender.evaluation import hit_rate_at_k, ndcg_at_k
from recommender.interactions import Interaction, Weighting
from recommender.profile import Protocol, profile
from recommender.splits import session_split
from recommender.synthetic import STRUCTURES, generate, item_categories

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"
K = 10
BASELINES = ("popular", "item_knn")
SIGNALS = ("als", "cooccurrence", "sknn", "trending", "repeat")
PAGE_HISTORY = 20  # items the snippet keeps and sends as `history=`


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Tarry:
    """`tarry` commands and one `tarry serve`, on a data directory of their own."""

    def __init__(self, data_dir: Path) -> None:
        self.port = free_port()
        self.env = {
            **os.environ,
            "TARRY_DATA_DIR": str(data_dir),
            "TARRY_PORT": str(self.port),
            "TARRY_ACCESS_LOG": "false",
            "TARRY_RATE_LIMIT_IP": "0",
            "TARRY_RATE_LIMIT_VISITOR": "0",
            "TARRY_LOG_LEVEL": "warning",
        }
        self.env.pop("TARRY_REDIS_URL", None)
        self.server: subprocess.Popen[bytes] | None = None
        self._connection: http.client.HTTPConnection | None = None

    def run(self, *argv: str, timeout: float = 3600) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "widget_server", *argv],
            env=self.env,
            capture_output=True,
            timeout=timeout,
        )
        if done.returncode not in (0, 3):
            raise RuntimeError(f"tarry {' '.join(argv)}: {done.stderr.decode()[-2000:]}")
        return done.stdout.decode()

    def serve(self) -> None:
        self.server = subprocess.Popen(
            [sys.executable, "-m", "widget_server", "serve"],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, http.client.HTTPException):
                if self.get("/readyz")[0] == 200:
                    return
            time.sleep(0.2)
        raise TimeoutError("tarry serve did not become ready")

    def stop(self) -> None:
        if self._connection is not None:
            self._connection.close()
        if self.server is not None:
            self.server.terminate()
            self.server.wait(timeout=30)

    def _http(self, method: str, path: str, body: bytes | None = None) -> tuple[int, Any]:
        for attempt in (0, 1):
            if self._connection is None:
                self._connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                headers = {"content-type": "application/json"} if body else {}
                self._connection.request(method, path, body=body, headers=headers)
                response = self._connection.getresponse()
                data = response.read()
                return response.status, json.loads(data) if data else None
            except (OSError, http.client.HTTPException):
                self._connection.close()
                self._connection = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def get(self, path: str, **params: Any) -> tuple[int, Any]:
        return self._http("GET", path + ("?" + urllib.parse.urlencode(params) if params else ""))

    def post(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        return self._http("POST", path, json.dumps(body).encode())


# -- data sets -------------------------------------------------------------------


class DataSet:
    """Interactions as `tarry eval` reads them, and the same data as the shop's
    export file, for the part before a cut."""

    name: str
    title: str

    def interactions(self) -> list[Interaction]:
        raise NotImplementedError

    def visitor(self, eval_id: str) -> str:
        """The visitor id the store knows an evaluation user by."""
        return eval_id

    def write_training_part(self, task: experiment.Task, path: Path) -> tuple[str, list[str]]:
        """Write the export file of the task's training part; returns the import's
        `--format` and its other options."""
        raise NotImplementedError

    def cards(self, items: Sequence[str]) -> Iterator[dict[str, str]]:
        for item in items:
            yield {
                "id": item,
                "title": f"Item {item}",
                "link": f"https://bench.example/p/{urllib.parse.quote(item)}",
                "image_link": f"https://bench.example/i/{urllib.parse.quote(item)}.jpg",
            }


class OnlineRetail(DataSet):
    name = "uci"
    title = "UCI Online Retail"

    def __init__(self, data: Path) -> None:
        self.path = locate(data, ONLINE_RETAIL)

    def interactions(self) -> list[Interaction]:
        return list(online_retail(self.path))

    def visitor(self, eval_id: str) -> str:
        return f"c:{eval_id}"  # the import's id of CustomerID "17850.0"

    def write_training_part(self, task: experiment.Task, path: Path) -> tuple[str, list[str]]:
        # The file as it is, its rows before the cut; rows `tarry eval` does not read
        # either (no customer) are left out, so both sides learn from the same orders.
        with gzip.open(self.path, "rt", newline="", encoding="utf-8") as source:
            rows = csv.reader(source)
            header = next(rows)
            at_date, at_customer = header.index("InvoiceDate"), header.index("CustomerID")
            with path.open("w", newline="", encoding="utf-8") as out:
                writer = csv.writer(out)
                writer.writerow(header)
                for row in rows:
                    when = datetime.strptime(row[at_date], "%Y-%m-%d %H:%M:%S")
                    ms = int(when.replace(tzinfo=UTC).timestamp() * 1000)
                    if ms < task.cut_ms and row[at_customer]:
                        writer.writerow(row)
        return "orders", ["--currency", "GBP"]


class Synthetic(DataSet):
    def __init__(self, name: str) -> None:
        self.name = name
        self.title = f"synthetic shop, {name}"
        self.shop = STRUCTURES[name]

    def interactions(self) -> list[Interaction]:
        return generate(self.shop)

    def write_training_part(self, task: experiment.Task, path: Path) -> tuple[str, list[str]]:
        write_events(task.train, path)
        return "tarry", []

    def cards(self, items: Sequence[str]) -> Iterator[dict[str, str]]:
        categories = item_categories(self.shop)
        for card in super().cards(items):
            yield {**card, "product_type": categories.get(card["id"], "")}


def write_events(records: Sequence[Interaction], path: Path) -> None:
    """Tarry's event CSV (what `tarry eval` reads and `import-events --format tarry` takes)."""
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["timestamp", "visitor_id", "session_id", "event", "item_id"])
        for r in records:
            writer.writerow([r.timestamp_ms, r.visitor_id, r.session_id, r.event, r.item_id])


# -- one run ---------------------------------------------------------------------------


def served_lists(
    tarry: Tarry,
    key: str,
    data: DataSet,
    task: experiment.Task,
    firsts: dict[str, list[Interaction]],
    page_history: bool,
) -> dict[str, list[str]]:
    """The server's answer for every test query, asked as the snippet asks."""
    lists: dict[str, list[str]] = {}
    now = int(time.time() * 1000)
    for n, query in enumerate(task.relevant):
        params: dict[str, Any] = {"k": key, "placement": "recommended", "n": K}
        if task.visitors:
            params["vid"] = data.visitor(query)
        else:
            vid = f"bench-{n}"
            params["vid"] = vid
            records = firsts[query][-histories.MAX_STORED :]
            if page_history:
                items = list(dict.fromkeys(r.item_id for r in reversed(records)))[::-1]
                params["history"] = ",".join(items[-PAGE_HISTORY:])
            else:
                events = []
                for m, r in enumerate(records):
                    ts = now - 60_000 + m  # recent, in the session's order
                    events.append(
                        {"id": f"b{n}-{m}", "type": r.event, "ts": ts, "vid": vid,
                         "sid": vid, "items": [{"item_id": r.item_id}]}
                    )  # fmt: skip
                for start in range(0, len(events), 100):
                    status, body = tarry.post(
                        "/v1/collect", {"k": key, "events": events[start : start + 100]}
                    )
                    if status != 200 or body["accepted"] + body["duplicates"] != len(
                        events[start : start + 100]
                    ):
                        raise RuntimeError(f"collect: {status} {body}")
        status, answer = tarry.get("/v1/recommendations", **params)
        if status != 200:
            raise RuntimeError(f"recommendations: {status} {answer}")
        lists[query] = [item["item_id"] for item in answer["items"]]
    return lists


def score(lists: dict[str, list[str]], relevant: dict[str, set[str]]) -> dict[str, float]:
    ndcg = [ndcg_at_k(lists.get(q, []), relevant[q], K) for q in relevant]
    hits = [hit_rate_at_k(lists.get(q, []), relevant[q], K) for q in relevant]
    mean = sum(ndcg) / len(ndcg)
    spread = math.sqrt(sum((x - mean) ** 2 for x in ndcg) / max(len(ndcg) - 1, 1))
    return {
        f"ndcg@{K}": mean,
        f"hit_rate@{K}": sum(hits) / len(hits),
        "ndcg_se": spread / math.sqrt(len(ndcg)),
        "queries": float(len(ndcg)),
    }


def run_one(
    data: DataSet,
    interactions: list[Interaction],
    protocol: Protocol,
    work: Path,
    page_history: bool,
) -> dict[str, Any]:
    say = print
    started = time.perf_counter()
    csv_path = work / f"{data.name}-events.csv"
    if not csv_path.exists():
        write_events(interactions, csv_path)
    tarry = Tarry(work / f"{data.name}-{protocol}")
    say(f"{data.name}/{protocol}: tarry eval")
    evaluated = json.loads(
        tarry.run("eval", "--events", str(csv_path), "--protocol", protocol, "--json")
    )
    weighting = Weighting(half_life_days=None)
    found = profile(interactions)
    task = experiment.make_task(interactions, protocol, weighting, data_profile=found)
    firsts: dict[str, list[Interaction]] = {}
    if protocol == "session":
        firsts = session_split(interactions, repeats=found.repeat).history
    export = work / f"{data.name}-{protocol}-train.csv"
    fmt, options = data.write_training_part(task, export)
    created = json.loads(
        tarry.run("store", "create", "--name", data.title, "--domain", "bench.example", "--json")
    )
    store, key = created["store_id"], created["public_key"]
    say(f"{data.name}/{protocol}: import-events ({len(task.train):,} training interactions)")
    imported = tarry.run(
        "import-events", "--store", store, str(export), "--format", fmt, *options, "--json"
    )
    catalog = work / f"{data.name}-catalog.csv"
    items = sorted({r.item_id for r in interactions})
    with catalog.open("w", newline="", encoding="utf-8") as out:
        cards = list(data.cards(items))
        writer = csv.DictWriter(out, fieldnames=list(cards[0]))
        writer.writeheader()
        writer.writerows(cards)
    tarry.run("import-catalog", "--store", store, str(catalog), "--json")
    say(f"{data.name}/{protocol}: tarry train")
    trained = json.loads(tarry.run("train", "--store", store, "--protocol", protocol, "--json"))
    say(f"{data.name}/{protocol}: serving {len(task.relevant):,} test queries")
    tarry.serve()
    try:
        lists = served_lists(tarry, key, data, task, firsts, page_history)
    finally:
        tarry.stop()
    served = score(lists, task.relevant)
    models = evaluated["models"]
    contenders = [m for m in (*BASELINES, *SIGNALS) if m in models]
    best = max(contenders, key=lambda m: models[m][f"ndcg@{K}"])
    return {
        "data": data.name,
        "title": data.title,
        "protocol": protocol,
        "profile": found.to_json(),
        "eval": models,
        "eval_config": evaluated.get("config"),
        "train": trained,
        "import": json.loads(imported),
        "served": served,
        "best_single": best,
        "seconds": round(time.perf_counter() - started, 1),
    }


def table(results: list[dict[str, Any]]) -> str:
    ndcg, hr = f"ndcg@{K}", f"hit_rate@{K}"
    lines = [
        "| data | protocol | queries | eval ndcg@10 | served ndcg@10 (± se) | eval hr@10 | "
        "served hr@10 | best single (eval) | served - best |",
        "|---|---|---:|---:|---:|---:|---:|---|---:|",
    ]
    for r in results:
        ev, sv = r["eval"]["recommended"], r["served"]
        best = r["eval"][r["best_single"]]
        lines.append(
            f"| {r['title']} | {r['protocol']} | {int(sv['queries']):,} | {ev[ndcg]:.3f} | "
            f"{sv[ndcg]:.3f} ± {sv['ndcg_se']:.3f} | {ev[hr]:.3f} | {sv[hr]:.3f} | "
            f"{r['best_single']} {best[ndcg]:.3f} | {sv[ndcg] - best[ndcg]:+.3f} |"
        )
    return "\n".join(lines)


def components_table(results: list[dict[str, Any]]) -> str:
    """`tarry eval`'s NDCG@10 per model on each run's test part."""
    names = ["popular", "item_knn", *SIGNALS, "recommended"]
    lines = [
        "| data | protocol | " + " | ".join(names) + " | served |",
        "|---|---|" + "---:|" * (len(names) + 1),
    ]
    for r in results:
        cells = [f"{r['eval'][n][f'ndcg@{K}']:.3f}" if n in r["eval"] else "-" for n in names]
        lines.append(
            f"| {r['title']} | {r['protocol']} | "
            + " | ".join(cells)
            + f" | {r['served'][f'ndcg@{K}']:.3f} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, metavar="DIR")
    parser.add_argument("--only", choices=["uci", *STRUCTURES], action="append")
    parser.add_argument("--protocol", choices=["user", "session"])
    parser.add_argument("--page-history", action="store_true")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="work here and keep it")
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/real_path.json"))
    args = parser.parse_args()
    chosen = args.only or ["uci", *STRUCTURES]
    try:
        sets = [OnlineRetail(args.data) if n == "uci" else Synthetic(n) for n in chosen]
    except MissingDataset as exc:
        print(f"real_path.py: {exc}; --data DIR reads another folder", file=sys.stderr)
        return 2
    work = args.keep or Path(tempfile.mkdtemp(prefix="tarry-real-path-"))
    work.mkdir(parents=True, exist_ok=True)
    results = []
    try:
        for data in sets:
            interactions = data.interactions()
            protocols: list[Protocol] = (
                [args.protocol]
                if args.protocol
                else ["user", "session"]
                if data.name == "uci"
                else [profile(interactions).protocol]
            )
            for protocol in protocols:
                results.append(run_one(data, interactions, protocol, work, args.page_history))
                print(table(results[-1:]), flush=True)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    print("\n" + table(results) + "\n\n" + components_table(results))
    flags = "".join(f" --only {n}" for n in args.only or [])
    flags += f" --protocol {args.protocol}" if args.protocol else ""
    flags += " --page-history" if args.page_history else ""
    print(f"\ncommand: python benchmarks/real_path.py{flags}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(args.json.read_text()) if args.json.exists() else {}
    mode = "page_history" if args.page_history else "stored"
    for r in results:
        previous[f"{r['data']}/{r['protocol']}/{mode}"] = r
    args.json.write_text(json.dumps(previous, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
