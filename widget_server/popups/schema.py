"""What a popup rule is, and the store-wide settings that decisions obey.

Rules are checked with pydantic because a merchant's form deserves every mistake
at once, each with the path of its field (`content.colors.background`), and
pydantic collects all of them where msgspec (used on the hot collect path) stops
at the first. Checking happens when a rule is written; `/v1/decide` reads rules
that are known to be good.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

TEMPLATES = (
    "dont_go", "flash_promo", "last_chance", "email_capture", "announcement", "spin_to_win"
)  # fmt: skip
Template = Literal[
    "dont_go", "flash_promo", "last_chance", "email_capture", "announcement", "spin_to_win"
]  # fmt: skip
# Templates whose form takes an e-mail address (`POST /v1/subscribe`).
EMAIL_TEMPLATES = frozenset({"email_capture", "spin_to_win"})
# A wheel with fewer slices is no game; with more, the labels no longer fit.
MIN_SEGMENTS, MAX_SEGMENTS = 6, 12
PageType = Literal[
    "home", "product", "category", "search", "cart", "checkout", "thank_you", "other"
]
Device = Literal["desktop", "mobile", "tablet"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Strategy = Literal[
    "recommended", "similar", "bought_together", "cart", "trending", "popular", "recently_viewed"
]

_HEX_COLOR = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$")
_LOCALE = re.compile(r"^[a-zA-Z]{2,3}(?:[-_][a-zA-Z0-9]{2,8})*$")
# Languages written right to left: their popups mirror (`dir="rtl"`).
RTL_LANGUAGES = frozenset(
    {"ar", "arc", "ckb", "dv", "fa", "he", "iw", "ks", "ps", "sd", "ug", "ur", "yi"}
)

Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
ShortText = Annotated[str, Field(max_length=200)]
Money = Annotated[float, Field(ge=0, le=1e9)]


def _color(value: str) -> str:
    # Colours go into a style sheet: only plain hex, so no merchant text reaches CSS.
    if not _HEX_COLOR.match(value):
        raise ValueError("must be a hex colour such as #1a73e8")
    return value


def _link(value: str) -> str:
    # Links reach shoppers' browsers: http(s) or a path on the store, never javascript:.
    if value.startswith(("https://", "http://")) or (
        value.startswith("/") and not value.startswith("//")
    ):
        if any(ch in value for ch in "\"'<> \n\r\t"):
            raise ValueError("must not contain quotes, angle brackets or spaces")
        return value
    raise ValueError("must be an http(s) URL or a path on the store starting with /")


def _image(value: str) -> str:
    if not value.startswith("https://") and not value.startswith("http://"):
        raise ValueError("must be an http(s) URL")
    return _link(value)


Color = Annotated[str, AfterValidator(_color)]
Link = Annotated[str, Field(max_length=2048), AfterValidator(_link)]
ImageUrl = Annotated[str, Field(max_length=2048), AfterValidator(_image)]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ExitIntentTrigger(Model):
    """The visitor is about to leave: on a desktop the pointer leaves through the top
    of the window; on a phone a quick scroll up, the back button or a tab return."""

    type: Literal["exit_intent"]
    # How close to the top edge the pointer must leave (desktop).
    sensitivity_px: int = Field(20, ge=0, le=200)
    # Time on the page before exit intent counts: visitors who leave at once are not
    # persuadable and would only see a popup blocking the page.
    min_seconds: float = Field(3, ge=0, le=3600)
    mobile: bool = True  # exit intent on phones too


class TimeOnPageTrigger(Model):
    type: Literal["time_on_page"]
    seconds: float = Field(ge=0, le=3600)


class InactivityTrigger(Model):
    """No pointer, key, scroll or touch for `seconds`."""

    type: Literal["inactivity"]
    seconds: float = Field(ge=0, le=3600)


class ScrollDepthTrigger(Model):
    type: Literal["scroll_depth"]
    percent: int = Field(ge=1, le=100)


class PageLoadTrigger(Model):
    type: Literal["page_load"]


# When the snippet shows the popup; `type` says which, and each type has only its
# own fields, so a rule never carries (nor sends to the snippet) another's.
AnyTrigger = (
    ExitIntentTrigger | TimeOnPageTrigger | InactivityTrigger | ScrollDepthTrigger | PageLoadTrigger
)
Trigger = Annotated[AnyTrigger, Field(discriminator="type")]
# Each trigger type's model, by its `type`.
TRIGGERS: dict[str, type[Model]] = {
    get_args(model.model_fields["type"].annotation)[0]: model for model in get_args(AnyTrigger)
}


class Targeting(Model):
    """Who sees the popup, where. Every condition given must hold; an empty or absent
    condition holds for everyone."""

    page_types: list[PageType] | None = None
    url_contains: list[Annotated[str, Field(min_length=1, max_length=200)]] = []
    url_not_contains: list[Annotated[str, Field(min_length=1, max_length=200)]] = []
    visitor: Literal["any", "new", "returning"] = "any"
    devices: list[Device] | None = None
    cart: Literal["any", "empty", "non_empty"] = "any"
    cart_value_min: Money | None = None
    cart_value_max: Money | None = None
    utm_source: list[ShortText] | None = None
    utm_campaign: list[ShortText] | None = None
    referrer_domains: list[ShortText] | None = None
    min_session_page_views: int = Field(0, ge=0, le=1000)
    viewed_categories: list[ShortText] | None = None
    days_since_last_visit_min: float | None = Field(None, ge=0, le=3650)
    days_since_last_visit_max: float | None = Field(None, ge=0, le=3650)
    days_since_last_purchase_min: float | None = Field(None, ge=0, le=3650)
    days_since_last_purchase_max: float | None = Field(None, ge=0, le=3650)
    past_orders_min: int | None = Field(None, ge=0, le=100_000)
    past_orders_max: int | None = Field(None, ge=0, le=100_000)

    @model_validator(mode="after")
    def _ranges(self) -> Targeting:
        for low, high in (
            ("cart_value_min", "cart_value_max"),
            ("days_since_last_visit_min", "days_since_last_visit_max"),
            ("days_since_last_purchase_min", "days_since_last_purchase_max"),
            ("past_orders_min", "past_orders_max"),
        ):
            a, b = getattr(self, low), getattr(self, high)
            if a is not None and b is not None and a > b:
                raise ValueError(f"{low}: must not be more than {high}")
        return self


class Frequency(Model):
    """How often one visitor may see the popup."""

    max_per_session: int = Field(1, ge=1, le=20)
    max_per_visitor: int | None = Field(3, ge=1, le=20)  # ... within `per_days`
    per_days: float = Field(7, gt=0, le=365)
    stop_after_click: bool = True
    # Not after the visitor bought something since first seeing it: the offer did
    # its work, or was not needed.
    stop_after_purchase: bool = True
    # Not within this many minutes of any other popup shown to the visitor.
    cooldown_minutes: float = Field(0, ge=0, le=43_200)


class Hours(Model):
    """Hours of the day in the store's time zone; `end` below `start` wraps midnight."""

    start: int = Field(ge=0, le=23)
    end: int = Field(ge=1, le=24)


