"""The JSON answers of the endpoints that build theirs as plain dicts, as structs the
document's schemas are generated from. The analytics answers are encoded from
their own structs and need none here.

These describe; they do not encode. What keeps them true is
tests/test_openapi_answers.py: it drives every route of a real app and checks each
answer against the document, whose answer objects admit no undescribed field.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, UnsetType

from recommender.serving import STRATEGIES
from widget_server.decide.endpoint import MAX_POPUPS
from widget_server.imports.formats.rows import FORMATS as IMPORT_FORMATS
from widget_server.popups.schema import TEMPLATES


def _about(text: str, **extra: Any) -> msgspec.Meta:
    return msgspec.Meta(description=text, **extra)


def _one_of(values: tuple[str, ...], text: str) -> msgspec.Meta:
    return msgspec.Meta(description=text, extra_json_schema={"enum": list(values)})


# A showcase item names the strategy that produced it; "catalog" is the top-up from
# the catalog when the model has too few (or there is no model yet).
ITEM_STRATEGIES = (*STRATEGIES, "catalog")


class Error(msgspec.Struct):
    """Every error answer."""

    error: Annotated[str, _about("`<field>: <reason>`: the field (or parameter) and why")]


class FieldError(msgspec.Struct):
    field: Annotated[str, _about("the field's path, e.g. `content.colors.accent`")]
    error: str


class ValidationErrors(msgspec.Struct):
    """A body that is not a valid object of its kind: every problem at once; nothing
    is stored."""

    error: Annotated[str, _about("the first problem, as `<field>: <reason>`")]
    errors: list[FieldError]


class RateLimited(msgspec.Struct):
    error: str
    retry_after: Annotated[int, _about("seconds to wait (also in `Retry-After`)")]


class RejectedEvent(msgspec.Struct):
    index: Annotated[int, _about("the event's position in `events`")]
    error: Annotated[str, _about("`<field>: <reason>`")]


class Collected(msgspec.Struct):
    """What became of a batch: good events are kept even when others are refused."""

    accepted: Annotated[int, _about("events stored and counted")]
    duplicates: Annotated[int, _about("events already received (by `id`, 48 hours)")]
    rejected: list[RejectedEvent]
    bot: Annotated[Literal[True] | UnsetType, _about("the sender is a bot: nothing stored")] = UNSET


class ShowcaseItem(msgspec.Struct):
    """A catalog card with why it is there."""

    item_id: str
    name: str
    url: str
    image: str
    price: float | None
    currency: Annotated[str | None, _about("the card's, else the store's; null without a price")]
    reason: Annotated[str, _about('for the shopper: "Because you viewed Red mug"')]
    strategy: Annotated[str, _one_of(ITEM_STRATEGIES, "the strategy that picked it")]
    because: Annotated[
        str | None,
        _about("the item (trending: the category) behind the pick; null when none"),
    ]


class Showcase(msgspec.Struct):
    """One slot's items."""

    rec_id: Annotated[
        str | None,
        _about("the snippet sends it back with clicks; null in the showcase holdout"),
    ]
    strategy: Annotated[str, _one_of(STRATEGIES, "the slot's strategy")]
    items: list[ShowcaseItem]
    holdout: Annotated[bool, _about("in the showcase holdout: no items, record a suppression")]
    title: Annotated[str, _about("the store's title for the slot, else a default")]
    selector: Annotated[
        str | UnsetType, _about("for slots from the store's settings: the CSS selector")
    ] = UNSET


class PopupCountdown(msgspec.Struct):
    ends_at: Annotated[int | None, _about("ms since the epoch; null before the first display")]
    minutes: Annotated[int | None, _about("from the first display, when that is yet to come")]


class Popup(msgspec.Struct):
    """A popup the snippet may show on this page when its trigger fires."""

    id: str
    variant: str
    template: Annotated[str, _one_of(TEMPLATES, "the popup's template")]
    priority: int
    # The rule's own trigger schema: the document puts it in place (see _schemas).
    trigger: dict[str, Any]
    holdout: Annotated[bool, _about("held out: show nothing, record `popup_suppressed`")]
    html: Annotated[str, _about("server-rendered; empty in the holdout")]
    css: Annotated[str, _about("empty in the holdout")]
    coupon: Annotated[str | UnsetType, _about("the code to show, unique or shared")] = UNSET
    countdown: PopupCountdown | UnsetType = UNSET
    rec_id: Annotated[str | UnsetType, _about("of the popup's product strip")] = UNSET


class DecideConfig(msgspec.Struct):
    respect_gpc: Annotated[bool, _about("stop recording under Global Privacy Control")]


class Decision(msgspec.Struct):
    """What the snippet may show on this page now."""

    popups: Annotated[
        list[Popup],
        _about("one per trigger type, highest priority first", max_length=MAX_POPUPS),
    ]
    showcases: Annotated[dict[str, Showcase], _about("by slot name")]
    model_version: Annotated[str | None, _about("the model in service; null without one")]
    config: DecideConfig


