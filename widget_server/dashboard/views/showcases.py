"""Showcases: each placement's figures and lift, the model in service, retraining
with live progress, and rollback to an earlier version.

Context of `showcases.html`: `report` (campaigns.showcases: rows per placement and
the overall lift), `verdicts` (by placement, and `all`), `slots` (the store's
configured carousels), `model` (the version in service and its meta.json), `scores`
(its holdout quality beside whatever baselines the meta holds), `versions`,
`job` (the training this server runs, as JSON), `busy_elsewhere`, `notice`.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.responses import JSONResponse, Response

from widget_server.analytics import campaigns, counters, traffic
from widget_server.analytics.periods import day_range
from widget_server.dashboard import rule_form
from widget_server.dashboard.training import trainer
from widget_server.dashboard.verdict import FOOTNOTE, verdict
from widget_server.dashboard.web import Page, redirect, secure, signed_in, signed_in_api
from widget_server.models import registry
from widget_server.storage import keys
from widget_server.storage.connect import sync_storage

# Holdout quality, in the order shown; the meta's evaluation names them.
METRICS = ("ndcg@10", "precision@10", "recall@10", "hit_rate@10", "coverage")
BASELINES = {"popular": "Popular items", "item_knn": "Item-kNN"}


async def showcase_report(page: Page) -> dict[str, Any]:
    span = page.range.last_days(campaigns.MAX_DAYS)
    period = day_range(span.first, span.last, page.zone)
    (sums,) = await counters.sums(page.redis, page.store.id, [period])
    revenue = traffic.figures(sums, None, page.settings.currency)["revenue"]
    return await campaigns.showcases(
        page.redis, page.store.id, span.first, span.last, page.zone, page.settings, revenue
    )


async def model_versions(page: Page) -> list[dict[str, Any]]:
    """The kept versions, newest first, as `registry.versions` lists them."""
    raw = await page.redis.hgetall(keys.models(page.store.id))
    current = await page.redis.get(keys.model_current(page.store.id))
    current = current.decode() if isinstance(current, bytes) else current
    found = []
    for version, meta_raw in raw.items():
        meta = json.loads(meta_raw)
        meta["version"] = version.decode() if isinstance(version, bytes) else version
        meta["current"] = meta["version"] == current
        found.append(meta)
    return sorted(found, key=lambda m: int(str(m["version"]).removeprefix("v")), reverse=True)


def scores(meta: dict[str, Any]) -> list[dict[str, Any]]:
    """The model's holdout scores beside the baselines its meta.json has: one row
    per model, with the metrics it has."""
    evaluation = meta.get("evaluation") or {}
    rows = []
    candidate = evaluation.get("candidate")
    if isinstance(candidate, dict):
        rows.append({"model": "This model", **candidate})
    baselines = evaluation.get("baselines") or {}
    for name, label in BASELINES.items():
        figures = baselines.get(name) or evaluation.get(name)
        if isinstance(figures, dict):
            rows.append({"model": label, **figures})
    replaced = evaluation.get("in_service")
    if isinstance(replaced, dict):
        rows.append({"model": "The model it replaced", **replaced})
    return rows


@signed_in
async def showcases_page(page: Page) -> Response:
    report = await showcase_report(page)
    verdicts = {
        row["placement"]: verdict(row["lift"], page.language, page.settings.showcase_holdout)
        for row in report["rows"]
    }
    verdicts["all"] = verdict(report["lift"], page.language, page.settings.showcase_holdout)
    versions = await model_versions(page)
    current = next((v for v in versions if v["current"]), None)
    jobs = trainer(page.request.app.state)
    job = jobs.jobs.get(page.store.id)
    notice = page.request.query_params.get("notice")
    return page.render(
        "showcases.html",
        "showcases",
        report=report,
        verdicts=verdicts,
        slots=page.settings.showcases,
        model=current,
        scores=scores(current) if current else [],
        metrics=METRICS,
        baselines_missing=current is not None
        and not any(r["model"] in BASELINES.values() for r in scores(current)),
        versions=versions,
        job=job.to_json() if job else None,
        busy_elsewhere=await jobs.busy_elsewhere(page.store.id),
        notice=notice,
        rolled_to=page.request.query_params.get("version"),
        footnote=FOOTNOTE,
        shortened=page.range.days > campaigns.MAX_DAYS,
        strategies=rule_form.STRATEGIES,
        max_days=campaigns.MAX_DAYS,
    )


@signed_in
async def retrain(page: Page) -> Response:
    started = await trainer(page.request.app.state).start(page.store.id)
    return redirect("/dashboard/showcases" + ("" if started else "?notice=busy"))


def _label(page: Page, job: dict[str, Any]) -> str:
    _ = page.language.translate
    if job["running"]:
        return str(_("Training…"))
    if job["published"]:
        return str(_("Published {version}.", version=job["version"]))
    if job["code"] == 3:
        return str(_("Trained, not published: {reason}", reason=job["reason"] or ""))
    return str(_("Training failed (exit status {code}); the log says why.", code=job["code"]))


@signed_in_api
async def training_status(page: Page) -> Response:
    job = trainer(page.request.app.state).jobs.get(page.store.id)
    if job is None:
        return secure(JSONResponse({"running": False, "lines": [], "label": ""}))
    answer = job.to_json()
    return secure(JSONResponse({**answer, "label": _label(page, answer)}))


@signed_in
async def rollback(page: Page) -> Response:
    """`tarry model rollback --to VERSION`: the registry's own function."""
    version = page.field("version") or None
    settings = page.request.app.state.settings

    def roll() -> str:
        with sync_storage(settings) as redis:
            return registry.rollback(redis, settings.data_dir, page.store.id, version)

    try:
        done = await asyncio.to_thread(roll)
    except registry.RegistryError:
        return redirect("/dashboard/showcases?notice=rollback_failed")
    return redirect(f"/dashboard/showcases?notice=rolled_back&version={done}")
