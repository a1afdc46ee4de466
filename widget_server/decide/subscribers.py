"""E-mail addresses shoppers give in an `email_capture` or `spin_to_win` popup.

`POST /v1/subscribe` (public key) takes `{"k", "vid", "popup_id", "email"}` as JSON
or `text/plain` (like collect: no CORS preflight), and optionally the shop's
`platform`; `popup_id` must be one of the store's popups that take an address. The
snippet reveals an `email_capture` popup's coupon once the address is accepted. For
a `spin_to_win` popup the answer carries the `prize`: drawn here, by the server,
from the visitor's variant of the rule (`popups/wheel.py`); nothing else the page
sends (a slice, a prize, a code) is read. Addresses are personal data: the merchant
lists them (`GET /v1/admin/subscribers`, JSON or CSV) and erases one on request
(`DELETE /v1/admin/subscribers/{email}`); nothing else in Tarry reads them.
"""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from widget_server.auth import cors_headers, store_from_public_key, store_from_secret
from widget_server.decide.endpoint import Decider
from widget_server.popups.assignment import pick_variant
from widget_server.popups.render import apply_link, render_prize, turn_degrees
from widget_server.popups.rulebook import Rulebook
from widget_server.popups.schema import EMAIL_TEMPLATES, Rule, Segment
from widget_server.popups.wheel import Prize
from widget_server.responses import (
    STORAGE_ERRORS,
    error,
    json_response,
    storage_unavailable,
    too_deep,
)
from widget_server.storage import keys
from widget_server.storage.clock import now_ms, utc_day

MAX_BODY = 4096
# Sign-ups accepted from one address per hour; a shop's real visitors never come
# close, a script filling the list with junk does at once.
PER_ADDRESS_PER_HOUR = 20
# Deliberately plain: one @, a dot in the domain, no spaces. Deliverability is the
# mail system's business; this only catches typing slips.
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s.]{2,}$")
# `\Z`, not `$`: `$` also matches before a final newline ("v1\n").
_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}\Z")
# The shop's platform, as the snippet sees it: where a code can be applied by a link.
PLATFORMS = ("shopify", "woocommerce", "magento", "other")


def _check(data: Any) -> dict[str, str] | str:
    """The fields, or the first problem, naming the field."""
    if not isinstance(data, dict):
        return "body: must be a JSON object"
    for field in ("k", "vid", "popup_id", "email"):
        if not isinstance(data.get(field), str) or not data[field]:
            return f"{field}: required"
    if not _ID.match(data["vid"]):
        return "vid: 1-64 letters, digits or _.:-"
    if not _ID.match(data["popup_id"]):
        return "popup_id: 1-64 letters, digits or _.:-"
    email = data["email"].strip()
    if len(email) > 254 or not _EMAIL.match(email):
        return "email: not an e-mail address"
    platform = data.get("platform")
    if platform is not None and platform not in PLATFORMS:
        return f"platform: one of {', '.join(PLATFORMS)}, or absent"
    return {
        "k": data["k"],
        "vid": data["vid"],
        "popup_id": data["popup_id"],
        "email": email,
        "platform": platform or "other",
    }


async def _capturing_rule(decider: Decider, store_id: str, popup_id: str) -> Rule | str:
    """The popup's rule, or why it cannot take an address. The enabled rules come
    from the rulebook cache; only an id not among them costs a read, so that a popup
    disabled since the shopper saw it still takes the address it asked for."""
    loaded = await decider.loaded(store_id)
    rule = next((r for r in loaded.rules if r.id == popup_id), None)
    if rule is None:
        try:
            rule = await Rulebook(decider.redis, store_id).rule(popup_id)
        except ValueError:  # written by another version of Tarry: never shown either
            rule = None
    if rule is None:
        return "popup_id: no popup rule with this id"
    if rule.template not in EMAIL_TEMPLATES:
        return "popup_id: this popup does not capture e-mail addresses"
    return rule


def _slice_of(prize: Prize, segments: list[Segment]) -> int:
    """Where the prize's slice is on the wheel now: where it was won, unless the
    merchant has since rearranged the wheel (then the first slice of that label)."""
    if prize.segment < len(segments) and segments[prize.segment].label == prize.label:
        return prize.segment
    same = [i for i, segment in enumerate(segments) if segment.label == prize.label]
    return same[0] if same else prize.segment % len(segments)


