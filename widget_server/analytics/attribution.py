"""What popups and showcases led to: conversions credited to them, and their lift.

Pure functions over stored events (dicts, as in the event stream); the stats API
reads the stream and calls `report`. The rules (the README repeats them):

- Events are taken in `ts` order (ties keep arrival order). An event id seen
  before is skipped, and so is a purchase whose `transaction_id` was seen before
  (a purchase without one is its own order): an order counts once, where it
  first appeared, in every figure below.
- Popups: a session's `add_to_cart` or `purchase` is credited by *click* to the
  popup the session clicked last before it (last click: one order, one popup, so
  no revenue is counted twice). With no popup click before it, it is credited by
  *view* to the popup the session was shown last before it. Click and view credit
  are reported apart; view credit is weak evidence. Revenue is the purchase's
  `value`.
- Showcases: an added or bought item X is credited to the showcase click of X by
  the same visitor, in the same session or at most 24 hours earlier; with several,
  the latest. A bought item's revenue is `price * quantity` (quantity 1 when
  absent) when every item of the purchase has a price, else the purchase's
  `value` split evenly over its items.
- Lift: see `lift.py`, and `_lift_by` for who is in which group.

`start_ms`/`end_ms` bound what is counted: events after `end_ms` are ignored,
events before `start_ms` are context only (a click there can earn credit for a
conversion inside the range, but is not itself counted).
"""

from __future__ import annotations

import copy
import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, TypedDict

import msgspec

from widget_server.analytics.lift import Group, Lift, LiftReport, compare
from widget_server.collect.ingest import ATTRIBUTED_TYPES


class StoredItem(msgspec.Struct, gc=False):
    item_id: str
    price: float | None = None
    quantity: float | None = None


class StoredEvent(msgspec.Struct, gc=False):
    """The fields of a stored event that attribution reads. Not tracked by the
    cycle collector (`gc=False`: it holds no references back), which otherwise
    walks every one of a month's events again and again while a report runs."""

    id: str
    type: str
    ts: int
    vid: str
    sid: str
    popup_id: str | None = None
    variant: str | None = None
    placement: str | None = None
    rec_id: str | None = None
    items: tuple[StoredItem, ...] = ()
    value: float | None = None
    transaction_id: str | None = None
    coupon: str | None = None  # a purchase's discount code(s): spin-to-win redemptions


Event = StoredEvent


def as_events(events: Iterable[StoredEvent | Mapping[str, Any]]) -> list[StoredEvent]:
    """Events as attribution reads them: dicts (an event as the stream stores it)
    are converted, their other fields dropped."""
    return [e if isinstance(e, StoredEvent) else msgspec.convert(e, StoredEvent) for e in events]


_NO_LIFT = compare(Group(0, 0), Group(0, 0))
# The key of all placements together in `_lift_by` (a placement id is never empty).
_ALL = ""

SHOWCASE_WINDOW_MS = 24 * 3600 * 1000
# The name of a missing variant, placement or rec_id: ids cannot contain parentheses,
# so it never clashes with a real one.
NONE = "(none)"

# The events attribution reads, which the ingest script also keeps apart.
RELEVANT_TYPES = ATTRIBUTED_TYPES
_POPUP_SESSION_FIELDS = {
    "popup_shown": "shown",
    "popup_click": "clicked",
    "popup_close": "closed",
    "popup_suppressed": "suppressed",
}


def order_key(event: Event) -> tuple[str, str]:
    """How a purchase is told apart from its repeats: its transaction id, else its
    event id (a purchase without a transaction id is its own order)."""
    tx = event.transaction_id
    return ("tx", tx) if tx else ("ev", event.id)


def _ts(event: Event) -> int:
    return event.ts


