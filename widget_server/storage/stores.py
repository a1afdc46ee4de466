"""Stores and their keys.

A public key (`pk_<store id>_<random>`) goes in the script tag and may only send
events and read decisions; a secret key (`sk_<store id>_<random>`) opens the admin
and stats APIs and is stored only as a SHA-256 hash (it is random, so a slow hash
adds nothing). Both carry the store id, so finding a store by key needs no index.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import re
import secrets
import time
from typing import Any

from widget_server.storage import keys
from widget_server.storage.connect import AsyncRedis

STORE_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
_STORE_ID = re.compile(r"^[a-z0-9]{12}$")
_KEY = re.compile(r"^(pk|sk)_([a-z0-9]{12})_([A-Za-z0-9_-]{20,64})$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*$")


class StoreError(ValueError):
    """Bad input for a store operation; the message names the field."""


@dataclasses.dataclass(frozen=True)
class Store:
    id: str
    name: str
    domains: tuple[str, ...]
    public_key: str
    secret_hash: str
    created_at: int
    enabled: bool
    # Secret per store: customer ids made from e-mail addresses are hashed with it,
    # so that no address is stored and no hash can be matched across stores.
    salt: str = ""

    def allows_origin(self, origin: str) -> bool:
        """True when `origin` (scheme://host[:port]) is a store domain or a subdomain of one."""
        host = origin.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0].lower()
        return any(host == d or host.endswith("." + d) for d in self.domains)

    @property
    def site(self) -> str | None:
        """The shop's address on its first domain (`https://shop.example`): the links
        a platform's product export gives only as paths."""
        return f"https://{self.domains[0]}" if self.domains else None

    def public(self) -> dict[str, Any]:
        return {
            "store_id": self.id,
            "name": self.name,
            "domains": list(self.domains),
            "public_key": self.public_key,
            "created_at": self.created_at,
            "enabled": self.enabled,
        }


def hash_secret(secret_key: str) -> str:
    return hashlib.sha256(secret_key.encode()).hexdigest()


def customer_id(salt: str, raw: str) -> str:
    """A customer id as kept: the shop's own id as it is, an e-mail address only as a
    salted hash (`e_` and 32 hex digits)."""
    if "@" not in raw:
        return raw
    digest = hashlib.sha256(f"{salt}:{raw.strip().lower()}".encode()).hexdigest()
    return f"e_{digest[:32]}"


def store_id_of_key(key: str, kind: str) -> str | None:
    """The store id inside a well-formed key of `kind` ("pk" or "sk"), else None."""
    match = _KEY.match(key)
    if match is None or match.group(1) != kind:
        return None
    return match.group(2)


def normalize_domain(raw: str) -> str:
    domain = raw.strip().lower()
    domain = re.sub(r"^[a-z][a-z0-9+.-]*://", "", domain).split("/", 1)[0].rstrip(".")
    domain = domain.removeprefix("www.")
    if not _DOMAIN.match(domain):
        raise StoreError(f"domain: {raw!r} is not a domain name such as shop.example.com")
    return domain


def _new_key(kind: str, store_id: str) -> str:
    return f"{kind}_{store_id}_{secrets.token_urlsafe(24)}"


def _from_hash(raw: dict[bytes, bytes]) -> Store:
    f = {k.decode(): v.decode() for k, v in raw.items()}
    return Store(
        id=f["id"],
        name=f["name"],
        domains=tuple(json.loads(f["domains"])),
        public_key=f["public_key"],
        secret_hash=f["secret_hash"],
        created_at=int(f["created_at"]),
        enabled=f["enabled"] == "1",
        salt=f.get("salt", ""),
    )


