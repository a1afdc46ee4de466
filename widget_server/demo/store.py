"""The demo store: made on the first start in a data directory, found again on the
next (a marker in Redis names it), and marked as a demo by its name."""

from __future__ import annotations

import dataclasses

from widget_server.storage import keys
from widget_server.storage.connect import AsyncRedis
from widget_server.storage.stores import Store, create_store, get_store, rotate_secret

NAME = "Tarry demo shop"
DOMAINS = ["localhost", "127.0.0.1"]


@dataclasses.dataclass(frozen=True)
class DemoStore:
    store: Store
    anchor_ms: int  # the simulated history ends here: the same on every start
    seeded: bool  # the history is all in (a start that was stopped halfway is not)


async def find(redis: AsyncRedis) -> DemoStore | None:
    raw = await redis.hgetall(keys.demo())
    if not raw:
        return None
    store = await get_store(redis, raw[b"store_id"].decode())
    if store is None:
        return None
    return DemoStore(store, int(raw[b"anchor_ms"]), raw.get(b"seeded") == b"1")


async def open_demo(redis: AsyncRedis, now_ms: int) -> tuple[DemoStore, str, bool]:
    """The demo store, a secret key that opens it, and whether it was made now.

    A store's secret key is kept only as a hash, so a later start cannot show the
    one it printed before: every start prints a new one (the old one stops working).
    """
    found = await find(redis)
    if found is not None:
        return found, await rotate_secret(redis, found.store.id), False
    store, secret = await create_store(redis, NAME, DOMAINS)
    # A minute boundary a little in the past: the last simulated sessions are over.
    anchor_ms = now_ms - now_ms % 60_000 - 10 * 60_000
    await redis.hset(keys.demo(), mapping={"store_id": store.id, "anchor_ms": str(anchor_ms)})
    return DemoStore(store, anchor_ms, False), secret, True


async def mark_seeded(redis: AsyncRedis) -> None:
    await redis.hset(keys.demo(), "seeded", "1")