def prepare(
    events: Iterable[Event | Mapping[str, Any]],
    *,
    end_ms: int | None = None,
    seen_orders: set[tuple[str, str]] | None = None,
) -> list[Event]:
    """The events in `ts` order, without repeated event ids, repeated orders, or
    anything after `end_ms`. Applying it twice changes nothing. `seen_orders`: the
    orders seen before these events (it gets theirs), for a walk fed in slices."""
    ordered = sorted(as_events(events), key=_ts)
    seen_ids: set[str] = set()
    orders = seen_orders if seen_orders is not None else set()
    kept: list[Event] = []
    for event in ordered:
        if end_ms is not None and event.ts > end_ms:
            break
        if event.id in seen_ids:
            continue
        seen_ids.add(event.id)
        if event.type == "purchase":
            order = order_key(event)
            if order in orders:
                continue
            orders.add(order)
        kept.append(event)
    return kept


class Walk:
    """A report walked over events in `ts` order, fed in slices by `ts` (each slice
    after the last): what `prepare` does, with the orders seen kept across slices.
    A repeated event id is the same event, with the same `ts`, so never in another
    slice."""

    def __init__(self) -> None:
        self.seen_orders: set[tuple[str, str]] = set()

    def _fresh(self, events: list[StoredEvent]) -> list[StoredEvent]:
        return prepare(events, seen_orders=self.seen_orders)

    def _copy_base(self, other: Walk) -> None:
        other.seen_orders = set(self.seen_orders)


def _minor(amount: float | None) -> int:
    return round((amount or 0) * 100)


def line_revenues_minor(purchase: Event) -> list[int]:
    """Each item's share of a purchase, in minor units (see the module's rules)."""
    items = purchase.items
    if not items:
        return []
    if all(item.price is not None for item in items):
        return [
            _minor((item.price or 0) * (1 if item.quantity is None else item.quantity))
            for item in items
        ]
    share = (purchase.value or 0) / len(items)
    return [_minor(share)] * len(items)


# -- popups --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Credit:
    """Conversions credited to one popup (or variant), by click or by view."""

    sessions: int  # sessions with at least one credited add to cart or purchase
    add_to_carts: int
    purchases: int  # orders
    revenue: float


@dataclasses.dataclass(frozen=True, slots=True)
class PopupFigures:
    shown: int  # sessions
    clicked: int  # sessions
    closed: int  # sessions
    suppressed: int  # sessions held out
    click: Credit
    view: Credit

    @property
    def click_rate(self) -> float | None:
        return self.clicked / self.shown if self.shown else None


@dataclasses.dataclass(frozen=True, slots=True)
class PopupReport:
    total: PopupFigures
    variants: dict[str, PopupFigures]
    lift: Lift


@dataclasses.dataclass
class _CreditTally:
    sessions: set[str] = dataclasses.field(default_factory=set)
    add_to_carts: int = 0
    purchases: int = 0
    revenue_minor: int = 0

    def freeze(self) -> Credit:
        return Credit(
            len(self.sessions), self.add_to_carts, self.purchases, self.revenue_minor / 100
        )


@dataclasses.dataclass
class _PopupTally:
    shown: set[str] = dataclasses.field(default_factory=set)
    clicked: set[str] = dataclasses.field(default_factory=set)
    closed: set[str] = dataclasses.field(default_factory=set)
    suppressed: set[str] = dataclasses.field(default_factory=set)
    click: _CreditTally = dataclasses.field(default_factory=_CreditTally)
    view: _CreditTally = dataclasses.field(default_factory=_CreditTally)

    def freeze(self) -> PopupFigures:
        return PopupFigures(
            len(self.shown),
            len(self.clicked),
            len(self.closed),
            len(self.suppressed),
            self.click.freeze(),
            self.view.freeze(),
        )


def _counted(event: Event, start_ms: int | None) -> bool:
    return start_ms is None or event.ts >= start_ms


