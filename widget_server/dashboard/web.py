"""What every dashboard page shares: the signed-in check, CSRF, templates, headers.

A view is `async def view(page: Page) -> Response`, wrapped by `signed_in` (a page)
or `signed_in_api` (JSON for the page's own scripts). Before the view runs, the
session cookie has been checked against the store (a rotated secret or a disabled
store signs out), and a POST's CSRF token against the session (403 without it).

The context every template gets (views add their own, each documented in its view
module; `tests/dashboard/test_web.py` checks this list):

- `_`: the message catalog (`_("Sessions")`, `_("{n} rules", n=...)`)
- `lang`: `Language` (`lang.tag` for `<html lang>`, `lang.direction`, `lang.locale`)
- `store`: the `Store` (None on the sign-in and error pages)
- `settings`: its `StoreSettings`
- `csrf`: the token each form posts as `csrf`
- `nav`: the section the page belongs to, for the navigation
- `period`: the `DateRange` the URL asks for
- `range_error`: what was wrong with the URL's range, if anything

And the helpers every template has (`env.globals`): `static(name)`, the URL of a
file in `dashboard/static/`; `fmt`, the `formatting` module (numbers, money, dates,
changes); `charts`; `code(text)`, text set as code; `choice(code)` and
`strategy_label(code)`, the English words of an API code.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import jinja2
from markupsafe import Markup
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from widget_server.analytics.periods import today
from widget_server.dashboard import charts, formatting, rule_form, static
from widget_server.dashboard.language import Language, language_for
from widget_server.dashboard.messages import CATALOGS
from widget_server.dashboard.ranges import DateRange, read_range
from widget_server.dashboard.secret import server_secret
from widget_server.dashboard.session import COOKIE, CSRF_FIELD, MAX_AGE_S, Session, Sessions
from widget_server.popups.rulebook import Rulebook
from widget_server.popups.schema import StoreSettings
from widget_server.responses import STORAGE_ERRORS
from widget_server.storage.clock import now_ms
from widget_server.storage.connect import AsyncRedis
from widget_server.storage.stores import Store, get_store

PREFIX = "/dashboard"
MAX_FORM_FIELDS = 2_000

_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; "
    "connect-src 'self'; frame-src 'self'; form-action 'self'; base-uri 'none'; "
    "object-src 'none'; frame-ancestors {}"
)
# The popup preview is a page of its own, framed by the editor (and only by it).
CSP = _CSP.format("'none'")
FRAMED_CSP = _CSP.format("'self'")

env = jinja2.Environment(
    loader=jinja2.PackageLoader("widget_server.dashboard", "templates"),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
    undefined=jinja2.StrictUndefined,
    auto_reload=False,
)
env.globals.update(
    static=static.url,
    fmt=formatting,
    charts=charts,
    code=lambda text: Markup('<code class="ltr">{}</code>').format(text),
    # The English words of an API code (then translated with `_`).
    choice=lambda code: rule_form.OPTION_LABELS.get(code, code),
    strategy_label=lambda code: rule_form.STRATEGY_LABELS.get(code, code),
)


def secure(response: Response, csp: str = CSP) -> Response:
    """The headers every dashboard answer carries."""
    response.headers["Content-Security-Policy"] = csp
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def sessions(request: Request) -> Sessions:
    """The signer for this server's secret, made once per app."""
    state = request.app.state
    made: Sessions | None = getattr(state, "dashboard_sessions", None)
    if made is None:
        made = Sessions(server_secret(state.settings))
        state.dashboard_sessions = made
    return made


def set_session(response: Response, request: Request, session: Session) -> None:
    response.set_cookie(
        COOKIE,
        sessions(request).dump(session),
        max_age=MAX_AGE_S,
        path=PREFIX,
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="lax",
    )


def render(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    status: int = 200,
    csp: str = CSP,
) -> Response:
    html = env.get_template(template).render(context)
    return secure(HTMLResponse(html, status), csp)


def plain_context(request: Request, language: Language, session: Session | None) -> dict[str, Any]:
    """The context of a page with no store behind it (sign-in, errors)."""
    return {
        "_": language.translate,
        "lang": language,
        "store": None,
        "settings": None,
        "csrf": sessions(request).csrf_token(session) if session else "",
        "nav": None,
        "period": None,
        "range_error": None,
    }


