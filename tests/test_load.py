"""The load benchmark's short version, on CI: a few seconds of the whole mix of
traffic against a real `tarry serve` (wrk, loopback only). It exits non-zero on any
answer other than 200, a socket error, or events stored that do not match the
collects answered; the 10-minute soak is the same command with --seconds 600."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_a_short_run_of_the_whole_mix_has_no_error() -> None:
    if shutil.which("wrk") is None:
        pytest.fail("wrk is missing: apt-get install wrk (./scripts/test installs it as root)")
    done = subprocess.run(
        [sys.executable, "benchmarks/load.py", "--seconds", "4", "--rate", "200"],
        cwd=ROOT, capture_output=True, text=True, timeout=280,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "| collect |" in done.stdout and "| decide |" in done.stdout