def _popup_figures(
    events: list[Event], start_ms: int | None
) -> dict[str, tuple[PopupFigures, dict[str, PopupFigures]]]:
    # Key (popup, None) is the popup's total, (popup, variant) one variant.
    tallies: defaultdict[tuple[str, str | None], _PopupTally] = defaultdict(_PopupTally)
    last_click: dict[str, tuple[str, str]] = {}  # session -> (popup, variant)
    last_shown: dict[str, tuple[str, str]] = {}
    for event in events:
        kind, sid = event.type, event.sid
        if kind in _POPUP_SESSION_FIELDS:
            popup = event.popup_id
            if popup is None:
                continue
            variant = event.variant or NONE
            if kind == "popup_click":
                last_click[sid] = (popup, variant)
            elif kind == "popup_shown":
                last_shown[sid] = (popup, variant)
            if _counted(event, start_ms):
                for key in ((popup, None), (popup, variant)):
                    getattr(tallies[key], _POPUP_SESSION_FIELDS[kind]).add(sid)
        elif kind in ("add_to_cart", "purchase") and _counted(event, start_ms):
            by_click = sid in last_click
            target = last_click.get(sid) or last_shown.get(sid)
            if target is None:
                continue
            popup, variant = target
            for key in ((popup, None), (popup, variant)):
                credit = tallies[key].click if by_click else tallies[key].view
                credit.sessions.add(sid)
                if kind == "add_to_cart":
                    credit.add_to_carts += 1
                else:
                    credit.purchases += 1
                    credit.revenue_minor += _minor(event.value)
    out: dict[str, tuple[PopupFigures, dict[str, PopupFigures]]] = {}
    # Sorted, a popup's total (variant None, as "") comes before its variants.
    for (popup, of_variant), popup_tally in sorted(
        tallies.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")
    ):
        if of_variant is None:
            out[popup] = (popup_tally.freeze(), {})
        else:
            out[popup][1][of_variant] = popup_tally.freeze()
    return out


def popup_attribution(
    events: Iterable[Event], *, start_ms: int | None = None, end_ms: int | None = None
) -> dict[str, PopupReport]:
    """Per popup id: sessions shown, clicked, closed and held out; click and view
    credit; per variant the same; and the lift of showing it."""
    prepared = prepare(events, end_ms=end_ms)
    return _popup_attribution(prepared, start_ms)


def _popup_attribution(events: list[Event], start_ms: int | None) -> dict[str, PopupReport]:
    figures = _popup_figures(events, start_ms)
    lifts = _lift_by(events, start_ms, "popup_shown", "popup_suppressed", "popup_id", None)
    reports = {}
    for popup in sorted(figures.keys() | lifts.keys()):
        total, variants = figures.get(popup) or (_PopupTally().freeze(), {})
        reports[popup] = PopupReport(total, variants, lifts.get(popup) or _NO_LIFT)
    return reports


# -- showcases -----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class ShowcaseCredit:
    """What showcase clicks led to: cart additions and bought items of the clicked
    items, and the orders (and revenue) they are part of."""

    add_to_carts: int  # added items
    purchases: int  # orders with at least one credited item
    items_purchased: int  # credited order lines
    revenue: float  # of the credited lines only


@dataclasses.dataclass(frozen=True, slots=True)
class ShowcaseFigures:
    views: int  # showcase_view events
    clicks: int  # showcase_click events
    view_sessions: int
    click_sessions: int
    suppressed: int  # sessions held out
    credit: ShowcaseCredit
    rec_ids: dict[str, ShowcaseCredit]  # only those credited with something
    lift: Lift

    @property
    def click_rate(self) -> float | None:
        return self.clicks / self.views if self.views else None


@dataclasses.dataclass(frozen=True, slots=True)
class ShowcaseReport:
    placements: dict[str, ShowcaseFigures]
    lift: Lift  # all placements together


@dataclasses.dataclass
class _ShowcaseCreditTally:
    add_to_carts: int = 0
    orders: set[tuple[str, str]] = dataclasses.field(default_factory=set)
    items_purchased: int = 0
    revenue_minor: int = 0

    def freeze(self) -> ShowcaseCredit:
        return ShowcaseCredit(
            self.add_to_carts, len(self.orders), self.items_purchased, self.revenue_minor / 100
        )


@dataclasses.dataclass
class _ShowcaseTally:
    views: int = 0
    clicks: int = 0
    view_sessions: set[str] = dataclasses.field(default_factory=set)
    click_sessions: set[str] = dataclasses.field(default_factory=set)
    suppressed: set[str] = dataclasses.field(default_factory=set)
    credit: _ShowcaseCreditTally = dataclasses.field(default_factory=_ShowcaseCreditTally)
    rec_ids: defaultdict[str, _ShowcaseCreditTally] = dataclasses.field(
        default_factory=lambda: defaultdict(_ShowcaseCreditTally)
    )


