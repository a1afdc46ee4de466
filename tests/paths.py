"""Where the tests find the repository's own files: every path a test reads is under
`ROOT`, the clone itself, so that a clone alone passes its tests."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # tests/ is a folder of the root
AXE = ROOT / "tests" / "dashboard" / "vendor" / "axe.min.js"  # vendored axe-core


def artifacts(name: str) -> Path:
    """The folder a browser test's screenshots go to: `TARRY_ARTIFACTS/<name>` when
    that is set, else `test-artifacts/<name>` in the clone (ignored by git)."""
    base = os.environ.get("TARRY_ARTIFACTS")
    directory = Path(base) / name if base else ROOT / "test-artifacts" / name
    directory.mkdir(parents=True, exist_ok=True)
    return directory