class Schedule(Model):
    start: datetime | None = None  # without an offset: the store's time zone
    end: datetime | None = None
    days: list[Weekday] | None = None
    hours: Hours | None = None

    @model_validator(mode="after")
    def _order(self) -> Schedule:
        if self.start and self.end and _naive(self.start) >= _naive(self.end):
            raise ValueError("end: must be after start")
        return self


def _language_tag(value: str) -> str:
    if not _LOCALE.match(value):
        raise ValueError("must be a language tag such as en, fr-CA or ar")
    return value


def _naive(moment: datetime) -> datetime:
    return moment.replace(tzinfo=None)


class Coupon(Model):
    """One code for everyone, or a unique code per visitor from an uploaded pool;
    `fallback_code` is shown when the pool runs dry (without one the popup waits
    until codes are uploaded)."""

    code: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    pool: Id | None = None
    fallback_code: Annotated[str, Field(min_length=1, max_length=64)] | None = None

    @model_validator(mode="after")
    def _one(self) -> Coupon:
        if (self.code is None) == (self.pool is None):
            raise ValueError("code: give exactly one of code and pool")
        return self


class Countdown(Model):
    """Ends at a fixed time, or `minutes` after the visitor first saw the popup."""

    ends_at: datetime | None = None
    minutes: int | None = Field(None, ge=1, le=10_080)

    @model_validator(mode="after")
    def _one(self) -> Countdown:
        if (self.ends_at is None) == (self.minutes is None):
            raise ValueError("minutes: give exactly one of ends_at and minutes")
        return self


