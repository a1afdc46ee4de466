"""Signing in with the store's secret key, and out.

Context of `signin.html` (besides web.py's plain context): `next` (where to go
after), `error` (why the key was refused), `signed_out`.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from widget_server.dashboard.session import COOKIE, CSRF_FIELD, Session
from widget_server.dashboard.web import (
    PREFIX,
    browser_language,
    csrf_refused,
    error_page,
    plain_context,
    redirect,
    render,
    sessions,
    set_session,
)
from widget_server.responses import STORAGE_ERRORS
from widget_server.storage.stores import get_store, store_for_secret

UNKNOWN_KEY = "Unknown, rotated or disabled secret key."
PUBLIC_KEY = (
    "That is the store's public key (pk_...), which goes in the script tag. "
    "Sign in with the secret key (sk_...)."
)
NO_KEY = "Paste the store's secret key (sk_...)."


def _next(raw: str | None) -> str:
    """Only a dashboard path: never another site."""
    if raw and raw.startswith(PREFIX) and not raw.startswith("//") and "\\" not in raw:
        return raw
    return PREFIX


async def _signed_in(request: Request, session: Session | None) -> bool:
    if session is None or session.store_id is None:
        return False
    return session.opens(await get_store(request.app.state.storage.client, session.store_id))


def _form(request: Request, session: Session, status: int = 200, **extra: object) -> Response:
    context = plain_context(request, browser_language(request), session)
    context.update(
        next=_next(request.query_params.get("next")),
        error=None,
        signed_out=False,
        csrf_field=CSRF_FIELD,
    )
    context.update(extra)
    response = render(request, "signin.html", context, status=status)
    set_session(response, request, session)
    return response


async def signin_form(request: Request) -> Response:
    session = sessions(request).load(request.cookies.get(COOKIE))
    try:
        if await _signed_in(request, session):
            return redirect(_next(request.query_params.get("next")))
    except STORAGE_ERRORS:
        return error_page(request, 503)
    if session is None or session.store_id is not None:
        session = Session.anonymous()
    return _form(request, session, signed_out="signed_out" in request.query_params)


async def signin(request: Request) -> Response:
    session = sessions(request).load(request.cookies.get(COOKIE))
    refused = await csrf_refused(request, session)
    if refused is not None:
        return refused
    assert session is not None
    form = await request.form()
    raw_key = form.get("secret_key")
    key = raw_key.strip() if isinstance(raw_key, str) else ""
    target = form.get("next")
    after = _next(target if isinstance(target, str) else None)
    if not key:
        return _form(request, session, 401, error=NO_KEY, next=after)
    if key.startswith("pk_"):
        return _form(request, session, 401, error=PUBLIC_KEY, next=after)
    try:
        store = await store_for_secret(request.app.state.storage.client, key)
    except STORAGE_ERRORS:
        return error_page(request, 503)
    if store is None:
        return _form(request, session, 401, error=UNKNOWN_KEY, next=after)
    response = redirect(after)
    # A new nonce: a token of the form before sign-in opens nothing after it.
    set_session(response, request, Session.signed_in(store))
    return response


async def signout(request: Request) -> Response:
    session = sessions(request).load(request.cookies.get(COOKIE))
    refused = await csrf_refused(request, session)
    if refused is not None:
        return refused
    response = redirect(f"{PREFIX}/signin?signed_out=1")
    set_session(response, request, Session.anonymous())
    return response
