"""A popup exactly as a shopper sees it: the server's own render
(`admin.rules.render_preview`, which `GET /v1/admin/rules/{id}/preview` answers
with), on a page of its own whose style sheets are all served from here.

The editor shows that page in two frames (desktop and phone) as `srcdoc`, which it
replaces as the merchant types (`editor.js` posts the form to `live_preview`);
`saved_preview` serves the same page for a saved rule at its own address.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from widget_server.admin.rules import render_preview
from widget_server.dashboard import rule_form
from widget_server.dashboard.web import (
    FRAMED_CSP,
    Page,
    env,
    error_page,
    secure,
    signed_in,
    signed_in_api,
)
from widget_server.popups.render import stylesheet
from widget_server.popups.schema import Colors, Rule, check_rule

DRAFT_ID = "r_preview"


def popup_css_url(colors: Colors) -> str:
    return "/dashboard/preview/popup.css?" + urlencode(colors.model_dump())


async def document(page: Page, rule: Rule, variant: str) -> str:
    """The whole preview page of one variant of `rule` (saved or not)."""
    served = await page.request.app.state.models.get(page.store.id)
    html, _css = await render_preview(
        page.redis, served, page.store.id, rule, variant, page.settings.currency
    )
    content = rule.variant_content(variant)
    return env.get_template("preview.html").render(
        _=page.language.translate,
        lang=page.language,
        popup_html=html,
        popup_css=popup_css_url(content.colors),
    )


def variant_of(rule: Rule, wanted: str) -> str:
    return wanted if wanted in {v.id for v in rule.variants} else "default"


def draft(page: Page) -> tuple[Rule | None, list[dict[str, str]], dict[str, Any]]:
    """The rule the posted form describes (checked as the API checks it), or its
    problems; and the data it was made from."""
    assert page.form is not None
    data = rule_form.from_form(page.form.multi_items())
    checked = check_rule({**data, "id": DRAFT_ID})
    if isinstance(checked, list):
        return None, checked, data
    return checked, [], data


@signed_in_api
async def live_preview(page: Page) -> Response:
    """The preview page of the posted (unsaved) form, or the API's errors about it,
    each with the input it belongs beside."""
    rule, errors, data = draft(page)
    if rule is None:
        names = rule_form.form_names(rule_form.to_values(data))
        placed = []
        for problem in errors:
            name = rule_form.input_for(problem["field"], names)
            placed.append({**problem, "input": rule_form.input_id(name) if name else None})
        return secure(JSONResponse({"document": None, "errors": placed}, 422))
    variant = variant_of(rule, page.field("ui.preview_variant", "default"))
    return secure(JSONResponse({"document": await document(page, rule, variant), "errors": []}))


@signed_in
async def saved_preview(page: Page) -> Response:
    rule = await page.book.rule(page.request.path_params["rule_id"])
    if rule is None:
        return error_page(page.request, 404, language=page.language)
    variant = variant_of(rule, page.request.query_params.get("variant", "default"))
    return secure(Response(await document(page, rule, variant), media_type="text/html"), FRAMED_CSP)


async def popup_css(request: Request) -> Response:
    """The popup's style sheet for the colours asked for (hex only, as in rules)."""
    try:
        colors = Colors.model_validate(dict(request.query_params))
    except ValidationError:
        colors = Colors()
    response = Response(stylesheet(colors), media_type="text/css; charset=utf-8")
    response.headers["Cache-Control"] = "public, max-age=86400"
    return secure(response)
