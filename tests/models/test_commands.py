"""`tarry eval`: one JSON object with every model's metrics, and clear errors."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import pytest
from processes import run_cli

from recommender.synthetic import SyntheticShop, generate
from widget_server.cli import main
from widget_server.models import training

DATA = Path(__file__).resolve().parents[1] / "data"
METRICS = {"ndcg@5", "precision@5", "recall@5", "map@5", "hit_rate@5", "coverage"}


@pytest.fixture(scope="module")
def events_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("eval") / "events.csv"
    shop = SyntheticShop(n_users=400, n_items=120, n_categories=6, n_tastes=4, days=30, seed=5)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["timestamp", "visitor_id", "session_id", "event", "item_id"])
        for r in generate(shop):
            writer.writerow([r.timestamp_ms, r.visitor_id, r.session_id, r.event, r.item_id])
    return path


@pytest.mark.parametrize("protocol", ["user", "session"])
def test_json_is_exactly_one_object_with_every_model(events_csv, capsys, protocol) -> None:
    code, out, err = run_cli(
        capsys, "eval", "--events", str(events_csv), "--protocol", protocol, "--k", "5", "--json"
    )
    assert code == 0, err
    result = json.loads(out)  # the whole of stdout is one JSON document
    assert set(result) == {"k", "split", "models", "config"} and result["k"] == 5
    assert result["split"]["protocol"] == protocol and result["split"]["test_queries"] > 20
    # every signal of the blend has its own row; `repeat` where the data allows repeats
    signals = {"als", "cooccurrence", "sknn", "trending"} | (
        {"repeat"} if result["split"]["repeat"] else set()
    )
    assert set(result["models"]) == {"popular", "item_knn", "recommended"} | signals
    for name, metrics in result["models"].items():
        assert set(metrics) >= METRICS, name
        assert all(0 <= metrics[m] <= 1 for m in METRICS), name
    # the planted tastes are there to find: learning beats bestsellers
    models = result["models"]
    assert models["als"]["ndcg@5"] > models["popular"]["ndcg@5"]
    assert models["recommended"]["ndcg@5"] > models["popular"]["ndcg@5"]
    assert "search:" in err and "chosen on validation" in err  # the search ran, on stderr


def test_table_without_json(events_csv, capsys) -> None:
    code, out, _ = run_cli(capsys, "eval", "--events", str(events_csv), "--no-search")
    assert code == 0
    assert "| model | ndcg@10 |" in out
    for name in ("popular", "item_knn", "als", "cooccurrence", "sknn", "trending", "recommended"):
        assert f"| {name} |" in out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("timestamp,visitor_id,event\n1,u,view_item\n", "missing column(s) item_id"),
        ("timestamp,visitor_id,event,item_id\nyesterday,u,view_item,i1\n", ":2: timestamp"),
        ("timestamp,visitor_id,event,item_id\n1700000000,,view_item,i1\n", ":2: visitor_id: empty"),
        ("timestamp,visitor_id,event,item_id\n", "interactions: empty"),
    ],
)
def test_bad_files_are_named_errors(tmp_path, capsys, content, message) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    code, out, err = run_cli(capsys, "eval", "--events", str(path))
    assert code == 2 and out == ""
    assert "tarry: --events: " in err and message in err


def test_missing_file_and_bad_k(tmp_path, capsys) -> None:
    code, _, err = run_cli(capsys, "eval", "--events", str(tmp_path / "nope.csv"))
    assert code == 2 and "no such file" in err
    code, _, err = run_cli(capsys, "eval", "--events", str(tmp_path / "nope.csv"), "--k", "0")
    assert code == 2 and "--k: must be at least 1" in err


def test_eval_reads_otto_sessions_as_the_data_set_ships_them(tmp_path, capsys) -> None:
    """JSON lines, gzipped or not: the same split and scores as the same events in
    Tarry's CSV (above); a bad line is named."""
    plain = DATA / "otto-20-sessions.jsonl"
    packed = tmp_path / "train.jsonl.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    answers = []
    for path in (plain, packed):
        code, out, err = run_cli(
            capsys, "eval", "--events", str(path), "--protocol", "session", "--json"
        )
        assert code == 0, err
        answers.append(json.loads(out))
    lines = plain.read_text().splitlines()
    events = sum(len(json.loads(line)["events"]) for line in lines)
    split = answers[0]["split"]
    assert 0 < split["train_interactions"] < events and split["test_queries"] >= 1
    assert answers[0]["split"] == answers[1]["split"]
    for model in ("popular", "recommended"):  # the scores; not the time taken
        scores = [{k: v for k, v in a["models"][model].items() if k != "fit_s"} for a in answers]
        assert scores[0] == scores[1]
    broken = tmp_path / "broken.jsonl"
    broken.write_text(lines[0] + "\n" + '{"session": 2, "events": [{"aid": 1}]}\n')
    code, _, err = run_cli(capsys, "eval", "--events", str(broken))
    assert code == 2 and f"{broken}:2: not an OTTO session line (missing 'ts')" in err


