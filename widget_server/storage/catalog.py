"""The product catalog in Redis: one hash per store, item id → the item's card (JSON).

Cards come from feed imports and from `view_item` events, which each know part of
an item (a feed may lack images, a page may lack the brand), so a write merges
field by field: a field the new record gives replaces the stored one, the others
stay. Showcases may only show displayable cards (see `is_displayable`).

Every upsert also bumps the store's catalog version in the same script call, so a
server that reads the version before its cards never keeps a card (or a miss) from
before the write.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from typing import Any

from recommender.catalog import is_available
from widget_server.storage import keys
from widget_server.storage.connect import AsyncRedis
from widget_server.storage.scripts import register

CARD_FIELDS = (
    "item_id",
    "name",
    "url",
    "image",
    "price",
    "currency",
    "category",
    "brand",
    "availability",
    "updated_ms",
)

# Cards per script call: a 50k-item feed is 100 calls of a few milliseconds each, and
# one call never blocks Redis for long.
BATCH = 500

_UPSERT = """
-- Merge cards into a store's catalog, field by field, in one round trip, and bump
-- the catalog version.
-- KEYS[1]  the store's catalog hash
-- KEYS[2]  the store's catalog version counter
-- ARGV[1]  updated_ms for every card written
-- ARGV[2]  a JSON array of cards, each with item_id and without null fields
-- Returns the number of cards written.
local cards = cjson.decode(ARGV[2])
local ids = {}
for i, card in ipairs(cards) do ids[i] = card.item_id end
local old = redis.call('HMGET', KEYS[1], unpack(ids))
local now = tonumber(ARGV[1])
local merged = {}  -- item id -> card, so a feed's repeated id merges with itself
local order = {}
for i, card in ipairs(cards) do
  local id = card.item_id
  local base = merged[id]
  if not base then
    order[#order + 1] = id
    base = old[i] and cjson.decode(old[i]) or {}
    merged[id] = base
  end
  for field, value in pairs(card) do base[field] = value end
  base.updated_ms = now
end
local args = {}
for _, id in ipairs(order) do
  args[#args + 1] = id
  args[#args + 1] = cjson.encode(merged[id])
end
redis.call('HSET', KEYS[1], unpack(args))
redis.call('INCR', KEYS[2])
return #cards
"""


def _clean(card: Mapping[str, Any]) -> dict[str, Any]:
    # Null fields are "not given": dropping them keeps the stored value.
    return {k: v for k, v in card.items() if v is not None and k != "updated_ms"}


async def upsert_cards(redis: AsyncRedis, store_id: str, cards: list[dict[str, Any]]) -> int:
    """Merge `cards` (each with an `item_id`) into the store's catalog, stamping
    `updated_ms` and bumping the catalog version; returns the number of cards written
    (ValueError if one lacks an id). Each batch is one atomic script call on keys of
    the store's one hash slot, so it runs unchanged on a Redis Cluster."""
    if any(not card.get("item_id") for card in cards):
        raise ValueError("item_id: every card needs one")
    script = register(redis, _UPSERT)
    script_keys = [keys.catalog(store_id), keys.catalog_version(store_id)]
    now = int(time.time() * 1000)
    written = 0
    for start in range(0, len(cards), BATCH):
        batch = [_clean(card) for card in cards[start : start + BATCH]]
        payload = json.dumps(batch, ensure_ascii=False, separators=(",", ":"))
        written += int(await script(keys=script_keys, args=[now, payload]))
    return written


def is_displayable(card: Mapping[str, Any]) -> bool:
    """True when a showcase may show the item: it has a name, a link and an image to
    draw, and is not out of stock. An item known only from behaviour is not."""
    for field in ("name", "url", "image"):
        value = card.get(field)
        if not isinstance(value, str) or not value.strip():
            return False
    availability = card.get("availability")
    return is_available(availability if isinstance(availability, str) else None)


def decode_card(raw: bytes | str | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        card = json.loads(raw)
    except ValueError:
        return None  # a damaged card is as good as none
    return card if isinstance(card, dict) else None


async def get_cards(
    redis: AsyncRedis, store_id: str, item_ids: Iterable[str]
) -> dict[str, dict[str, Any]]:
    """The cards of `item_ids` that the catalog has, by item id (one HMGET)."""
    ids = list(dict.fromkeys(item_ids))
    if not ids:
        return {}
    found = await redis.hmget(keys.catalog(store_id), ids)
    cards = {}
    for item_id, raw in zip(ids, found, strict=True):
        card = decode_card(raw)
        if card is not None:
            cards[item_id] = card
    return cards


async def sample_cards(redis: AsyncRedis, store_id: str, n: int) -> list[dict[str, Any]]:
    """Up to `n` random displayable cards, for a store that has no model yet. Draws
    distinct items with a margin, since some cards may not be displayable."""
    if n <= 0:
        return []
    drawn = await redis.hrandfield(keys.catalog(store_id), 2 * n + 10, withvalues=True)
    cards = []
    for raw in (drawn or [])[1::2]:
        card = decode_card(raw)
        if card is not None and is_displayable(card):
            cards.append(card)
            if len(cards) == n:
                break
    return cards
