"""Popups: the presets, switched on in one click; the rules with their figures and
lift; the rule editor with its live preview.

Rules are created and changed by the admin API's own functions (`add_rule`,
`change_rule`: the same checks, the same errors); the form only arranges values
(`rule_form.py`).

Context of `popups.html`: `presets` (name, preset, where, what, rules using it),
`rows` (each rule with its figures, verdict and variants), `window_days`,
`shortened` (the range was cut to what popups read), `notice`.
Context of `rule.html`: `rule` (None for a new one), `values`, `errors`
(messages by input name), `problems` (every error, for the summary), `groups`,
`open_groups` (unfolded: the main ones, and any with an error), `variant_fields`,
`variant_rows`, `preview` (the frames' first document),
`preview_variants`, `figures` (this rule's row, if any), `verdicts`, `pool`.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from widget_server.admin.rules import add_rule, change_rule
from widget_server.analytics import campaigns
from widget_server.dashboard import rule_form
from widget_server.dashboard.verdict import FOOTNOTE, verdict
from widget_server.dashboard.views import preview
from widget_server.dashboard.web import Page, error_page, redirect, signed_in
from widget_server.popups.coupons import Coupons
from widget_server.popups.presets import PRESETS
from widget_server.popups.rulebook import MAX_RULES
from widget_server.popups.schema import Rule, check_rule

# Where and when each preset shows, and what it shows (the README's table).
PRESET_TEXT = {
    "dont_go": ("Home page, on exit intent", "Recommended products"),
    "flash_promo": ("Product pages, after 8 seconds", "A code and a 15-minute countdown"),
    "last_chance": ("Cart page with items, on exit intent", "The cart's items and a code"),
    "next_order": ("Thank-you page, on load", "A code for the next order"),
    "welcome_back": ("Visitors back after 7 days or more, on load", "What they viewed last time"),
    "spin_to_win": ("Any page, on exit intent", "A wheel of prizes for an e-mail address"),
}
TOO_MANY = "A store may have at most {n} rules: delete one first."
# Content fields whose defaults are words on the popup's controls (English in the
# API): a new rule starts with them in the store's language.
POPUP_LABELS = ("close_label", "coupon_label", "copy_label", "countdown_label",
                "email_placeholder", "prize_label", "apply_label")  # fmt: skip


def trigger_text(page: Page, trigger: dict[str, Any]) -> Any:
    _ = page.language.translate
    kind = trigger.get("type")
    if kind == "exit_intent":
        return _("On exit intent")
    if kind == "time_on_page":
        return _("After {n} s on the page", n=_seconds(trigger.get("seconds")))
    if kind == "inactivity":
        return _("After {n} s without activity", n=_seconds(trigger.get("seconds")))
    if kind == "scroll_depth":
        return _("At {n}% scrolled", n=trigger.get("percent"))
    return _("On load")


def _seconds(value: Any) -> str:
    return f"{value:g}" if isinstance(value, int | float) else "?"


async def _figures(page: Page) -> tuple[dict[str, dict[str, Any]], int, bool]:
    """Each rule's figures over the page's range (popups read raw events: at most
    the last `campaigns.MAX_DAYS` days of it)."""
    span = page.range.last_days(campaigns.MAX_DAYS)
    report = await campaigns.popups(
        page.redis, page.store.id, span.first, span.last, page.zone, page.settings
    )
    rows = {row["rule_id"]: row for row in report["rows"]}
    return rows, report["attribution_window_days"], span.days < page.range.days


@signed_in
async def rules_page(page: Page) -> Response:
    rules = await page.book.rules()
    figures, window, shortened = await _figures(page)
    rows = []
    for rule in rules:
        assert rule.id is not None
        row = figures.get(rule.id)
        rows.append(
            {
                "rule": rule,
                "trigger": trigger_text(page, rule.trigger.model_dump()),
                "figures": row,
                "verdict": verdict(row["lift"], page.language, rule.holdout) if row else None,
                "variants": row["variants"] if row else [],
            }
        )
    using = {name: sum(1 for r in rules if r.preset == name) for name in PRESETS}
    presets = [
        {"key": key, "name": preset["name"], "where": PRESET_TEXT[key][0],
         "what": PRESET_TEXT[key][1], "using": using[key]}
        for key, preset in PRESETS.items()
    ]  # fmt: skip
    notice = page.request.query_params.get("notice")
    return page.render(
        "popups.html",
        "popups",
        presets=presets,
        rows=rows,
        window_days=window,
        shortened=shortened,
        max_days=campaigns.MAX_DAYS,
        notice=notice if notice in ("deleted", "full") else None,
        max_rules=MAX_RULES,
        footnote=FOOTNOTE,
    )


@signed_in
async def switch_on_preset(page: Page) -> Response:
    """The preset's rule, made exactly as `POST /v1/admin/rules {"preset": ...}`
    makes it; then its editor."""
    if await page.book.count() >= MAX_RULES:
        return redirect("/dashboard/popups?notice=full")
    made = await add_rule(page.book, {"preset": page.field("preset")})
    if isinstance(made, list):
        return error_page(page.request, 400, language=page.language)
    return redirect(f"/dashboard/popups/{made.id}?saved=preset")


def _blank(page: Page) -> dict[str, Any]:
    """A new rule's starting values: the API's defaults, in the store's language."""
    template = page.request.query_params.get("template", "announcement")
    template = template if template in rule_form.FIELDS["template"].options else "announcement"
    content = {"headline": "-", "locale": page.settings.locale}
    if template == "spin_to_win":  # a wheel cannot be blank: the preset's slices to edit
        content["segments"] = PRESETS["spin_to_win"]["content"]["segments"]
    rule = Rule.model_validate(
        {"name": "-", "template": template, "trigger": {"type": "page_load"}, "content": content}
    ).model_dump(mode="json")
    rule["name"] = ""
    rule["content"]["headline"] = ""
    # The words shoppers read on the popup's own controls, in the store's language.
    for name in POPUP_LABELS:
        rule["content"][name] = str(page.language.translate(rule["content"][name]))
    return rule


