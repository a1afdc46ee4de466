"""The `tarry` command."""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from recommender import pin_blas
from widget_server.demo import command as demo_command
from widget_server.imports import command as import_command
from widget_server.models import commands as cli_models
from widget_server.models.object_store import ObjectStoreError
from widget_server.models.registry import RegistryError
from widget_server.models.training import TrainingError
from widget_server.responses import STORAGE_ERRORS
from widget_server.settings import Settings, SettingsError
from widget_server.storage import stores
from widget_server.storage.connect import AsyncRedis, run_with_storage
from widget_server.storage.embedded_redis import EmbeddedRedisError


def _log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging, with Tarry's own logger on its handler: uvicorn configures
    only its own loggers, so without this the `tarry` logger's lines below warning
    (a model loaded, or dropped by the memory cap) went nowhere. The dictionary goes
    to every worker process, which configures its logging from it."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["tarry"] = {
        "handlers": ["default"],
        "level": level.upper(),
        "propagate": False,
    }
    return config


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    if args.host:
        settings = settings.replace(host=args.host)
    if args.port:
        settings = settings.replace(port=args.port)
    from widget_server.app import create_app

    if args.workers > 1:
        # Worker processes make their own app from the environment (uvicorn imports
        # the factory in each): what the options changed goes there too. Each has its
        # own storage client, caches and group commit; the embedded Redis is shared.
        os.environ["TARRY_HOST"], os.environ["TARRY_PORT"] = settings.host, str(settings.port)
        app: Any = "widget_server.app:create_app"
    else:
        app = create_app(settings)
    uvicorn.run(
        app,
        factory=args.workers > 1,
        workers=args.workers,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        log_config=_log_config(settings.log_level),
        access_log=settings.access_log,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        server_header=False,
        timeout_graceful_shutdown=30,
    )
    return 0


def _workers(raw: str) -> int:
    try:
        count = int(raw)
    except ValueError:
        count = 0
    if not 1 <= count <= 64:
        raise argparse.ArgumentTypeError(f"a whole number from 1 to 64, got {raw!r}")
    return count


def _app(settings: Settings) -> Any:
    """The ASGI app, imported only by the commands that serve it."""
    from widget_server.app import create_app

    return create_app(settings)


def _store_create(settings: Settings, args: argparse.Namespace) -> int:
    domains = [d for value in args.domain for d in value.split(",") if d.strip()]
    store, secret = run_with_storage(settings, lambda r: stores.create_store(r, args.name, domains))
    if args.json:
        print(
            json.dumps({"store_id": store.id, "public_key": store.public_key, "secret_key": secret})
        )
        return 0
    print(f"store_id:    {store.id}")
    print(f"name:        {store.name}")
    print(f"domains:     {', '.join(store.domains)}")
    print(f"public_key:  {store.public_key}")
    print(f"secret_key:  {secret}")
    print("\nThe secret key is shown only this once; keep it somewhere safe.")
    print("Script tag for the store theme:")
    print(f"  {snippet_tag(settings, store.public_key)}")
    if not settings.public_url:
        print(
            "(the address `tarry serve` listens on; set TARRY_PUBLIC_URL to the one "
            "shoppers' browsers reach, e.g. behind a proxy)"
        )
    return 0


def snippet_tag(settings: Settings, public_key: str) -> str:
    """The tag a store's pages load the snippet with, from this server's address."""
    return f'<script async src="{settings.address()}/t.js" data-key="{public_key}"></script>'


