"""The server secret: from TARRY_DASHBOARD_SECRET, else made once in the data
directory and shared by every process that uses it."""

from __future__ import annotations

import multiprocessing
import stat
from pathlib import Path

import pytest

from widget_server.dashboard import secret
from widget_server.settings import Settings, SettingsError


def _made_in(data_dir: str) -> str:
    secret._kept_secret.cache_clear()
    return secret.server_secret(Settings.from_env({"TARRY_DATA_DIR": data_dir}))


def test_the_setting_wins(tmp_path: Path) -> None:
    configured = "c" * 40
    settings = Settings.from_env(
        {"TARRY_DATA_DIR": str(tmp_path), "TARRY_DASHBOARD_SECRET": configured}
    )
    assert secret.server_secret(settings) == configured
    assert not (tmp_path / secret.FILE_NAME).exists()
    assert configured not in repr(settings)


def test_a_short_setting_is_refused_by_name() -> None:
    with pytest.raises(SettingsError, match="TARRY_DASHBOARD_SECRET: must be at least 32"):
        Settings.from_env({"TARRY_DASHBOARD_SECRET": "short"})


def test_without_one_a_secret_is_made_once_and_kept_private(tmp_path: Path) -> None:
    first = _made_in(str(tmp_path))
    assert len(first) >= 32
    assert _made_in(str(tmp_path)) == first  # a restart signs nobody out
    mode = stat.S_IMODE((tmp_path / secret.FILE_NAME).stat().st_mode)
    assert mode == 0o600
    assert _made_in(str(tmp_path / "other")) != first
    assert sorted(p.name for p in tmp_path.iterdir()) == [secret.FILE_NAME, "other"]


def test_processes_starting_together_share_one_secret(tmp_path: Path) -> None:
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        made = pool.map(_made_in, [str(tmp_path)] * 8)
    assert len(set(made)) == 1
    assert (tmp_path / secret.FILE_NAME).read_text() == made[0]


def test_a_damaged_secret_file_is_said_to_be_damaged(tmp_path: Path) -> None:
    (tmp_path / secret.FILE_NAME).write_text("short")
    with pytest.raises(RuntimeError, match="damaged"):
        _made_in(str(tmp_path))
