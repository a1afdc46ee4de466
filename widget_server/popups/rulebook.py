"""Where a store's rules and decision settings live (Redis), and each server's
cached copy of them.

Every change bumps the store's rules version in the same script call, so a server
reads one small counter per decision (in the round trip it makes anyway) and
reloads the rules only when they changed.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import secrets
import time

from widget_server.popups.schema import TRIGGERS, Rule, StoreSettings
from widget_server.storage import keys
from widget_server.storage.connect import AsyncRedis
from widget_server.storage.scripts import register

MAX_RULES = 100
log = logging.getLogger("tarry")

# Write a field (or delete it when ARGV[2] is empty) and bump the version, at once.
_WRITE = """
if ARGV[2] == '' then
  redis.call('HDEL', KEYS[1], ARGV[1])
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
end
return redis.call('INCR', KEYS[2])
"""
# Settings are one string: the same, with SET.
_WRITE_SETTINGS = """
redis.call('SET', KEYS[1], ARGV[1])
return redis.call('INCR', KEYS[2])
"""


def stored_rule(raw: bytes | str) -> Rule:
    """A rule as stored. Rules written before each trigger type had only its own
    fields carry every type's (`sensitivity_px` on a `time_on_page` trigger): those
    of another type are dropped, not refused."""
    data = json.loads(raw)
    trigger = data.get("trigger") if isinstance(data, dict) else None
    if isinstance(trigger, dict) and trigger.get("type") in TRIGGERS:
        fields = TRIGGERS[trigger["type"]].model_fields
        data["trigger"] = {name: value for name, value in trigger.items() if name in fields}
    return Rule.model_validate(data)


def new_rule_id() -> str:
    return "r_" + secrets.token_hex(5)


def now_s() -> int:
    return int(time.time())


class Rulebook:
    """Reads and writes one store's rules and settings."""

    def __init__(self, redis: AsyncRedis, store_id: str) -> None:
        self.redis = redis
        self.store_id = store_id
        self._write = register(redis, _WRITE)
        self._write_settings = register(redis, _WRITE_SETTINGS)

    async def rules(self) -> list[Rule]:
        raw = await self.redis.hgetall(keys.rules(self.store_id))
        rules = []
        for rule_id, value in raw.items():
            try:
                rules.append(stored_rule(value))
            except ValueError as exc:  # pydantic's ValidationError, or not JSON at all
                # Written by another version of Tarry: skip it (and say so) rather
                # than fail every decision of the store.
                log.warning("tarry: store %s rule %s unreadable: %s", self.store_id, rule_id, exc)
        return sorted(rules, key=lambda r: (-r.priority, r.created_at or 0, r.id or ""))

    async def rule(self, rule_id: str) -> Rule | None:
        raw = await self.redis.hget(keys.rules(self.store_id), rule_id)
        return None if raw is None else stored_rule(raw)

    async def count(self) -> int:
        return int(await self.redis.hlen(keys.rules(self.store_id)))

    async def save(self, rule: Rule) -> int:
        """Store the rule (it has an id); returns the new rules version."""
        assert rule.id is not None
        payload = rule.model_dump_json(exclude_none=False)
        return int(
            await self._write(
                keys=[keys.rules(self.store_id), keys.rules_version(self.store_id)],
                args=[rule.id, payload],
            )
        )

    async def delete(self, rule_id: str) -> bool:
        if not await self.redis.hexists(keys.rules(self.store_id), rule_id):
            return False
        await self._write(
            keys=[keys.rules(self.store_id), keys.rules_version(self.store_id)],
            args=[rule_id, ""],
        )
        return True

    async def settings(self) -> StoreSettings:
        raw = await self.redis.get(keys.store_settings(self.store_id))
        return StoreSettings() if raw is None else StoreSettings.model_validate_json(raw)

    async def save_settings(self, settings: StoreSettings) -> None:
        await self._write_settings(
            keys=[keys.store_settings(self.store_id), keys.rules_version(self.store_id)],
            args=[settings.model_dump_json()],
        )


@dataclasses.dataclass(frozen=True)
class Loaded:
    version: int
    rules: tuple[Rule, ...]  # enabled only, highest priority first
    settings: StoreSettings


class RulebookCache:
    """Each store's enabled rules and settings as of a version number."""

    def __init__(self, redis: AsyncRedis) -> None:
        self._redis = redis
        self._loaded: dict[str, Loaded] = {}

    def cached(self, store_id: str, version: int) -> Loaded | None:
        loaded = self._loaded.get(store_id)
        return loaded if loaded is not None and loaded.version == version else None

    async def load(self, store_id: str, version: int) -> Loaded:
        book = Rulebook(self._redis, store_id)
        rules = tuple(rule for rule in await book.rules() if rule.enabled)
        loaded = Loaded(version, rules, await book.settings())
        if len(self._loaded) > 10_000:
            self._loaded.clear()
        self._loaded[store_id] = loaded
        return loaded