def _store_list(settings: Settings, args: argparse.Namespace) -> int:
    found = run_with_storage(settings, stores.list_stores)
    if args.json:
        print(json.dumps([s.public() for s in found]))
        return 0
    if not found:
        print("no stores yet: create one with `tarry store create --name NAME --domain DOMAIN`")
        return 0
    rows = [("STORE ID", "NAME", "DOMAINS", "PUBLIC KEY", "CREATED", "ENABLED")]
    for s in found:
        created = time.strftime("%Y-%m-%d", time.gmtime(s.created_at))
        rows.append(
            (s.id, s.name, ",".join(s.domains), s.public_key, created, "yes" if s.enabled else "no")
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return 0


def _store_rotate(settings: Settings, args: argparse.Namespace) -> int:
    secret = run_with_storage(settings, lambda r: stores.rotate_secret(r, args.store_id))
    if args.json:
        print(json.dumps({"store_id": args.store_id, "secret_key": secret}))
    else:
        print(f"secret_key:  {secret}\n\nThe old secret key no longer works.")
    return 0


def _store_enable(enabled: bool) -> Callable[[Settings, argparse.Namespace], int]:
    def run(settings: Settings, args: argparse.Namespace) -> int:
        store = run_with_storage(settings, lambda r: stores.set_enabled(r, args.store_id, enabled))
        print(f"store {store.id}: {'enabled' if store.enabled else 'disabled'}")
        return 0

    return run


def _import_catalog(settings: Settings, args: argparse.Namespace) -> int:
    from widget_server.admin import catalog_import
    from widget_server.storage import catalog as catalog_store

    # An unknown store is said first, as by every command taking --store, before
    # a feed of up to 50 MB is read for nothing.
    store = run_with_storage(settings, lambda r: stores.require_store(r, args.store))
    try:
        with open(args.file, "rb") as feed:
            data = feed.read()
    except OSError as exc:
        raise cli_models.CommandError(f"{args.file}: cannot read ({exc.strerror})") from None
    try:
        result = catalog_import.parse_feed(data, args.format, args.file, store.site)
    except catalog_import.FeedError as exc:
        raise cli_models.CommandError(f"{args.file}: {exc}") from None
    rejected = [f"line {e['line']}: {e['error']}" for e in result.errors]
    if not result.cards:
        shown = "\n  ".join(rejected[:20]) + ("\n  ..." if len(rejected) > 20 else "")
        raise cli_models.CommandError(
            f"{args.file}: no valid item to import"
            + (f"; {len(rejected)} rejected:\n  {shown}" if rejected else "")
        )

    async def store_cards(redis: AsyncRedis) -> int:
        await stores.require_store(redis, args.store)
        return await catalog_store.upsert_cards(redis, args.store, result.cards)

    imported = run_with_storage(settings, store_cards)
    if args.json:
        print(json.dumps({"imported": imported, "rejected": result.errors}))
        return 0
    print(f"imported {imported:,} items into store {args.store}; rejected {len(rejected):,}")
    for line in rejected:
        print(f"  {line}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tarry", description="On-site retention engine for online stores."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the HTTP server")
    serve.add_argument("--host", help="address to listen on (default: TARRY_HOST)")
    serve.add_argument("--port", type=int, help="port to listen on (default: TARRY_PORT)")
    serve.add_argument(
        "--workers",
        type=_workers,
        default=1,
        help="worker processes sharing the port (default: 1; about one per core)",
    )
    serve.set_defaults(run=_serve)

    store = commands.add_parser("store", help="create and manage stores")
    store_commands = store.add_subparsers(dest="store_command", required=True, metavar="ACTION")
    create = store_commands.add_parser("create", help="create a store and print its keys")
    create.add_argument("--name", required=True, help="the store's name")
    create.add_argument(
        "--domain",
        required=True,
        action="append",
        help="a domain the snippet runs on (repeat, or separate with commas)",
    )
    create.add_argument("--json", action="store_true", help="print one JSON object")
    create.set_defaults(run=_store_create)

    listing = store_commands.add_parser("list", help="list stores")
    listing.add_argument("--json", action="store_true", help="print a JSON array")
    listing.set_defaults(run=_store_list)

    rotate = store_commands.add_parser("rotate-secret", help="replace a store's secret key")
    rotate.add_argument("store_id")
    rotate.add_argument("--json", action="store_true", help="print one JSON object")
    rotate.set_defaults(run=_store_rotate)

    for name, enabled, text in (
        ("disable", False, "refuse a store's keys (events are answered 401)"),
        ("enable", True, "accept a disabled store's keys again"),
    ):
        action = store_commands.add_parser(name, help=text)
        action.add_argument("store_id")
        action.set_defaults(run=_store_enable(enabled))

    catalog = commands.add_parser(
        "import-catalog",
        help="import a product feed (CSV, JSON lines, Google Merchant XML, or Shopify's,"
        " WooCommerce's or Magento's product export)",
    )
    catalog.add_argument("--store", required=True, help="the store's id")
    catalog.add_argument("file", metavar="FILE", help="the feed")
    catalog.add_argument(
        "--format", choices=("csv", "jsonl", "gmc"), help="default: from the file name or content"
    )
    catalog.add_argument("--json", action="store_true", help="print one JSON object")
    catalog.set_defaults(run=_import_catalog)
    cli_models.add_commands(commands)
    import_command.add_command(commands)
    demo_command.add_command(commands, _app)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    pin_blas()
    try:
        settings = Settings.from_env()
        run: Callable[[Settings, argparse.Namespace], int] = args.run
        return run(settings, args)
    except (
        SettingsError,
        stores.StoreError,
        EmbeddedRedisError,
        cli_models.CommandError,
        import_command.ImportFailed,
        TrainingError,
        RegistryError,
    ) as exc:
        print(f"tarry: {exc}", file=sys.stderr)
        return 2
    except STORAGE_ERRORS as exc:
        print(f"tarry: storage: cannot reach Redis ({exc})", file=sys.stderr)
        return 1
    except ObjectStoreError as exc:  # TARRY_MODEL_STORE_URL: nothing was published
        print(f"tarry: {exc}", file=sys.stderr)
        return 1
