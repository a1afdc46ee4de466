"""Settings: read once from the environment, each bad value named."""

from __future__ import annotations

from pathlib import Path

import pytest

from widget_server.settings import SETTINGS, Settings, SettingsError

README = Path(__file__).resolve().parent.parent / "README.md"


def test_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.redis_url is None
    assert settings.data_dir == Path(".tarry")
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.origins == "store"
    assert settings.event_retention_days == 90
    assert settings.access_log is True


def test_values_are_parsed() -> None:
    settings = Settings.from_env(
        {
            "TARRY_REDIS_URL": "rediss://cache.internal:6380/0",
            "TARRY_PORT": "9000",
            "TARRY_LOG_LEVEL": "WARNING",
            "TARRY_ACCESS_LOG": "off",
            "TARRY_RATE_LIMIT_IP": "0",
        }
    )
    assert settings.redis_url == "rediss://cache.internal:6380/0"
    assert settings.port == 9000
    assert settings.log_level == "warning"
    assert settings.access_log is False
    assert settings.rate_limit_ip == 0


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TARRY_PORT": "eighty"}, "TARRY_PORT: must be an integer, got 'eighty'"),
        ({"TARRY_PORT": "70000"}, "TARRY_PORT: must be between 1 and 65535, got 70000"),
        ({"TARRY_REDIS_URL": "localhost:6379"}, "TARRY_REDIS_URL: must start with one of"),
        ({"TARRY_LOG_LEVEL": "loud"}, "TARRY_LOG_LEVEL: must be one of critical"),
        ({"TARRY_ORIGINS": "some"}, "TARRY_ORIGINS: must be one of store, any"),
        ({"TARRY_ACCESS_LOG": "maybe"}, "TARRY_ACCESS_LOG: must be true or false"),
        ({"TARRY_DATA_DIR": " "}, "TARRY_DATA_DIR: must not be empty"),
        ({"TARRY_EVENT_RETENTION_DAYS": "0"}, "TARRY_EVENT_RETENTION_DAYS: must be between 1"),
        ({"TARRY_PUBLIC_URL": "tarry.example.com"}, "TARRY_PUBLIC_URL: must be an http://"),
        ({"TARRY_PUBLIC_URL": "ftp://tarry.example.com"}, "TARRY_PUBLIC_URL: must be an http://"),
        ({"TARRY_PUBLIC_URL": "https://t.example:99999"}, "TARRY_PUBLIC_URL: must be an http://"),
        ({"TARRY_PUBLIC_URL": "https://t.example/?v=1"}, "TARRY_PUBLIC_URL: must be a plain"),
    ],
)
def test_bad_values_are_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as error:
        Settings.from_env(env)
    assert str(error.value).startswith(message)


def test_readme_documents_every_setting() -> None:
    readme = README.read_text()
    for setting in SETTINGS.values():
        assert f"`{setting.env}`" in readme, f"README does not document {setting.env}"


@pytest.mark.parametrize(
    ("env", "address"),
    [
        ({}, "http://127.0.0.1:8000"),
        ({"TARRY_HOST": "10.0.0.5", "TARRY_PORT": "9000"}, "http://10.0.0.5:9000"),
        ({"TARRY_HOST": "::1", "TARRY_PORT": "9000"}, "http://[::1]:9000"),
        ({"TARRY_PUBLIC_URL": " https://tarry.shop.example/ "}, "https://tarry.shop.example"),
        (
            {"TARRY_PUBLIC_URL": "https://shop.example/tarry/", "TARRY_PORT": "9000"},
            "https://shop.example/tarry",  # behind a proxy, a path prefix is kept
        ),
    ],
)
def test_the_address_browsers_reach(env: dict[str, str], address: str) -> None:
    assert Settings.from_env(env).address() == address
