"""The demo's simulated shoppers (timeline, journeys, onsite, history): every event
one the collector accepts, exports the import reads back without a bad row, popups
that follow the store's holdouts and caps, and the same history on every run."""

from __future__ import annotations

import collections
import io
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

from recommender.synthetic import generate
from widget_server.collect.events import decode_event
from widget_server.demo import setup
from widget_server.demo.history import write_ga4, write_orders
from widget_server.demo.journeys import Walk
from widget_server.demo.onsite import Tarry
from widget_server.demo.products import SHOP, catalog
from widget_server.demo.seed import LIVE_MS, WEB_HISTORY_MS
from widget_server.demo.shoppers import shopper
from widget_server.demo.timeline import Visit, by_visitor, lay_out
from widget_server.imports.formats.rows import read
from widget_server.popups.assignment import in_holdout, pick_variant
from widget_server.popups.presets import from_preset
from widget_server.popups.schema import Rule, StoreSettings

ANCHOR = 1_780_000_000_000  # a Thursday in May 2026, 20:26 UTC
BASE = "http://127.0.0.1:8000"
POPUP_EVENTS = {"popup_shown", "popup_suppressed"}


@pytest.fixture(scope="module")
def visits() -> list[Visit]:
    return lay_out(generate(SHOP), SHOP, ANCHOR)


def _live(visits: list[Visit]) -> list[Visit]:
    return [v for v in visits if v.start_ms >= ANCHOR - LIVE_MS]