class Segment(Model):
    """A slice of the spin-to-win wheel: a prize and how often it is drawn. Its code
    comes from `pool` (a unique code per visitor) or is `code` (one for everyone);
    with neither, the slice is "no luck this time"."""

    label: Annotated[str, Field(min_length=1, max_length=40)]
    # Relative to the other slices': the server draws among the slices whose pool
    # still has codes, each with its weight's share.
    weight: float = Field(gt=0, le=1_000_000)
    pool: Id | None = None
    code: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    color: Color | None = None  # the slice's fill; unset: the popup's colours in turn

    @model_validator(mode="after")
    def _one_source(self) -> Segment:
        if self.pool is not None and self.code is not None:
            raise ValueError("code: give at most one of code and pool")
        return self

    @property
    def is_prize(self) -> bool:
        return self.pool is not None or self.code is not None


def _apply_template(value: str) -> str:
    if "{code}" not in value:
        raise ValueError("must contain {code}, where the code goes")
    return value


class Products(Model):
    """A strip of recommended products inside the popup."""

    strategy: Strategy = "recommended"
    count: int = Field(4, ge=1, le=12)
    placement: Literal["below", "side"] = "below"


class Colors(Model):
    background: Color = "#ffffff"
    text: Color = "#1f2328"
    accent: Color = "#d1242f"
    button_text: Color = "#ffffff"


class Content(Model):
    headline: Annotated[str, Field(min_length=1, max_length=200)]
    text: Annotated[str, Field(max_length=1000)] = ""
    button_text: Annotated[str, Field(max_length=60)] = ""
    button_url: Link | None = None
    image: ImageUrl | None = None
    colors: Colors = Colors()
    locale: str = Field("en", max_length=35)
    direction: Literal["auto", "ltr", "rtl"] = "auto"
    close_label: Annotated[str, Field(min_length=1, max_length=60)] = "Close"
    coupon: Coupon | None = None
    coupon_label: Annotated[str, Field(max_length=60)] = "Your code"
    copy_label: Annotated[str, Field(max_length=40)] = "Copy"
    countdown: Countdown | None = None
    countdown_label: Annotated[str, Field(max_length=60)] = "Offer ends in"
    products: Products | None = None
    products_title: Annotated[str, Field(max_length=100)] = ""
    show_cart: bool = False  # the visitor's cart items (last chance)
    email_placeholder: Annotated[str, Field(max_length=60)] = "Your email"
    # spin_to_win: the wheel's slices, clockwise from the pointer at the top.
    segments: (
        Annotated[list[Segment], Field(min_length=MIN_SEGMENTS, max_length=MAX_SEGMENTS)] | None
    ) = None
    prize_label: Annotated[str, Field(max_length=60)] = "You won"
    apply_label: Annotated[str, Field(max_length=40)] = "Use it now"
    # Where "Use it now" leads, `{code}` replaced by the code: for a shop whose
    # platform takes a code in a link (a WooCommerce or Magento URL-coupon plugin).
    # Unset: Shopify's own `/discount/{code}?redirect=/cart` on Shopify, else a copy
    # button.
    apply_url: Annotated[Link, AfterValidator(_apply_template)] | None = None

    @field_validator("locale")
    @classmethod
    def _locale(cls, value: str) -> str:
        return _language_tag(value)

    @property
    def text_direction(self) -> str:
        if self.direction != "auto":
            return self.direction
        language = re.split(r"[-_]", self.locale)[0].lower()
        return "rtl" if language in RTL_LANGUAGES else "ltr"


