"""The event schema of `/v1/collect`, checked with msgspec.

msgspec decodes JSON straight into typed structs and checks types, lengths, ranges
and enumerations in C while it parses, several times faster than validating
decoded dicts; its error messages name the path of the bad field (`$.items[0].price`),
which is what the collect response hands back to the sender.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

MAX_EVENTS = 100
MAX_BODY_BYTES = 64 * 1024

EventType = Literal[
    "page_view",
    "view_item",
    "view_item_list",
    "add_to_cart",
    "remove_from_cart",
    "view_cart",
    "begin_checkout",
    "purchase",
    "engagement",
    "popup_shown",
    "popup_click",
    "popup_close",
    "popup_suppressed",
    "showcase_view",
    "showcase_click",
    "showcase_suppressed",
]
PageType = Literal[
    "home", "product", "category", "search", "cart", "checkout", "thank_you", "other"
]

# Ids become parts of Redis key names: a safe alphabet and a bounded length.
Id = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
ItemId = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
Text = Annotated[str, msgspec.Meta(max_length=512)]
Url = Annotated[str, msgspec.Meta(max_length=2048)]
Money = Annotated[float, msgspec.Meta(ge=0, le=1e9)]
Currency = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}$")]
# Milliseconds since the epoch, between 2020 and 2100: catches seconds sent for ms.
Millis = Annotated[int, msgspec.Meta(ge=1_577_836_800_000, le=4_102_444_800_000)]


class Item(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    item_id: ItemId
    item_name: Text | None = None
    item_category: Text | None = None
    item_brand: Text | None = None
    price: Money | None = None
    quantity: Annotated[int, msgspec.Meta(ge=0, le=100_000)] | None = None
    image: Url | None = None
    url: Url | None = None
    availability: Annotated[str, msgspec.Meta(max_length=64)] | None = None


class Event(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    id: Id
    type: EventType
    ts: Millis
    vid: Id
    sid: Id
    url: Url | None = None
    ref: Url | None = None
    page_type: PageType | None = None
    title: Text | None = None
    items: Annotated[list[Item], msgspec.Meta(max_length=200)] | None = None
    value: Money | None = None
    currency: Currency | None = None
    transaction_id: Id | None = None
    engaged_ms: Annotated[int, msgspec.Meta(ge=0, le=86_400_000)] | None = None
    popup_id: Id | None = None
    variant: Id | None = None
    placement: Id | None = None
    rec_id: Id | None = None
    trigger: Id | None = None
    utm_source: Text | None = None
    utm_medium: Text | None = None
    utm_campaign: Text | None = None
    utm_term: Text | None = None
    utm_content: Text | None = None


class Batch(msgspec.Struct):
    """The envelope; events stay raw so each one is checked on its own."""

    k: Annotated[str, msgspec.Meta(max_length=200)]
    events: list[msgspec.Raw]
    # The sender's clock when it sent the batch, to correct events' `ts` for skew.
    sent_at: Millis | None = None


batch_decoder = msgspec.json.Decoder(Batch)
event_decoder = msgspec.json.Decoder(Event)
event_encoder = msgspec.json.Encoder()


def describe_error(error: msgspec.ValidationError | msgspec.DecodeError) -> str:
    """msgspec says `... - at `$.items[0].price``; lead with the field instead."""
    message = str(error)
    if " - at `$" in message:
        text, path = message.rsplit(" - at `$", 1)
        field = path.rstrip("`").lstrip(".")
        return f"{field}: {text}" if field else text
    if message.startswith("Object missing required field"):
        field = message.split("`")[1]
        return f"{field}: required field is missing"
    return message