async def _spin(
    decider: Decider, store_id: str, rule: Rule, checked: dict[str, str], now: int
) -> dict[str, Any] | None:
    """The visitor's prize on the wheel of their variant, drawn now or won before."""
    assert rule.id is not None
    variant = pick_variant(rule.id, checked["vid"], [(v.id, v.weight) for v in rule.variants])
    content = rule.variant_content(variant)
    segments = content.segments or []
    prize = await decider.wheel.spin(store_id, rule.id, segments, checked["vid"], now)
    if prize is None:
        return None
    link = None if prize.code is None else apply_link(content, prize.code, checked["platform"])
    where = _slice_of(prize, segments)
    return {
        "segment": where,
        "label": prize.label,
        "code": prize.code,
        "apply_url": link,
        "turn": turn_degrees(where, len(segments)),
        "html": render_prize(content, prize.label, prize.code, link),
    }


async def subscribe(request: Request) -> Response:
    cors = cors_headers(request)
    body = await request.body()
    if len(body) > MAX_BODY:
        return error(413, f"body: at most {MAX_BODY} bytes", cors)
    try:
        data = json.loads(body)
    except ValueError:
        return error(400, "body: not valid JSON", cors)
    except RecursionError:
        return error(400, too_deep("body"), cors)
    checked = _check(data)
    if isinstance(checked, str):
        return error(400, checked, cors)
    state = request.app.state
    try:
        store = await store_from_public_key(request, checked["k"])
        if isinstance(store, Response):
            return store
        rule = await _capturing_rule(state.decider, store.id, checked["popup_id"])
        if isinstance(rule, str):
            return error(400, rule, cors)
        now = now_ms()
        client = request.client.host if request.client else ""
        address = await state.salt.ip_hash(utc_day(now), store.id, client)
        limit_key = keys.subscribe_limit(store.id, address, now // 3_600_000)
        redis = state.storage.client
        count = await redis.incr(limit_key)
        if count == 1:
            await redis.expire(limit_key, 3600)
        if count > PER_ADDRESS_PER_HOUR:
            retry = str(3600 - (now // 1000) % 3600)
            message = f"rate: at most {PER_ADDRESS_PER_HOUR} sign-ups an hour from one address"
            return error(429, message, {**cors, "Retry-After": retry})
        record = {
            "email": checked["email"],
            "vid": checked["vid"],
            "popup_id": checked["popup_id"],
            "ts": now,
        }
        added = await redis.hsetnx(
            keys.subscribers(store.id), checked["email"].lower(), json.dumps(record)
        )
        answer: dict[str, Any] = {"subscribed": True, "new": bool(added)}
        if rule.template == "spin_to_win":
            answer["prize"] = await _spin(state.decider, store.id, rule, checked, now)
    except STORAGE_ERRORS:
        state.metrics.redis_errors.inc()
        return storage_unavailable(cors)
    return json_response(answer, headers=cors)


async def list_subscribers(request: Request) -> Response:
    redis = request.app.state.storage.client
    try:
        store = await store_from_secret(request, redis)
        if isinstance(store, Response):
            return store
        raw = await redis.hgetall(keys.subscribers(store.id))
    except STORAGE_ERRORS:
        request.app.state.metrics.redis_errors.inc()
        return storage_unavailable()
    records = sorted((json.loads(v) for v in raw.values()), key=lambda r: (r["ts"], r["email"]))
    if request.query_params.get("format") == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, ["email", "vid", "popup_id", "ts"])
        writer.writeheader()
        writer.writerows(records)
        disposition = 'attachment; filename="subscribers.csv"'
        return Response(
            out.getvalue(), media_type="text/csv", headers={"Content-Disposition": disposition}
        )
    return json_response({"subscribers": records})


async def erase_subscriber(request: Request) -> Response:
    redis = request.app.state.storage.client
    try:
        store = await store_from_secret(request, redis)
        if isinstance(store, Response):
            return store
        email = str(request.path_params["email"]).strip().lower()
        removed = await redis.hdel(keys.subscribers(store.id), email)
    except STORAGE_ERRORS:
        request.app.state.metrics.redis_errors.inc()
        return storage_unavailable()
    if not removed:
        return error(404, "email: not a subscriber of this store")
    return Response(status_code=204)
