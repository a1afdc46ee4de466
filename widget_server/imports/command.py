"""`tarry import-events --store ID FILE`: a store's past orders or events from an
export file, with a progress bar on a terminal and plain progress lines otherwise."""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import sys
import time
from collections.abc import Iterator
from typing import IO, Any, cast

from widget_server.imports.formats.rows import FORMATS, FormatError, Row, read, sniff
from widget_server.imports.pipeline import Summary, run_import
from widget_server.settings import Settings
from widget_server.storage import stores
from widget_server.storage.clock import now_ms
from widget_server.storage.connect import AsyncRedis, run_with_storage

ORDER_FORMATS = frozenset({"shopify", "woocommerce", "orders"})
PLAIN_EVERY_S = 5.0


class ImportFailed(ValueError):
    """What the command says and exits 2 with."""


def parse_mapping(pairs: list[str]) -> dict[str, str]:
    mapping = {}
    for pair in pairs:
        field, sep, column = pair.partition("=")
        if not sep or not field or not column:
            raise ImportFailed(
                f"--map: expected FIELD=COLUMN such as order_id=InvoiceNo, got {pair!r}"
            )
        mapping[field.strip()] = column.strip()
    return mapping


def open_export(path: str) -> tuple[IO[bytes], IO[bytes]]:
    """The file to parse (gunzipped when it is gzip) and the raw file whose position
    tells the progress."""
    try:
        raw = open(path, "rb")  # noqa: SIM115 (closed by the caller)
    except OSError as exc:
        raise ImportFailed(f"{path}: cannot read ({exc.strerror})") from None
    if raw.read(2) == b"\x1f\x8b":
        raw.seek(0)
        return cast(IO[bytes], gzip.GzipFile(fileobj=raw)), raw
    raw.seek(0)
    return raw, raw


def choose_format(stream: IO[bytes], given: str | None, path: str) -> str:
    if given:
        return given
    head = stream.peek(4096)[:4096] if isinstance(stream, io.BufferedReader) else b""
    if not head:
        position = stream.tell()
        head = stream.read(4096)
        stream.seek(position)
    found = sniff(head)
    if found is None:
        raise ImportFailed(
            f"{path}: cannot tell its format; name it with --format ({', '.join(FORMATS)})"
        )
    return found


class _Progress:
    """A tqdm bar on a terminal (lines, orders, rate, time left, by bytes read);
    elsewhere a plain line every few seconds."""

    def __init__(self, raw: IO[bytes], total: int, quiet: bool) -> None:
        self.raw, self.total = raw, total
        self.bar: Any = None
        self.quiet = quiet
        self.last = time.monotonic()
        self.started = self.last
        if not quiet and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="B", unit_scale=True, file=sys.stderr, leave=True)

    def __call__(self, summary: Summary) -> None:
        position = self.raw.tell()
        if self.bar is not None:
            self.bar.update(position - self.bar.n)
            self.bar.set_postfix(lines=summary.lines, orders=summary.orders, refresh=False)
            return
        now = time.monotonic()
        if self.quiet or now - self.last < PLAIN_EVERY_S:
            return
        self.last = now
        rate = summary.lines / (now - self.started)
        left = (self.total - position) / (position / (now - self.started)) if position else 0
        print(
            f"tarry: {summary.lines:,} lines, {summary.orders:,} orders, {rate:,.0f} lines/s, "
            f"{100 * position / max(self.total, 1):.0f}%, about {left:.0f} s left",
            file=sys.stderr,
        )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _rows(stream: IO[bytes], fmt: str, args: argparse.Namespace) -> Iterator[Row]:
    """The file's rows; a file that is not of the format is said at once."""
    try:
        return read(
            fmt,
            stream,
            mapping=parse_mapping(args.map),
            currency=args.currency,
            zone=args.zone,
        )
    except FormatError as exc:
        raise ImportFailed(f"{args.file}: {exc}") from None


def import_events(settings: Settings, args: argparse.Namespace) -> int:
    # An unknown store is said before a large file is read for nothing.
    store = run_with_storage(settings, lambda r: stores.require_store(r, args.store))
    stream, raw = open_export(args.file)
    with stream, raw:
        fmt = choose_format(stream, args.format, args.file)
        rows = _rows(stream, fmt, args)
        progress = _Progress(raw, os.fstat(raw.fileno()).st_size, args.json)

        async def run(redis: AsyncRedis) -> Summary:
            return await run_import(
                redis,
                store,
                rows,
                orders_only=fmt in ORDER_FORMATS,
                now_ms=now_ms(),
                retention_days=settings.event_retention_days,
                progress=progress,
            )

        try:
            summary = run_with_storage(settings, run)
        except KeyboardInterrupt:
            progress.close()
            print(
                "tarry: import stopped; what was counted is whole, run it again to finish",
                file=sys.stderr,
            )
            return 130
        progress.close()
    if args.json:
        print(json.dumps({"store_id": store.id, "format": fmt, **summary.as_json()}))
    else:
        _print_summary(summary, fmt)
    return 0 if summary.records else 2


def _print_summary(summary: Summary, fmt: str) -> None:
    print(f"imported {fmt}: {summary.records:,} records ({summary.lines:,} lines)")
    print(f"  counted now:    {summary.events:,} events, {summary.orders:,} orders")
    print(f"  already there:  {summary.already:,} events")
    print(f"  customers:      {summary.customers:,}")
    for reason, count in sorted(summary.skipped.items(), key=lambda kv: -kv[1]):
        print(f"  skipped:        {count:,} ({reason})")
    if summary.bad:
        print(f"  bad rows:       {summary.bad:,}, not imported:")
        for error in summary.first_errors[:20]:
            print(f"    line {error['line']}: {error['error']}")
        if summary.bad > 20:
            print(f"    ... and {summary.bad - 20:,} more")


def add_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    command = commands.add_parser(
        "import-events",
        help="import a store's past orders or events from an export file",
        description=(
            "Count a store's past orders or events on the days they happened. Formats: "
            "shopify (Shopify's orders export), woocommerce (WooCommerce order exports with "
            "the items in a line_items or line_item_N column), orders (any CSV of order "
            "lines, columns named with --map), tarry (the CSV tarry eval reads), ga4 "
            "(GA4's BigQuery export as JSON lines), otto (the OTTO data set's sessions as "
            "JSON lines). Importing a file again changes nothing."
        ),
    )
    command.add_argument("--store", required=True, help="the store's id")
    command.add_argument("file", help="the export file (CSV or JSON lines; .gz is read too)")
    command.add_argument("--format", choices=FORMATS, help="the file's format (default: guessed)")
    command.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="FIELD=COLUMN",
        help="the column of a field in an order-lines file, e.g. order_id=InvoiceNo",
    )
    command.add_argument("--currency", help="the orders' currency when the file has none")
    command.add_argument("--zone", help="the IANA time zone of times without an offset")
    command.add_argument("--json", action="store_true", help="print the summary as JSON")
    command.set_defaults(run=import_events)
