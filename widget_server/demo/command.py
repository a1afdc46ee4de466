"""`tarry demo [--port 8000] [--reset]`: the whole product from one command.

Runs the server on an embedded Redis under `./.tarry-demo`, with a demo store
whose shop is at /demo/. The first start fills the store (seed.py) while the
server already answers; a later start on the same data only sets it up again and
is ready in seconds.

Shutting down (SIGTERM or Ctrl-C): the server finishes its requests, the filling
stops at its next step, and the embedded Redis is shut down once the last of them
lets go of it, so nothing is left running.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import shutil
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import redis

from widget_server.demo import store as demo_store
from widget_server.models.commands import CommandError
from widget_server.settings import Settings
from widget_server.storage.embedded_redis import LEASE_PREFIX, SOCKET_NAME, EmbeddedRedis

DATA_DIR = Path(".tarry-demo")
# Written in the data directory when the demo makes it: --reset deletes only a
# directory that has it.
MARK = "MADE-BY-TARRY-DEMO"
STALE_AFTER_MS = 3 * 86_400_000
READY = "Tarry demo is ready:"
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


# The ASGI app for the settings (`app.create_app`, from the layer above this one).
AppFactory = Callable[[Settings], Any]


def add_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], make_app: AppFactory
) -> None:
    demo = commands.add_parser(
        "demo",
        help="run a demo shop with a year of simulated history (data in ./.tarry-demo)",
        description=(
            "Start Tarry with a demo store: a made-up shop at /demo/ with the tag pasted "
            "in, filled on its first start with a year of simulated orders, weeks of "
            "sessions and the last 40 hours' shoppers, and a trained recommender. The data "
            "stays in ./.tarry-demo, so the next start is quick."
        ),
    )
    demo.add_argument("--port", type=int, default=8000, help="port to listen on (default: 8000)")
    demo.add_argument(
        "--reset", action="store_true", help="delete the demo's data first and start over"
    )
    demo.set_defaults(run=functools.partial(run_demo, make_app=make_app))


def reset(data_dir: Path) -> None:
    """Delete the demo's data directory; never one the demo did not make, nor one a
    running Tarry process uses."""
    if not data_dir.exists():
        return
    if not (data_dir / MARK).exists():
        raise CommandError(f"--reset: {data_dir} was not made by `tarry demo`; not deleting it")
    if (data_dir / SOCKET_NAME).exists():
        client = redis.Redis(unix_socket_path=str(data_dir / SOCKET_NAME), socket_timeout=5)
        try:
            holders = [
                c for c in client.client_list() if str(c.get("name", "")).startswith(LEASE_PREFIX)
            ]
            if holders:
                raise CommandError(
                    f"--reset: a Tarry process is using {data_dir} (another `tarry demo`?); "
                    "stop it first"
                )
            with contextlib.suppress(redis.ConnectionError):
                client.shutdown(nosave=True)
        except (redis.ConnectionError, redis.TimeoutError):
            pass  # a server that died and left its socket behind
        finally:
            client.close()
    shutil.rmtree(data_dir)


def _check_port(host: str, port: int) -> None:
    if not 1 <= port <= 65535:
        raise CommandError(f"--port: must be between 1 and 65535, got {port}")
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            raise CommandError(
                f"--port: {port} is in use (another `tarry demo` or server?); "
                "choose another with --port"
            ) from None


def _local_url(settings: Settings) -> str:
    host = "127.0.0.1" if settings.host in ("", "0.0.0.0", "::") else settings.host
    return f"http://{host}:{settings.port}"


def run_demo(settings: Settings, args: argparse.Namespace, make_app: AppFactory) -> int:
    import uvicorn

    from widget_server.demo.seed import Seeder, seed_in_thread
    from widget_server.storage.clock import now_ms
    from widget_server.storage.connect import run_with_storage

    with contextlib.suppress(AttributeError):  # each line as it is said, also into a pipe
        sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    data_dir = DATA_DIR.resolve()
    if args.reset:
        reset(data_dir)
    # Always the embedded Redis in the demo's own directory: a demo never writes
    # into a real store's Redis.
    settings = settings.replace(data_dir=data_dir, redis_url=None, port=args.port, access_log=False)
    _check_port(settings.host, settings.port)
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / MARK).write_text(
        "tarry demo keeps its data here; `tarry demo --reset` deletes it\n"
    )

    stop = threading.Event()
    server: uvicorn.Server | None = None

    def on_signal(number: int, frame: FrameType | None) -> None:
        # uvicorn handles the signal while it serves and raises it again once it has
        # shut down: then it lands here, and the demo ends normally.
        stop.set()
        if server is not None:
            server.should_exit = True

    previous = {number: signal.signal(number, on_signal) for number in STOP_SIGNALS}

    # Held from first to last, so the embedded Redis runs once for the whole demo
    # and shuts down (flushing its data) when the demo lets go of it last.
    lease = EmbeddedRedis(data_dir)
    lease.acquire()
    failures: list[BaseException] = []
    ready = threading.Event()
    try:
        demo, secret, created = run_with_storage(
            settings, lambda r: demo_store.open_demo(r, now_ms())
        )
        url = _local_url(settings)
        _say_keys(demo, secret, created)
        server = uvicorn.Server(
            uvicorn.Config(
                make_app(settings),
                host=settings.host,
                port=settings.port,
                log_level="warning",
                access_log=False,
                proxy_headers=True,
                forwarded_allow_ips=settings.forwarded_allow_ips,
                server_header=False,
                timeout_graceful_shutdown=10,
            )
        )

        def seeded(failure: BaseException | None) -> None:
            if failure is not None:
                failures.append(failure)
                server.should_exit = True
            elif not stop.is_set():
                ready.set()
                _say_ready(url, demo, data_dir)

        thread = seed_in_thread(Seeder(settings, demo, secret, url, stop), seeded)
        try:
            if not stop.is_set():
                server.run()
        finally:
            stop.set()
            thread.join()
    finally:
        lease.release()
        for number, handler in previous.items():
            signal.signal(number, handler)
    if failures:
        # Not the user's doing: the whole story, for a bug report.
        traceback.print_exception(failures[0], file=sys.stderr)
        print(f"tarry: demo: filling the demo store failed: {failures[0]}", file=sys.stderr)
        return 1
    if not ready.is_set() and not demo.seeded:
        print("Stopped before the demo store was filled: the next start fills it.")
    print("Tarry demo stopped.")
    return 0


def _say_keys(demo: demo_store.DemoStore, secret: str, created: bool) -> None:
    store = demo.store
    print(f"{'Made' if created else 'Found'} the demo store “{store.name}” in {DATA_DIR}/:")
    print(f"  store id:    {store.id}")
    print(f"  public key:  {store.public_key}")
    print(f"  secret key:  {secret}")
    print("  (the secret key is new at every start: it signs you in to the dashboard)")


def _say_ready(url: str, demo: demo_store.DemoStore, data_dir: Path) -> None:
    print(READY)
    print(f"  the shop:       {url}/demo/")
    print(f"  the dashboard:  {url}/dashboard  (sign in with the secret key above)")
    print(f"  the API:        {url}/openapi.json")
    if time.time() * 1000 - demo.anchor_ms > STALE_AFTER_MS:
        day = datetime.fromtimestamp(demo.anchor_ms / 1000, UTC).date().isoformat()
        print(f"The simulated history ends on {day}: `tarry demo --reset` makes a fresh one.")
    print(f"Data in {data_dir}; Ctrl-C stops the demo.")
