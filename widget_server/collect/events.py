"""The event schema of `/v1/collect`, checked with msgspec, and what its errors say.

msgspec decodes JSON straight into typed structs and checks types, lengths, ranges
and enumerations in C while it parses, several times faster than validating
decoded dicts; its errors name the path of the bad field (`$.items[0].price`),
which `describe_error` turns into a message for the sender: the path first, then
what was expected and what came instead.

Fields Tarry does not know are ignored, on events, items and the envelope: shops
and GA4 dataLayers send many (`item_variant`, `affiliation`...), and
refusing an event for one of them would lose real traffic. An event with known
fields only is decoded once and stored byte for byte as sent; one with others fails
that exact decoding, is decoded again ignoring them and stored re-encoded without
them, so the stream only ever holds fields this schema describes.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal, get_args

import msgspec

MAX_EVENTS = 100
MAX_BODY_BYTES = 64 * 1024
MAX_ITEMS = 200

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
# Milliseconds since the epoch, between 1990 (imports carry a shop's past) and 2100:
# catches seconds or microseconds sent for milliseconds. Live events are held to the
# last 47 hours besides (ingest.check_event).
MILLIS_MIN, MILLIS_MAX = 631_152_000_000, 4_102_444_800_000
Millis = Annotated[int, msgspec.Meta(ge=MILLIS_MIN, le=MILLIS_MAX)]


class Item(msgspec.Struct, omit_defaults=True):
    item_id: ItemId
    item_name: Text | None = None
    item_category: Text | None = None
    item_brand: Text | None = None
    price: Money | None = None
    quantity: Annotated[int, msgspec.Meta(ge=0, le=100_000)] | None = None
    image: Url | None = None
    url: Url | None = None
    availability: Annotated[str, msgspec.Meta(max_length=64)] | None = None


class Event(msgspec.Struct, omit_defaults=True):
    id: Id
    type: EventType
    ts: Millis
    vid: Id
    sid: Id
    url: Url | None = None
    ref: Url | None = None
    page_type: PageType | None = None
    title: Text | None = None
    items: Annotated[list[Item], msgspec.Meta(max_length=MAX_ITEMS)] | None = None
    value: Money | None = None
    currency: Currency | None = None
    transaction_id: Id | None = None
    # The discount code(s) of a purchase, as GA4 writes them ("A,B" for several):
    # what tells a spin-to-win prize was redeemed.
    coupon: Annotated[str, msgspec.Meta(max_length=200)] | None = None
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
    # The shop's own customer id (or a hash of the e-mail address), which ties a
    # customer's devices together; an address itself is hashed before it is stored.
    uid: Annotated[str, msgspec.Meta(min_length=1, max_length=254)] | None = None


class _ExactItem(Item, forbid_unknown_fields=True):
    pass


class _ExactEvent(Event, forbid_unknown_fields=True):
    """Event, refusing unknown fields: the fast path, whose success proves that the
    bytes as sent are fit to store."""

    # The same field, of exact items; msgspec keeps its place in the field order.
    items: Annotated[list[_ExactItem], msgspec.Meta(max_length=MAX_ITEMS)] | None = None  # type: ignore[assignment]


class Batch(msgspec.Struct):
    """The envelope; events stay raw so each one is checked on its own. Unknown
    fields are ignored (msgspec's default)."""

    k: Annotated[str, msgspec.Meta(max_length=200)]
    events: list[msgspec.Raw]
    # The sender's clock when it sent the batch, to correct events' `ts` for skew.
    sent_at: Millis | None = None


batch_decoder = msgspec.json.Decoder(Batch)
event_encoder = msgspec.json.Encoder()
_exact_event_decoder = msgspec.json.Decoder(_ExactEvent)
_event_decoder = msgspec.json.Decoder(Event)
_UNKNOWN_FIELD = "Object contains unknown field"


def decode_event(sent: bytes) -> tuple[bytes, Event]:
    """The event and the JSON to store for it: as sent, or without the fields Tarry
    does not know. Raises msgspec.ValidationError for a bad event."""
    try:
        return sent, _exact_event_decoder.decode(sent)
    except msgspec.ValidationError as exc:
        if not str(exc).startswith(_UNKNOWN_FIELD):
            raise
    event = _event_decoder.decode(sent)
    return event_encoder.encode(event), event


# What a field must be, in the sender's terms, where its type alone says too little.
_EXAMPLE_MS = 1_733_000_000_000
_MILLIS = f"a whole number of milliseconds since the epoch (such as {_EXAMPLE_MS})"
_IDS = (
    "id",
    "vid",
    "sid",
    "transaction_id",
    "popup_id",
    "variant",
    "placement",
    "rec_id",
    "trigger",
)
_EXPECTED = {
    "body": 'a JSON object such as {"k": "pk_...", "events": [...]}',
    "event": "a JSON object",
    "k": 'the public key as a string ("pk_...")',
    "events": "a list of events",
    "ts": _MILLIS,
    "sent_at": _MILLIS,
    "items": 'a list of items such as [{"item_id": "SKU-1", "price": 12.5}]',
    "item_id": 'a string such as "SKU-1"',
    "price": "a number such as 12.5",
    "value": "a number such as 12.5",
    "quantity": "a whole number such as 2",
    "engaged_ms": "a whole number of milliseconds",
    "currency": "a three-letter currency code in capitals such as EUR",
    **{name: "a string of 1-64 letters, digits or _.:-" for name in _IDS},
}
_CHOICES: dict[str, tuple[str, ...]] = {
    "type": get_args(EventType),
    "page_type": get_args(PageType),
}
_TYPE_NAMES = {
    "int": "a whole number",
    "float": "a number",
    "str": "a string",
    "bool": "true or false",
    "array": "a list",
    "object": "an object",
    "null": "null",
}
_BOUND_WORDS = {">=": "at least", "<=": "at most", ">": "more than", "<": "less than"}

_WRONG_TYPE = re.compile(r"^Expected `([^`]+)`, got `([^`]+)`$")
_OUT_OF_RANGE = re.compile(r"^Expected `(?:int|float)` (>=|<=|>|<) (\S+)$")
_BAD_LENGTH = re.compile(r"^Expected `(str|array)` of length (>=|<=) (\d+)$")
_MISSING = re.compile(r"^Object missing required field `([^`]+)`$")
_MALFORMED = re.compile(r"^JSON is malformed: (.+) \(byte (\d+)\)$")
_PATH_PART = re.compile(r"\[(\d+)\]|([^.\[\]]+)")
_NOT_FOUND = object()


def describe_error(error: msgspec.DecodeError, sent: bytes, whole: str) -> str:
    """`<field>: <reason>` for what msgspec refused in `sent`: the field's path as
    `items[0].price` (`whole` when it is all of `sent`), what it must be, and what
    came instead."""
    message = str(error)
    if not isinstance(error, msgspec.ValidationError):
        return f"{whole}: {_not_json(message, len(sent))}"
    text, _, at = message.partition(" - at `$")
    path = at.rstrip("`").lstrip(".")
    missing = _MISSING.match(text)
    if missing:
        field = f"{path}.{missing.group(1)}" if path else missing.group(1)
        return f"{field}: required field is missing"
    names = [name for _, name in _PATH_PART.findall(path) if name]
    name = names[-1] if names else whole
    return f"{path or whole}: {_reason(text, name, _value_at(sent, path))}"


def _not_json(message: str, size: int) -> str:
    # msgspec gives no position for a body that stops early: it is where it stops.
    if message == "Input data was truncated":
        return f"must be JSON; it is truncated at byte {size} (the JSON is incomplete)"
    malformed = _MALFORMED.match(message)
    if malformed:
        return f"must be JSON; {malformed.group(1)} at byte {malformed.group(2)}"
    return f"must be JSON; {message}"


def _reason(text: str, name: str, value: Any) -> str:
    wrong_type = _WRONG_TYPE.match(text)
    if wrong_type:
        expected, got = wrong_type.groups()
        return f"must be {_expected(name, expected)}, not {_shown(value, got)}"
    out_of_range = _OUT_OF_RANGE.match(text)
    if out_of_range:
        if name in ("ts", "sent_at") and isinstance(value, int):
            return _millis_reason(value)
        operator, bound = out_of_range.groups()
        return f"must be {_BOUND_WORDS[operator]} {_number(bound)}, not {_shown(value, '')}"
    bad_length = _BAD_LENGTH.match(text)
    if bad_length:
        kind, operator, limit = bad_length.groups()
        if kind == "str" and operator == ">=" and limit == "1":
            return "must not be empty"
        unit = "characters" if kind == "str" else "entries"
        return f"must have {_BOUND_WORDS[operator]} {limit} {unit}"
    if text.startswith(("Expected `str` matching regex", "Invalid enum value")):
        return f"must be {_expected(name, 'str')}, not {_shown(value, 'str')}"
    return text


def _expected(name: str, type_text: str) -> str:
    choices = _CHOICES.get(name)
    if choices:
        return f"one of {', '.join(choices[:-1])} or {choices[-1]}"
    if name in _EXPECTED:
        return _EXPECTED[name]
    kinds = [kind for kind in type_text.split(" | ") if kind != "null"] or ["null"]
    return " or ".join(_TYPE_NAMES.get(kind, f"`{kind}`") for kind in kinds)


def _millis_reason(value: int) -> str:
    expected = "must be in milliseconds since the epoch"
    if MILLIS_MIN <= value * 1000 <= MILLIS_MAX:
        return f"{expected}; {value} is in seconds: send {value * 1000}"
    if MILLIS_MIN <= value // 1000 <= MILLIS_MAX:
        return f"{expected}; {value} is in microseconds: send {value // 1000}"
    return f"{expected}, between 1990 and 2100 (such as {_EXAMPLE_MS}), not {value}"


def _number(text: str) -> str:
    number = float(text)
    return str(int(number)) if number.is_integer() else text


def _shown(value: Any, type_name: str) -> str:
    """The value as sent, as the sender would recognise it."""
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:40] + "..."
        return "the string " + json.dumps(shown, ensure_ascii=False)
    if value is None or isinstance(value, bool | int | float):
        return json.dumps(value)
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return _TYPE_NAMES.get(type_name, "something else")


def _value_at(sent: bytes, path: str) -> Any:
    """The value at `items[0].price` in `sent`, or _NOT_FOUND. Only a refused
    request or event gets here, so decoding it again costs nothing that matters."""
    try:
        value: Any = msgspec.json.decode(sent)
    except (msgspec.DecodeError, RecursionError):
        return _NOT_FOUND
    for index, name in _PATH_PART.findall(path):
        if name and isinstance(value, dict) and name in value:
            value = value[name]
        elif index and isinstance(value, list) and int(index) < len(value):
            value = value[int(index)]
        else:
            return _NOT_FOUND
    return value
