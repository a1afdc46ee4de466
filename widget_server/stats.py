"""The analyst's API (`/v1/stats/...`, secret key)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from starlette.requests import Request
from starlette.responses import Response

from widget_server import aggregates
from widget_server.auth import store_from_secret
from widget_server.responses import STORAGE_ERRORS, error, json_response, storage_unavailable


async def summary(request: Request) -> Response:
    """Totals and rates for `from`..`to` (UTC days, inclusive; default: the last 7)."""
    redis = request.app.state.storage.client
    try:
        store = await store_from_secret(request, redis)
        if isinstance(store, Response):
            return store
        today = datetime.now(UTC).date()
        params = request.query_params
        try:
            last = aggregates.parse_day("to", params["to"]) if "to" in params else today
            first = (
                aggregates.parse_day("from", params["from"])
                if "from" in params
                else last - timedelta(days=6)
            )
            figures = await aggregates.summary(redis, store.id, first, last)
        except aggregates.RangeError as exc:
            return error(400, str(exc))
    except STORAGE_ERRORS:
        request.app.state.metrics.redis_errors.inc()
        return storage_unavailable()
    return json_response({"store_id": store.id, **figures})
