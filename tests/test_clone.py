"""A clone of the repository alone is enough: no test reads a file outside it, and a
benchmark whose data is not there says so in one line."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"

# `Path(__file__).resolve().parents[3]`, `Path(__file__).parent.parent`...
ANCHORED = re.compile(
    r"Path\(__file__\)(?:\.resolve\(\)|\.absolute\(\))?"
    r"(?:\.parents\[(?P<index>\d+)\]|(?P<chain>(?:\.parent\b)+))"
)
# Ways out that are not anchored at the test file.
ESCAPES = {
    "a parent of the repository root": re.compile(r"\b(?:ROOT|REPO|REPOSITORY)\.parent\b"),
    "a relative path upwards": re.compile(r"""["']\.\.["']|["']\.\./[\w.]|/\.\./"""),
    "the data folder beside the repository": re.compile(
        r"""shared/data|["']shared["']\s*/\s*["']data["']"""
    ),
}


def escapes(path: Path, text: str) -> list[str]:
    """What in `text` (the source of `path`) points outside the repository."""
    found = []
    # `parents[depth]` of the file is the root; `.parent` is `parents[0]`.
    depth = len(path.relative_to(ROOT).parts) - 1
    for match in ANCHORED.finditer(text):
        if match.group("index") is not None:
            level = int(match.group("index"))
        else:
            level = match.group("chain").count(".parent") - 1
        if level > depth:
            found.append(f"{match.group(0)} is outside the repository")
    for what, pattern in ESCAPES.items():
        found += [f"{m.group(0)!r}: {what}" for m in pattern.finditer(text)]
    return found


def test_no_test_refers_to_a_path_outside_the_repository() -> None:
    sources = sorted(TESTS.rglob("*.py"))
    assert len(sources) > 20  # the scan found the tests
    offending = {
        str(path.relative_to(ROOT)): found
        for path in sources
        if path != Path(__file__).resolve()  # this file names the patterns it looks for
        and (found := escapes(path, path.read_text(encoding="utf-8")))
    }
    assert not offending, f"tests read files a clone does not have: {offending}"


def test_the_scan_finds_the_ways_out() -> None:
    test_file = TESTS / "recommender" / "test_example.py"
    outside = [
        'SHARED = Path(__file__).resolve().parents[3] / "data"',
        "ROOT = Path(__file__).parent.parent.parent.parent",
        'DATA = ROOT.parent / "datasets"',
        'open("../../elsewhere/file.csv")',
        'Path("tests") / ".." / ".." / "x"',
        'ROOT / "shared" / "data"',
    ]
    inside = [
        'DATA = Path(__file__).resolve().parents[1] / "data"',
        "ROOT = Path(__file__).resolve().parent.parent.parent",
        'out = tmp_path / "events.csv"',
    ]
    assert all(escapes(test_file, line) for line in outside), [
        line for line in outside if not escapes(test_file, line)
    ]
    assert not [line for line in inside if escapes(test_file, line)]


BENCHMARKS = {path.name: path.read_text(encoding="utf-8") for path in ROOT.glob("benchmarks/*.py")}
DATA_BENCHMARKS = sorted(name for name, text in BENCHMARKS.items() if '"--data"' in text)


def test_every_benchmark_that_reads_real_data_takes_data_dir() -> None:
    assert "model_quality.py" in DATA_BENCHMARKS
    # the folder beside the repository is only ever a default of `--data`
    beside = {name for name, text in BENCHMARKS.items() if re.search(r"""["']shared["']""", text)}
    assert "model_quality.py" in beside and beside <= set(DATA_BENCHMARKS)


@pytest.mark.parametrize("benchmark", DATA_BENCHMARKS)
def test_a_benchmark_without_its_data_names_the_file_and_exits_2(
    tmp_path: Path, benchmark: str
) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / benchmark), "--data", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,  # where results would be written: nothing must be
    )
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr  # a sentence, not a traceback
    assert str(tmp_path / "online-retail" / "online-retail.csv.gz") in lines[0]
    assert "https://archive.ics.uci.edu/dataset/352/online+retail" in lines[0]
    assert list(tmp_path.iterdir()) == []
