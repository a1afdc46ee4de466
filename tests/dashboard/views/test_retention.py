"""Retention: the customer figures and the cohorts as a heat map."""

from __future__ import annotations

import re
from typing import Any

from starlette.testclient import TestClient

from widget_server.dashboard.views.retention import heat_level
from widget_server.settings import Settings
from widget_server.storage import stores


def test_heat_levels_run_from_the_empty_cell_to_the_highest_share() -> None:
    assert heat_level(0, 0.5) == 0 and heat_level(0.3, 0) == 0
    assert heat_level(0.5, 0.5) == 9
    assert heat_level(0.01, 0.5) == 1  # any share at all shows
    assert [heat_level(s, 1.0) for s in (0.2, 0.4, 0.6)] == [2, 4, 6]


def test_the_page_shows_the_api_figures_and_a_heat_map(
    signed_in: TestClient, shop_store: tuple[stores.Store, str], settings: Settings, traffic: Any
) -> None:
    traffic.fill_history(settings, shop_store[0].id, 40)
    page = signed_in.get("/dashboard/retention?range=30d&by=week").text
    shown = {name: re.search(rf'name="{name}" value="([^"]+)"', page) for name in ("from", "to")}
    params = {name: found.group(1) for name, found in shown.items() if found}
    auth = {"authorization": f"Bearer {shop_store[1]}"}
    api = signed_in.get("/v1/stats/retention", params=params, headers=auth).json()["figures"]
    customers = re.search(r'Customers</span>\s*<span class="number"><data value="(\d+)"', page)
    assert customers and int(customers.group(1)) == api["customers"] > 0
    assert '<table class="heat">' in page
    cells = re.findall(r'<td class="heat-(\d)"', page)
    assert cells and "9" in cells and all(0 <= int(c) <= 9 for c in cells)
    assert 'aria-current="true">Buyers by week</a>' in page
    csv = signed_in.get("/dashboard/csv/cohorts?by=week").text.lstrip("\ufeff").splitlines()
    assert csv[0].startswith("cohort,size,+1")
