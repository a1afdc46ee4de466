"""The rule editor's form: every option of the rules API, and the way between a
rule's JSON and the form's fields.

Each input is named by the path of its field in the API (`trigger.seconds`,
`content.colors.accent`, `variants[0].content.headline`), which is also the path
the API's 422 names in its errors: an error lands beside the input of that name
(or of the nearest field above it). The form only arranges values; whether a rule
is good is the API's own check (`schema.check_rule`), never repeated here. Inputs
named `ui.*` are choices of the form itself (which kind of coupon), not fields.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal, get_args

from widget_server.popups.schema import (
    TEMPLATES,
    TRIGGERS,
    WEEKDAYS,
    Content,
    Device,
    PageType,
    Products,
    Strategy,
    Targeting,
)

Kind = Literal[
    "text", "textarea", "number", "check", "select", "multi", "lines", "color", "datetime",
    "json",
]  # fmt: skip
Values = dict[str, Any]  # input name -> its text (a list for `multi`)
MAX_VARIANTS = 10

# Persian and Arabic-Indic digits, and the Arabic decimal separator.
_DIGITS = str.maketrans(
    "\u06f0\u06f1\u06f2\u06f3\u06f4\u06f5\u06f6\u06f7\u06f8\u06f9"
    "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669\u066b",
    "01234567890123456789.",
)


def _options(model: Any, name: str) -> tuple[str, ...]:
    annotation = model.model_fields[name].annotation
    for arg in (annotation, *get_args(annotation)):
        values = get_args(arg)
        if values and all(isinstance(v, str) for v in values):
            return tuple(values)
    raise ValueError(f"{name}: not a choice")


@dataclasses.dataclass(frozen=True, slots=True)
class Field:
    name: str  # the API path, and the input's name
    label: str
    kind: Kind = "text"
    options: tuple[str, ...] = ()
    help: str = ""
    when: str = ""  # "control=value,value": shown only for those values (format.js)
    placeholder: str = ""
    suggestions: tuple[str, ...] = ()  # offered as the text is typed (a datalist)
    translate_options: bool = True  # False: the options are names (time zones)
    labels: tuple[tuple[str, str], ...] = ()  # (option, label) where OPTION_LABELS differs
    blank_is_none: bool = False  # blank sends null (no limit), not the API's default

    @property
    def id(self) -> str:
        return input_id(self.name)

    def label_of(self, option: str) -> str:
        """The words for a choice, in English (the catalogs translate them)."""
        if not self.translate_options:
            return option
        return dict(self.labels).get(option) or OPTION_LABELS.get(option, option)


@dataclasses.dataclass(frozen=True, slots=True)
class Group:
    key: str
    legend: str
    fields: tuple[Field, ...]
    when: str = ""
    help: str = ""
    open: bool = True  # shown unfolded; the others fold until they have an error

    def names(self) -> set[str]:
        return {f.name for f in self.fields}


def input_id(name: str) -> str:
    return "f-" + re.sub(r"[^A-Za-z0-9_-]", "-", name)


# The words for the API's codes, wherever a form or table offers them.
OPTION_LABELS = {
    "exit_intent": "Exit intent", "time_on_page": "Time on the page",
    "inactivity": "No activity", "scroll_depth": "Scrolled down", "page_load": "Page load",
    "dont_go": "Don't go (products)", "flash_promo": "Flash promo (code and countdown)",
    "last_chance": "Last chance (cart and code)", "email_capture": "E-mail capture",
    "announcement": "Announcement", "spin_to_win": "Spin to win (a wheel of prizes)",
    "home": "Home", "product": "Product", "category": "Category", "search": "Search",
    "cart": "Cart", "checkout": "Checkout", "thank_you": "Thank-you page", "other": "Other",
    "desktop": "Desktop", "mobile": "Phone", "tablet": "Tablet",
    "any": "Any", "new": "New visitors", "returning": "Returning visitors",
    "empty": "Empty", "non_empty": "Not empty",
    "auto": "From the language", "ltr": "Left to right", "rtl": "Right to left",
    "recommended": "Recommended for the visitor", "similar": "Similar items",
    "bought_together": "Bought together", "trending": "Trending", "popular": "Popular",
    "recently_viewed": "Recently viewed",
    "below": "Below the text", "side": "Beside the text",
    "mon": "Mon", "tue": "Tue", "wed": "Wed", "thu": "Thu", "fri": "Fri", "sat": "Sat",
    "sun": "Sun",
    # and the channels of the overview's breakdown (collect/sources.py)
    "direct": "Direct", "organic_search": "Organic search", "paid_search": "Paid search",
    "social": "Social", "email": "E-mail", "referral": "Referral",
}  # fmt: skip
STRATEGY_LABELS = {**OPTION_LABELS, "cart": "Going with the cart"}

TRIGGER_TYPES = tuple(TRIGGERS)
PAGE_TYPES: tuple[str, ...] = get_args(PageType)
DEVICES: tuple[str, ...] = get_args(Device)
STRATEGIES: tuple[str, ...] = get_args(Strategy)
_EXIT = "trigger.type=exit_intent"

GROUPS: tuple[Group, ...] = (
    Group("basics", "Basics", (
        Field("name", "Name", help="Only you see it."),
        Field("template", "Template", "select", TEMPLATES),
        Field("enabled", "Switched on", "check"),
        Field("priority", "Priority", "number",
              help="Of the rules that fit a page, the highest priority is offered first."),
    )),
    Group("trigger", "When it shows", (
        Field("trigger.type", "Trigger", "select", TRIGGER_TYPES),
        Field("trigger.sensitivity_px", "Distance from the top edge (px)", "number", when=_EXIT),
        Field("trigger.min_seconds", "Seconds on the page first", "number", when=_EXIT),
        Field("trigger.mobile", "Also on phones (fast scroll up, back button)", "check",
              when=_EXIT),
        Field("trigger.seconds", "Seconds", "number",
              when="trigger.type=time_on_page,inactivity"),
        Field("trigger.percent", "Scrolled down (%)", "number", when="trigger.type=scroll_depth"),
    )),
    Group("content", "What it says", (
        Field("content.headline", "Headline"),
        Field("content.text", "Text", "textarea"),
        Field("content.button_text", "Button text"),
        Field("content.button_url", "Button link", placeholder="/collections/sale",
              help="An address on your store (/...) or a full http(s) address; "
                   "without one the button closes the popup."),
        Field("content.image", "Image address", placeholder="https://"),
        Field("content.close_label", "Close button label (for screen readers)"),
        Field("content.locale", "Language of the popup", placeholder="en, fr-CA, fa"),
        Field("content.direction", "Writing direction", "select",
              _options(Content, "direction")),
    )),
    Group("colors", "Colours", (
        Field("content.colors.background", "Background", "color"),
        Field("content.colors.text", "Text", "color"),
        Field("content.colors.accent", "Accent and button", "color"),
        Field("content.colors.button_text", "Button text", "color"),
    )),
    Group("coupon", "Coupon", (
        Field("ui.coupon", "Kind of coupon", "select", ("none", "code", "pool"),
              labels=(("none", "No coupon"), ("code", "One code for everyone"),
                      ("pool", "A unique code per visitor"))),
        Field("content.coupon.code", "Code for everyone", when="ui.coupon=code"),
        Field("content.coupon.pool", "Pool of unique codes", when="ui.coupon=pool",
              help="Upload its codes with POST /v1/admin/coupons/POOL."),
        Field("content.coupon.fallback_code", "Code when the pool is empty", when="ui.coupon=pool"),
        Field("content.coupon_label", "Label", when="ui.coupon=code,pool"),
        Field("content.copy_label", "Copy button", when="ui.coupon=code,pool"),
    )),
    Group("countdown", "Countdown", (
        Field("ui.countdown", "Kind of countdown", "select", ("none", "minutes", "ends_at"),
              labels=(("none", "No countdown"), ("minutes", "Minutes from the first view"),
                      ("ends_at", "Until a date and time"))),
        Field("content.countdown.minutes", "Minutes from when the visitor first sees it",
              "number", when="ui.countdown=minutes"),
        Field("content.countdown.ends_at", "Ends at (store time)", "datetime",
              when="ui.countdown=ends_at"),
        Field("content.countdown_label", "Label", when="ui.countdown=minutes,ends_at"),
    )),
    Group("products", "Products", (
        Field("ui.products", "Show recommended products", "check"),
        Field("content.products.strategy", "Which products", "select", STRATEGIES,
              when="ui.products=on", labels=(("cart", STRATEGY_LABELS["cart"]),)),
        Field("content.products.count", "How many", "number", when="ui.products=on"),
        Field("content.products.placement", "Where", "select",
              _options(Products, "placement"), when="ui.products=on"),
        Field("content.products_title", "Title above them", when="ui.products=on"),
        Field("content.show_cart", "Show the visitor's cart", "check"),
    )),
    Group("email", "E-mail capture", (
        Field("content.email_placeholder", "E-mail field placeholder"),
    ), when="template=email_capture,spin_to_win"),
    Group("wheel", "Wheel", (
        Field("content.segments", "Segments (JSON)", "json",
              help='6 to 12, clockwise from the top, each with "label", "weight", and "pool" '
                   '(unique codes) or "code" (one for everyone); with neither, no prize.'),
        Field("content.prize_label", "Words before the prize"),
        Field("content.apply_label", "Link that applies the code"),
        Field("content.apply_url", "Link that applies the code, with {code}",
              placeholder="/cart/?coupon_code={code}",
              help="Blank: Shopify's own discount link on Shopify, else a copy button."),
    ), when="template=spin_to_win"),
    Group("targeting", "Who and where", (
        Field("targeting.page_types", "Page types", "multi", PAGE_TYPES,
              help="None ticked: every page."),
        Field("targeting.url_contains", "Address contains (one per line)", "lines"),
        Field("targeting.url_not_contains", "Address does not contain (one per line)", "lines"),
        Field("targeting.visitor", "Visitors", "select", _options(Targeting, "visitor")),
        Field("targeting.devices", "Devices", "multi", DEVICES, help="None ticked: every device."),
        Field("targeting.cart", "Cart", "select", _options(Targeting, "cart")),
        Field("targeting.cart_value_min", "Cart value at least", "number"),
        Field("targeting.cart_value_max", "Cart value at most", "number"),
        Field("targeting.utm_source", "UTM source is one of (one per line)", "lines"),
        Field("targeting.utm_campaign", "UTM campaign is one of (one per line)", "lines"),
        Field("targeting.referrer_domains", "Came from (domains, one per line)", "lines"),
        Field("targeting.min_session_page_views", "Pages seen this visit, at least", "number"),
        Field("targeting.viewed_categories", "Viewed a category (one per line)", "lines"),
        Field("targeting.days_since_last_visit_min", "Days since last visit, at least", "number"),
        Field("targeting.days_since_last_visit_max", "Days since last visit, at most", "number"),
        Field("targeting.days_since_last_purchase_min", "Days since last order, at least",
              "number"),
        Field("targeting.days_since_last_purchase_max", "Days since last order, at most",
              "number"),
        Field("targeting.past_orders_min", "Past orders, at least", "number"),
        Field("targeting.past_orders_max", "Past orders, at most", "number"),
    ), open=False),
    Group("schedule", "Schedule", (
        Field("schedule.start", "From (store time)", "datetime"),
        Field("schedule.end", "Until (store time)", "datetime"),
        Field("schedule.days", "Days", "multi", WEEKDAYS, help="None ticked: every day."),
        Field("schedule.hours.start", "From hour (0-23)", "number"),
        Field("schedule.hours.end", "To hour (1-24)", "number",
              help="Below the start hour, it runs past midnight."),
    ), open=False),
    Group("frequency", "How often", (
        Field("frequency.max_per_session", "At most per visit", "number"),
        Field("frequency.max_per_visitor", "At most per visitor", "number", blank_is_none=True,
              help="Blank: no limit."),
        Field("frequency.per_days", "... within days", "number"),
        Field("frequency.cooldown_minutes", "Minutes after any other popup", "number"),
        Field("frequency.stop_after_click", "Not again after a click", "check"),
        Field("frequency.stop_after_purchase", "Not again after an order", "check"),
    ), open=False),
    Group("holdout", "Measuring", (
        Field("holdout", "Holdout: % of visitors who never see it", "number",
              help="They are the comparison that measures its lift (0-90)."),
    ), open=False),
)  # fmt: skip

VARIANT_HEAD: tuple[Field, ...] = (
    Field("id", "Variant id", placeholder="b"),
    Field("weight", "Weight", "number", placeholder="1"),
)
# What a variant may change, beside its id and weight; other changes a variant got
# through the API are kept as they are.
VARIANT_FIELDS: tuple[Field, ...] = (
    Field("content.headline", "Headline"),
    Field("content.text", "Text", "textarea"),
    Field("content.button_text", "Button text"),
    Field("content.button_url", "Button link"),
    Field("content.image", "Image address"),
    Field("content.colors.accent", "Accent colour", placeholder="#d1242f"),
    Field("content.colors.background", "Background colour", placeholder="#ffffff"),
)
FIELDS: dict[str, Field] = {f.name: f for g in GROUPS for f in g.fields}


# -- rule JSON -> form values ---------------------------------------------------------


def _get(data: Mapping[str, Any], path: str) -> Any:
    value: Any = data
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _text(value: Any, kind: Kind) -> Any:
    if value is None:
        return [] if kind == "multi" else ""
    if kind == "check":
        return "true" if value else ""
    if kind == "multi":
        return [str(v) for v in value]
    if kind == "lines":
        return "\n".join(str(v) for v in value)
    if kind == "json":  # a list, one element a line
        return "[\n" + ",\n".join(json.dumps(v, ensure_ascii=False) for v in value) + "\n]"
    if kind == "datetime":
        return str(value)[:16]
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def to_values(rule: Mapping[str, Any]) -> Values:
    """The form's values for a rule (its JSON, as the API answers it)."""
    values: Values = {}
    for field in FIELDS.values():
        if not field.name.startswith("ui."):
            values[field.name] = _text(_get(rule, field.name), field.kind)
    content = rule.get("content") or {}
    coupon = content.get("coupon") or {}
    values["ui.coupon"] = "pool" if coupon.get("pool") else "code" if coupon.get("code") else "none"
    countdown = content.get("countdown") or {}
    values["ui.countdown"] = (
        "ends_at" if countdown.get("ends_at") else "minutes" if countdown.get("minutes") else "none"
    )
    values["ui.products"] = "true" if content.get("products") else ""
    # A blank choice shows the API's default for it.
    products = content.get("products") or {}
    values["content.products.strategy"] = products.get("strategy", "recommended")
    values["content.products.count"] = str(products.get("count", 4))
    values["content.products.placement"] = products.get("placement", "below")
    for index, variant in enumerate(rule.get("variants") or []):
        prefix = f"variants[{index}]."
        changes = dict(variant.get("content") or {})
        values[prefix + "id"] = str(variant.get("id", ""))
        values[prefix + "weight"] = _text(variant.get("weight", 1), "number")
        for field in VARIANT_FIELDS:
            values[prefix + field.name] = _text(_get(variant, field.name), field.kind)
        colors = dict(changes.pop("colors", None) or {})
        for field in VARIANT_FIELDS:
            key = field.name.removeprefix("content.")
            if key.startswith("colors."):
                colors.pop(key.removeprefix("colors."), None)
            else:
                changes.pop(key, None)
        if colors:
            changes["colors"] = colors
        values[prefix + "extra"] = json.dumps(changes, ensure_ascii=False) if changes else ""
    return values


