"""The popup and showcase walks (`analytics/walks.py`): fed in slices they give what
one walk gives, the showcase walk gives what `attribution` computes, and a kept
checkpoint neither goes stale nor outlives an erasure."""

from __future__ import annotations

import copy
import itertools
from typing import Any

from conftest import BROWSER_UA
from helpers import make_store
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from widget_server.analytics import attribution, walks
from widget_server.analytics.lift import Group, Lift, compare
from widget_server.analytics.stats import read_events
from widget_server.app import create_app
from widget_server.storage.clock import now_ms
from widget_server.storage.connect import run_with_storage as run_with_redis

HOUR = 3_600_000
DAY = 24 * HOUR
KINDS = [
    "popup_shown", "popup_suppressed", "popup_click", "popup_close", "purchase",
    "showcase_view", "showcase_suppressed", "showcase_click", "add_to_cart",
]  # fmt: skip


@st.composite
def event_logs(draw: Any) -> list[attribution.StoredEvent]:
    """A few visitors and sessions over ten days, with repeats of event ids (same
    event, same ts) and of transaction ids (a purchase sent again later)."""
    count = draw(st.integers(0, 60))
    events: list[dict[str, Any]] = []
    for n in range(count):
        kind = draw(st.sampled_from(KINDS))
        vid = draw(st.sampled_from(["v1", "v2", "v3"]))
        event: dict[str, Any] = {
            "id": f"e{n}",
            "type": kind,
            "ts": draw(st.integers(0, 10 * DAY)),
            "vid": vid,
            "sid": vid + draw(st.sampled_from("ab")),
        }
        if kind.startswith("popup"):
            event["popup_id"] = draw(st.sampled_from(["r1", "r2"]))
            event["variant"] = draw(st.sampled_from([None, "A", "B"]))
        if kind.startswith("showcase"):
            event["placement"] = draw(st.sampled_from(["home", "pdp"]))
            event["rec_id"] = draw(st.sampled_from([None, "x1"]))
        if kind in ("showcase_click", "add_to_cart", "purchase"):
            event["items"] = [{"item_id": draw(st.sampled_from(["i1", "i2"])), "price": 5.0}]
        if kind == "purchase":
            event["value"] = 5.0
            event["transaction_id"] = draw(st.sampled_from([None, "T1", "T2", "T3"]))
        events.append(event)
        if draw(st.booleans()) and n % 5 == 0:
            events.append(dict(event))  # a retry: same id, same ts
    return attribution.as_events(events)


def _fed(walk: Any, events: list[attribution.StoredEvent], cuts: list[int]) -> Any:
    """The walk fed the events in slices by `ts`, cut at `cuts`, copying the walk at
    every cut as `walk_range` does with a checkpoint; and no copy walked on changes
    the walk it was copied from."""
    bounds = [0, *sorted(cuts), 11 * DAY]
    kept = []
    for low, high in itertools.pairwise(bounds):
        walk = walk.copy()
        walk.feed([e for e in events if low <= e.ts < high])
        kept.append((walk, copy.deepcopy(walk.result())))
    for checkpoint, result in kept:
        assert checkpoint.result() == result
    return walk


cut_lists = st.lists(st.integers(0, 10 * DAY), max_size=3)


@hypothesis_settings(max_examples=300, deadline=None)
@given(event_logs(), cut_lists, st.integers(0, 5 * DAY), st.sampled_from([HOUR, DAY, 7 * DAY]))
def test_a_popup_walk_in_slices_is_one_walk(events, cuts, start, window) -> None:
    whole = walks.PopupWalk(start, window)
    whole.feed(events)
    assert _fed(walks.PopupWalk(start, window), events, cuts).result() == whole.result()


@hypothesis_settings(max_examples=300, deadline=None)
@given(event_logs(), cut_lists, st.integers(0, 5 * DAY), st.sampled_from([HOUR, DAY]))
def test_a_showcase_walk_in_slices_is_what_attribution_computes(
    events, cuts, start, window
) -> None:
    expected = attribution._showcase_attribution(attribution.prepare(events), start, window)
    assert _fed(walks.ShowcaseWalk(start, window), events, cuts).result() == expected


def _reference_lifts(
    events: list[attribution.StoredEvent], start: int
) -> tuple[dict[str, Lift], dict[tuple[str, str], Lift]]:
    """The popup lifts from their definitions, session by session: a session is
    treated from its first `popup_shown` of the rule (of the variant), held out
    from its first `popup_suppressed` of the rule when it is never shown it, and
    converts with a purchase after that; counted if that event is from `start`."""
    ordered = attribution.prepare(events)
    by_session: dict[str, list[tuple[int, attribution.StoredEvent]]] = {}
    for position, event in enumerate(ordered):
        by_session.setdefault(event.sid, []).append((position, event))

    def outcome(session: list[Any], first: Any) -> tuple[bool, bool]:
        position, event = first
        bought = any(e.type == "purchase" and p > position for p, e in session)
        return event.ts >= start, bought

    rules: dict[str, list[list[int]]] = {}  # rule -> [[treated n, x], [held n, x]]
    shown: dict[tuple[str, str], list[int]] = {}
    held_of: dict[str, list[int]] = {}
    for session in by_session.values():
        popups = [(p, e) for p, e in session if e.type in ("popup_shown", "popup_suppressed")]
        for rule in {e.popup_id for _, e in popups}:
            of_rule = [(p, e) for p, e in popups if e.popup_id == rule]
            treated = [pe for pe in of_rule if pe[1].type == "popup_shown"]
            first = treated[0] if treated else of_rule[0]
            counted, bought = outcome(session, first)
            group = rules.setdefault(rule, [[0, 0], [0, 0]])[0 if treated else 1]
            if counted:
                group[0] += 1
                group[1] += bought
            for variant in {e.variant or attribution.NONE for _, e in treated}:
                of_variant = [
                    pe for pe in treated if (pe[1].variant or attribution.NONE) == variant
                ]
                counted, bought = outcome(session, of_variant[0])
                counts = shown.setdefault((rule, variant), [0, 0])
                if counted:
                    counts[0] += 1
                    counts[1] += bought
            if not treated:
                counted, bought = outcome(session, of_rule[0])
                counts = held_of.setdefault(rule, [0, 0])
                if counted:
                    counts[0] += 1
                    counts[1] += bought
    rule_lifts = {
        rule: compare(Group(*t), Group(*h)) for rule, (t, h) in rules.items() if t[0] or h[0]
    }
    variant_lifts = {
        key: compare(Group(*counts), Group(*held_of.get(key[0], [0, 0])))
        for key, counts in shown.items()
    }
    return rule_lifts, variant_lifts


