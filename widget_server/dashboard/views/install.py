"""Install: the store's script tag, where to paste it on the common platforms, a
check that turns green when the first events arrive, and past orders.

Context of `install.html`: `tag` (the exact script tag), `base` (the address it
loads from), `events` (events in the last 30 minutes), `domains`, `import_path`
(the orders import endpoint when this server has it, else None).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from widget_server.analytics import traffic
from widget_server.dashboard.web import Page, signed_in
from widget_server.storage.clock import now_ms

IMPORT_PATH = "/v1/admin/import"


def server_address(request: Request) -> str:
    """Where shoppers' browsers reach this server: `TARRY_PUBLIC_URL`, else the
    address this request came to."""
    public: str | None = request.app.state.settings.public_url
    return public or str(request.base_url).rstrip("/")


def script_tag(base: str, public_key: str) -> str:
    return f'<script async src="{base}/t.js" data-key="{public_key}"></script>'


def _serves(request: Request, path: str) -> bool:
    return path in request.app.state.api_paths


@signed_in
async def install_page(page: Page) -> Response:
    base = server_address(page.request)
    live = await traffic.realtime(page.redis, page.store.id, now_ms())
    return page.render(
        "install.html",
        "install",
        base=base,
        tag=script_tag(base, page.store.public_key),
        events=sum(row["events"] for row in live["rows"]),
        domains=page.store.domains,
        import_path=IMPORT_PATH if _serves(page.request, IMPORT_PATH) else None,
    )