def test_a_tiny_real_data_set_skips_the_search_with_a_note(tmp_path, capsys) -> None:
    # The 20 real OTTO sessions: too few to split twice, enough to score.
    from recommender.datasets import otto_sessions

    path = tmp_path / "otto.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["timestamp", "visitor_id", "session_id", "event", "item_id"])
        for r in otto_sessions(DATA / "otto-20-sessions.jsonl"):
            writer.writerow([r.timestamp_ms, r.visitor_id, r.session_id, r.event, r.item_id])
    code, out, err = run_cli(
        capsys, "eval", "--events", str(path), "--protocol", "session", "--json"
    )
    assert code == 0, err
    assert "search: skipped" in err and "default parameters" in err
    result = json.loads(out)
    assert result["split"]["test_queries"] >= 1
    # anonymous sessions that never come back: no repeats, so no `repeat` row
    assert result["split"]["repeat"] is False
    assert set(result["models"]) == {
        "popular", "item_knn", "als", "cooccurrence", "sknn", "trending", "recommended"
    }  # fmt: skip


def test_data_with_nothing_to_test_says_what_is_missing_before_any_search(tmp_path, capsys) -> None:
    path = tmp_path / "tiny.csv"
    path.write_text(
        "timestamp,visitor_id,event,item_id\n"
        "1700000000000,u1,view_item,a\n"
        "1700000060000,u1,purchase,a\n"
        "1700000120000,u2,view_item,b\n"
    )
    for protocol in ("user", "session"):
        code, out, err = run_cli(capsys, "eval", "--events", str(path), "--protocol", protocol)
        assert code == 2 and out == ""
        assert "search:" not in err  # no search over data that has nothing to score
        last = err.strip().splitlines()[-1]
        assert last.startswith(
            "tarry: --events: too little data to evaluate: 3 interactions of 2 visitors"
        ), err
        assert last.endswith(f"so the {protocol} protocol has nothing to predict"), err


def test_too_few_validation_users_skip_the_search_with_a_note(tmp_path, capsys) -> None:
    # Ten customers buying on ten days: enough to score, too few to tune on.
    path = tmp_path / "small.csv"
    day = 86_400_000
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["timestamp", "visitor_id", "event", "item_id"])
        for d in range(10):
            for u in range(10):
                writer.writerow([1_700_000_000_000 + d * day + u, f"u{u}", "purchase", f"i{u + d}"])
    code, out, err = run_cli(capsys, "eval", "--events", str(path), "--json")
    assert code == 0, err
    searched = [line for line in err.splitlines() if line.startswith("search:")]
    assert searched == [
        "search: skipped, 10 validation users with something to predict, fewer than "
        "the 20 a search needs; default parameters"
    ], err
    assert json.loads(out)["split"]["test_queries"] == 10


def test_train_help_states_the_codes_figures(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"first model, up to {training.SEARCH_UP_TO:,} interactions" in text
    assert f"(default {training.DEFAULT_MARGIN})" in text
