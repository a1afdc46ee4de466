"""Every setting Tarry reads, from the environment, once, validated at start.

Each setting has a name, a default and a line of help; `SETTINGS` is the single
list the README's configuration table is checked against.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import urllib.parse
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")
ORIGIN_MODES = ("store", "any")
CLUSTER_MODES = ("auto", "yes", "no")


class SettingsError(ValueError):
    """A setting has a value Tarry cannot use; the message names the variable."""


@dataclasses.dataclass(frozen=True)
class Setting:
    env: str
    default: str
    help: str
    parse: Callable[[str, str], Any]


def _text(name: str, raw: str) -> str:
    return raw


def _optional_url(name: str, raw: str) -> str | None:
    if raw == "":
        return None
    schemes = ("redis://", "rediss://", "unix://")
    if not raw.startswith(schemes):
        raise SettingsError(f"{name}: must start with one of {', '.join(schemes)}, got {raw!r}")
    return raw


# What `obstore.from_url` opens and a server on another host can reach too (not
# memory://, which is one process's).
OBJECT_STORE_SCHEMES = ("s3", "s3a", "gs", "az", "azure", "abfs", "abfss", "http", "https", "file")


def _object_store_problem(raw: str) -> str | None:
    """Why `raw` cannot name an object store folder, or None when it can."""
    try:
        parts = urllib.parse.urlsplit(raw)
    except ValueError as exc:
        return str(exc)
    if parts.scheme not in OBJECT_STORE_SCHEMES:
        return f"the scheme must be one of {', '.join(OBJECT_STORE_SCHEMES)}"
    if parts.scheme == "file":  # file:///srv/models: no host, an absolute path
        good = parts.netloc in ("", "localhost") and parts.path.startswith("/")
        return None if good else "a file:// URL needs an absolute path (file:///srv/models)"
    if not parts.netloc:
        return "it names no bucket or host"
    return None


def _optional_object_store_url(name: str, raw: str) -> str | None:
    value = raw.strip()
    if value == "":
        return None
    problem = _object_store_problem(value)
    if problem is not None:
        raise SettingsError(f"{name}: {problem}, got {raw!r} (e.g. s3://bucket/models)")
    return value


def _optional_public_url(name: str, raw: str) -> str | None:
    value = raw.strip()
    if value == "":
        return None
    try:
        parts = urllib.parse.urlsplit(value)
        bad = parts.scheme not in ("http", "https") or not parts.hostname or parts.port == 0
    except ValueError:  # a port that is not a number, or out of range
        bad = True
    if bad:
        raise SettingsError(
            f"{name}: must be an http:// or https:// address such as "
            f"https://tarry.example.com, got {raw!r}"
        )
    if parts.query or parts.fragment or parts.username or parts.password:
        raise SettingsError(
            f"{name}: must be a plain address (no user, query or fragment), got {raw!r}"
        )
    return value.rstrip("/")


def _int_between(low: int, high: int) -> Callable[[str, str], int]:
    def parse(name: str, raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise SettingsError(f"{name}: must be an integer, got {raw!r}") from None
        if not low <= value <= high:
            raise SettingsError(f"{name}: must be between {low} and {high}, got {value}")
        return value

    return parse


def _one_of(choices: tuple[str, ...]) -> Callable[[str, str], str]:
    def parse(name: str, raw: str) -> str:
        value = raw.strip().lower()
        if value not in choices:
            raise SettingsError(f"{name}: must be one of {', '.join(choices)}, got {raw!r}")
        return value

    return parse


def _bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name}: must be true or false, got {raw!r}")


def _path(name: str, raw: str) -> Path:
    if not raw.strip():
        raise SettingsError(f"{name}: must not be empty")
    return Path(raw).expanduser()


MIN_SECRET_CHARS = 32


def _optional_secret(name: str, raw: str) -> str | None:
    value = raw.strip()
    if value == "":
        return None
    if len(value) < MIN_SECRET_CHARS:
        raise SettingsError(
            f"{name}: must be at least {MIN_SECRET_CHARS} characters (a random string, "
            f"e.g. from `openssl rand -hex 32`), got {len(value)}"
        )
    return value


SETTINGS: dict[str, Setting] = {
    "redis_url": Setting(
        "TARRY_REDIS_URL",
        "",
        "Redis to use (redis://, rediss:// or unix://). Unset: an embedded Redis "
        "persisting under TARRY_DATA_DIR.",
        _optional_url,
    ),
    "redis_cluster": Setting(
        "TARRY_REDIS_CLUSTER",
        "auto",
        "Whether TARRY_REDIS_URL is a Redis Cluster: auto (ask the server), yes or no.",
        _one_of(CLUSTER_MODES),
    ),
    "redis_timeout_s": Setting(
        "TARRY_REDIS_TIMEOUT",
        "5",
        "Seconds a Redis command (or a connection) may take before the request is "
        "answered 503: a Redis that stops answering never hangs the server.",
        _int_between(1, 300),
    ),
    "data_dir": Setting(
        "TARRY_DATA_DIR",
        ".tarry",
        "Where the embedded Redis keeps its data (AOF); model versions live in Redis.",
        _path,
    ),
    "host": Setting("TARRY_HOST", "127.0.0.1", "Address `tarry serve` listens on.", _text),
    "port": Setting("TARRY_PORT", "8000", "Port `tarry serve` listens on.", _int_between(1, 65535)),
    "public_url": Setting(
        "TARRY_PUBLIC_URL",
        "",
        "The address shoppers' browsers reach Tarry at (https://tarry.example.com, "
        "e.g. behind a proxy), used in the script tag Tarry prints. Unset: "
        "http://TARRY_HOST:TARRY_PORT.",
        _optional_public_url,
    ),
    "log_level": Setting(
        "TARRY_LOG_LEVEL", "info", f"One of {', '.join(LOG_LEVELS)}.", _one_of(LOG_LEVELS)
    ),
    "access_log": Setting(
        "TARRY_ACCESS_LOG", "true", "Log every HTTP request (true or false).", _bool
    ),
    "origins": Setting(
        "TARRY_ORIGINS",
        "store",
        "Which browser origins may send events: `store` (the store's domains and their "
        "subdomains) or `any` (development only).",
        _one_of(ORIGIN_MODES),
    ),
    "forwarded_allow_ips": Setting(
        "TARRY_FORWARDED_ALLOW_IPS",
        "127.0.0.1",
        "Proxies trusted to set X-Forwarded-For (comma-separated, or *).",
        _text,
    ),
    "event_retention_days": Setting(
        "TARRY_EVENT_RETENTION_DAYS",
        "90",
        "How long raw events stay in a store's stream.",
        _int_between(1, 3650),
    ),
    "rate_limit_ip": Setting(
        "TARRY_RATE_LIMIT_IP",
        "600",
        "Collect requests per minute from one IP address to one store (0: no limit).",
        _int_between(0, 10_000_000),
    ),
    "rate_limit_visitor": Setting(
        "TARRY_RATE_LIMIT_VISITOR",
        "300",
        "Events per minute from one visitor id (0: no limit).",
        _int_between(0, 10_000_000),
    ),
    "retrain_minutes": Setting(
        "TARRY_RETRAIN_MINUTES",
        "0",
        "Retrain each store's model this often, from the server (0: never; run "
        "`tarry train` yourself, e.g. from cron).",
        _int_between(0, 7 * 24 * 60),
    ),
    "model_cache_mb": Setting(
        "TARRY_MODEL_CACHE_MB",
        "1024",
        "MiB of memory the models of all stores may take in each server process; past "
        "it the least recently used stores' models are dropped and load again from "
        "Redis when next asked for (0: no cap).",
        _int_between(0, 1024 * 1024),
    ),
    "model_store_url": Setting(
        "TARRY_MODEL_STORE_URL",
        "",
        "An object store folder for model bundles too large for Redis' memory "
        "(s3://bucket/prefix, gs://, az://, file:///path); Redis keeps their "
        "manifests, and servers read them with the store's usual credentials from the "
        "environment (AWS_*, GOOGLE_*, AZURE_*). Unset: bundles live in Redis.",
        _optional_object_store_url,
    ),
    "dashboard_secret": Setting(
        "TARRY_DASHBOARD_SECRET",
        "",
        "Signs the dashboard's sign-in cookies (at least 32 characters; the same on "
        "every server). Unset: a random one made once and kept in TARRY_DATA_DIR.",
        _optional_secret,
    ),
}


@dataclasses.dataclass(frozen=True)
class Settings:
    redis_url: str | None
    redis_cluster: str
    redis_timeout_s: int
    data_dir: Path
    host: str
    port: int
    public_url: str | None
    log_level: str
    access_log: bool
    origins: str
    forwarded_allow_ips: str
    event_retention_days: int
    rate_limit_ip: int
    rate_limit_visitor: int
    retrain_minutes: int
    model_cache_mb: int
    model_store_url: str | None = None
    # Kept out of the repr, so that logging the settings never prints it.
    dashboard_secret: str | None = dataclasses.field(default=None, repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read every setting; raise `SettingsError` naming the first bad one."""
        env = os.environ if environ is None else environ
        values = {
            field: setting.parse(setting.env, env.get(setting.env, setting.default))
            for field, setting in SETTINGS.items()
        }
        return cls(**values)

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    def address(self) -> str:
        """Where a browser reaches this server: `public_url`, else where it listens."""
        if self.public_url:
            return self.public_url
        host = self.host
        if host in ("", "0.0.0.0", "::"):
            host = socket.gethostname()  # every interface: the machine's own name
        elif ":" in host:
            host = f"[{host}]"  # an IPv6 literal
        return f"http://{host}:{self.port}"
