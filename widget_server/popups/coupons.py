"""Unique coupon codes: a pool the merchant uploads, one code per visitor, never
given twice.

Giving a code is one Lua script (look up the visitor's code, else pop one from the
pool and record it), so two servers asking at once for different visitors can
never take the same code, and the same visitor always gets back their own.
"""

from __future__ import annotations

from collections.abc import Sequence

from widget_server.storage import keys
from widget_server.storage.connect import AsyncRedis
from widget_server.storage.scripts import register

MAX_CODES_PER_UPLOAD = 100_000

# KEYS: pool list, given hash, all-codes set.  ARGV: codes...  → codes added.
_ADD = """
local added = 0
for _, code in ipairs(ARGV) do
  if redis.call('SADD', KEYS[3], code) == 1 then
    redis.call('RPUSH', KEYS[1], code)
    added = added + 1
  end
end
return added
"""

# KEYS: pool list, given hash.  ARGV[1]: visitor id  → the code, or nil when dry.
_GIVE = """
local code = redis.call('HGET', KEYS[2], ARGV[1])
if code then return code end
code = redis.call('LPOP', KEYS[1])
if not code then return false end
redis.call('HSET', KEYS[2], ARGV[1], code)
return code
"""


class Coupons:
    def __init__(self, redis: AsyncRedis) -> None:
        self._redis = redis
        self._add = register(redis, _ADD)
        self._give = register(redis, _GIVE)

    async def add(self, store_id: str, pool: str, codes: Sequence[str]) -> int:
        """Queue codes not uploaded before; returns how many were new."""
        added = 0
        for start in range(0, len(codes), 1000):
            added += int(
                await self._add(
                    keys=[
                        keys.coupon_pool(store_id, pool),
                        keys.coupons_given(store_id, pool),
                        keys.coupons_used(store_id, pool),
                    ],
                    args=list(codes[start : start + 1000]),
                )
            )
        return added

    async def give(self, store_id: str, pool: str, visitor_id: str) -> str | None:
        code = await self._give(
            keys=[keys.coupon_pool(store_id, pool), keys.coupons_given(store_id, pool)],
            args=[visitor_id],
        )
        return None if code is None else code.decode()

    async def status(self, store_id: str, pool: str) -> dict[str, int]:
        remaining = await self._redis.llen(keys.coupon_pool(store_id, pool))
        given = await self._redis.hlen(keys.coupons_given(store_id, pool))
        return {"remaining": int(remaining), "given": int(given)}