class Variant(Model):
    """An A/B variant: a weight and the content fields it changes."""

    id: Id
    weight: float = Field(1, gt=0, le=1000)
    content: dict[str, Any] = {}


class Rule(Model):
    id: Id | None = None
    name: Annotated[str, Field(min_length=1, max_length=120)]
    template: Template
    enabled: bool = True
    priority: int = Field(0, ge=-1000, le=1000)
    trigger: Trigger
    targeting: Targeting = Targeting()
    frequency: Frequency = Frequency()
    schedule: Schedule = Schedule()
    content: Content
    variants: list[Variant] = Field([], max_length=10)
    # Percent of visitors who never see the popup (their trigger is recorded as
    # `popup_suppressed`): the comparison group that measures its lift.
    holdout: float = Field(0, ge=0, le=90)
    preset: str | None = None
    created_at: int | None = None
    updated_at: int | None = None

    @model_validator(mode="after")
    def _variants(self) -> Rule:
        ids = [v.id for v in self.variants]
        if len(ids) != len(set(ids)):
            raise ValueError("variants: variant ids must be unique")
        return self

    @model_validator(mode="after")
    def _wheel(self) -> Rule:
        problem = wheel_problem(self.template, self.content)
        if problem is not None:
            raise ValueError(f"content.{problem[0]}: {problem[1]}")
        return self

    def variant_content(self, variant_id: str) -> Content:
        for variant in self.variants:
            if variant.id == variant_id:
                merged = merge_fields(self.content.model_dump(), variant.content)
                return Content.model_validate(merged)
        return self.content


def wheel_problem(template: str, content: Content) -> tuple[str, str] | None:
    """What keeps `content` from being a spin-to-win popup's (or another's): the
    content field and the reason, or None. The prizes carry the codes, so the wheel
    has no `coupon` of its own; other templates draw no wheel."""
    if template != "spin_to_win":
        if content.segments is not None:
            return "segments", "only a spin_to_win popup has a wheel"
        return None
    if content.segments is None:
        return "segments", f"a spin_to_win popup needs {MIN_SEGMENTS}-{MAX_SEGMENTS} segments"
    if content.coupon is not None:
        return "coupon", "a spin_to_win popup's codes come from its segments"
    return None