class _Click(msgspec.Struct, frozen=True, gc=False):  # untracked, as StoredEvent
    ts: int
    sid: str
    placement: str
    rec_id: str


def _credited_click(
    clicks: list[_Click] | None, event: Event, window_ms: int = SHOWCASE_WINDOW_MS
) -> _Click | None:
    """The latest earlier click of the item by this visitor that may take credit."""
    for click in reversed(clicks or ()):
        if click.sid == event.sid or event.ts - click.ts <= window_ms:
            return click
    return None


SHOWCASE_TYPES = frozenset(
    {"showcase_view", "showcase_suppressed", "showcase_click", "add_to_cart", "purchase"}
)


def _copy_showcase_tally(tally: _ShowcaseTally) -> _ShowcaseTally:
    return dataclasses.replace(
        tally,
        view_sessions=set(tally.view_sessions),
        click_sessions=set(tally.click_sessions),
        suppressed=set(tally.suppressed),
        credit=dataclasses.replace(tally.credit, orders=set(tally.credit.orders)),
        rec_ids=defaultdict(
            type(tally.credit),
            {
                rec: dataclasses.replace(credit, orders=set(credit.orders))
                for rec, credit in tally.rec_ids.items()
            },
        ),
    )


class ShowcaseWalk(Walk):
    """Per placement: views, clicks, sessions held out, the cart additions and
    bought items credited to a click , and lift;
    and the lift of all placements together."""

    def __init__(self, start_ms: int, window_ms: int) -> None:
        super().__init__()
        self.start_ms, self.window_ms = start_ms, window_ms
        self.tallies: defaultdict[str, _ShowcaseTally] = defaultdict(_ShowcaseTally)
        self.clicks: dict[tuple[str, str], list[_Click]] = {}  # (visitor, item) -> clicks
        self.lift = LiftWalk(start_ms, "showcase_view", "showcase_suppressed", "placement", _ALL)

    def feed(self, events: list[StoredEvent]) -> None:
        start_ms, tallies = self.start_ms, self.tallies
        for event in self._fresh(events):
            self.lift.see(event)
            kind, sid = event.type, event.sid
            counted = event.ts >= start_ms
            placement = event.placement or NONE
            if kind == "showcase_view" and counted:
                tallies[placement].views += 1
                tallies[placement].view_sessions.add(sid)
            elif kind == "showcase_suppressed" and counted:
                tallies[placement].suppressed.add(sid)
            elif kind == "showcase_click":
                click = _Click(event.ts, sid, placement, event.rec_id or NONE)
                for item in event.items:
                    self.clicks.setdefault((event.vid, item.item_id), []).append(click)
                if counted:
                    tallies[placement].clicks += 1
                    tallies[placement].click_sessions.add(sid)
            elif kind in ("add_to_cart", "purchase") and counted:
                self._credit(event, kind)

    def _credit(self, event: StoredEvent, kind: str) -> None:
        items = event.items
        revenues = line_revenues_minor(event) if kind == "purchase" else [0] * len(items)
        for item, revenue in zip(items, revenues, strict=True):
            credited = _credited_click(
                self.clicks.get((event.vid, item.item_id)), event, self.window_ms
            )
            if credited is None:
                continue
            tally = self.tallies[credited.placement]
            for credit in (tally.credit, tally.rec_ids[credited.rec_id]):
                if kind == "add_to_cart":
                    credit.add_to_carts += 1
                else:
                    credit.orders.add(order_key(event))
                    credit.items_purchased += 1
                    credit.revenue_minor += revenue

    def copy(self) -> ShowcaseWalk:
        other = ShowcaseWalk(self.start_ms, self.window_ms)
        self._copy_base(other)
        other.tallies = defaultdict(
            _ShowcaseTally, {p: _copy_showcase_tally(t) for p, t in self.tallies.items()}
        )
        other.clicks = {key: list(clicks) for key, clicks in self.clicks.items()}
        other.lift = self.lift.copy()
        return other

    def result(self) -> ShowcaseReport:
        lifts = self.lift.result()
        placements = {}
        for placement in sorted(self.tallies.keys() | (lifts.keys() - {_ALL})):
            tally = self.tallies.get(placement) or _ShowcaseTally()
            placements[placement] = ShowcaseFigures(
                tally.views,
                tally.clicks,
                len(tally.view_sessions),
                len(tally.click_sessions),
                len(tally.suppressed),
                tally.credit.freeze(),
                {rec: credit.freeze() for rec, credit in sorted(tally.rec_ids.items())},
                lifts.get(placement) or _NO_LIFT,
            )
        return ShowcaseReport(placements, lifts.get(_ALL) or _NO_LIFT)


