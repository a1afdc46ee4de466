"""The traffic statistics (`/v1/stats/overview|timeseries|breakdown|funnel|realtime`)
against figures computed here, independently, from the events the test sent.

The log is sent through the real `/v1/collect` (retries, duplicates and an order
sent twice included) to a store in a zone with a half-hour offset, around its local
midnight; a second log goes through the real ingest with the clock of a day of the
past, for a zone whose clocks changed that day. The reference computation below
knows nothing of counters or buckets: it groups the unique events by session."""

from __future__ import annotations

import csv
import io
import itertools
import json
import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from conftest import BROWSER_UA
from helpers import make_store, run_with_redis
from starlette.testclient import TestClient

from widget_server.app import create_app
from widget_server.collect.events import decode_event
from widget_server.collect.ingest import Context, Ingestor
from widget_server.settings import Settings
from widget_server.storage.clock import now_ms

PHONE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)
MINUTE = 60_000

# How each kind of arrival looks on the landing page, and the channel it must be.
SOURCES = {
    "direct": ({}, None, "direct"),
    "google": ({}, "https://www.google.com/search?q=mugs", "organic_search"),
    "facebook": ({}, "https://m.facebook.com/", "social"),
    "newsletter": ({"utm_source": "news", "utm_medium": "email", "utm_campaign": "may"}, None,
                   "email"),
    "ads": ({"gclid": "abc", "utm_campaign": "brand"}, "https://www.google.com/", "paid_search"),
    "blog": ({}, "https://blog.example/best-mugs", "referral"),
}  # fmt: skip
PATHS = ["/", "/products/mug", "/collections/cups", "/sale/"]


@dataclass
class Session:
    sid: str
    vid: str
    device: str
    source: str
    path: str
    events: list[dict[str, Any]] = field(default_factory=list)


def _url(path: str, query: dict[str, str]) -> str:
    tail = "&".join(f"{k}={v}" for k, v in query.items())
    return f"https://shop.example{path}" + (f"?{tail}" if tail else "")


def build_log(rng: random.Random, start_ms: int, end_ms: int, n: int) -> list[Session]:
    """Sessions of varied shoppers, each as its events in order."""
    sessions = []
    serial = 0
    for i in range(n):
        vid = f"v{rng.randrange(n // 2)}"
        device = "mobile" if int(vid[1:]) % 3 == 0 else "desktop"
        source = rng.choice(sorted(SOURCES))
        path = rng.choice(PATHS)
        session = Session(f"s{i}", vid, device, source, path)
        t = rng.randrange(start_ms, end_ms - 20 * MINUTE)

        def add(type_: str, session: Session = session, **fields: Any) -> None:
            nonlocal serial, t
            serial += 1
            session.events.append(
                {"id": f"e{serial}", "type": type_, "ts": t, "vid": session.vid,
                 "sid": session.sid, **fields}
            )  # fmt: skip
            t += rng.randrange(10_000, 90_000)

        query, referrer, _ = SOURCES[source]
        landing = {"url": _url(path, query), "page_type": "home" if path == "/" else "product"}
        if referrer:
            landing["ref"] = referrer
        add("page_view", **landing)
        for _ in range(rng.choice([0, 0, 1, 2, 3])):
            add("page_view", url=_url(rng.choice(PATHS), {}), page_type="category")
        if rng.random() < 0.6:
            add("view_item", items=[{"item_id": f"sku{rng.randrange(9)}", "price": 12.5}])
            if rng.random() < 0.6:
                add("add_to_cart", items=[{"item_id": "sku1", "quantity": 1}])
                if rng.random() < 0.7:
                    add("begin_checkout")
                    if rng.random() < 0.7:
                        currency = rng.choice(["USD", "USD", None, "EUR"])
                        value = rng.randrange(500, 9999) / 100
                        add("purchase", value=value, currency=currency,
                            transaction_id=f"T{i}")  # fmt: skip
        if rng.random() < 0.5:
            add("engagement", engaged_ms=rng.choice([2_000, 9_999, 10_000, 45_000]))
        sessions.append(session)
    return sessions


# -- the reference computation --------------------------------------------------


def unique_events(sessions: list[Session]) -> list[dict[str, Any]]:
    seen: set[str] = set()
    out = []
    for session in sessions:
        for event in session.events:
            if event["id"] not in seen:
                seen.add(event["id"])
                out.append(event)
    return out


def local_date(ts: int, zone: ZoneInfo) -> date:
    return datetime.fromtimestamp(ts / 1000, zone).date()


