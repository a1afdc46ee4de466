"""A popup's HTML and CSS, rendered on the server with Jinja2.

Autoescaping is on for HTML, so a merchant's `<script>` in a headline arrives as
text; the stylesheet only ever receives colours checked to be hex values. The
templates are compiled once per process and rendering one popup takes tens of
microseconds, well inside `/v1/decide`'s budget.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping, Sequence
from typing import Any

import jinja2

from widget_server.popups.schema import Colors, Content

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("widget_server.popups", "templates"),
    autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
    trim_blocks=True,
    lstrip_blocks=True,
    undefined=jinja2.StrictUndefined,
    auto_reload=False,
)
_html = _env.get_template("popup.html")
_css = _env.get_template("popup.css")

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


@functools.lru_cache(maxsize=256)
def stylesheet(colors: Colors) -> str:
    return _css.render(colors=colors)


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
    """(html, css) for one popup."""
    html = _html.render(
        popup_id=popup_id,
        template=template,
        variant=variant,
        c=content,
        direction=content.text_direction,
        coupon=coupon,
        countdown=countdown,
        products=[_card(p) for p in products],
        rec_id=rec_id or "",
        strategy=strategy or "",
        cart=[_card(p) for p in cart],
        # Reasons are written in English for now: other locales leave them out.
        show_reasons=content.locale.lower().startswith("en"),
    )
    return html, stylesheet(content.colors)
