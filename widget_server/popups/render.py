"""A popup's HTML and CSS, rendered on the server with Jinja2.

Autoescaping is on for HTML, so a merchant's `<script>` in a headline arrives as
text; the stylesheet only ever receives colours checked to be hex values. The
templates are compiled once per process. What is the same for every visitor of a
rule's variant (its texts, its wheel) is rendered once, as a frame (`_frame`);
each page renders only its own blocks into it: the coupon code, the countdown, the
cart and the product strip.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import random
import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

import jinja2

from widget_server.popups.schema import EMAIL_TEMPLATES, Colors, Content, Segment

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("widget_server.popups", "templates"),
    autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
    trim_blocks=True,
    lstrip_blocks=True,
    undefined=jinja2.StrictUndefined,
    auto_reload=False,
)
_html = _env.get_template("popup.html")
_frame_html = _env.get_template("popup_frame.html")
_css = _env.get_template("popup.css")
_prize = _env.get_template("prize.html")

# Symbols for the commonest currencies; others are written as "12.50 CHF".
_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹", "BRL": "R$"}
_NO_DECIMALS = frozenset({"JPY", "KRW", "CLP", "ISK", "HUF", "VND"})


def price_text(price: float | None, currency: str | None) -> str:
    if price is None:
        return ""
    code = (currency or "").upper()
    amount = f"{price:,.0f}" if code in _NO_DECIMALS else f"{price:,.2f}"
    symbol = _SYMBOLS.get(code)
    if symbol:
        return f"{symbol}{amount}"
    return f"{amount} {code}".strip()


@dataclasses.dataclass(frozen=True)
class CountdownView:
    ends_at: int | None  # ms since the epoch, when known
    minutes: int | None  # starts when shown (first display for this visitor)
    initial: str  # mm:ss or h:mm:ss, what shows before the clock ticks


def clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def _card(item: Mapping[str, Any]) -> dict[str, Any]:
    return {**item, "price_text": price_text(item.get("price"), item.get("currency"))}


# -- the spin-to-win wheel ---------------------------------------------------------
# The wheel is drawn in a 200 x 200 box centred on 0, 0; angles are degrees
# clockwise from the pointer at the top.
RADIUS = 96
_LABEL_SPAN = (20, 90)  # where along the radius a label may run
_FULL_TURNS = 5  # the spin's whole turns before it settles
# Shopify's own link that puts a code on the cart (a "shareable discount link").
SHOPIFY_APPLY = "/discount/{code}?redirect=/cart"


@dataclasses.dataclass(frozen=True)
class Slice:
    path: str  # the SVG path of the slice
    fill: str
    ink: str  # the label's colour, whichever of dark and light reads better on `fill`
    label: str
    # The label lies along the slice's middle at `x` (55 or -55) once turned by
    # `rotate`: read from the centre out on the right half, from the rim in on the
    # left, so that no label stands on its head while the wheel waits.
    rotate: float
    x: int
    font_size: float  # smaller for longer labels, so that each fits its slice


def _point(degrees: float, radius: float) -> str:
    angle = math.radians(degrees)
    return f"{radius * math.sin(angle):.2f} {-radius * math.cos(angle):.2f}"


def _luminance(hex_colour: str) -> float:
    """WCAG relative luminance of #rgb, #rrggbb or #rrggbbaa (alpha ignored)."""
    digits = hex_colour.lstrip("#")
    if len(digits) == 3:
        digits = "".join(d * 2 for d in digits)
    channels = [int(digits[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def ink_for(fill: str) -> str:
    # Contrast against black text is (L + .05) / .05, against white 1.05 / (L + .05):
    # equal at L = 0.179.
    return "#1f2328" if _luminance(fill) > 0.179 else "#ffffff"


def _fills(count: int, colors: Colors) -> list[str]:
    """Accent and background in turn; with an odd count the last slice takes the text
    colour, so that no two neighbours (the last meets the first) look alike."""
    fills = [colors.accent if i % 2 == 0 else colors.background for i in range(count)]
    if count % 2:
        fills[-1] = colors.text
    return fills


def wheel_slices(segments: Sequence[Segment], colors: Colors) -> list[Slice]:
    width = 360 / len(segments)
    inner, outer = _LABEL_SPAN
    slices = []
    fills = _fills(len(segments), colors)
    for index, (segment, default) in enumerate(zip(segments, fills, strict=True)):
        start, end = index * width, (index + 1) * width
        fill = segment.color or default
        path = f"M0 0L{_point(start, RADIUS)}A{RADIUS} {RADIUS} 0 0 1 {_point(end, RADIUS)}Z"
        # About 0.6 em a character: the label's length decides its size, within bounds.
        size = max(6.0, min(11.0, (outer - inner) / (0.6 * max(len(segment.label), 1))))
        middle = start + width / 2
        left = middle > 180
        rotate, x = (middle + 90, -55) if left else (middle - 90, 55)
        slices.append(Slice(path, fill, ink_for(fill), segment.label, rotate, x, round(size, 1)))
    return slices


def turn_degrees(segment: int, count: int, jitter: float | None = None) -> float:
    """How far to turn the wheel so that `segment` stops under the pointer: a few
    whole turns, then the slice's middle, give or take up to 40% of its width
    (`jitter` in [-1, 1]; random when None) so that stops do not all look alike."""
    width = 360 / count
    offset = (random.uniform(-1, 1) if jitter is None else jitter) * 0.4 * width
    return round(360 * _FULL_TURNS + (360 - (segment + 0.5) * width) + offset, 2)


def apply_link(content: Content, code: str, platform: str | None) -> str | None:
    """The "Use it now" link that puts `code` on the cart, where there is one: the
    rule's own `apply_url`, else Shopify's discount link on a Shopify store. Neither
    WooCommerce nor Magento takes a code in a link without a plugin."""
    template = content.apply_url or (SHOPIFY_APPLY if platform == "shopify" else None)
    return None if template is None else template.replace("{code}", quote(code, safe=""))


def render_prize(content: Content, label: str, code: str | None, apply_url: str | None) -> str:
    """What the wheel reveals once it stops: the prize, its code, and the way to use it."""
    return _prize.render(c=content, label=label, code=code, apply_url=apply_url)


@functools.lru_cache(maxsize=256)
def stylesheet(colors: Colors) -> str:
    return _css.render(colors=colors)


# The per-visitor blocks of popup.html, in their order there, and when each shows.
_BLOCKS = ("countdown", "coupon", "cart", "products")
_SLOT = re.compile(r"<!--tarry-slot:(\w+)-->")
# Frames of rules in service: a store's rules and variants times the stores a
# server answers for; a store's rule edits make new contents, whose frames push
# the old ones out.
FRAMES_HELD = 4096


@dataclasses.dataclass(frozen=True, slots=True)
class _Frame:
    content: Content  # held, so that its id (in the key) is not reused meanwhile
    statics: tuple[str, ...]  # the HTML around the blocks: one more than _BLOCKS
    context: dict[str, Any]  # what the blocks read that is the same for every visitor


_frames: dict[tuple[str, str, str, int], _Frame] = {}


def _rule_context(popup_id: str, template: str, variant: str, content: Content) -> dict[str, Any]:
    """What the template reads that is the same for every visitor of a variant."""
    return {
        "popup_id": popup_id,
        "template": template,
        "variant": variant,
        "c": content,
        "direction": content.text_direction,
        # Reasons are written in English for now: other locales leave them out.
        "show_reasons": content.locale.lower().startswith("en"),
        "email_form": template in EMAIL_TEMPLATES,
        "wheel": wheel_slices(content.segments, content.colors) if content.segments else [],
    }


def _visitor_context(
    coupon: str | None,
    countdown: CountdownView | None,
    products: Sequence[Mapping[str, Any]],
    rec_id: str | None,
    strategy: str | None,
    cart: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """What this visitor's blocks read."""
    return {
        "coupon": coupon,
        "countdown": countdown,
        "products": [_card(p) for p in products],
        "rec_id": rec_id or "",
        "strategy": strategy or "",
        "cart": [_card(p) for p in cart],
    }


def _frame(popup_id: str, template: str, variant: str, content: Content) -> _Frame:
    """The popup's HTML with the per-visitor blocks cut out, rendered once per rule,
    variant and content (the texts, the locale, the wheel): most of a popup is the
    same for every visitor, and rendering it is most of what a popup costs."""
    key = (popup_id, template, variant, id(content))
    frame = _frames.get(key)
    if frame is not None and frame.content is content:
        return frame
    context = _rule_context(popup_id, template, variant, content)
    parts = _SLOT.split(_frame_html.render(context))
    statics, slots = tuple(parts[0::2]), tuple(parts[1::2])
    # A marker is a comment, which no merchant text can make (it is escaped).
    assert slots == _BLOCKS, slots
    if len(_frames) >= FRAMES_HELD:
        del _frames[next(iter(_frames))]  # the oldest
    frame = _frames[key] = _Frame(content, statics, context)
    return frame


def render_popup(
    *,
    popup_id: str,
    template: str,
    variant: str,
    content: Content,
    coupon: str | None = None,
    countdown: CountdownView | None = None,
    products: Sequence[Mapping[str, Any]] = (),
    rec_id: str | None = None,
    strategy: str | None = None,
    cart: Sequence[Mapping[str, Any]] = (),
) -> tuple[str, str]:
    """(html, css) for one popup: its frame, with this visitor's blocks (the code,
    the countdown, their cart, the product strip) rendered into it. The same HTML as
    `render_whole`."""
    frame = _frame(popup_id, template, variant, content)
    shown = (countdown, coupon, cart, products)
    if not any(shown):
        return "".join(frame.statics), stylesheet(content.colors)
    visitor = _visitor_context(coupon, countdown, products, rec_id, strategy, cart)
    context = _html.new_context({**frame.context, **visitor})
    pieces = [frame.statics[0]]
    for name, value, static in zip(_BLOCKS, shown, frame.statics[1:], strict=True):
        if value:
            pieces.extend(_html.blocks[name](context))
        pieces.append(static)
    return "".join(pieces), stylesheet(content.colors)


def render_whole(
    *,
    popup_id: str,
    template: str,
    variant: str,
    content: Content,
    coupon: str | None = None,
    countdown: CountdownView | None = None,
    products: Sequence[Mapping[str, Any]] = (),
    rec_id: str | None = None,
    strategy: str | None = None,
    cart: Sequence[Mapping[str, Any]] = (),
) -> tuple[str, str]:
    """`render_popup`, the whole template in one go: what the frames must add up to."""
    html = _html.render(
        **_rule_context(popup_id, template, variant, content),
        **_visitor_context(coupon, countdown, products, rec_id, strategy, cart),
    )
    return html, stylesheet(content.colors)
