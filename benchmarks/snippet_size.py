"""The snippet's size on the wire: the file `GET /t.js` serves, raw and compressed.

    python benchmarks/snippet_size.py [--file widget_server/assets/t.js]

The budget (from the issue): 8 KB gzipped; `tests/collect/test_snippet.py` fails above
it. Prints a markdown table (brotli only when the `brotli` module is importable) and
PASS or FAIL, and exits 0 either way (1 only when the file is missing).
"""

from __future__ import annotations

import argparse
import gzip
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUDGET_GZIP = 8 * 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, default=ROOT / "widget_server" / "assets" / "t.js")
    args = parser.parse_args()
    if not args.file.is_file():
        print(f"{args.file} is missing: run scripts/build-js", file=sys.stderr)
        return 1
    body = args.file.read_bytes()
    gzipped = len(gzip.compress(body, compresslevel=9))
    rows = [("raw", len(body)), ("gzip -9 (as served)", gzipped)]
    try:
        import brotli  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        pass
    else:
        rows.append(("brotli -q 11", len(brotli.compress(body, quality=11))))
    verdict = "PASS" if gzipped <= BUDGET_GZIP else "FAIL"
    print(f"`{args.file.name}` ({body.splitlines()[0].decode(errors='replace')})\n")
    print("| encoding | bytes |")
    print("|---|---:|")
    for name, size in rows:
        print(f"| {name} | {size:,} |")
    print(f"| budget (gzip) | {BUDGET_GZIP:,} |")
    print(f"\nBudget: at most {BUDGET_GZIP:,} bytes gzipped: {verdict} ({gzipped:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
