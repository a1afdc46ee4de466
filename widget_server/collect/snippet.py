"""`GET /t.js`: the snippet that stores load from their pages.

The file is built from `static/js/src/` by `scripts/build-js` into
`widget_server/assets/t.js`, which is committed and shipped in the package, so
serving needs no Node. It is read once, with its gzip (level 9) and ETags
computed then. The URL carries no version, so browsers keep it a day and then
revalidate with `If-None-Match` (a week of stale-while-revalidate hides that
round trip). A missing build answers 503 naming the fix; the server still starts.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable

from starlette.requests import Request
from starlette.responses import Response

from widget_server.responses import error

log = logging.getLogger("tarry")

CONTENT_TYPE = "application/javascript; charset=utf-8"
CACHE_CONTROL = "public, max-age=86400, stale-while-revalidate=604800"
MISSING = "snippet: widget_server/assets/t.js is not built; run scripts/build-js"


@dataclass(frozen=True)
class Snippet:
    body: bytes
    gzipped: bytes
    etag: str  # of the body as built
    gzip_etag: str  # of its gzip: another representation, so another strong tag

    @classmethod
    def of(cls, body: bytes) -> Snippet:
        digest = hashlib.sha256(body).hexdigest()[:20]
        # mtime=0: the same file gives the same bytes, on every server of a fleet.
        gzipped = gzip.compress(body, compresslevel=9, mtime=0)
        return cls(body, gzipped, f'"{digest}"', f'"{digest}-gz"')


class Loader:
    """Reads the built file on first use and keeps it. While it is missing, every
    request looks again (a build made after the start is picked up) and the
    first failure is logged."""

    def __init__(self, source: Traversable) -> None:
        self.source = source
        self.snippet: Snippet | None = None
        self.warned = False

    def get(self) -> Snippet | None:
        if self.snippet is None:
            try:
                body = self.source.read_bytes()
            except OSError as exc:
                if not self.warned:
                    self.warned = True
                    log.error("tarry: GET /t.js answers 503: %s (%s)", MISSING, exc)
                return None
            self.snippet = Snippet.of(body)
        return self.snippet


loader = Loader(resources.files("widget_server").joinpath("assets", "t.js"))


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether `Accept-Encoding` allows gzip: named (or `x-gzip`) with q > 0, or
    `*` with q > 0 when gzip is not named."""
    named: float | None = None
    star: float | None = None
    for part in accept_encoding.lower().split(","):
        coding, _, params = part.partition(";")
        coding = coding.strip()
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if key.strip() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = 0.0
        if coding in ("gzip", "x-gzip"):
            named = q if named is None else max(named, q)
        elif coding == "*":
            star = q
    if named is not None:
        return named > 0
    return star is not None and star > 0


def matches(if_none_match: str, etag: str) -> bool:
    """Whether `If-None-Match` (a list) names `etag`, compared weakly as that header
    is: `W/` is ignored; `*` matches anything."""
    for tag in if_none_match.split(","):
        tag = tag.strip()
        if tag == "*":
            return True
        if tag.startswith("W/"):
            tag = tag[2:]
        if tag == etag:
            return True
    return False


async def script(request: Request) -> Response:
    snippet = loader.get()
    if snippet is None:
        return error(503, MISSING, {"Retry-After": "60", "Cache-Control": "no-store"})
    use_gzip = accepts_gzip(request.headers.get("accept-encoding", ""))
    etag = snippet.gzip_etag if use_gzip else snippet.etag
    headers = {
        "Cache-Control": CACHE_CONTROL,
        "ETag": etag,
        "Vary": "Accept-Encoding",
        "Access-Control-Allow-Origin": "*",
        "Cross-Origin-Resource-Policy": "cross-origin",
        "X-Content-Type-Options": "nosniff",
    }
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None and matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    body = snippet.gzipped if use_gzip else snippet.body
    if use_gzip:
        headers["Content-Encoding"] = "gzip"
    headers["Content-Type"] = CONTENT_TYPE
    headers["Content-Length"] = str(len(body))
    return Response(b"" if request.method == "HEAD" else body, 200, headers)
