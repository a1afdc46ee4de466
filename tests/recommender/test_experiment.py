"""The validation search: every signal alone is a candidate, so the blend it picks
is never worse on validation than the best of them; the protocol scores what the
server serves, repeats as the data decided."""

from __future__ import annotations

import dataclasses

import pytest

from recommender import experiment
from recommender.interactions import Weighting
from recommender.profile import profile
from recommender.synthetic import STRUCTURES, generate

DRIFT = dataclasses.replace(STRUCTURES["drift"], n_users=500, n_items=150, days=40)


@pytest.fixture(scope="module")
def drift_search() -> experiment.SearchResult:
    data = generate(DRIFT)
    found = profile(data)
    training_part = experiment.make_task(data, "user", Weighting(), data_profile=found).train
    return experiment.search(training_part, "user", data_profile=found)


def test_the_blend_is_at_least_the_best_signal_alone_on_validation(drift_search) -> None:
    assert drift_search.validation_ndcg == max(t["ndcg@10"] for t in drift_search.tried)
    assert set(drift_search.components) == {"als", "cooccurrence", "sknn", "trending"}
    # No one re-buys here: there is no `repeat` signal to try.
    assert all(c.blend.repeat == 0 for c in drift_search.components.values())


def test_where_popularity_drifts_the_blend_leans_on_trending(drift_search) -> None:
    blend = drift_search.config.blend
    assert blend.trending > 0
    assert blend.trending >= max(blend.als, blend.cooccurrence, blend.sknn)


def test_the_user_protocol_asks_the_bundle_for_a_known_visitor_by_id() -> None:
    data = generate(DRIFT)
    task = experiment.make_task(data, "user", Weighting(), data_profile=profile(data))
    assert task.visitors and task.exclude_history  # no repeats: seen items are left out
    for user, relevant in list(task.relevant.items())[:50]:
        seen = set(task.history[user][0])
        assert relevant and not relevant & seen