def merge_fields(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """`changes` merged into `base` object by object. An object of another `type` (a
    trigger) replaces the old one whole: one type's fields mean nothing to another."""
    merged = dict(base)
    for key, value in changes.items():
        old = merged.get(key)
        if isinstance(value, dict) and isinstance(old, dict) and _same_type(old, value):
            merged[key] = merge_fields(old, value)
        else:
            merged[key] = value
    return merged


def _same_type(old: dict[str, Any], new: dict[str, Any]) -> bool:
    return "type" not in new or new["type"] == old.get("type")


class Governor(Model):
    """Store-wide limits over all rules, whatever each rule allows. (At most one
    popup per page is built into the snippet.)"""

    max_per_session: int = Field(2, ge=1, le=50)
    max_per_visitor_per_day: int = Field(3, ge=1, le=100)
    min_gap_seconds: int = Field(60, ge=0, le=86_400)


class ShowcaseSlot(Model):
    """A carousel the store places without editing its theme: after `selector`."""

    slot: Id
    strategy: Strategy
    selector: Annotated[str, Field(min_length=1, max_length=200)]
    n: int = Field(8, ge=1, le=24)
    page_types: list[PageType] | None = None
    title: Annotated[str, Field(max_length=100)] = ""


class StoreSettings(Model):
    timezone: str = "UTC"
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "USD"
    governor: Governor = Governor()
    # Percent of visitors for whom showcases stay empty (recorded as
    # `showcase_suppressed`): measures what the carousels add.
    showcase_holdout: float = Field(0, ge=0, le=90)
    showcases: list[ShowcaseSlot] = Field([], max_length=20)
    respect_gpc: bool = False  # honour Global Privacy Control in the snippet
    # How long after a popup or showcase an order is still credited to it.
    attribution_window_days: int = Field(7, ge=1, le=90)
    # A customer is active while their last order is at most this old (retention).
    activity_window_days: int = Field(365, ge=7, le=3660)
    # Expected customer lifetime for customer lifetime value; unset: from churn.
    customer_lifetime_years: float | None = Field(None, gt=0, le=50)
    # The store's language, a tag as a popup's `locale` takes (BCP 47, with `-`): the
    # dashboard's language and its number, money and date formats.
    locale: str = Field("en", max_length=35)

    @field_validator("locale")
    @classmethod
    def _locale(cls, value: str) -> str:
        return _language_tag(value).replace("_", "-")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("must be an IANA time zone such as Europe/Paris") from None
        return value


def check_rule(data: Any) -> Rule | list[dict[str, str]]:
    """The rule, or every problem with it (variants' content included)."""
    try:
        rule = Rule.model_validate(data)
    except ValidationError as exc:
        return field_errors(exc)
    problems: list[dict[str, str]] = []
    for index, variant in enumerate(rule.variants):
        prefix = f"variants[{index}].content"
        try:
            content = Content.model_validate(
                merge_fields(rule.content.model_dump(), variant.content)
            )
        except ValidationError as exc:
            problems += field_errors(exc, prefix)
            continue
        problem = wheel_problem(rule.template, content)
        if problem is not None:
            problems.append({"field": f"{prefix}.{problem[0]}", "error": problem[1]})
    return problems or rule


# Fields whose value is one of several models chosen by `type`: pydantic puts the
# type in an error's location (`trigger.time_on_page.seconds`), which the sender
# never wrote.
_TAGGED_UNIONS: dict[str, dict[str, type[Model]]] = {"trigger": TRIGGERS}


def field_errors(error: ValidationError, prefix: str = "") -> list[dict[str, str]]:
    """pydantic's errors as `{"field", "error"}`, each field's path written as
    everywhere in Tarry's API: `variants[0].content.headline`."""
    out = []
    for item in error.errors():
        parts: list[str | int] = []
        tagged = None  # (the field, the type chosen)
        for part in item["loc"]:
            union = _TAGGED_UNIONS.get(str(parts[-1])) if parts else None
            if union is not None and part in union:
                tagged = (str(parts[-1]), str(part))
                continue
            parts.append(part)
        message = item["msg"].removeprefix("Value error, ")
        # A model-level check names its field first ("end: must be after start",
        # "content.segments: ..." for a check of the rule as a whole).
        named = re.match(r"^([a-z_][a-z_.]*): (.*)$", message)
        if named and item["type"] == "value_error":
            parts.append(named.group(1))
            message = named.group(2)
        elif item["type"] in ("union_tag_invalid", "union_tag_not_found"):
            parts.append("type")
            message = _tag_message(item["type"], item.get("ctx", {}))
        elif item["type"] == "extra_forbidden" and tagged is not None:
            field, tag = tagged
            message = f"not a field of {_article(tag)} {tag} {field}"
        out.append({"field": field_path(prefix, parts), "error": message})
    return out


def field_path(prefix: str, parts: list[str | int]) -> str:
    """`items[0].price`: names joined by dots, list positions in brackets."""
    path = prefix
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else part
    return path


def _tag_message(kind: str, ctx: dict[str, Any]) -> str:
    if kind == "union_tag_not_found":
        return "Field required"
    expected = str(ctx.get("expected_tags", "")).replace("'", "")
    return f"must be one of {expected}"


def _article(word: str) -> str:
    return "an" if word[:1] in ("a", "e", "i", "o", "u") else "a"
