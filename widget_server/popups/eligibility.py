"""Who may see which popup on this page now: targeting, schedule, frequency and the
store-wide governor, as pure functions of the page, the visitor's stored state and
the clock (so that tests can drive every condition exactly)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from widget_server.popups.schema import WEEKDAYS, Frequency, Governor, Rule, Schedule, Targeting

DAY_MS = 86_400_000


@dataclasses.dataclass(frozen=True, slots=True)
class Page:
    """What the snippet says about the page it is on."""

    now_ms: int
    url: str = ""
    page_type: str | None = None
    device: str | None = None
    cart_items: tuple[str, ...] = ()
    cart_value: float | None = None
    referrer: str | None = None
    utm_source: str | None = None
    utm_campaign: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class RuleHistory:
    shows: tuple[int, ...] = ()  # recent show times (ms), oldest first
    session_shows: int = 0
    first_shown_ms: int | None = None
    clicked_ms: int | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Visitor:
    """What Redis knows about the visitor (see `keys.visitor`) and their session."""

    returning: bool = False
    last_visit_ms: int | None = None  # start of their previous session
    last_purchase_ms: int | None = None
    orders: int = 0
    session_page_views: int = 1  # this page included
    session_categories: frozenset[str] = frozenset()
    rules: dict[str, RuleHistory] = dataclasses.field(default_factory=dict)
    session_popups: int = 0
    day_popups: int = 0
    last_popup_ms: int | None = None

    def history(self, rule_id: str) -> RuleHistory:
        return self.rules.get(rule_id) or RuleHistory()


def _count_for(value: bytes | None, key: str) -> int:
    if not value:
        return 0
    owner, _, count = value.decode().partition(" ")
    return int(count) if owner == key and count.isdigit() else 0


def _int(value: bytes | None) -> int | None:
    return int(value) if value else None


_RULE_FIELDS = frozenset({"t", "n", "f", "c"})  # the per-rule fields of `keys.visitor`


def visitor_from_redis(
    fields: dict[bytes, bytes], session_state: bytes | None, session_id: str, day: str
) -> Visitor:
    """Read the visitor hash and session string the ingest script writes."""
    current = fields.get(b"sid", b"").decode()
    # Once this session is recorded its start is `ss` and the last visit `ps`; until
    # then (its first events are still on their way) the last visit is `ss`.
    previous = _int(fields.get(b"ps" if current == session_id else b"ss"))
    page_views, categories = 0, frozenset[str]()
    if session_state:
        head, *cats = session_state.decode().split("|")
        parts = head.split(" ")
        page_views = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        categories = frozenset(cats)
    # Each rule's fields gathered first, then one RuleHistory: a dataclasses.replace
    # per field cost more than the rest of this function.
    found: dict[str, dict[str, Any]] = {}
    for name, value in fields.items():
        prefix, _, rule_id = name.decode().partition(":")
        if prefix not in _RULE_FIELDS or not rule_id:
            continue
        known = found.setdefault(rule_id, {})
        if prefix == "t":
            known["shows"] = tuple(int(t) for t in value.split())
        elif prefix == "n":
            known["session_shows"] = _count_for(value, session_id)
        elif prefix == "f":
            known["first_shown_ms"] = int(value)
        else:
            known["clicked_ms"] = int(value)
    rules = {rule_id: RuleHistory(**known) for rule_id, known in found.items()}
    return Visitor(
        returning=previous is not None,
        last_visit_ms=previous,
        last_purchase_ms=_int(fields.get(b"lp")),
        orders=int(fields.get(b"o") or 0),
        # The page asking is counted: its page_view is usually still in flight.
        session_page_views=page_views + 1,
        session_categories=categories,
        rules=rules,
        session_popups=_count_for(fields.get(b"g:s"), session_id),
        day_popups=_count_for(fields.get(b"g:d"), day),
        last_popup_ms=_int(fields.get(b"g:l")),
    )


def _host(url: str | None) -> str:
    if not url:
        return ""
    host = (urlsplit(url).hostname or "").lower()
    return host.removeprefix("www.")


def _lower_in(value: str | None, allowed: list[str]) -> bool:
    return value is not None and value.lower() in {a.lower() for a in allowed}


def _days_between(since_ms: int | None, now_ms: int, low: float | None, high: float | None) -> bool:
    if low is None and high is None:
        return True
    if since_ms is None:
        # Never: more days than any minimum, and no maximum holds.
        return high is None
    days = (now_ms - since_ms) / DAY_MS
    return (low is None or days >= low) and (high is None or days <= high)


def targeting_allows(t: Targeting, page: Page, visitor: Visitor) -> bool:
    if t.page_types is not None and page.page_type not in t.page_types:
        return False
    if t.url_contains or t.url_not_contains:
        url = page.url.lower()
        if t.url_contains and not any(part.lower() in url for part in t.url_contains):
            return False
        if any(part.lower() in url for part in t.url_not_contains):
            return False
    if t.visitor == "new" and visitor.returning:
        return False
    if t.visitor == "returning" and not visitor.returning:
        return False
    if t.devices is not None and page.device not in t.devices:
        return False
    has_cart = bool(page.cart_items) or bool(page.cart_value)
    if (t.cart == "empty" and has_cart) or (t.cart == "non_empty" and not has_cart):
        return False
    value = page.cart_value or 0.0
    if t.cart_value_min is not None and value < t.cart_value_min:
        return False
    if t.cart_value_max is not None and value > t.cart_value_max:
        return False
    if t.utm_source is not None and not _lower_in(page.utm_source, t.utm_source):
        return False
    if t.utm_campaign is not None and not _lower_in(page.utm_campaign, t.utm_campaign):
        return False
    if t.referrer_domains is not None:
        host = _host(page.referrer)
        domains = [d.lower().removeprefix("www.") for d in t.referrer_domains]
        if not any(host == d or host.endswith("." + d) for d in domains):
            return False
    if visitor.session_page_views < t.min_session_page_views:
        return False
    if t.viewed_categories is not None and not (
        {c.lower() for c in t.viewed_categories} & {c.lower() for c in visitor.session_categories}
    ):
        return False
    if not _days_between(
        visitor.last_visit_ms, page.now_ms, t.days_since_last_visit_min, t.days_since_last_visit_max
    ):
        return False
    if not _days_between(
        visitor.last_purchase_ms,
        page.now_ms,
        t.days_since_last_purchase_min,
        t.days_since_last_purchase_max,
    ):
        return False
    if t.past_orders_min is not None and visitor.orders < t.past_orders_min:
        return False
    return not (t.past_orders_max is not None and visitor.orders > t.past_orders_max)


def _local(moment: datetime, zone: ZoneInfo) -> datetime:
    """A schedule time: naive means the store's zone."""
    return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment


