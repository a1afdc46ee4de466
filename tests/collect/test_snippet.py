"""The built snippet (`widget_server/assets/t.js`) and `GET /t.js`.

The build is committed, so these need no Node: the size budget is checked on the
file as served, staleness by hashing `static/js/src/` the way `static/js/build.mjs`
does and comparing with the hash in the file's banner.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import re
from pathlib import Path

import pytest
from paths import ROOT
from starlette.testclient import TestClient

from widget_server.collect import snippet

SOURCES = ROOT / "static" / "js" / "src"
BUILT = ROOT / "widget_server" / "assets" / "t.js"
BUDGET_GZIP = 8 * 1024
REBUILD = "run scripts/build-js (needs Node 18+) and commit widget_server/assets/t.js"
BANNER = re.compile(r"/\*! tarry ([0-9a-f]{12}) \*/\n")


@pytest.fixture
def redis_url(standalone_url: str) -> str:
    """`/t.js` never touches Redis: one storage kind is enough."""
    return standalone_url


def built() -> bytes:
    assert BUILT.is_file(), f"{BUILT.relative_to(ROOT)} is missing: {REBUILD}"
    return BUILT.read_bytes()


def source_hash(directory: Path) -> str:
    """As build.mjs: SHA-256 over every file, by relative path, of path NUL bytes."""
    digest = hashlib.sha256()
    files = sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file())
    for name in files:
        digest.update(name.encode() + b"\0" + (directory / name).read_bytes())
    return digest.hexdigest()[:12]


def test_gzipped_size_is_within_budget() -> None:
    body = built()
    size = len(gzip.compress(body, compresslevel=9))
    print(f"t.js: {len(body)} bytes, {size} gzipped (budget {BUDGET_GZIP})")
    assert size <= BUDGET_GZIP, f"t.js is {size} bytes gzipped, over the {BUDGET_GZIP} budget"


def test_build_is_not_stale() -> None:
    body = built().decode()
    banner = BANNER.match(body)
    assert banner, f"t.js does not start with the `/*! tarry <hash> */` banner: {REBUILD}"
    assert (SOURCES / "main.js").is_file(), "static/js/src/main.js is missing"
    assert banner.group(1) == source_hash(SOURCES), (
        f"t.js was built from other sources than static/js/src/ now: {REBUILD}"
    )


def test_bundle_is_one_iife_that_defines_only_tarry() -> None:
    body = built().decode()
    banner = BANNER.match(body)
    assert banner
    code = body[banner.end() :].strip()
    assert code.startswith(("(()=>{", "!function", '"use strict";(()=>{')), code[:60]
    assert code.endswith(("})();", "}();")), code[-60:]
    # The build keeps the global object's alias (`var W=window`) out of terser's
    # renaming, and no other name is ever bound to it, so it means the global object
    # wherever it is used.
    aliases = set(re.findall(r"(?<![\w$.])([\w$]+)=(?:window|globalThis|self)(?![\w$.\[])", code))
    names = "|".join(re.escape(name) for name in {"window", "globalThis", "self", *aliases})
    assigned = set(re.findall(rf"(?<![\w$.])(?:{names})\.([\w$]+)=(?!=)", code))
    assert "tarry" in assigned, "the snippet does not set window.tarry"
    assert assigned == {"tarry"}, f"the snippet sets globals other than tarry: {assigned}"


def test_served_identity(client: TestClient) -> None:
    body = built()
    response = client.get("/t.js", headers={"accept-encoding": "identity"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/javascript; charset=utf-8"
    assert response.headers["cache-control"] == (
        "public, max-age=86400, stale-while-revalidate=604800"
    )
    assert response.headers["vary"] == "Accept-Encoding"
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["cross-origin-resource-policy"] == "cross-origin"
    assert "content-encoding" not in response.headers
    assert response.headers["content-length"] == str(len(body))
    assert response.content == body
    assert re.fullmatch(r'"[0-9a-f]{20}"', response.headers["etag"])
    assert response.headers["etag"][1:-1] == hashlib.sha256(body).hexdigest()[:20]


def test_served_gzip(client: TestClient) -> None:
    body = built()
    with client.stream("GET", "/t.js", headers={"accept-encoding": "br, gzip;q=0.8"}) as response:
        raw = b"".join(response.iter_raw())
    assert response.status_code == 200
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["vary"] == "Accept-Encoding"
    assert response.headers["content-length"] == str(len(raw))
    assert gzip.decompress(raw) == body
    assert len(raw) <= BUDGET_GZIP
    identity = client.get("/t.js", headers={"accept-encoding": "identity"})
    # Another representation, so another strong validator.
    assert response.headers["etag"] != identity.headers["etag"]
    assert re.fullmatch(r'"[0-9a-f]{20}-gz"', response.headers["etag"])
    refused = client.get("/t.js", headers={"accept-encoding": "gzip;q=0, *"})
    assert "content-encoding" not in refused.headers


@pytest.mark.parametrize("encoding", ["identity", "gzip"])
def test_if_none_match(client: TestClient, encoding: str) -> None:
    etag = client.get("/t.js", headers={"accept-encoding": encoding}).headers["etag"]
    for if_none_match in (etag, f'"other", {etag}', f"W/{etag}", f'W/"x",W/{etag}', "*"):
        response = client.get(
            "/t.js", headers={"accept-encoding": encoding, "if-none-match": if_none_match}
        )
        assert response.status_code == 304, if_none_match
        assert response.content == b""
        assert response.headers["etag"] == etag
        assert response.headers["cache-control"].startswith("public, max-age=86400")
        assert response.headers["vary"] == "Accept-Encoding"
    stale = client.get(
        "/t.js", headers={"accept-encoding": encoding, "if-none-match": '"0123456789abcdef0123"'}
    )
    assert stale.status_code == 200
    assert stale.content == built()


def test_head_has_headers_and_no_body(client: TestClient) -> None:
    response = client.head("/t.js", headers={"accept-encoding": "identity"})
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-length"] == str(len(built()))
    assert response.headers["content-type"] == "application/javascript; charset=utf-8"
    assert response.headers["etag"]


def test_missing_build_answers_503_and_logs_once(
    client: TestClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    path = tmp_path / "t.js"
    monkeypatch.setattr(snippet, "loader", snippet.Loader(path))
    with caplog.at_level(logging.ERROR, logger="tarry"):
        for _ in range(2):
            response = client.get("/t.js")
            assert response.status_code == 503
            assert "scripts/build-js" in response.json()["error"]
            assert response.headers["cache-control"] == "no-store"
    assert sum("scripts/build-js" in r.getMessage() for r in caplog.records) == 1
    # A build made while the server runs is served from then on.
    path.write_bytes(b"/*! tarry 000000000000 */\n(()=>{})();\n")
    response = client.get("/t.js", headers={"accept-encoding": "identity"})
    assert response.status_code == 200
    assert response.content == path.read_bytes()


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("gzip", True),
        ("gzip, deflate, br, zstd", True),
        ("GZIP;q=0.5", True),
        ("x-gzip", True),
        ("*", True),
        ("br;q=1.0, *;q=0.1", True),
        ("", False),
        ("identity", False),
        ("br", False),
        ("gzip;q=0", False),
        ("gzip;q=0.000, *", False),
        ("*;q=0", False),
        ("gzip;q=nonsense", False),
    ],
)
def test_accepts_gzip(header: str, expected: bool) -> None:
    assert snippet.accepts_gzip(header) is expected