def showcase_attribution(
    events: Iterable[Event], *, start_ms: int | None = None, end_ms: int | None = None
) -> ShowcaseReport:
    """Per placement: views, clicks, sessions held out, what the clicks led to (in
    all and per `rec_id`), and lift; and the lift of all placements together."""
    return _showcase_attribution(prepare(events, end_ms=end_ms), start_ms)


def _showcase_attribution(
    events: list[Event], start_ms: int | None, window_ms: int = SHOWCASE_WINDOW_MS
) -> ShowcaseReport:
    walk = ShowcaseWalk(start_ms if start_ms is not None else -(2**63), window_ms)
    walk.feed(events)
    return walk.result()


# -- lift ----------------------------------------------------------------------------


class Assigned:
    """Sessions assigned to groups (treated by a popup, held out from it, ...), with
    each group's sessions and converted sessions counted as they change, so that a
    walk's lift is read without a pass over its sessions. Counted are assignments
    made from `start_ms` on; a session converts with a purchase after its
    assignment. Flags are ints (1 counted, 2 converted), which the cycle collector
    does not walk."""

    def __init__(self) -> None:
        self.flags: dict[tuple[Any, str], int] = {}  # (group, session) -> flags
        self.counts: dict[Any, list[int]] = {}  # group -> [sessions, converted], counted
        self.of_session: dict[str, tuple[Any, ...]] = {}  # session -> its groups

    def has(self, group: Any, sid: str) -> bool:
        return (group, sid) in self.flags

    def assign(self, group: Any, sid: str, counted: bool) -> None:
        """Put the session in the group, from now (again, if it was)."""
        old = self.flags.get((group, sid))
        if old is None:
            self.of_session[sid] = (*self.of_session.get(sid, ()), group)
        else:
            self._uncount(group, old)
        self.flags[(group, sid)] = 1 if counted else 0
        if counted:
            self.counts.setdefault(group, [0, 0])[0] += 1

    def remove(self, group: Any, sid: str) -> None:
        old = self.flags.pop((group, sid), None)
        if old is not None:
            self._uncount(group, old)
            self.of_session[sid] = tuple(g for g in self.of_session[sid] if g != group)

    def purchase(self, sid: str) -> None:
        for group in self.of_session.get(sid, ()):
            flags = self.flags[(group, sid)]
            if not flags & 2:
                self.flags[(group, sid)] = flags | 2
                if flags & 1:
                    self.counts[group][1] += 1

    def _uncount(self, group: Any, flags: int) -> None:
        if flags & 1:
            counts = self.counts[group]
            counts[0] -= 1
            counts[1] -= 1 if flags & 2 else 0

    def group(self, group: Any) -> Group:
        sessions, converted = self.counts.get(group, (0, 0))
        return Group(sessions, converted)

    def copy(self) -> Assigned:
        other = Assigned()
        other.flags = dict(self.flags)
        other.counts = {group: list(counts) for group, counts in self.counts.items()}
        other.of_session = dict(self.of_session)  # tuples: replaced, never changed
        return other