async def _editor(
    page: Page,
    rule: Rule | None,
    values: rule_form.Values,
    problems: list[dict[str, str]] | None = None,
    status: int = 200,
) -> Response:
    problems = problems or []
    names = rule_form.form_names(values)
    placed = rule_form.errors_by_input(problems, names)
    shown_rule = rule
    if rule is None or problems:
        # Preview what the form holds when it makes a rule; else the saved one.
        checked = check_rule({**rule_form.from_form(_items(values)), "id": preview.DRAFT_ID})
        shown_rule = checked if isinstance(checked, Rule) else rule
    figures = verdicts = None
    if rule is not None and rule.id is not None:
        rows, _window, _short = await _figures(page)
        figures = rows.get(rule.id)
        if figures:
            verdicts = {
                "rule": verdict(figures["lift"], page.language, rule.holdout),
                "variants": {
                    v["variant"]: verdict(v["lift"], page.language, rule.holdout)
                    for v in figures["variants"]
                },
            }
    open_groups = {g.key for g in rule_form.GROUPS if g.open or g.names() & placed.keys()}
    if rule_form.variant_count(values) or any(name.startswith("variants") for name in placed):
        open_groups.add("variants")
    pool = None
    coupon = rule.content.coupon if rule is not None else None
    if coupon is not None and coupon.pool:
        pool = {"name": coupon.pool, **await Coupons(page.redis).status(page.store.id, coupon.pool)}
    document = await preview.document(page, shown_rule, "default") if shown_rule else None
    return page.render(
        "rule.html",
        "popups",
        status=status,
        rule=rule,
        values=values,
        errors=placed,
        problems=problems,
        groups=rule_form.GROUPS,
        open_groups=open_groups,
        variant_head=rule_form.VARIANT_HEAD,
        variant_fields=rule_form.VARIANT_FIELDS,
        variant_rows=min(rule_form.variant_count(values) + 1, rule_form.MAX_VARIANTS),
        input_id=rule_form.input_id,
        preview=document,
        preview_variants=["default", *(v.id for v in shown_rule.variants)] if shown_rule else [],
        figures=figures,
        verdicts=verdicts,
        pool=pool,
        saved=page.request.query_params.get("saved"),
        footnote=FOOTNOTE,
    )


def _items(values: rule_form.Values) -> list[tuple[str, str]]:
    items: list[tuple[str, str]] = []
    for name, value in values.items():
        for one in value if isinstance(value, list) else [value]:
            items.append((name, one))
    return items


def _posted_values(page: Page) -> rule_form.Values:
    """The form as posted, to show again beside its errors."""
    assert page.form is not None
    values: rule_form.Values = {}
    for name, value in page.form.multi_items():
        if not isinstance(value, str):
            continue
        field = rule_form.FIELDS.get(name)
        if field is not None and field.kind == "multi":
            values.setdefault(name, []).append(value)
        else:
            values[name] = value
    for name, field in rule_form.FIELDS.items():
        if field.kind == "multi":
            values.setdefault(name, [])
    return values


@signed_in
async def new_rule(page: Page) -> Response:
    return await _editor(page, None, rule_form.to_values(_blank(page)))


@signed_in
async def create_rule(page: Page) -> Response:
    assert page.form is not None
    if await page.book.count() >= MAX_RULES:
        problem = {"field": "name", "error": str(page.language.translate(TOO_MANY, n=MAX_RULES))}
        return await _editor(page, None, _posted_values(page), [problem], 409)
    made = await add_rule(page.book, rule_form.from_form(page.form.multi_items()))
    if isinstance(made, list):
        return await _editor(page, None, _posted_values(page), made, 422)
    return redirect(f"/dashboard/popups/{made.id}?saved=1")


async def _rule(page: Page) -> Rule | None:
    return await page.book.rule(page.request.path_params["rule_id"])


@signed_in
async def edit_rule(page: Page) -> Response:
    rule = await _rule(page)
    if rule is None:
        return error_page(page.request, 404, language=page.language)
    return await _editor(page, rule, rule_form.to_values(rule.model_dump(mode="json")))


@signed_in
async def save_rule(page: Page) -> Response:
    """The form, saved as `PUT /v1/admin/rules/{id}` saves a rule."""
    assert page.form is not None
    rule = await _rule(page)
    if rule is None:
        return error_page(page.request, 404, language=page.language)
    changed = await change_rule(
        page.book, rule, rule_form.from_form(page.form.multi_items()), merge=False
    )
    if isinstance(changed, list):
        return await _editor(page, rule, _posted_values(page), changed, 422)
    return redirect(f"/dashboard/popups/{rule.id}?saved=1")


@signed_in
async def toggle_rule(page: Page) -> Response:
    rule = await _rule(page)
    if rule is None:
        return error_page(page.request, 404, language=page.language)
    await change_rule(page.book, rule, {"enabled": page.field("enabled") == "true"}, merge=True)
    return redirect("/dashboard/popups")


@signed_in
async def delete_rule(page: Page) -> Response:
    if not await page.book.delete(page.request.path_params["rule_id"]):
        return error_page(page.request, 404, language=page.language)
    return redirect("/dashboard/popups?notice=deleted")