async def create_store(redis: AsyncRedis, name: str, domains: list[str]) -> tuple[Store, str]:
    """Create a store; returns it and its secret key, which is not kept anywhere."""
    name = name.strip()
    if not name or len(name) > 200:
        raise StoreError("name: must be 1 to 200 characters")
    if not domains:
        raise StoreError("domain: at least one domain is required")
    normalized = tuple(dict.fromkeys(normalize_domain(d) for d in domains))
    while True:
        store_id = "".join(secrets.choice(STORE_ID_ALPHABET) for _ in range(12))
        secret_key = _new_key("sk", store_id)
        store = Store(
            id=store_id,
            name=name,
            domains=normalized,
            public_key=_new_key("pk", store_id),
            secret_hash=hash_secret(secret_key),
            created_at=int(time.time()),
            enabled=True,
            salt=secrets.token_hex(16),
        )
        fields = {
            "id": store.id,
            "name": store.name,
            "domains": json.dumps(list(store.domains)),
            "public_key": store.public_key,
            "secret_hash": store.secret_hash,
            "created_at": str(store.created_at),
            "enabled": "1",
            "salt": store.salt,
        }
        # HSETNX on the id field claims the id; a collision (1 in 36^12) just retries.
        if await redis.hsetnx(keys.store(store_id), "id", store_id):
            await redis.hset(keys.store(store_id), mapping=fields)
            await redis.sadd(keys.store_index(), store_id)
            return store, secret_key


async def get_store(redis: AsyncRedis, store_id: str) -> Store | None:
    if not _STORE_ID.match(store_id):
        return None
    raw = await redis.hgetall(keys.store(store_id))
    if not raw or b"public_key" not in raw:
        return None
    if b"salt" not in raw:  # a store created before salts: give it one, once
        await redis.hsetnx(keys.store(store_id), "salt", secrets.token_hex(16))
        raw = await redis.hgetall(keys.store(store_id))
    return _from_hash(raw)


async def list_stores(redis: AsyncRedis) -> list[Store]:
    ids = sorted(m.decode() for m in await redis.smembers(keys.store_index()))
    stores = [await get_store(redis, store_id) for store_id in ids]
    return sorted((s for s in stores if s is not None), key=lambda s: (s.created_at, s.id))


async def require_store(redis: AsyncRedis, store_id: str) -> Store:
    store = await get_store(redis, store_id)
    if store is None:
        raise StoreError(f"store: no store with id {store_id!r}")
    return store


async def rotate_secret(redis: AsyncRedis, store_id: str) -> str:
    await require_store(redis, store_id)
    secret_key = _new_key("sk", store_id)
    await redis.hset(keys.store(store_id), "secret_hash", hash_secret(secret_key))
    return secret_key


async def set_enabled(redis: AsyncRedis, store_id: str, enabled: bool) -> Store:
    await require_store(redis, store_id)
    await redis.hset(keys.store(store_id), "enabled", "1" if enabled else "0")
    return await require_store(redis, store_id)


async def set_domains(redis: AsyncRedis, store_id: str, domains: list[str]) -> Store:
    """Replace the store's domains (normalized, as `create_store` does them). Servers'
    public-key caches see them within their few seconds."""
    if not domains:
        raise StoreError("domain: at least one domain is required")
    normalized = list(dict.fromkeys(normalize_domain(d) for d in domains))
    await require_store(redis, store_id)
    await redis.hset(keys.store(store_id), "domains", json.dumps(normalized))
    return await require_store(redis, store_id)


async def store_for_secret(redis: AsyncRedis, secret_key: str) -> Store | None:
    """The enabled store this secret key opens, or None."""
    store_id = store_id_of_key(secret_key, "sk")
    if store_id is None:
        return None
    store = await get_store(redis, store_id)
    if store is None or not store.enabled:
        return None
    if not hmac.compare_digest(store.secret_hash, hash_secret(secret_key)):
        return None
    return store


class PublicKeyCache:
    """Stores by public key, cached for a few seconds so that collect and decide
    usually skip a Redis round trip; a disabled store stops within `ttl` seconds."""

    def __init__(self, redis: AsyncRedis, ttl: float = 5.0) -> None:
        self._redis = redis
        self._ttl = ttl
        self._entries: dict[str, tuple[float, Store | None]] = {}

    async def get(self, public_key: str) -> Store | None:
        now = time.monotonic()
        entry = self._entries.get(public_key)
        if entry is not None and entry[0] > now:
            return entry[1]
        store_id = store_id_of_key(public_key, "pk")
        store = None if store_id is None else await get_store(self._redis, store_id)
        if store is not None and not (
            store.enabled and hmac.compare_digest(store.public_key, public_key)
        ):
            store = None
        if len(self._entries) > 10_000:
            self._entries.clear()  # bounded: junk keys must not grow memory
        self._entries[public_key] = (now + self._ttl, store)
        return store