class LiftWalk:
    """Lift fed in order, an event at a time (see `_lift_by`): per value of `field`
    (and of all values together under `overall`), treated sessions against
    held-out ones."""

    def __init__(self, start_ms: int, treated: str, held: str, field: str, overall: str | None):
        self.start_ms, self.treated, self.held = start_ms, treated, held
        self.field, self.overall = field, overall
        self.assigned = Assigned()  # groups: (True, value) treated, (False, value) held
        # value -> its two groups, made once: a cache that copies share.
        self._groups: dict[str, tuple[tuple[bool, str], tuple[bool, str]]] = {}

    def see(self, event: StoredEvent) -> None:
        kind = event.type
        assigned = self.assigned
        if kind == "purchase":
            assigned.purchase(event.sid)
            return
        if kind != self.treated and kind != self.held:
            return
        sid = event.sid
        treated = kind == self.treated
        value = getattr(event, self.field) or NONE
        counted = event.ts >= self.start_ms
        flags, of_session = assigned.flags, assigned.of_session
        for key in (value, self.overall) if self.overall is not None else (value,):
            groups = self._groups.get(key)
            if groups is None:
                groups = self._groups[key] = ((True, key), (False, key))
            treated_group, held_group = groups
            if (treated_group, sid) in flags:
                continue
            if (held_group, sid) in flags:
                if not treated:
                    continue
                assigned.remove(held_group, sid)
            group = treated_group if treated else held_group
            # `assigned.assign` for a session new to the group, inline: this runs
            # for every view of a month of showcases.
            flags[(group, sid)] = 1 if counted else 0
            of_session[sid] = (*of_session.get(sid, ()), group)
            if counted:
                counts = assigned.counts.get(group)
                if counts is None:
                    counts = assigned.counts[group] = [0, 0]
                counts[0] += 1

    def copy(self) -> LiftWalk:
        other = copy.copy(self)
        other.assigned = self.assigned.copy()
        return other

    def result(self) -> dict[str, Lift]:
        out = {}
        for key in {value for _, value in self.assigned.counts}:
            treated, held = self.assigned.group((True, key)), self.assigned.group((False, key))
            if treated.sessions or held.sessions:
                out[key] = compare(treated, held)
        return out


def _lift_by(
    events: list[Event],
    start_ms: int | None,
    treated_type: str,
    held_type: str,
    field: str,
    overall: str | None,
) -> dict[str, Lift]:
    """Lift per value of `field` (and, under the key `overall` when given, of all
    values together). A session is treated from its first `treated_type` event and
    held out from its first `held_type` one; one that has both (assignment is per
    visitor, so it should not) counts as treated only, from its first
    `treated_type` event. It converts with a purchase after that event. A session
    whose first such event is before `start_ms` is not counted."""
    walk = LiftWalk(start_ms if start_ms is not None else -(2**63), treated_type, held_type,
                    field, overall)  # fmt: skip
    for event in events:
        walk.see(event)
    return walk.result()


# -- everything ----------------------------------------------------------------------


def popup_lift(
    events: Iterable[Event], *, start_ms: int | None = None, end_ms: int | None = None
) -> dict[str, Lift]:
    """Per popup id: sessions shown the popup against sessions held out from it."""
    prepared = prepare(events, end_ms=end_ms)
    return _lift_by(prepared, start_ms, "popup_shown", "popup_suppressed", "popup_id", None)


# -- the answer's shape -----------------------------------------------------------


def _about(text: str) -> msgspec.Meta:
    return msgspec.Meta(description=text)


class CreditReport(TypedDict):
    """Conversions credited to a popup (or a variant), by click or by view."""

    sessions: Annotated[int, _about("sessions with a credited add to cart or purchase")]
    add_to_carts: int
    purchases: Annotated[int, _about("orders")]
    revenue: Annotated[float, _about("the orders' `value`, as a decimal")]


class PopupFiguresReport(TypedDict):
    """Sessions that saw, clicked, closed or were held out from a popup, and what
    its clicks and views are credited with."""

    shown: Annotated[int, _about("sessions shown the popup")]
    clicked: Annotated[int, _about("sessions that clicked it")]
    closed: Annotated[int, _about("sessions that closed it")]
    suppressed: Annotated[int, _about("sessions held out (`popup_suppressed`)")]
    click_rate: Annotated[float | None, _about("clicked / shown; null when none was shown")]
    click: Annotated[CreditReport, _about("credited to the last popup the session clicked")]
    view: Annotated[CreditReport, _about("credited to the last popup shown, with no click")]


