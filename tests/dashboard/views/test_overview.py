"""The overview: the figures of events sent through /v1/collect, with their change,
the chart and its table, breakdowns, the funnel, visitors now, and its CSV."""

from __future__ import annotations

import random
import re
import time
from typing import Any

from starlette.testclient import TestClient

from widget_server.settings import Settings
from widget_server.storage import stores


def _collect(client: TestClient, store: stores.Store, traffic: Any, sessions: int) -> int:
    rng = random.Random(2)
    now = int(time.time() * 1000)
    for n in range(sessions):
        events = traffic.session_events(rng, n, now - 600_000 + n * 1000)
        answer = client.post("/v1/collect", json={"k": store.public_key, "events": events})
        assert answer.json()["accepted"] == len(events), answer.text
    return sessions


def _value(page: str, label: str) -> str:
    card = page[page.index(f'<span class="label">{label}</span>') :]
    found = re.search(r'<span class="number"><data value="([^"]+)"', card)
    assert found, label
    return found.group(1)


def test_the_figures_are_those_of_the_events_collected(
    signed_in: TestClient, shop_store: tuple[stores.Store, str], traffic: Any
) -> None:
    sent = _collect(signed_in, shop_store[0], traffic, 6)
    page = signed_in.get("/dashboard?range=today").text
    assert _value(page, "Sessions") == str(sent)
    assert int(_value(page, "Visitors")) == 6
    api = signed_in.get("/v1/stats/overview", headers={"authorization": f"Bearer {shop_store[1]}"})
    assert float(_value(page, "Bounce rate")) == api.json()["figures"]["bounce_rate"]["value"]
    # The chart for today is by hour, with its table; visitors now from the last minutes.
    assert (
        '<svg class="chart" id="main-chart"' in page
        and page.count('<tr><th scope="row"><time') == 24
    )
    assert re.search(r'data-live="/dashboard/realtime.json">\s*<span class="pulse"', page)
    live = signed_in.get("/dashboard/realtime.json").json()
    assert live["visitors"] == 6 and live["events_30_minutes"] > 0


def test_the_chart_compares_with_the_previous_period(
    signed_in: TestClient, shop_store: tuple[stores.Store, str], settings: Settings, traffic: Any
) -> None:
    traffic.fill_history(settings, shop_store[0].id, 14)
    page = signed_in.get("/dashboard?range=7d&metric=conversion_rate").text
    assert '<path class="line previous"' in page and '<path class="line current"' in page
    assert '<h2 id="chart-title">Conversion rate</h2>' in page
    assert 'data-fmt="percent"' in page[page.index('id="main-chart"') :]
    assert '<span class="change ' in page  # every figure with its change


def test_breakdown_panels_switch_by_the_url_and_download_as_csv(
    signed_in: TestClient, shop_store: tuple[stores.Store, str], traffic: Any
) -> None:
    _collect(signed_in, shop_store[0], traffic, 5)
    page = signed_in.get("/dashboard?range=today&sources=utm_source").text
    sources = page[page.index('id="panel-sources"') : page.index('id="panel-pages"')]
    assert 'aria-current="true">UTM source</a>' in sources and "<bdi>news</bdi>" in sources
    channels = signed_in.get("/dashboard?range=today").text
    # Channels are codes with words of their own; sources are names, kept as written.
    assert '<span class="value-name">E-mail</span>' in channels
    csv = signed_in.get("/dashboard/csv/breakdown?range=today&by=utm_source")
    rows = csv.text.lstrip("\ufeff").splitlines()
    assert rows[0].startswith("by,value,sessions") and any(",news," in row for row in rows)
    funnel = signed_in.get("/dashboard/csv/funnel?range=today").text.lstrip("\ufeff").splitlines()
    assert funnel[0].startswith("step,sessions") and funnel[1].startswith("sessions,5,")


def test_a_bad_range_in_the_url_is_told(signed_in: TestClient) -> None:
    page = signed_in.get("/dashboard?from=2026-02-30").text
    assert "That date range cannot be shown (from: must be a date as YYYY-MM-DD" in page
