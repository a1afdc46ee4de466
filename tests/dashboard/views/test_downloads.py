"""Every table as CSV, with the rows its page shows."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from widget_server.dashboard.views.downloads import TABLES, flatten
from widget_server.settings import Settings
from widget_server.storage import stores


def test_nested_figures_become_columns() -> None:
    row = {"rule_id": "r", "lift": {"ci95": [0.1, 0.2], "treatment": {"sessions": 5}}, "v": [1]}
    assert flatten(row) == {
        "rule_id": "r", "lift_ci95_low": 0.1, "lift_ci95_high": 0.2, "lift_treatment_sessions": 5,
    }  # fmt: skip


@pytest.mark.parametrize("table", sorted(TABLES))
def test_every_table_downloads(
    signed_in: TestClient,
    shop_store: tuple[stores.Store, str],
    settings: Settings,
    traffic: Any,
    table: str,
) -> None:
    traffic.fill_history(settings, shop_store[0].id, 5)
    answer = signed_in.get(f"/dashboard/csv/{table}", params={"range": "7d", "q": "s"})
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    assert answer.headers["content-disposition"].startswith(f'attachment; filename="{table}-')
    assert answer.text.startswith("\ufeff")
    assert answer.headers["x-content-type-options"] == "nosniff"


def test_an_unknown_table_is_a_404_page(signed_in: TestClient) -> None:
    answer = signed_in.get("/dashboard/csv/secrets")
    assert answer.status_code == 404 and "text/html" in answer.headers["content-type"]