def _web(visits: list[Visit], n: int) -> list[Visit]:
    window = [v for v in visits if ANCHOR - WEB_HISTORY_MS <= v.start_ms < ANCHOR - LIVE_MS]
    return window[:: max(1, len(window) // n)][:n]


def _tarry() -> Tarry:
    rules = [
        Rule.model_validate({**from_preset(name, changes), "id": f"r_{name}"})
        for name, changes in setup.PRESETS.items()
    ]
    return Tarry(rules, StoreSettings.model_validate(setup.SETTINGS))


def _walks(visits: list[Visit], onsite: Tarry | None) -> Iterator[Walk]:
    for visit in sorted(visits, key=lambda v: v.start_ms):
        yield Walk(shopper(visit.visitor), visit, catalog(), BASE, ANCHOR, onsite)


def _events(walks: Iterator[Walk]) -> list[dict[str, Any]]:
    return [event for walk in walks for page in walk.pages_events() for event in page]


def test_the_year_grows_up_to_the_anchor_and_keeps_each_visitors_order(
    visits: list[Visit],
) -> None:
    assert all(v.end_ms < ANCHOR for v in visits)
    assert visits[0].start_ms >= ANCHOR - SHOP.days * 86_400_000 - 86_400_000
    month = 30 * 86_400_000
    first = sum(v.start_ms < visits[0].start_ms + month for v in visits)
    last = sum(v.start_ms >= ANCHOR - month for v in visits)
    assert last > 4 * first  # a shop that grew
    for own in by_visitor(visits).values():
        assert [v.number for v in own] == sorted(v.number for v in own)
    night = sum(3 <= v.start_ms // 3_600_000 % 24 < 5 for v in visits)
    evening = sum(19 <= v.start_ms // 3_600_000 % 24 < 21 for v in visits)
    assert evening > 5 * night


def test_every_live_event_is_one_the_collector_accepts(visits: list[Visit]) -> None:
    events = _events(_walks(_live(visits)[:400], _tarry()))
    kinds = collections.Counter(e["type"] for e in events)
    for kind in ("page_view", "view_item", "add_to_cart", "view_cart", "begin_checkout",
                 "purchase", "engagement", "popup_shown", "popup_suppressed",
                 "showcase_view", "showcase_click"):  # fmt: skip
        assert kinds[kind] > 0, (kind, kinds)
    assert len({e["id"] for e in events}) == len(events)
    for event in events:
        decode_event(msgspec.json.encode(event))  # raises on a field the collector refuses
        assert ANCHOR - LIVE_MS <= event["ts"] < ANCHOR
    # Every purchase has its order id once, and the cart it bought.
    purchases = [e for e in events if e["type"] == "purchase"]
    assert len({e["transaction_id"] for e in purchases}) == len(purchases)
    assert all(e["value"] == round(sum(i["price"] * i["quantity"] for i in e["items"]), 2)
               for e in purchases)  # fmt: skip


def test_popups_follow_the_holdouts_variants_and_caps(visits: list[Visit]) -> None:
    onsite = _tarry()
    rules = {rule.id: rule for rule in onsite.rules.values()}
    events = _events(_walks(_live(visits), onsite))
    fired = [e for e in events if e["type"] in POPUP_EVENTS]
    assert len(fired) > 300
    per_session: collections.Counter[tuple[str, str]] = collections.Counter()
    last_by_visitor: dict[str, int] = {}
    for event in sorted(fired, key=lambda e: e["ts"]):
        rule = rules[event["popup_id"]]
        held = in_holdout(rule.id, event["vid"], rule.holdout)  # type: ignore[arg-type]
        assert (event["type"] == "popup_suppressed") == held
        variants = [(v.id, v.weight) for v in rule.variants]
        assert event["variant"] == pick_variant(rule.id, event["vid"], variants)  # type: ignore[arg-type]
        per_session[(event["sid"], rule.id)] += 1  # type: ignore[index]
        previous = last_by_visitor.get(event["vid"])
        assert previous is None or event["ts"] - previous >= 60_000  # the governor's gap
        last_by_visitor[event["vid"]] = event["ts"]
    assert max(per_session.values()) == 1  # each preset: once a session
    shown = [e for e in fired if e["type"] == "popup_shown"]
    assert 0.55 < len(shown) / len(fired) < 0.85  # a 30% holdout
    clicks = {(e["sid"], e["popup_id"]) for e in events if e["type"] == "popup_click"}
    assert clicks <= {(e["sid"], e["popup_id"]) for e in shown}  # only what was shown


def test_the_ga4_export_reads_back_without_a_bad_row(visits: list[Visit]) -> None:
    web = _web(visits, 300)
    out = io.BytesIO()
    assert write_ga4(_walks(web, None), out) == len(web)
    rows = list(read("ga4", io.BytesIO(out.getvalue())))
    assert [r.error for r in rows if r.error] == []
    assert not [r for r in rows if r.skipped]
    expected = [e for e in _events(_walks(web, None))]
    assert len(rows) == len(expected)
    assert collections.Counter(r.event["type"] for r in rows if r.event) == collections.Counter(
        e["type"] for e in expected
    )
    sessions = {r.event["sid"] for r in rows if r.event}
    assert len(sessions) == len(web)  # GA4's session ids keep the sessions apart


def test_the_orders_export_reads_back_as_the_visits_orders(visits: list[Visit]) -> None:
    older = [v for v in visits if v.start_ms < ANCHOR - WEB_HISTORY_MS][:3000]
    out = io.StringIO()
    orders = write_orders(older, catalog(), out)
    assert orders == sum(any(s.kind == "purchase" for s in v.steps) for v in older) > 50
    rows = list(read("orders", io.BytesIO(out.getvalue().encode())))
    assert [r.error for r in rows if r.error] == []
    purchases = [r.event for r in rows if r.event]
    assert len(purchases) == orders and {e["type"] for e in purchases} == {"purchase"}
    assert all(e["uid"].startswith("C") and e["currency"] == "USD" for e in purchases)


def test_the_same_history_comes_out_of_every_run(visits: list[Visit]) -> None:
    again = lay_out(generate(SHOP), SHOP, ANCHOR)
    assert again == visits
    sample = _web(visits, 50)
    first = [(e["id"], e["ts"]) for e in _events(_walks(sample, None))]
    second = [(e["id"], e["ts"]) for e in _events(_walks(sample, None))]
    assert first == second
