"""The server secret that signs the dashboard's cookies.

`TARRY_DASHBOARD_SECRET` when set; else a random one made once and kept in
`TARRY_DATA_DIR/dashboard.secret`, which every server of a fleet shares (as it
shares the model files), so that a cookie signed by one server opens the others.
"""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
from pathlib import Path

from widget_server.settings import Settings

FILE_NAME = "dashboard.secret"


def server_secret(settings: Settings) -> str:
    if settings.dashboard_secret:
        return settings.dashboard_secret
    return _kept_secret(settings.data_dir.resolve())


@functools.cache
def _kept_secret(data_dir: Path) -> str:
    path = data_dir / FILE_NAME
    with contextlib.suppress(FileNotFoundError):
        return _read(path)
    data_dir.mkdir(parents=True, exist_ok=True)
    staging = data_dir / f".{FILE_NAME}.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_urlsafe(48))
    try:
        # A hard link is made whole or not at all, and never over an existing file:
        # of servers starting together, the first one's secret is everyone's.
        with contextlib.suppress(FileExistsError):
            os.link(staging, path)
    finally:
        staging.unlink()
    return _read(path)


def _read(path: Path) -> str:
    value = path.read_text().strip()
    if len(value) < 32:
        raise RuntimeError(f"{path}: the dashboard secret is damaged; delete the file")
    return value