@hypothesis_settings(max_examples=300, deadline=None)
@given(event_logs(), cut_lists, st.integers(0, 5 * DAY))
def test_popup_lifts_are_what_their_definitions_give(events, cuts, start) -> None:
    result = _fed(walks.PopupWalk(start, DAY), events, cuts).result()
    assert (result.lifts, result.variant_lifts) == _reference_lifts(events, start)


def test_a_copy_leaves_the_checkpoint_as_it_was() -> None:
    first = attribution.as_events([
        {"id": "a", "type": "popup_shown", "ts": 10, "vid": "v", "sid": "s", "popup_id": "r"},
    ])  # fmt: skip
    later = attribution.as_events([
        {"id": "b", "type": "popup_shown", "ts": 20, "vid": "w", "sid": "t", "popup_id": "r"},
        {"id": "c", "type": "purchase", "ts": 30, "vid": "v", "sid": "s", "value": 9.0},
    ])  # fmt: skip
    kept = walks.PopupWalk(0, DAY)
    kept.feed(first)
    before = kept.result()
    walked_on = kept.copy()
    walked_on.feed(later)
    assert kept.result() == before
    assert len(walked_on.result().figures["r"][0].shown) == 2
    assert walked_on.result().figures["r"][0].view_orders == 1


def test_walk_range_keeps_a_checkpoint_and_drops_it_after_an_erasure(settings) -> None:
    store, secret = make_store(settings)
    auth = {"authorization": f"Bearer {secret}"}
    now = now_ms()
    t0 = now - 40 * HOUR
    sent = []
    for n, vid in enumerate(["v1", "v2", "v3", "v4"]):
        ts = t0 + n * 10 * HOUR  # 40, 30, 20 and 10 hours ago
        sent += [
            {"id": f"s{n}", "type": "showcase_view", "ts": ts, "vid": vid, "sid": vid,
             "placement": "home", "url": "https://shop.example/"},
            {"id": f"c{n}", "type": "showcase_click", "ts": ts + 1, "vid": vid, "sid": vid,
             "placement": "home", "rec_id": "x1", "items": [{"item_id": "i1"}],
             "url": "https://shop.example/"},
        ]  # fmt: skip
    with TestClient(create_app(settings), headers={"user-agent": BROWSER_UA}) as client:
        answer = client.post("/v1/collect", json={"k": store.public_key, "events": sent})
        assert answer.json()["accepted"] == len(sent), answer.text

        # As if it were a day later: the first two visits are settled, the rest live.
        later = now + 25 * HOUR
        since, end = t0 - HOUR, now + HOUR

        async def report(redis: Any) -> tuple[Any, Any]:
            walked = await walks.walk_range(
                redis, store.id, "test", lambda: walks.ShowcaseWalk(t0, DAY),
                walks.SHOWCASE_TYPES, since, end, later,
            )  # fmt: skip
            every = await read_events(redis, store.id, since, later, since, walks.SHOWCASE_TYPES)
            alone = walks.ShowcaseWalk(t0, DAY)
            alone.feed(every)
            return walked, alone.result()

        walked, alone = run_with_redis(settings, report)
        assert walked == alone
        assert walked.placements["home"].views == 4
        key = (store.id, "test", since, end)
        kept = walks._checkpoints[key]
        assert kept.upto_ms == (later - walks.SETTLED_MS) // HOUR * HOUR
        assert kept.walk.result().placements["home"].views == 2  # v1 and v2 only

        again, _ = run_with_redis(settings, report)
        assert again == walked and walks._checkpoints[key] is kept  # not walked again

        assert client.delete("/v1/admin/visitors/v1", headers=auth).status_code == 200
        erased, alone = run_with_redis(settings, report)
        assert erased == alone and erased.placements["home"].views == 3
        assert walks._checkpoints[key] is not kept

        # A result is kept for as many events after the checkpoint; one more is
        # another result.
        assert run_with_redis(settings, report)[0] is erased
        one_more = {"id": "s9", "type": "showcase_view", "ts": now - HOUR, "vid": "v9",
                    "sid": "v9", "placement": "home", "url": "https://shop.example/"}  # fmt: skip
        client.post("/v1/collect", json={"k": store.public_key, "events": [one_more]})
        grown, alone = run_with_redis(settings, report)
        assert grown == alone and grown.placements["home"].views == 4
