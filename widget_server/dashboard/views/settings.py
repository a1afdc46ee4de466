"""Settings: the store's domains, and its `StoreSettings` (time zone, currency,
language, attribution window, the popup governor, privacy), checked as
`PATCH /v1/admin/settings` checks them, each error beside its field.

Context of `settings.html`: `groups` (of `rule_form.Field`s named by the
settings' API paths, plus `domains`), `values`, `errors` (by input name),
`problems`, `saved`.
"""

from __future__ import annotations

import zoneinfo
from typing import Any

from pydantic import ValidationError
from starlette.responses import Response

from widget_server.dashboard.rule_form import Field, Group, errors_by_input
from widget_server.dashboard.web import Page, redirect, signed_in
from widget_server.popups.schema import StoreSettings, field_errors, merge_fields
from widget_server.storage.stores import StoreError, normalize_domain, set_domains

# Languages the dashboard speaks, and common store locales; any BCP 47 tag works.
LOCALES = ("en", "en-US", "en-GB", "fa-IR", "fa", "ar", "ar-SA", "de-DE", "fr-FR", "es-ES",
           "it-IT", "nl-NL", "pt-BR", "tr-TR", "ja-JP")  # fmt: skip
ZONES = tuple(sorted(zoneinfo.available_timezones() - {"localtime", "Factory"}))
NULLABLE = frozenset({"customer_lifetime_years"})

GROUPS: tuple[Group, ...] = (
    Group("store", "Your store", (
        Field("domains", "Domains (one per line)", "lines",
              help="Pages on these domains and their subdomains may send events."),
        Field("timezone", "Time zone", "select", ZONES, translate_options=False,
              help="Days, weeks and months of every figure are read in it."),
        Field("currency", "Currency", placeholder="EUR",
              help="Revenue is counted in it; orders in other currencies are counted apart."),
        Field("locale", "Language and formats", placeholder="en-GB, fa-IR", suggestions=LOCALES,
              help="The dashboard's language, and how it writes numbers, money and dates."),
    )),
    Group("measuring", "Measuring", (
        Field("attribution_window_days", "Attribution window (days)", "number",
              help="How long after a popup or showcase an order still counts for it."),
        Field("activity_window_days", "Activity window (days)", "number",
              help="A customer counts as active while their last order is this recent."),
        Field("customer_lifetime_years", "Expected customer lifetime (years)", "number",
              help="For lifetime value; blank: from the churn of the last year."),
        Field("showcase_holdout", "Showcase holdout (% of visitors)", "number",
              help="Visitors who see no showcase: the comparison that measures their lift."),
    )),
    Group("governor", "Popups, store-wide", (
        Field("governor.max_per_session", "At most per visit", "number"),
        Field("governor.max_per_visitor_per_day", "At most per visitor and day", "number"),
        Field("governor.min_gap_seconds", "Seconds between two popups, at least", "number"),
    ), help="Limits over every popup together, whatever each allows."),
    Group("privacy", "Privacy", (
        Field("respect_gpc", "Respect Global Privacy Control: record nothing for visitors "
              "whose browser sends it", "check"),
    )),
)  # fmt: skip
FIELDS = {f.name: f for g in GROUPS for f in g.fields}


def _values(page: Page) -> dict[str, Any]:
    data = page.settings.model_dump(mode="json")
    values: dict[str, Any] = {"domains": "\n".join(page.store.domains)}
    for name, field in FIELDS.items():
        if name == "domains":
            continue
        value: Any = data
        for part in name.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if field.kind == "check":
            values[name] = "true" if value else ""
        elif isinstance(value, float) and value.is_integer():
            values[name] = str(int(value))
        else:
            values[name] = "" if value is None else str(value)
    return values


def _render(
    page: Page, values: dict[str, Any], problems: list[dict[str, str]], status: int = 200
) -> Response:
    return page.render(
        "settings.html",
        "settings",
        status=status,
        groups=GROUPS,
        values=values,
        errors=errors_by_input(problems, set(FIELDS)),
        problems=problems,
        saved=page.request.query_params.get("saved"),
    )


@signed_in
async def settings_page(page: Page) -> Response:
    return _render(page, _values(page), [])


def _changes(page: Page) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the settings the form changes, the form's values as posted)."""
    changes: dict[str, Any] = {}
    posted: dict[str, Any] = {}
    for name, field in FIELDS.items():
        raw = page.field(name).strip()
        if field.kind == "check":
            raw = "true" if raw == "true" else ""
        posted[name] = raw
        if name == "domains":
            continue
        value: Any = raw == "true" if field.kind == "check" else raw
        if raw == "" and field.kind != "check":
            if name not in NULLABLE:
                continue
            value = None
        target = changes
        parts = name.split(".")
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = value
    return changes, posted


@signed_in
async def save_settings(page: Page) -> Response:
    changes, posted = _changes(page)
    problems: list[dict[str, str]] = []
    settings = None
    try:
        merged = merge_fields(page.settings.model_dump(mode="json"), changes)
        settings = StoreSettings.model_validate(merged)
    except ValidationError as exc:
        problems += field_errors(exc)
    domains = [d for d in posted["domains"].splitlines() if d.strip()]
    try:
        if not domains:
            raise StoreError("domain: at least one domain is required")
        for domain in domains:
            normalize_domain(domain)
    except StoreError as exc:
        problems.append({"field": "domains", "error": str(exc).removeprefix("domain: ")})
    if problems or settings is None:
        return _render(page, posted, problems, 422)
    await page.book.save_settings(settings)
    await set_domains(page.redis, page.store.id, domains)
    return redirect("/dashboard/settings?saved=1")