def reference(sessions: list[Session], zone: ZoneInfo, days: set[date]) -> dict[str, Any]:
    """Every figure for the sessions starting (and orders placed) on `days`."""
    by_session: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in unique_events(sessions):
        by_session[event["sid"]].append(event)
    info = {s.sid: s for s in sessions}
    out: Counter[str] = Counter()
    visitors: set[str] = set()
    funnel = Counter()
    channels: dict[str, Counter[str]] = defaultdict(Counter)
    counted_orders: set[str] = set()
    other: Counter[str] = Counter()
    for sid, events in by_session.items():
        first = events[0]
        starts_here = local_date(first["ts"], zone) in days
        types = [e["type"] for e in events]
        page_views = types.count("page_view")
        engaged = (
            page_views >= 2
            or "add_to_cart" in types
            or "purchase" in types
            or any(e.get("engaged_ms", 0) >= 10_000 for e in events)
        )
        channel = SOURCES[info[sid].source][2]
        if starts_here:
            out["sessions"] += 1
            visitors.add(first["vid"])
            out["engaged_sessions"] += engaged
            out["single_page_sessions"] += page_views <= 1
            out["purchase_sessions"] += "purchase" in types
            out["engaged_ms"] += sum(e.get("engaged_ms", 0) for e in events)
            step = 0
            for kind in types:
                wanted = ["view_item", "add_to_cart", "begin_checkout", "purchase"]
                if step < 4 and kind == wanted[step]:
                    step += 1
                    funnel[step] += 1
            row = channels[channel]
            row["sessions"] += 1
            row["engaged"] += engaged
            row["converted"] += "purchase" in types
        for event in events:
            if local_date(event["ts"], zone) not in days:
                continue
            if event["type"] == "page_view":
                out["page_views"] += 1
            if event["type"] == "purchase" and event["transaction_id"] not in counted_orders:
                counted_orders.add(event["transaction_id"])
                minor = round(event["value"] * 100)
                if event.get("currency") in (None, "USD"):
                    out["orders"] += 1
                    out["revenue_minor"] += minor
                    channels[channel]["revenue_minor"] += minor
                    channels[channel]["orders"] += 1
                else:
                    other[event["currency"]] += minor
    return {
        "counts": out,
        "visitors": len(visitors),
        "funnel": funnel,
        "channels": channels,
        "other": other,
    }


