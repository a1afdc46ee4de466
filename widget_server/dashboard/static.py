"""The dashboard's own style sheet and scripts (`dashboard/static/`), served from
memory: read once, gzipped once, and linked with a version taken from their
content, so a browser keeps each for a year and fetches it again only when it
changed. Nothing comes from a CDN."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
from importlib import resources

from starlette.requests import Request
from starlette.responses import Response

MEDIA_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}


@dataclasses.dataclass(frozen=True, slots=True)
class Asset:
    name: str
    body: bytes
    gzipped: bytes
    version: str
    media_type: str


def _load() -> dict[str, Asset]:
    assets = {}
    for entry in resources.files("widget_server.dashboard").joinpath("static").iterdir():
        suffix = "." + entry.name.rsplit(".", 1)[-1]
        if not entry.is_file() or suffix not in MEDIA_TYPES:
            continue
        body = entry.read_bytes()
        version = hashlib.sha256(body).hexdigest()[:12]
        gzipped = gzip.compress(body, 9, mtime=0)
        assets[entry.name] = Asset(entry.name, body, gzipped, version, MEDIA_TYPES[suffix])
    return assets


ASSETS = _load()


def url(name: str) -> str:
    return f"/dashboard/static/{name}?v={ASSETS[name].version}"


async def serve(request: Request) -> Response | None:
    """The asset, or None when there is no such file (the caller answers 404)."""
    asset = ASSETS.get(request.path_params["name"])
    if asset is None:
        return None
    etag = f'"{asset.version}"'
    headers = {
        "ETag": etag,
        "Vary": "Accept-Encoding",
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "public, max-age=31536000, immutable"
        if request.query_params.get("v") == asset.version
        else "no-cache",
    }
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        return Response(asset.gzipped, headers=headers, media_type=asset.media_type)
    return Response(asset.body, headers=headers, media_type=asset.media_type)
