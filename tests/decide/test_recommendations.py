"""`GET /v1/recommendations`: a bad parameter's error names the parameter the caller
sent (and so do /v1/decide's key errors)."""

from __future__ import annotations

import pytest
from helpers import make_store
from starlette.testclient import TestClient

from recommender.serving import STRATEGIES
from widget_server.settings import Settings


@pytest.mark.parametrize(
    ("params", "message"),
    [
        # No `strategy` was sent: the placement is what named the unknown strategy.
        (
            {"placement": "foo"},
            "placement: 'foo' names no strategy; without `strategy` it must be one of "
            + ", ".join(STRATEGIES),
        ),
        (
            {"strategy": "best", "placement": "home"},
            f"strategy: must be one of {', '.join(STRATEGIES)}, got 'best'",
        ),
        ({"strategy": "best"}, f"strategy: must be one of {', '.join(STRATEGIES)}, got 'best'"),
        ({"placement": "similar", "n": "0"}, "n: must be between 1 and 100, got 0"),
        ({"placement": "x" * 65, "strategy": "popular"}, "placement: at most 64 characters"),
    ],
)
def test_an_error_names_the_parameter_sent(
    client: TestClient, settings: Settings, params: dict[str, str], message: str
) -> None:
    store, _ = make_store(settings)
    response = client.get("/v1/recommendations", params={"k": store.public_key, **params})
    assert response.status_code == 400
    assert response.json() == {"error": message}


def test_a_placement_of_its_own_needs_only_a_strategy(
    client: TestClient, settings: Settings
) -> None:
    store, _ = make_store(settings)
    response = client.get(
        "/v1/recommendations",
        params={"k": store.public_key, "placement": "home-hero", "strategy": "popular"},
    )
    assert response.status_code == 200
    assert (response.json()["placement"], response.json()["strategy"]) == ("home-hero", "popular")


@pytest.mark.parametrize("path", ["/v1/recommendations", "/v1/decide"])
@pytest.mark.parametrize("param", ["k", "key"])
def test_a_key_error_names_the_key_parameter_sent(
    client: TestClient, settings: Settings, path: str, param: str
) -> None:
    make_store(settings)
    page = {"vid": "v1", "sid": "s1"}
    unknown = client.get(path, params={param: "pk_nosuchstore0_x", **page})
    assert unknown.status_code == 401
    assert unknown.json() == {"error": f"{param}: unknown or disabled public key"}
    not_public = client.get(path, params={param: "rk_nothing", **page})
    assert not_public.json() == {"error": f"{param}: a public key (pk_...) is required"}
    leaked = client.get(path, params={param: "sk_secret", **page})
    assert leaked.json()["error"].startswith(f"{param}: this is the store's secret key")
    # With neither, the error names the parameter's first name.
    missing = client.get(path, params=page)
    assert missing.json() == {"error": "k: a public key (pk_...) is required"}