class PopupAttribution(PopupFiguresReport):
    """A popup's figures, per variant too, and the lift of showing it."""

    variants: dict[str, PopupFiguresReport]
    lift: LiftReport


class ShowcaseCreditReport(TypedDict):
    """What showcase clicks led to: items added and bought, their orders and revenue."""

    add_to_carts: Annotated[int, _about("clicked items later added to the cart")]
    purchases: Annotated[int, _about("orders with at least one credited item")]
    items_purchased: Annotated[int, _about("credited order lines")]
    revenue: Annotated[float, _about("of the credited lines, as a decimal")]


class PlacementReport(ShowcaseCreditReport):
    """One showcase placement's views, clicks, holdout, credit and lift."""

    views: Annotated[int, _about("`showcase_view` events")]
    clicks: Annotated[int, _about("`showcase_click` events")]
    click_rate: Annotated[float | None, _about("clicks / views; null without views")]
    view_sessions: int
    click_sessions: int
    suppressed: Annotated[int, _about("sessions held out (`showcase_suppressed`)")]
    rec_ids: Annotated[
        dict[str, ShowcaseCreditReport], _about("credit per `rec_id`, only those with some")
    ]
    lift: LiftReport


class ShowcasesReport(TypedDict):
    lift: Annotated[LiftReport, _about("all placements together")]
    placements: dict[str, PlacementReport]


class AttributionReport(TypedDict):
    popups: dict[str, PopupAttribution]
    showcases: ShowcasesReport


def _credit_json(credit: Credit) -> CreditReport:
    return {
        "sessions": credit.sessions,
        "add_to_carts": credit.add_to_carts,
        "purchases": credit.purchases,
        "revenue": credit.revenue,
    }


def _showcase_credit_json(credit: ShowcaseCredit) -> ShowcaseCreditReport:
    return {
        "add_to_carts": credit.add_to_carts,
        "purchases": credit.purchases,
        "items_purchased": credit.items_purchased,
        "revenue": credit.revenue,
    }


def _popup_json(figures: PopupFigures) -> PopupFiguresReport:
    return {
        "shown": figures.shown,
        "clicked": figures.clicked,
        "closed": figures.closed,
        "suppressed": figures.suppressed,
        "click_rate": figures.click_rate,
        "click": _credit_json(figures.click),
        "view": _credit_json(figures.view),
    }


def _placement_json(figures: ShowcaseFigures) -> PlacementReport:
    credit = figures.credit
    return {
        "views": figures.views,
        "clicks": figures.clicks,
        "click_rate": figures.click_rate,
        "view_sessions": figures.view_sessions,
        "click_sessions": figures.click_sessions,
        "suppressed": figures.suppressed,
        "add_to_carts": credit.add_to_carts,
        "purchases": credit.purchases,
        "items_purchased": credit.items_purchased,
        "revenue": credit.revenue,
        "rec_ids": {rec: _showcase_credit_json(c) for rec, c in figures.rec_ids.items()},
        "lift": figures.lift.to_json(),
    }


def report(
    events: Iterable[Event], *, start_ms: int | None = None, end_ms: int | None = None
) -> AttributionReport:
    """Everything above, as JSON-ready dicts: `{"popups": ..., "showcases": ...}`."""
    prepared = prepare(events, end_ms=end_ms)
    popups: dict[str, PopupAttribution] = {
        popup: {
            **_popup_json(popup_report.total),
            "variants": {v: _popup_json(f) for v, f in popup_report.variants.items()},
            "lift": popup_report.lift.to_json(),
        }
        for popup, popup_report in _popup_attribution(prepared, start_ms).items()
    }
    showcases = _showcase_attribution(prepared, start_ms)
    return {
        "popups": popups,
        "showcases": {
            "lift": showcases.lift.to_json(),
            "placements": {
                placement: _placement_json(figures)
                for placement, figures in showcases.placements.items()
            },
        },
    }
