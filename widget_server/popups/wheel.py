"""The spin-to-win draw: which prize a visitor wins, decided on the server.

One Lua script does all of it, so that nothing can come between the steps: a
visitor who has won before gets that prize again (one prize per visitor, ever);
otherwise a weighted draw among the segments that can still pay out (a pool with
codes left, a code for everyone, or "no luck"), the winning pool's code popped and
recorded as `Coupons.give` does (a visitor who already holds a code of that pool
keeps it), and the prize written down. Two servers spinning at once for different
visitors can never hand out the same code. The random number comes from Python's
`secrets` (a script's own `math.random` is seeded alike on every call).
"""

from __future__ import annotations

import dataclasses
import json
import secrets
from collections.abc import Sequence

from widget_server.popups.schema import Segment
from widget_server.storage import keys
from widget_server.storage.connect import AsyncRedis
from widget_server.storage.scripts import register

# KEYS[1]: the rule's prizes-won hash; then per pool its list and its given hash.
# ARGV: visitor id, a uniform number in [0, 1), now (ms), the segment count, then
# per segment: weight, its pool's number (1-based; 0: no pool), its fixed code or "",
# its label.  → the prize as JSON, or nil when no segment can pay out.
_SPIN = """
local won = redis.call('HGET', KEYS[1], ARGV[1])
if won then return won end
local count = tonumber(ARGV[4])
local open, total = {}, 0
for i = 1, count do
  local at = 5 + (i - 1) * 4
  local weight, pool = tonumber(ARGV[at]), tonumber(ARGV[at + 1])
  local payable = pool == 0
    or redis.call('LLEN', KEYS[2 * pool]) > 0
    or redis.call('HEXISTS', KEYS[2 * pool + 1], ARGV[1]) == 1
  if payable then
    total = total + weight
    open[#open + 1] = {i, weight}
  end
end
if #open == 0 then return false end
local left = tonumber(ARGV[2]) * total
local chosen = open[#open][1]
for _, slice in ipairs(open) do
  left = left - slice[2]
  if left < 0 then
    chosen = slice[1]
    break
  end
end
local at = 5 + (chosen - 1) * 4
local pool, code = tonumber(ARGV[at + 1]), ARGV[at + 2]
if pool > 0 then
  code = redis.call('HGET', KEYS[2 * pool + 1], ARGV[1])
  if not code then
    code = redis.call('LPOP', KEYS[2 * pool])
    redis.call('HSET', KEYS[2 * pool + 1], ARGV[1], code)
  end
end
if code == '' then code = cjson.null end
local prize = cjson.encode({segment = chosen - 1, label = ARGV[at + 3], code = code,
                            ts = tonumber(ARGV[3])})
redis.call('HSET', KEYS[1], ARGV[1], prize)
return prize
"""
_UNIT = 2.0**53


@dataclasses.dataclass(frozen=True)
class Prize:
    segment: int  # the slice's position on the wheel when it was won
    label: str  # its label then (the merchant may edit the wheel later)
    code: str | None  # None: "no luck this time"
    ts: int  # when it was won, ms since the epoch

    @classmethod
    def from_json(cls, raw: bytes | str) -> Prize:
        data = json.loads(raw)
        return cls(int(data["segment"]), str(data["label"]), data["code"] or None, int(data["ts"]))


def _pools(segments: Sequence[Segment]) -> dict[str, int]:
    """Each pool the wheel draws from, numbered from 1 (slices may share one)."""
    numbers: dict[str, int] = {}
    for segment in segments:
        if segment.pool is not None and segment.pool not in numbers:
            numbers[segment.pool] = len(numbers) + 1
    return numbers


class Wheel:
    def __init__(self, redis: AsyncRedis) -> None:
        self._redis = redis
        self._spin = register(redis, _SPIN)

    async def spin(
        self,
        store_id: str,
        rule_id: str,
        segments: Sequence[Segment],
        visitor_id: str,
        now_ms: int,
        chance: float | None = None,
    ) -> Prize | None:
        """The visitor's prize: the one they won before, else a fresh draw. None when
        every prize's pool is empty and no slice is "no luck". `chance` (in [0, 1))
        replaces the random number, for tests that aim at a slice."""
        pools = _pools(segments)
        pool_keys = [
            key
            for pool in pools
            for key in (keys.coupon_pool(store_id, pool), keys.coupons_given(store_id, pool))
        ]
        draw = chance if chance is not None else secrets.randbelow(2**53) / _UNIT
        args: list[str | int | float] = [visitor_id, repr(draw), now_ms, len(segments)]
        for segment in segments:
            pool = pools.get(segment.pool, 0) if segment.pool is not None else 0
            args += [repr(segment.weight), pool, segment.code or "", segment.label]
        raw = await self._spin(keys=[keys.wheel_prizes(store_id, rule_id), *pool_keys], args=args)
        return None if raw is None else Prize.from_json(raw)

    async def won(self, store_id: str, rule_id: str, visitor_id: str) -> Prize | None:
        raw = await self._redis.hget(keys.wheel_prizes(store_id, rule_id), visitor_id)
        return None if raw is None else Prize.from_json(raw)

    async def prizes_by_visitor(self, store_id: str, rule_id: str) -> list[tuple[str, Prize]]:
        """Every prize the rule gave, with the visitor it went to."""
        raw = await self._redis.hgetall(keys.wheel_prizes(store_id, rule_id))
        return [(vid.decode(), Prize.from_json(value)) for vid, value in raw.items()]

    async def can_pay_out(self, store_id: str, segments: Sequence[Segment]) -> bool:
        """Whether a spin could win a code now: a slice with a code for everyone, or a
        pool with codes left. A wheel that can only say "no luck" is not offered."""
        if any(segment.code is not None for segment in segments):
            return True
        pools = list(_pools(segments))
        if not pools:
            return False
        pipe = self._redis.pipeline(transaction=False)
        for pool in pools:
            pipe.llen(keys.coupon_pool(store_id, pool))
        return any(int(length) > 0 for length in await pipe.execute())