@dataclasses.dataclass
class Page:
    """A signed-in request: its store, settings, language and session."""

    request: Request
    redis: AsyncRedis
    store: Store
    settings: StoreSettings
    session: Session
    language: Language
    form: FormData | None = None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.settings.timezone)

    @property
    def today(self) -> date:
        return today(self.zone, now_ms())

    @functools.cached_property
    def range_and_error(self) -> tuple[DateRange, str | None]:
        return read_range(self.request.query_params, self.today)

    @property
    def range(self) -> DateRange:
        return self.range_and_error[0]

    @property
    def book(self) -> Rulebook:
        return Rulebook(self.redis, self.store.id)

    @property
    def csrf(self) -> str:
        return sessions(self.request).csrf_token(self.session)

    def field(self, name: str, default: str = "") -> str:
        value = self.form.get(name) if self.form is not None else None
        return value if isinstance(value, str) else default

    def context(self, nav: str, **extra: Any) -> dict[str, Any]:
        date_range, range_error = self.range_and_error
        return {
            "_": self.language.translate,
            "lang": self.language,
            "store": self.store,
            "settings": self.settings,
            "csrf": self.csrf,
            "nav": nav,
            "period": date_range,
            "range_error": range_error,
            **extra,
        }

    def render(self, template: str, nav: str, *, status: int = 200, **extra: Any) -> Response:
        return render(self.request, template, self.context(nav, **extra), status=status)


def redirect(path: str) -> Response:
    return secure(RedirectResponse(path, status_code=303))


View = Callable[[Page], Awaitable[Response]]


async def _session_store(
    request: Request, redis: AsyncRedis
) -> tuple[Session | None, Store | None]:
    session = sessions(request).load(request.cookies.get(COOKIE))
    if session is None or session.store_id is None:
        return session, None
    store = await get_store(redis, session.store_id)
    return session, store if session.opens(store) else None


async def csrf_refused(request: Request, session: Session | None) -> Response | None:
    """The 403 page for a POST without this session's token; None when it has it."""
    form = await request.form(max_fields=MAX_FORM_FIELDS)
    token = form.get(CSRF_FIELD)
    if sessions(request).csrf_ok(session, token if isinstance(token, str) else None):
        return None
    return error_page(request, 403, "csrf", await reader_language(request))


def _wrap(view: View, *, api: bool) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            return await answer(request)
        finally:
            await request.close()  # an uploaded file's spool, at once

    async def answer(request: Request) -> Response:
        redis = request.app.state.storage.client
        try:
            session, store = await _session_store(request, redis)
            if request.method == "POST":
                refused = await csrf_refused(request, session)
                if refused is not None and api:
                    return secure(JSONResponse({"error": "csrf: reload the page"}, 403))
                if refused is not None:
                    return refused
            if store is None or session is None:
                if api:
                    return secure(JSONResponse({"error": "session: sign in again"}, 401))
                return redirect(f"{PREFIX}/signin?next={quote(request.url.path)}")
            settings = await Rulebook(redis, store.id).settings()
            form = (
                await request.form(max_fields=MAX_FORM_FIELDS) if request.method == "POST" else None
            )
            page = Page(
                request, redis, store, settings, session, language_for(settings.locale), form
            )
            return await view(page)
        except STORAGE_ERRORS:
            request.app.state.metrics.redis_errors.inc()
            if api:
                return secure(JSONResponse({"error": "storage: try again later"}, 503))
            return error_page(request, 503, "storage", browser_language(request))

    return endpoint


def signed_in(view: View) -> Callable[[Request], Awaitable[Response]]:
    return _wrap(view, api=False)


def signed_in_api(view: View) -> Callable[[Request], Awaitable[Response]]:
    return _wrap(view, api=True)


ERRORS = {
    "not_found": "There is no page at this address.",
    "method": "This page cannot be asked for that way.",
    "csrf": (
        "This form was not sent from this dashboard, or it is too old. "
        "Go back, reload the page and send it again."
    ),
    "storage": "Storage is unreachable at the moment; try again in a few seconds.",
    "bad_request": "The request could not be read.",
    "server": "Something went wrong on the server; it has been logged.",
}
_KIND_BY_STATUS = {400: "bad_request", 403: "csrf", 404: "not_found", 405: "method", 503: "storage"}


def error_page(
    request: Request, status: int, kind: str | None = None, language: Language | None = None
) -> Response:
    """An error as a dashboard page."""
    kind = kind or _KIND_BY_STATUS.get(status, "server")
    context = plain_context(request, language or language_for("en"), None)
    context.update(status=status, message=ERRORS[kind])
    response = render(request, "error.html", context, status=status)
    if status == 503:
        response.headers["Retry-After"] = "5"
    return response


async def reader_language(request: Request) -> Language:
    """The signed-in store's language, else the browser's; English when in doubt."""
    try:
        _session, store = await _session_store(request, request.app.state.storage.client)
        if store is not None:
            settings = await Rulebook(request.app.state.storage.client, store.id).settings()
            return language_for(settings.locale)
    except STORAGE_ERRORS:
        pass
    return browser_language(request)


def browser_language(request: Request) -> Language:
    """The first language the browser asks for that the dashboard speaks."""
    for part in request.headers.get("accept-language", "").split(","):
        tag = part.split(";")[0].strip()
        if tag and tag.split("-")[0].lower() in CATALOGS:
            return language_for(tag)
    return language_for("en")