class Recommendations(msgspec.Struct):
    """One showcase, as `/v1/decide` fills that slot."""

    placement: str
    rec_id: Annotated[str | None, _about("null in the showcase holdout")]
    strategy: Annotated[str, _one_of(STRATEGIES, "the strategy asked for")]
    items: list[ShowcaseItem]
    holdout: bool
    model_version: Annotated[
        str | UnsetType | None,
        _about("the model in service (null without one); absent in the holdout"),
    ] = UNSET


class Preview(msgspec.Struct):
    """A rule's popup as a shopper sees it, catalog items standing in for theirs."""

    id: str
    variant: str
    html: str
    css: str


class CouponStatus(msgspec.Struct):
    pool: str
    remaining: Annotated[int, _about("codes not given yet")]
    given: Annotated[int, _about("codes given, one per visitor")]


class CouponsAdded(msgspec.Struct):
    pool: str
    added: Annotated[int, _about("new codes queued")]
    duplicates: Annotated[int, _about("codes uploaded before (or twice here): not queued")]
    remaining: int
    given: int


class RejectedLine(msgspec.Struct):
    line: Annotated[int, _about("the feed's line (CSV, JSON lines) or item number (XML)")]
    error: Annotated[str, _about("`<field>: <reason>`")]


class Imported(msgspec.Struct):
    imported: Annotated[int, _about("cards merged into the catalog")]
    rejected: list[RejectedLine]


class FeedRefused(msgspec.Struct):
    error: str
    rejected: Annotated[
        list[RejectedLine] | UnsetType, _about("when no row was valid: why each was not")
    ] = UNSET


class ImportCounts(msgspec.Struct):
    events: Annotated[int, _about("events counted now")]
    orders: Annotated[int, _about("orders counted now (each order id once, for good)")]


class ImportSummary(msgspec.Struct):
    """What an import did: every record is counted now, already there, skipped or bad."""

    store_id: str
    format: Annotated[str, _one_of(IMPORT_FORMATS, "the file's format")]
    records: Annotated[int, _about("records read (an order of several lines is one)")]
    lines: Annotated[int, _about("the file's lines read")]
    imported: ImportCounts
    already_there: Annotated[int, _about("events an earlier import already counted")]
    customers: Annotated[int, _about("distinct customers in the file")]
    skipped: Annotated[dict[str, int], _about("records left out on purpose, by reason")]
    bad_rows: int
    errors: Annotated[list[RejectedLine], _about("the first 50 bad rows, by line")]
    complete: Annotated[bool, _about("false when the import was stopped before the end")]


class VisitorErased(msgspec.Struct):
    store_id: str
    vid: str
    erased: Annotated[dict[str, int], _about("what was removed, by kind")]


class Prize(msgspec.Struct):
    """What a spin-to-win wheel gave the visitor: drawn by the server, once."""

    segment: Annotated[int, _about("the slice's position on the wheel, from 0, clockwise")]
    label: str
    code: Annotated[str | None, _about('null for a "no luck" slice')]
    apply_url: Annotated[
        str | None, _about("a link that puts the code on the cart, where the platform has one")
    ]
    turn: Annotated[float, _about("degrees to turn the wheel so that the slice stops on top")]
    html: Annotated[str, _about("the prize's markup, for the popup's live region")]


class Subscribed(msgspec.Struct):
    subscribed: Literal[True]
    new: Annotated[bool, _about("false when the address (any case) was already kept")]
    prize: Annotated[
        Prize | UnsetType | None,
        _about("spin_to_win popups only: the prize; null when no prize has codes left"),
    ] = UNSET


class Subscriber(msgspec.Struct):
    email: str
    vid: str
    popup_id: str
    ts: Annotated[int, _about("when, in ms since the epoch")]


class Subscribers(msgspec.Struct):
    subscribers: Annotated[list[Subscriber], _about("oldest first")]


class Subscription(msgspec.Struct):
    """An address from an `email_capture` or `spin_to_win` popup (JSON, or the same
    as text/plain). Other fields are ignored: the page cannot choose a prize."""

    k: Annotated[str, _about("the store's public key (pk_...)")]
    vid: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]
    popup_id: Annotated[
        str,
        msgspec.Meta(
            pattern=r"^[A-Za-z0-9_.:-]{1,64}$",
            description="the id of one of the store's email_capture or spin_to_win popups",
        ),
    ]
    email: Annotated[str, msgspec.Meta(max_length=254)]
    platform: Annotated[
        Literal["shopify", "woocommerce", "magento", "other"] | UnsetType,
        _about("the shop's platform, for the prize's apply link"),
    ] = UNSET


class Alive(msgspec.Struct):
    """The process answers."""

    status: Literal["ok"]


class Ready(msgspec.Struct):
    """The process and Redis answer."""

    status: Literal["ok"]
    redis: Literal["ok"]


class NotReady(msgspec.Struct):
    """Redis does not answer: send this server no traffic yet."""

    status: Literal["unavailable"]
    redis: Annotated[str, _about("why")]


ANSWERS: tuple[type, ...] = (
    Error,
    ValidationErrors,
    RateLimited,
    Collected,
    Decision,
    Recommendations,
    Preview,
    CouponStatus,
    CouponsAdded,
    Imported,
    ImportSummary,
    VisitorErased,
    FeedRefused,
    Subscribed,
    Subscribers,
    Alive,
    Ready,
    NotReady,
)
