"""The dashboard's own files: served from memory, gzipped, cached by version; and
the budget of script and style on any page."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from widget_server.dashboard import static

BUDGET = 60 * 1024
PAGES = (
    "/dashboard",
    "/dashboard/popups",
    "/dashboard/popups/new",
    "/dashboard/showcases",
    "/dashboard/retention",
    "/dashboard/catalog",
    "/dashboard/install",
    "/dashboard/settings",
)


def test_files_are_gzipped_and_cached_for_their_version(client: TestClient) -> None:
    asset = static.ASSETS["dashboard.css"]
    answer = client.get(static.url("dashboard.css"), headers={"accept-encoding": "gzip"})
    assert answer.status_code == 200 and answer.headers["content-encoding"] == "gzip"
    assert answer.content == asset.body  # decoded by the client
    assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert answer.headers["content-type"] == "text/css; charset=utf-8"
    # Without the version, the browser asks again; an unchanged file answers 304.
    plain = client.get("/dashboard/static/dashboard.css")
    assert plain.headers["cache-control"] == "no-cache"
    again = client.get(
        "/dashboard/static/dashboard.css", headers={"if-none-match": plain.headers["etag"]}
    )
    assert again.status_code == 304


def test_no_page_links_more_than_60_kb_of_gzipped_script_and_style(signed_in: TestClient) -> None:
    for path in PAGES:
        page = signed_in.get(path).text
        names = set(re.findall(r'(?:src|href)="/dashboard/static/([^"?]+)\?v=', page))
        linked = [n for n in names if n.endswith((".js", ".css"))]
        assert "dashboard.css" in linked and "format.js" in linked, path
        assert sum(len(static.ASSETS[n].gzipped) for n in linked) <= BUDGET, path
    # Everything the dashboard has, together, is well inside it.
    assert sum(len(a.gzipped) for a in static.ASSETS.values()) < BUDGET / 4


def test_only_its_own_files_and_no_other_origin(signed_in: TestClient) -> None:
    for path in PAGES:
        page = signed_in.get(path).text
        assert not re.search(r'(?:src|href)="https?://', page.split("</head>")[0]), path