def rate(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


# -- sending ----------------------------------------------------------------------


def send(client: TestClient, public_key: str, sessions: list[Session], rng: random.Random) -> None:
    """Each session's events in batches as the snippet sends them; some batches are
    sent twice (a retry after a lost answer), and one order is sent again under a
    new event id (a thank-you page reloaded)."""
    resent = 0
    for session in sessions:
        ua = PHONE_UA if session.device == "mobile" else BROWSER_UA
        events = session.events
        for start in range(0, len(events), 3):
            batch = events[start : start + 3]
            for _ in range(2 if rng.random() < 0.15 else 1):
                response = client.post(
                    "/v1/collect", json={"k": public_key, "events": batch},
                    headers={"user-agent": ua},
                )  # fmt: skip
                assert response.status_code == 200, response.text
                assert response.json()["rejected"] == []
        purchase = next((e for e in events if e["type"] == "purchase"), None)
        if purchase and not resent:
            resent += 1
            again = {**purchase, "id": purchase["id"] + "-reload", "ts": purchase["ts"] + 1000}
            client.post("/v1/collect", json={"k": public_key, "events": [again]},
                        headers={"user-agent": ua})  # fmt: skip
            session.events.append(again)


@pytest.fixture
def store(settings: Settings) -> tuple[Settings, str, str]:
    created, secret = make_store(settings)
    return settings, created.public_key, secret


def _stats(client: TestClient, secret: str, path: str, **params: str) -> Any:
    response = client.get(
        f"/v1/stats/{path}", params=params, headers={"authorization": f"Bearer {secret}"}
    )
    assert response.status_code == 200, response.text
    return response.json()


def _set_zone(client: TestClient, secret: str, zone: str) -> None:
    response = client.patch(
        "/v1/admin/settings", json={"timezone": zone},
        headers={"authorization": f"Bearer {secret}"},
    )  # fmt: skip
    assert response.status_code == 200, response.text


def _last_midnight(zone: ZoneInfo, before_ms: int) -> int:
    local = datetime.fromtimestamp(before_ms / 1000, zone)
    midnight = datetime(local.year, local.month, local.day, tzinfo=zone)
    return int(midnight.timestamp() * 1000)


def test_every_traffic_figure_matches_the_events_sent(store) -> None:
    settings, public_key, secret = store
    zone = ZoneInfo("Asia/Kolkata")
    now = now_ms()
    midnight = _last_midnight(zone, now - 2 * 3_600_000)
    rng = random.Random(20261201)
    sessions = build_log(rng, midnight - 20 * 3_600_000, midnight + 50 * MINUTE, 120)
    # A session that runs across local midnight, with its order after it.
    crossing = Session("cross", "v-cross", "desktop", "direct", "/")
    crossing.events = [
        {"id": "x1", "type": "page_view", "ts": midnight - 10 * MINUTE, "vid": "v-cross",
         "sid": "cross", "url": "https://shop.example/", "page_type": "home"},
        {"id": "x2", "type": "add_to_cart", "ts": midnight - 5 * MINUTE, "vid": "v-cross",
         "sid": "cross", "items": [{"item_id": "sku1"}]},
        {"id": "x3", "type": "purchase", "ts": midnight + 5 * MINUTE, "vid": "v-cross",
         "sid": "cross", "value": 40.0, "currency": "USD", "transaction_id": "T-cross"},
    ]  # fmt: skip
    sessions.append(crossing)
    before, after = local_date(midnight - 1, zone), local_date(midnight, zone)

    with TestClient(create_app(settings), headers={"user-agent": BROWSER_UA}) as client:
        _set_zone(client, secret, "Asia/Kolkata")
        send(client, public_key, sessions, rng)

        for days in ({before}, {after}, {before, after}):
            first, last = min(days), max(days)
            want = reference(sessions, zone, days)
            counts = want["counts"]
            got = _stats(client, secret, "overview", **{"from": str(first), "to": str(last)})
            figures = {name: value["value"] for name, value in got["figures"].items()}
            assert got["timezone"] == "Asia/Kolkata"
            assert figures["sessions"] == counts["sessions"]
            assert figures["visitors"] == want["visitors"]
            assert figures["page_views"] == counts["page_views"]
            assert figures["engaged_sessions"] == counts["engaged_sessions"]
            assert figures["bounce_rate"] == pytest.approx(
                1 - counts["engaged_sessions"] / counts["sessions"]
            )
            assert figures["single_page_rate"] == pytest.approx(
                counts["single_page_sessions"] / counts["sessions"]
            )
            assert figures["average_engaged_seconds"] == pytest.approx(
                counts["engaged_ms"] / counts["sessions"] / 1000
            )
            assert figures["conversion_rate"] == pytest.approx(
                counts["purchase_sessions"] / counts["sessions"]
            )
            assert figures["orders"] == counts["orders"]
            assert got["revenue_minor"] == counts["revenue_minor"]
            assert figures["revenue"] == pytest.approx(counts["revenue_minor"] / 100)
            if counts["orders"]:
                assert figures["average_order_value"] == pytest.approx(
                    counts["revenue_minor"] / 100 / counts["orders"], abs=1e-4
                )
            assert {o["currency"]: o["revenue_minor"] for o in got["other_currencies"]} == dict(
                +want["other"]
            )

            funnel = _stats(client, secret, "funnel", **{"from": str(first), "to": str(last)})
            steps = [row["sessions"] for row in funnel["rows"]]
            assert steps == [counts["sessions"], *(want["funnel"][k] for k in (1, 2, 3, 4))]
            assert [row["drop_off"] for row in funnel["rows"]][1:] == [
                a - b for a, b in itertools.pairwise(steps)
            ]

            channels = _stats(
                client, secret, "breakdown", by="channel", **{"from": str(first), "to": str(last)}
            )
            rows = {row["value"]: row for row in channels["rows"]}
            assert set(rows) == set(want["channels"])
            for channel, row in rows.items():
                ref = want["channels"][channel]
                assert row["sessions"] == ref["sessions"], channel
                assert row["bounce_rate"] == pytest.approx(1 - ref["engaged"] / ref["sessions"])
                assert row["conversion_rate"] == pytest.approx(ref["converted"] / ref["sessions"])
                assert row["revenue_minor"] == ref["revenue_minor"], channel
                assert row["orders"] == ref["orders"], channel

        # The session across midnight is one session of the day before; its order
        # counts on the day after.
        day_before = _stats(client, secret, "overview", **{"from": str(before), "to": str(before)})
        day_after = _stats(client, secret, "overview", **{"from": str(after), "to": str(after)})
        assert reference([crossing], zone, {before})["counts"]["sessions"] == 1
        assert reference([crossing], zone, {after})["counts"]["orders"] == 1
        both = _stats(client, secret, "overview", **{"from": str(before), "to": str(after)})
        assert (
            both["figures"]["sessions"]["value"]
            == day_before["figures"]["sessions"]["value"]
            + day_after["figures"]["sessions"]["value"]
        )

        series = _stats(
            client, secret, "timeseries", interval="day", **{"from": str(before), "to": str(after)}
        )
        assert [row["period"] for row in series["rows"]] == [str(before), str(after)]
        assert [row["sessions"] for row in series["rows"]] == [
            reference(sessions, zone, {d})["counts"]["sessions"] for d in (before, after)
        ]
        hourly = _stats(
            client, secret, "timeseries", interval="hour", **{"from": str(after), "to": str(after)}
        )
        assert len(hourly["rows"]) == 24
        assert hourly["rows"][0]["period"] == f"{after}T00:00+05:30"
        by_hour = Counter(
            datetime.fromtimestamp(events[0]["ts"] / 1000, zone).hour
            for events in _sessions_by_id(sessions).values()
            if local_date(events[0]["ts"], zone) == after
        )
        assert [row["sessions"] for row in hourly["rows"]] == [by_hour[h] for h in range(24)]

        devices = _stats(client, secret, "breakdown", by="device",
                         **{"from": str(before), "to": str(after)})  # fmt: skip
        want_devices = Counter(
            s.device for s in sessions if local_date(s.events[0]["ts"], zone) in {before, after}
        )
        assert {r["value"]: r["sessions"] for r in devices["rows"]} == dict(want_devices)

        pages = _stats(client, secret, "breakdown", by="landing_page", limit="2",
                       **{"from": str(before), "to": str(after)})  # fmt: skip
        want_pages = Counter(
            s.path.rstrip("/") or "/"
            for s in sessions
            if local_date(s.events[0]["ts"], zone) in {before, after}
        )
        top = sorted(want_pages.items(), key=lambda kv: (-kv[1], kv[0]))
        assert [(r["value"], r["sessions"]) for r in pages["rows"][:2]] == top[:2]
        assert pages["rows"][2]["value"] == "(rest)"
        assert pages["rows"][2]["sessions"] == sum(n for _, n in top[2:])

        # CSV: the same rows, one a line, under a header.
        response = client.get(
            "/v1/stats/timeseries",
            params={"from": str(before), "to": str(after), "format": "csv"},
            headers={"authorization": f"Bearer {secret}"},
        )
        assert response.headers["content-type"].startswith("text/csv")
        table = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
        assert [row["period"] for row in table] == [str(before), str(after)]
        assert [int(row["sessions"]) for row in table] == [
            row["sessions"] for row in series["rows"]
        ]


def _sessions_by_id(sessions: list[Session]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in unique_events(sessions):
        grouped[event["sid"]].append(event)
    return grouped


def test_a_day_when_the_clocks_changed_has_its_own_hours(store) -> None:
    """New York's clocks went back on 2026-11-01: that local day has 25 hours, and
    each session counts in the hour the wall clock showed."""
    settings, _, secret = store
    zone = ZoneInfo("America/New_York")
    day = date(2026, 11, 1)
    start = int(datetime(2026, 11, 1, tzinfo=zone).timestamp() * 1000)
    end = int(datetime(2026, 11, 2, tzinfo=zone).timestamp() * 1000)
    assert end - start == 25 * 3_600_000
    rng = random.Random(11)
    sessions = build_log(rng, start - 3 * 3_600_000, end + 3 * 3_600_000, 80)
    store_id = secret.split("_")[1]  # sk_<store id>_<secret>

    async def ingest(redis: Any) -> None:
        # The real ingest, with the clock of that day: collect accepts events of the
        # last 47 hours only, and this day is a month ago.
        ingestor = Ingestor(redis, retention_days=90, rate_limit_ip=0, rate_limit_visitor=0)
        for session in sessions:
            device = "mobile" if session.device == "mobile" else "desktop"
            decoded = [decode_event(_json(e)) for e in session.events]
            context = Context(store_id, session.events[-1]["ts"] + MINUTE, 0, device, "ih")
            result = await ingestor.ingest(decoded, context)
            assert result.accepted == len(session.events), result.rejected

    run_with_redis(settings, ingest)
    with TestClient(create_app(settings), headers={"user-agent": BROWSER_UA}) as client:
        _set_zone(client, secret, "America/New_York")
        hourly = _stats(
            client, secret, "timeseries", interval="hour", **{"from": str(day), "to": str(day)}
        )
        labels = [row["period"] for row in hourly["rows"]]
        assert len(labels) == 25
        assert labels[1:3] == ["2026-11-01T01:00-04:00", "2026-11-01T01:00-05:00"]
        want: Counter[str] = Counter()
        for events in _sessions_by_id(sessions).values():
            moment = datetime.fromtimestamp(events[0]["ts"] / 1000, zone)
            if moment.date() == day:
                want[moment.replace(minute=0, second=0, microsecond=0).isoformat()[:16]
                     + moment.isoformat()[-6:]] += 1  # fmt: skip
        assert {r["period"]: r["sessions"] for r in hourly["rows"] if r["sessions"]} == dict(want)

        overview = _stats(client, secret, "overview", **{"from": str(day), "to": str(day)})
        ref = reference(sessions, zone, {day})
        assert overview["figures"]["sessions"]["value"] == ref["counts"]["sessions"]
        assert overview["figures"]["orders"]["value"] == ref["counts"]["orders"]

        # The same history read in another zone: every session still counted once.
        _set_zone(client, secret, "Asia/Kathmandu")
        nepal = ZoneInfo("Asia/Kathmandu")
        span = sorted({local_date(e["ts"], nepal) for s in sessions for e in s.events[:1]})
        whole = _stats(client, secret, "overview", **{"from": str(span[0]), "to": str(span[-1])})
        assert whole["figures"]["sessions"]["value"] == len(sessions)
        per_day = _stats(
            client, secret, "timeseries", interval="day",
            **{"from": str(span[0]), "to": str(span[-1])},
        )  # fmt: skip
        assert [r["sessions"] for r in per_day["rows"]] == [
            reference(sessions, nepal, {d})["counts"]["sessions"] for d in
            (span[0] + timedelta(days=n) for n in range((span[-1] - span[0]).days + 1))
        ]  # fmt: skip


def _json(event: dict[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode()


@pytest.mark.parametrize("path", ["overview", "timeseries", "breakdown?by=channel", "funnel",
                                  "realtime"])  # fmt: skip
def test_stats_need_this_stores_secret_key(store, path: str) -> None:
    settings, public_key, secret = store
    _, other_secret = make_store(settings)
    with TestClient(create_app(settings), headers={"user-agent": BROWSER_UA}) as client:
        url = f"/v1/stats/{path}"
        assert client.get(url).status_code == 401
        assert client.get(url, headers={"authorization": f"Bearer {public_key}"}).status_code == 401
        client.post("/v1/collect", json={"k": public_key, "events": [
            {"id": "mine-only-event", "type": "page_view", "ts": now_ms(), "vid": "v", "sid": "s",
             "url": "https://shop.example/"}]})  # fmt: skip
        mine = client.get(url, headers={"authorization": f"Bearer {secret}"}).json()
        theirs = client.get(url, headers={"authorization": f"Bearer {other_secret}"}).json()
        assert mine["store_id"] != theirs["store_id"]
        assert "mine-only-event" not in str(theirs)
        if path == "overview":
            assert mine["figures"]["sessions"]["value"] == 1
            assert theirs["figures"]["sessions"]["value"] == 0
        if path == "realtime":
            assert mine["visitors"] == 1 and theirs["visitors"] == 0


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"from": "2026-13-01"}, "from: must be a date as YYYY-MM-DD"),
        ({"from": "2026-05-02", "to": "2026-05-01"}, "to: must not be before from"),
        ({"interval": "fortnight"}, "interval: must be one of hour, day, week, month"),
        ({"interval": "hour", "from": "2026-05-01", "to": "2026-05-05"}, "interval: hour is for"),
        ({"format": "xml"}, "format: must be json or csv"),
    ],
)
def test_bad_parameters_are_named(store, params: dict[str, str], message: str) -> None:
    settings, _, secret = store
    with TestClient(create_app(settings)) as client:
        response = client.get(
            "/v1/stats/timeseries", params=params, headers={"authorization": f"Bearer {secret}"}
        )
        assert response.status_code == 400
        assert response.json()["error"].startswith(message)


def test_breakdown_names_its_dimension(store) -> None:
    settings, _, secret = store
    with TestClient(create_app(settings)) as client:
        auth = {"authorization": f"Bearer {secret}"}
        missing = client.get("/v1/stats/breakdown", headers=auth)
        assert missing.status_code == 400
        assert missing.json()["error"].startswith("by: must be one of page_type, device, channel")
        assert client.get("/v1/stats/breakdown?by=device&limit=0", headers=auth).status_code == 400