def variant_count(values: Values) -> int:
    indexes = {int(m.group(1)) for k in values if (m := re.match(r"^variants\[(\d+)\]\.", k))}
    return max(indexes, default=-1) + 1


# -- form -> rule JSON ----------------------------------------------------------------


class _Form:
    """The posted form's values by name (several for checkboxes and lists)."""

    def __init__(self, items: Sequence[tuple[str, Any]]) -> None:
        self._all: dict[str, list[str]] = {}
        for name, value in items:
            if isinstance(value, str):
                self._all.setdefault(name, []).append(value)

    def one(self, name: str) -> str:
        values = self._all.get(name) or [""]
        return values[-1].strip()

    def many(self, name: str) -> list[str]:
        return [v for v in self._all.get(name, []) if v]

    def names(self) -> list[str]:
        return list(self._all)


def _set(data: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    for part in parts[:-1]:
        data = data.setdefault(part, {})
    data[parts[-1]] = value


def _value(form: _Form, field: Field) -> tuple[bool, Any]:
    """(given, value): a blank optional field is left out, so the API's default holds."""
    if field.kind == "check":
        return True, form.one(field.name) == "true"
    if field.kind == "multi":
        chosen = form.many(field.name)
        return bool(chosen), chosen
    if field.kind == "lines":
        lines = [line.strip() for line in form.one(field.name).splitlines() if line.strip()]
        return bool(lines), lines
    raw = form.one(field.name)
    if field.kind == "json" and raw:
        try:
            return True, json.loads(raw)
        except ValueError:
            return True, raw  # the API says what the field must be
    if field.kind == "number":
        # Persian and Arabic digits, typed on those keyboards, are digits too.
        raw = raw.translate(_DIGITS).replace(",", "") if raw else raw
    return raw != "", raw


def from_form(items: Sequence[tuple[str, Any]]) -> dict[str, Any]:
    """The rule the posted form describes, as JSON for `check_rule` (no id)."""
    form = _Form(items)
    data: dict[str, Any] = {}
    trigger_type = form.one("trigger.type")
    coupon_kind, countdown_kind = form.one("ui.coupon"), form.one("ui.countdown")
    with_products = form.one("ui.products") == "true"
    for field in FIELDS.values():
        if field.name.startswith("ui."):
            continue
        if field.name.startswith("trigger.") and field.name != "trigger.type":
            # Only the chosen trigger's own fields: another type's would be refused.
            fields = TRIGGERS[trigger_type].model_fields if trigger_type in TRIGGERS else {}
            if field.name.removeprefix("trigger.") not in fields:
                continue
        if field.name.startswith("content.coupon."):
            wanted = {"code": ("code",), "pool": ("pool", "fallback_code")}.get(coupon_kind, ())
            if field.name.removeprefix("content.coupon.") not in wanted:
                continue
        if field.name.startswith("content.countdown.") and (
            field.name.removeprefix("content.countdown.") != countdown_kind
        ):
            continue
        if field.name.startswith("content.products.") and not with_products:
            continue
        if field.name == "content.segments" and form.one("template") != "spin_to_win":
            continue  # hidden with its template: another template draws no wheel
        given, value = _value(form, field)
        if given:
            _set(data, field.name, value)
        elif field.blank_is_none:
            _set(data, field.name, None)
    if coupon_kind in ("code", "pool"):
        data.setdefault("content", {}).setdefault("coupon", {})
    if countdown_kind in ("minutes", "ends_at"):
        data.setdefault("content", {}).setdefault("countdown", {})
    if with_products:
        data.setdefault("content", {}).setdefault("products", {})
    hours = (data.get("schedule") or {}).get("hours")
    if hours is not None and not hours:
        del data["schedule"]["hours"]
    variants = _variants(form)
    if variants:
        data["variants"] = variants
    return data


def _variants(form: _Form) -> list[dict[str, Any]]:
    indexes = sorted(
        {int(m.group(1)) for n in form.names() if (m := re.match(r"^variants\[(\d+)\]\.", n))}
    )
    out: list[dict[str, Any]] = []
    for index in indexes:
        prefix = f"variants[{index}]."
        if form.one(prefix + "remove") == "true":
            continue
        variant: dict[str, Any] = {}
        extra = form.one(prefix + "extra")
        changes: dict[str, Any] = {}
        if extra:
            try:
                kept = json.loads(extra)
            except ValueError:
                kept = None
            if isinstance(kept, dict):
                changes.update(kept)
        for field in VARIANT_FIELDS:
            raw = form.one(prefix + field.name)
            if raw:
                _set(changes, field.name.removeprefix("content."), raw)
        variant_id, weight = form.one(prefix + "id"), form.one(prefix + "weight")
        if not variant_id and not changes and not weight:
            continue  # the empty row for a new variant
        variant["id"] = variant_id
        if weight:
            variant["weight"] = weight.translate(_DIGITS)
        variant["content"] = changes
        out.append(variant)
    return out


# -- API errors -> inputs -------------------------------------------------------------


def input_for(path: str, names: set[str]) -> str | None:
    """The input an error of the API at `path` belongs beside: the field of that
    name, else the nearest one above it (`targeting.url_contains[2]` is the list's
    input, `variants[1]` its id)."""
    candidates = [path, re.sub(r"\[\d+\]$", "", path)]
    parts = path.split(".")
    candidates += [".".join(parts[:n]) for n in range(len(parts) - 1, 0, -1)]
    for candidate in candidates:
        if candidate in names:
            return candidate
        for fallback in (candidate + ".id", candidate + ".type"):
            if fallback in names:
                return fallback
    return None


def errors_by_input(errors: list[dict[str, str]], names: set[str]) -> dict[str, list[str]]:
    placed: dict[str, list[str]] = {}
    for problem in errors:
        name = input_for(problem["field"], names)
        if name is not None:
            placed.setdefault(name, []).append(problem["error"])
    return placed


def form_names(values: Values) -> set[str]:
    names = set(FIELDS)
    for index in range(variant_count(values) + 1):
        prefix = f"variants[{index}]."
        names |= {prefix + "id", prefix + "weight"} | {prefix + f.name for f in VARIANT_FIELDS}
    return names
