"""The last two days' shoppers, sent through the running server's real
`POST /v1/collect`, a request per page as the snippet sends them: each shopper
from their own browser (User-Agent) and address (`X-Forwarded-For`, which the
server trusts from this machine's proxy address), from the shop's origin."""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import threading
import time
import urllib.parse
from collections.abc import Callable, Sequence
from typing import Any

from widget_server.demo.shoppers import Shopper

WORKERS = 4
RETRIES = 5


class SendFailed(RuntimeError):
    """The server refused the simulated events: a bug worth stopping for."""


Batch = tuple[Shopper, list[dict[str, Any]]]


class Collector:
    """Sends batches to one server, a connection per thread."""

    def __init__(self, server_url: str, public_key: str, stop: threading.Event) -> None:
        parts = urllib.parse.urlsplit(server_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.public_key = public_key
        self.stop = stop
        self._local = threading.local()

    def _connection(self) -> http.client.HTTPConnection:
        found: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        if found is None:
            found = http.client.HTTPConnection(self.host, self.port, timeout=30)
            self._local.connection = found
        return found

    def send(self, batch: Batch) -> int:
        """Post one page's events; the number accepted."""
        shopper, events = batch
        body = json.dumps({"k": self.public_key, "events": events}).encode()
        headers = {
            "Content-Type": "text/plain;charset=UTF-8",
            "Origin": self.origin,
            "User-Agent": shopper.user_agent,
            "X-Forwarded-For": shopper.address,
        }
        for attempt in range(RETRIES):
            connection = self._connection()
            try:
                connection.request("POST", "/v1/collect", body, headers)
                response = connection.getresponse()
                answer = json.loads(response.read() or b"{}")
            except (OSError, http.client.HTTPException):
                connection.close()
                self._local.connection = None
                if self.stop.is_set() or attempt == RETRIES - 1:
                    raise
                time.sleep(0.5)
                continue
            if response.status in (429, 503):  # as the snippet does: wait, send again
                time.sleep(float(response.getheader("Retry-After") or 1))
                continue
            if response.status != 200 or answer.get("rejected"):
                raise SendFailed(f"POST /v1/collect answered {response.status}: {answer}")
            return int(answer["accepted"]) + int(answer["duplicates"])
        raise SendFailed("POST /v1/collect: still refused after retries")


def send_all(
    collector: Collector,
    shoppers_batches: Sequence[Sequence[Batch]],
    progress: Callable[[int], None],
) -> int:
    """Send every shopper's batches (each shopper's in order, shoppers side by side);
    returns the events sent. Stops early when the collector's stop event is set."""

    def run(batches: Sequence[Batch]) -> int:
        sent = 0
        for batch in batches:
            if collector.stop.is_set():
                break
            sent += collector.send(batch)
            progress(1)
        return sent

    lanes: list[list[Batch]] = [[] for _ in range(WORKERS)]
    for number, batches in enumerate(shoppers_batches):
        lanes[number % WORKERS].extend(batches)
    with concurrent.futures.ThreadPoolExecutor(WORKERS, thread_name_prefix="tarry-demo") as pool:
        return sum(pool.map(run, lanes))