def schedule_allows(s: Schedule, now_ms: int, zone: ZoneInfo) -> bool:
    if s.start is None and s.end is None and s.days is None and s.hours is None:
        return True  # always on: most rules, checked on every page
    now = datetime.fromtimestamp(now_ms / 1000, UTC).astimezone(zone)
    if s.start is not None and now < _local(s.start, zone):
        return False
    if s.end is not None and now >= _local(s.end, zone):
        return False
    if s.days is not None and WEEKDAYS[now.weekday()] not in s.days:
        return False
    if s.hours is not None:
        start, end = s.hours.start, s.hours.end
        inside = start <= now.hour < end if start < end else (now.hour >= start or now.hour < end)
        if not inside:
            return False
    return True


def frequency_allows(f: Frequency, history: RuleHistory, visitor: Visitor, now_ms: int) -> bool:
    if history.session_shows >= f.max_per_session:
        return False
    if f.max_per_visitor is not None:
        since = now_ms - f.per_days * DAY_MS
        if sum(1 for t in history.shows if t > since) >= f.max_per_visitor:
            return False
    if f.stop_after_click and history.clicked_ms is not None:
        return False
    if (
        f.stop_after_purchase
        and history.first_shown_ms is not None
        and visitor.last_purchase_ms is not None
        and visitor.last_purchase_ms >= history.first_shown_ms
    ):
        return False
    return not (
        f.cooldown_minutes
        and visitor.last_popup_ms is not None
        and now_ms - visitor.last_popup_ms < f.cooldown_minutes * 60_000
    )


def governor_allows(g: Governor, visitor: Visitor, now_ms: int) -> bool:
    if visitor.session_popups >= g.max_per_session:
        return False
    if visitor.day_popups >= g.max_per_visitor_per_day:
        return False
    return not (
        visitor.last_popup_ms is not None
        and now_ms - visitor.last_popup_ms < g.min_gap_seconds * 1000
    )


def rule_allows(rule: Rule, page: Page, visitor: Visitor, zone: ZoneInfo) -> bool:
    """Every per-rule condition; the governor is checked once for all rules."""
    assert rule.id is not None
    return (
        targeting_allows(rule.targeting, page, visitor)
        and schedule_allows(rule.schedule, page.now_ms, zone)
        and frequency_allows(rule.frequency, visitor.history(rule.id), visitor, page.now_ms)
    )
