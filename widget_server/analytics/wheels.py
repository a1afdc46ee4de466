"""What a spin-to-win popup gave and what came back: the `wheel` of its row in the
popups statistics.

For the range: `spins` (visitors who spun: each wins once, for good), `emails`
(addresses the popup took), `codes_given` (spins that won a code), and per slice
(by the label it had when won) `given`, `redeemed` and `revenue`. A code counts as
`redeemed` by the first purchase in the range that names it in `coupon` (GA4's
field; several codes may be given as "A,B"); a unique code of a pool wherever it
is used, a code for everyone only by a visitor who won it. `revenue` is those
purchases' `value`; `redemption_rate` is codes redeemed / codes given. Orders
and revenue credited to the popup, and its lift against the holdout, are the
row's own figures, as for every popup.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from widget_server.analytics.attribution import StoredEvent, order_key
from widget_server.collect.money import from_minor, to_minor
from widget_server.popups.schema import Rule
from widget_server.popups.wheel import Prize, Wheel
from widget_server.storage.connect import AsyncRedis


def _shared_codes(rule: Rule) -> set[str]:
    """Codes the rule gives everyone alike (its variants' wheels included)."""
    contents = [rule.content, *(rule.variant_content(v.id) for v in rule.variants)]
    return {
        segment.code.upper()
        for content in contents
        for segment in content.segments or ()
        if segment.code is not None
    }


def redemptions(
    prizes: Sequence[tuple[str, Prize]],
    purchases: Iterable[StoredEvent],
    shared: set[str],
    start_ms: int,
    end_ms: int,
) -> dict[str, tuple[Prize, StoredEvent]]:
    """Each code redeemed in the range, keyed by code (and visitor, for a shared
    one): the prize it was, and the first purchase that used it. `prizes` are
    (visitor, prize) pairs."""
    unique: dict[str, Prize] = {}
    by_visitor: dict[tuple[str, str], Prize] = {}
    for visitor, prize in prizes:
        if prize.code is None:
            continue
        code = prize.code.upper()
        if code in shared:
            by_visitor[visitor, code] = prize
        else:
            unique[code] = prize
    found: dict[str, tuple[Prize, StoredEvent]] = {}
    orders: set[tuple[str, str]] = set()
    for purchase in sorted(purchases, key=lambda e: e.ts):
        if purchase.type != "purchase" or not purchase.coupon:
            continue
        if not start_ms <= purchase.ts < end_ms or order_key(purchase) in orders:
            continue
        orders.add(order_key(purchase))
        for code in {c.strip().upper() for c in purchase.coupon.split(",") if c.strip()}:
            key = code if code in unique else f"{purchase.vid}\t{code}"
            redeemed = unique.get(code) or by_visitor.get((purchase.vid, code))
            if redeemed is not None and key not in found:
                found[key] = (redeemed, purchase)
    return found


async def wheel_figures(
    redis: AsyncRedis,
    store_id: str,
    rule: Rule,
    events: Iterable[StoredEvent],
    start_ms: int,
    end_ms: int,
    emails: int,
    currency: str,
) -> dict[str, Any]:
    """The `wheel` of a spin-to-win rule's row; `events` hold the range's purchases."""
    assert rule.id is not None
    won = await Wheel(redis).prizes_by_visitor(store_id, rule.id)
    spun = [prize for _, prize in won if start_ms <= prize.ts < end_ms]
    redeemed = redemptions(won, events, _shared_codes(rule), start_ms, end_ms)
    labels = [s.label for s in rule.content.segments or ()]
    # The wheel's slices in order, then labels it no longer has.
    slices: dict[str, dict[str, Any]] = {}
    for label in [*labels, *(p.label for p in spun), *(p.label for p, _ in redeemed.values())]:
        slices.setdefault(label, {"label": label, "given": 0, "redeemed": 0, "revenue": 0})
    for prize in spun:
        slices[prize.label]["given"] += 1
    for prize, purchase in redeemed.values():
        slices[prize.label]["redeemed"] += 1
        slices[prize.label]["revenue"] += to_minor(purchase.value or 0, currency)
    given = sum(1 for prize in spun if prize.code is not None)
    revenue = sum(f["revenue"] for f in slices.values())
    for figures in slices.values():
        figures["revenue"] = from_minor(figures["revenue"], currency)
    return {
        "spins": len(spun),
        "emails": emails,
        "codes_given": given,
        "codes_redeemed": len(redeemed),
        "redemption_rate": len(redeemed) / given if given else None,
        "revenue": from_minor(revenue, currency),
        "segments": list(slices.values()),
    }
