"""IP addresses are never stored: at most a hash salted with a random salt that
changes every UTC day and is deleted after two, as privacy-first analytics do, so
the hash cannot be reversed or joined across days."""

from __future__ import annotations

import hashlib
import secrets

from widget_server.storage import keys
from widget_server.storage.connect import AsyncRedis

SALT_TTL_SECONDS = 2 * 86400


class DailySalt:
    def __init__(self, redis: AsyncRedis) -> None:
        self._redis = redis
        self._day = ""
        self._salt = b""
        self._hashes: dict[tuple[str, str], str] = {}

    async def ip_hash(self, day: str, store_id: str, ip: str) -> str:
        """The hash of `ip` for the store on `day`, remembered for the day (the same
        visitors send many requests)."""
        if day != self._day:
            await self._refresh(day)
        key = (store_id, ip)
        cached = self._hashes.get(key)
        if cached is None:
            if len(self._hashes) > 100_000:
                self._hashes.clear()
            cached = self._hashes[key] = ip_hash(self._salt, store_id, ip)
        return cached

    async def _refresh(self, day: str) -> None:
        key = keys.daily_salt(day)
        # Whichever process comes first sets it; all processes then agree.
        await self._redis.set(key, secrets.token_hex(16), nx=True, ex=SALT_TTL_SECONDS)
        self._salt, self._day = await self._redis.get(key), day
        self._hashes.clear()


def ip_hash(salt: bytes, store_id: str, ip: str) -> str:
    digest = hashlib.blake2b(f"{store_id}|{ip}".encode(), key=salt[:64], digest_size=8)
    return digest.hexdigest()
