"""Every operation of the API: its parameters, body, and each status it answers with.

The statuses are read from the endpoints' code paths (tests/test_openapi_answers.py
makes every one of them happen and checks the answer against its description);
limits and enumerations come from the constants the endpoints check with.
"""

from __future__ import annotations

from typing import Any

from recommender.serving import MAX_ITEMS as MAX_RECOMMENDED
from recommender.serving import STRATEGIES
from widget_server.admin import imports
from widget_server.admin.catalog import CONTENT_TYPES
from widget_server.admin.catalog import MAX_BODY as MAX_FEED_BYTES
from widget_server.admin.catalog_import import FORMATS
from widget_server.admin.rules import MAX_BODY as MAX_RULE_BYTES
from widget_server.analytics import campaigns, customers, definitions, reports
from widget_server.analytics.periods import INTERVALS
from widget_server.collect.events import MAX_BODY_BYTES, MAX_EVENTS
from widget_server.decide import endpoint as decide
from widget_server.decide import recommendations, subscribers
from widget_server.imports.formats.rows import FORMATS as IMPORT_FORMATS
from widget_server.models.showcases import MAX_ITEMS as MAX_SLOT_ITEMS
from widget_server.popups.coupons import MAX_CODES_PER_UPLOAD
from widget_server.popups.rulebook import MAX_RULES
from widget_server.storage.keys import DIMENSION_CODES

PUBLIC: list[dict[str, list[str]]] = [{"publicKey": []}, {"publicKeyAsKey": []}]
SECRET: list[dict[str, list[str]]] = [{"secretKey": []}]
NO_KEY: list[dict[str, list[str]]] = []
ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"
FLAG = {"type": "string", "enum": ["true", "false", "1", "0", "yes", "no", ""]}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def answer(
    description: str, schema: str | None = None, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """A response: JSON of the named schema (none: no body), and required headers."""
    out: dict[str, Any] = {"description": description}
    if schema is not None:
        out["content"] = json_content(ref(schema))
    if headers:
        out["headers"] = {
            name: {"description": text, "required": True, "schema": {"type": "string"}}
            for name, text in headers.items()
        }
    return out


def query(
    name: str, description: str, schema: dict[str, Any] | None = None, required: bool = False
) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": schema or {"type": "string"},
    }


def path(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": schema or {"type": "string"},
    }


def op(
    summary: str,
    security: list[dict[str, list[str]]],
    responses: dict[int, dict[str, Any]],
    parameters: list[dict[str, Any]] | None = None,
    body: dict[str, Any] | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "summary": summary,
        "security": security,
        "responses": {str(status): responses[status] for status in sorted(responses)},
    }
    if parameters:
        out["parameters"] = parameters
    if body is not None:
        out["requestBody"] = {"required": True, "content": body}
    return out


# -- answers many operations share ----------------------------------------------------

RETRY_LATER = {"Retry-After": "seconds to wait before trying again"}
STORAGE = answer("Redis is unreachable or full (maxmemory); try again later", "Error", RETRY_LATER)
SECRET_KEY_REFUSED = answer(
    "no `Authorization: Bearer sk_...`, or an unknown, rotated or disabled secret key",
    "Error",
    {"WWW-Authenticate": "`Bearer`"},
)
PUBLIC_KEY_REFUSED = answer("`k` is no public key (pk_...), or an unknown or disabled one", "Error")
ORIGIN_REFUSED = answer(
    "the page's `Origin` is not one of the store's domains (or their subdomains)", "Error"
)
NOT_JSON = answer("the body is not valid JSON", "Error")
INVALID = answer("every bad field of the body at once; nothing is stored", "ValidationErrors")
NO_RULE = answer("no rule with this id in the store", "Error")


def secret(
    summary: str,
    responses: dict[int, dict[str, Any]],
    parameters: list[dict[str, Any]] | None = None,
    body: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An operation of the secret key: 401 and 503 come with every one."""
    return op(
        summary, SECRET, {**responses, 401: SECRET_KEY_REFUSED, 503: STORAGE}, parameters, body
    )


def public(
    summary: str,
    responses: dict[int, dict[str, Any]],
    parameters: list[dict[str, Any]] | None = None,
    body: dict[str, Any] | None = None,
    security: list[dict[str, list[str]]] = PUBLIC,
) -> dict[str, Any]:
    """An operation of the public key: 401, 403 and 503 come with every one."""
    responses = {**responses, 401: PUBLIC_KEY_REFUSED, 403: ORIGIN_REFUSED, 503: STORAGE}
    return op(summary, security, responses, parameters, body)


# -- parameters -------------------------------------------------------------------------


def _ids(name: str, limit: int, what: str) -> dict[str, Any]:
    return query(name, f"{what}: comma-separated item ids, at most {limit}")


def _decide_parameters() -> list[dict[str, Any]]:
    ids = decide.MAX_IDS
    return [
        query("vid", "the visitor id", {"type": "string", "pattern": ID_PATTERN}, True),
        query("sid", "the session id", {"type": "string", "pattern": ID_PATTERN}, True),
        query("page_type", "the page's type", {"type": "string", "enum": list(decide._PAGE_TYPES)}),
        query("url", "the page's URL", {"type": "string", "maxLength": 2048}),
        query("item_id", "the product on the page", {"type": "string", "maxLength": 128}),
        _ids("cart", ids, "the cart's items (each at most 128 characters)"),
        query(
            "cart_value",
            "the cart's value",
            {"type": "number", "minimum": 0, "maximum": 1_000_000_000},
        ),
        query("ref", "the page's referrer", {"type": "string", "maxLength": 2048}),
        query("utm_source", "the visit's utm_source", {"type": "string", "maxLength": 200}),
        query("utm_campaign", "the visit's utm_campaign", {"type": "string", "maxLength": 200}),
        query(
            "device",
            "the device class; default: from the User-Agent",
            {"type": "string", "enum": list(decide._DEVICES)},
        ),
        _ids("history", ids, "the visitor's recent items, oldest first"),
        query(
            "slots",
            f"the page's showcase slots, comma-separated, at most {decide.MAX_SLOTS}: a"
            " strategy's name (`similar`), or `name:strategy`. Strategies: "
            + ", ".join(STRATEGIES),
        ),
        query(
            "n",
            "items per slot",
            {"type": "integer", "minimum": 1, "maximum": MAX_SLOT_ITEMS, "default": 8},
        ),
    ]


def _recommendation_parameters() -> list[dict[str, Any]]:
    limit = recommendations.MAX_LIST
    strategies = ", ".join(STRATEGIES)
    return [
        query("vid", "the visitor id, for the showcase holdout"),
        query(
            "placement",
            "the slot; without `strategy` it must be a strategy's name: " + strategies,
            {"type": "string", "maxLength": 64},
        ),
        query(
            "strategy",
            "the strategy (default: `placement`, else recommended)",
            {"type": "string", "enum": list(STRATEGIES)},
        ),
        query(
            "n",
            "how many items",
            {"type": "integer", "minimum": 1, "maximum": MAX_RECOMMENDED, "default": 10},
        ),
        query("item_id", "the product on the page"),
        query("item", "the same as item_id, under its other name"),
        _ids("history", limit, "the visitor's recent items, oldest first"),
        _ids("cart", limit, "the cart's items"),
        _ids("purchased", limit, "items the visitor bought"),
        _ids("exclude", limit, "items never to show"),
        query("category", 'only items of this category ("trending in shoes")'),
        query("same_category", "only items of the page item's category", FLAG),
        query("exclude_history", "leave out the items in `history`", FLAG),
        query(
            "max_per_category",
            "at most this many items of one category",
            {"type": "integer", "minimum": 1},
        ),
    ]


DAY = {"type": "string", "format": "date"}
CURRENCY = {"type": "string", "pattern": "^[A-Za-z]{3}$"}
DAY_RANGE = [
    query("from", "the first UTC day (default: 6 days before `to`)", DAY),
    query("to", "the last UTC day (default: today)", DAY),
]
RULE_ID = [path("rule_id", "the rule's id")]
POOL = [
    path(
        "pool",
        "the pool's name: 1-64 letters, digits or _.:-",
        {"type": "string", "minLength": 1, "maxLength": 64},
    )
]


# -- the operations ---------------------------------------------------------------------


def _collect() -> dict[str, Any]:
    body = {
        **json_content(ref("CollectBatch")),
        # navigator.sendBeacon's type, which needs no CORS preflight.
        "text/plain": {"schema": {"type": "string", "description": "a CollectBatch as JSON"}},
    }
    post = public(
        f"record a batch of events (at most {MAX_EVENTS}, {MAX_BODY_BYTES} bytes)",
        {
            200: answer("checked: good events kept, the others refused by index", "Collected"),
            400: answer("the body is not a batch (the message names the field)", "Error"),
            413: answer(f"over {MAX_BODY_BYTES} bytes or {MAX_EVENTS} events", "Error"),
            429: answer(
                "over the events-per-visitor or requests-per-address limit",
                "RateLimited",
                RETRY_LATER,
            ),
        },
        body=body,
        security=NO_KEY,
    )
    preflight = op(
        "the CORS preflight",
        NO_KEY,
        {204: answer("the methods and headers a page may send with")},
    )
    return {"post": post, "options": preflight}


def _subscribe() -> dict[str, Any]:
    body = {
        **json_content(ref("Subscription")),
        "text/plain": {"schema": {"type": "string", "description": "a Subscription as JSON"}},
    }
    return {
        "post": public(
            "an e-mail address from an email_capture or spin_to_win popup (its prize)",
            {
                200: answer("kept (once per address, in any case)", "Subscribed"),
                400: answer(
                    "not JSON, a bad field (named), or a `popup_id` that is no email_capture"
                    " or spin_to_win popup of the store",
                    "Error",
                ),
                413: answer(f"a body over {subscribers.MAX_BODY} bytes", "Error"),
                429: answer(
                    f"over {subscribers.PER_ADDRESS_PER_HOUR} sign-ups an hour from one address",
                    "Error",
                    RETRY_LATER,
                ),
            },
            body=body,
            security=NO_KEY,
        )
    }


def _rules() -> dict[str, Any]:
    too_big = answer(f"a body over {MAX_RULE_BYTES // 1024} KB", "Error")
    create_body = json_content({"anyOf": [ref("Rule"), ref("RuleFromPreset")]})
    change = {200: answer("the rule as stored", "Rule"), 400: NOT_JSON, 404: NO_RULE}
    return {
        "/v1/admin/rules": {
            "get": secret(
                "every rule, highest priority first", {200: answer("the rules", "RuleList")}
            ),
            "post": secret(
                "create a rule (enabled), or one from {'preset': name, ...fields to change}",
                {
                    201: answer("created: the rule with its id", "Rule"),
                    400: NOT_JSON,
                    409: answer(f"the store has {MAX_RULES} rules already", "Error"),
                    413: too_big,
                    422: INVALID,
                },
                body=create_body,
            ),
        },
        "/v1/admin/rules/{rule_id}": {
            "get": secret("one rule", {200: answer("the rule", "Rule"), 404: NO_RULE}, RULE_ID),
            "put": secret(
                "replace a rule (its id and created_at are kept)",
                {**change, 413: too_big, 422: INVALID},
                RULE_ID,
                json_content(ref("Rule")),
            ),
            "patch": secret(
                "change the fields given; objects merge field by field",
                {**change, 413: too_big, 422: INVALID},
                RULE_ID,
                json_content(ref("RuleChanges")),
            ),
            "delete": secret("delete a rule", {204: answer("deleted"), 404: NO_RULE}, RULE_ID),
        },
        "/v1/admin/rules/{rule_id}/preview": {
            "get": secret(
                "the popup as shoppers see it, catalog items standing in for theirs",
                {
                    200: answer("the popup's HTML and CSS", "Preview"),
                    404: answer("no such rule, or no such variant of it", "Error"),
                },
                [*RULE_ID, query("variant", "a variant's id (default: `default`)")],
            )
        },
        "/v1/admin/presets": {
            "get": secret("the ready-made rules", {200: answer("the presets", "Presets")})
        },
    }


def _settings() -> dict[str, Any]:
    saved = {
        200: answer("the settings as stored", "StoreSettings"),
        400: NOT_JSON,
        413: answer(f"a body over {MAX_RULE_BYTES // 1024} KB", "Error"),
        422: INVALID,
    }
    return {
        "get": secret(
            "the store's decision settings", {200: answer("the settings", "StoreSettings")}
        ),
        "put": secret("replace the settings", saved, body=json_content(ref("StoreSettings"))),
        "patch": secret(
            "change the settings given; objects merge field by field",
            saved,
            body=json_content(ref("SettingsChanges")),
        ),
    }


def _coupons() -> dict[str, Any]:
    bad_pool = answer("a bad pool name", "Error")
    codes = {
        "type": "object",
        "required": ["codes"],
        "properties": {
            "codes": {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_CODES_PER_UPLOAD,
                "items": {"type": "string", "minLength": 1, "maxLength": 64},
                "description": "unique codes, 1-64 visible characters, no outer spaces",
            }
        },
    }
    return {
        "get": secret(
            "codes remaining and given",
            {200: answer("the pool's counts", "CouponStatus"), 400: bad_pool},
            POOL,
        ),
        "post": secret(
            "add unique codes (codes uploaded before are never queued twice)",
            {
                200: answer("what was added", "CouponsAdded"),
                400: answer("a bad pool name, or a body that is not JSON", "Error"),
                413: answer("over 8 MB of codes", "Error"),
                422: answer("no list of codes, or bad codes (each named)", "ValidationErrors"),
            },
            POOL,
            json_content(codes),
        ),
    }


def _catalog() -> dict[str, Any]:
    feed = {"schema": {"description": "the feed, as a file"}}
    content = {media_type: feed for media_type in CONTENT_TYPES}
    content["*/*"] = {"schema": {"description": "the feed, whose format is detected"}}
    return {
        "post": secret(
            "import a feed (CSV, JSON lines, Google Merchant Center XML; Shopify's,"
            " WooCommerce's and Magento's product exports as they come); cards merge field"
            " by field",
            {
                200: answer("good rows imported; bad ones by line", "Imported"),
                400: answer(
                    "a bad format, an unreadable feed, or no valid row (each by line)",
                    "FeedRefused",
                ),
                413: answer(f"a feed over {MAX_FEED_BYTES} bytes", "Error"),
            },
            [
                query(
                    "format",
                    "default: from the Content-Type, else detected",
                    {"type": "string", "enum": list(FORMATS)},
                )
            ],
            content,
        )
    }


def _import() -> dict[str, Any]:
    export = {"schema": {"description": "the export file (CSV or JSON lines)"}}
    return {
        "post": secret(
            "import a store's past orders or events from an export file; counted on their"
            " own days, a second import of the same file changes nothing",
            {
                200: answer("what was counted, already there, skipped, bad", "ImportSummary"),
                400: answer("a bad parameter, or a file not of the format", "Error"),
                413: answer(f"a file over {imports.MAX_BODY} bytes", "Error"),
            },
            [
                query(
                    "format",
                    "default: guessed from the file",
                    {"type": "string", "enum": list(IMPORT_FORMATS)},
                ),
                query(
                    "map",
                    "FIELD=COLUMN, repeated: the columns of an order-lines file",
                    {"type": "string"},
                ),
                query("currency", "the orders' currency when the file has none", CURRENCY),
                query("zone", "the IANA time zone of times without an offset", {"type": "string"}),
            ],
            {
                media_type: export
                for media_type in ("text/csv", "application/x-ndjson", "application/json", "*/*")
            },
        )
    }


def _subscribers() -> dict[str, Any]:
    csv = {"text/csv": {"schema": {"description": "a header row, then one row each"}}}
    return {
        "/v1/admin/subscribers": {
            "get": secret(
                "the e-mail subscribers, oldest first",
                {
                    200: {
                        "description": "JSON, or CSV with `format=csv`",
                        "content": {**json_content(ref("Subscribers")), **csv},
                    }
                },
                [query("format", "csv: a CSV file", {"type": "string", "enum": ["csv", "json"]})],
            )
        },
        "/v1/admin/subscribers/{email}": {
            "delete": secret(
                "erase a subscriber (any case)",
                {204: answer("erased"), 404: answer("not a subscriber of the store", "Error")},
                [path("email", "the address")],
            )
        },
    }


def _stats() -> dict[str, Any]:
    bad_range = answer("a bad day, or a range that ends before it starts or is too long", "Error")
    return {
        "/v1/stats/summary": {
            "get": secret(
                "sessions, engagement, conversion, revenue and visitors per UTC day",
                {200: answer("the range's totals, rates and days", "Summary"), 400: bad_range},
                DAY_RANGE,
            )
        },
        "/v1/stats/attribution": {
            "get": secret(
                "what popups and showcases led to, and their lift",
                {200: answer("by popup and by placement", "Attribution"), 400: bad_range},
                DAY_RANGE,
            )
        },
    }


def _report(summary: str, parameters: list[dict[str, Any]]) -> dict[str, Any]:
    """A traffic report: JSON, or its rows as CSV with `format=csv`."""
    return {
        "get": secret(
            summary,
            {
                200: {
                    "description": "the report (format=csv: its rows, a header row first)",
                    "content": {
                        **json_content(ref("Report")),
                        "text/csv": {"schema": {"description": "UTF-8 with a byte-order mark"}},
                    },
                },
                400: answer("a bad parameter (named)", "Error"),
            },
            [
                query("format", "json, or csv", {"type": "string", "enum": list(reports.FORMATS)}),
                *parameters,
            ],
        )
    }


def _described(operation: dict[str, Any], text: str) -> dict[str, Any]:
    """The report with its figures' definitions (analytics/definitions.py): the same
    text as the README's."""
    operation["get"]["description"] = text
    return operation


def _reports() -> dict[str, Any]:
    traffic_text = "\n".join(
        [definitions.SESSION_DAY, definitions.ORDER_DAY, definitions.describe(*definitions.FIGURES),
         definitions.CHANGE]
    )  # fmt: skip
    described = _reports_plain()
    for path, text in {
        "/v1/stats/overview": traffic_text,
        "/v1/stats/timeseries": traffic_text,
        "/v1/stats/breakdown": definitions.BREAKDOWN,
        "/v1/stats/funnel": definitions.FUNNEL,
        "/v1/stats/realtime": definitions.REALTIME,
        "/v1/stats/retention": customers.__doc__ or "",
        "/v1/stats/cohorts": customers.__doc__ or "",
        "/v1/stats/popups": campaigns.__doc__ or "",
        "/v1/stats/showcases": campaigns.__doc__ or "",
    }.items():
        _described(described[path], text)
    return described


def _reports_plain() -> dict[str, Any]:
    local = [
        query("from", "the first local date (default: 6 days before `to`)", DAY),
        query("to", "the last local date in the store's time zone (default: today)", DAY),
    ]
    return {
        "/v1/stats/overview": _report("the period's traffic figures against the one before", local),
        "/v1/stats/timeseries": _report(
            "the traffic figures per hour, day, week or month",
            [
                *local,
                query(
                    "interval",
                    "default: day",
                    {"type": "string", "enum": list(INTERVALS), "default": "day"},
                ),
            ],
        ),
        "/v1/stats/breakdown": _report(
            "sessions, engagement, orders and revenue by one dimension's values",
            [
                *local,
                query(
                    "by",
                    "the dimension: " + ", ".join(DIMENSION_CODES),
                    {"type": "string", "enum": list(DIMENSION_CODES)},
                    required=True,
                ),
                query(
                    "limit",
                    "values listed before the rest are summed as `(rest)`",
                    {"type": "integer", "minimum": 1, "maximum": reports.MAX_LIMIT, "default": 10},
                ),
            ],
        ),
        "/v1/stats/funnel": _report(
            "sessions that viewed a product, added to the cart, began checkout, bought", local
        ),
        "/v1/stats/realtime": _report("visitors and events of the last 30 minutes", []),
        "/v1/stats/retention": _report("customers: new, returning, active, lifetime value", local),
        "/v1/stats/popups": _report(
            "per popup rule and variant: shown, held out, clicks, sign-ups, orders, revenue, lift",
            local,
        ),
        "/v1/stats/showcases": _report(
            "per showcase placement: views, clicks, carts, orders, revenue, its share, lift", local
        ),
        "/v1/stats/cohorts": _report(
            "of the customers (or visitors) first seen each month or week, who came back",
            [
                *local,
                query(
                    "of",
                    "default: orders",
                    {"type": "string", "enum": list(reports.COHORT_KINDS), "default": "orders"},
                ),
                query(
                    "by",
                    "default: month",
                    {"type": "string", "enum": list(reports.COHORT_SIZES), "default": "month"},
                ),
            ],
        ),
    }


def operations() -> dict[str, Any]:
    """Every path and its operations, in a reader's order."""
    snippet = {
        "description": "the snippet, gzipped when accepted",
        "content": {"application/javascript": {"schema": {"description": "the script"}}},
        "headers": {
            "ETag": {"required": True, "schema": {"type": "string"}},
            "Cache-Control": {"required": True, "schema": {"type": "string"}},
        },
    }
    text = {"text/plain": {"schema": {"type": "string"}}}
    return {
        "/t.js": {
            "get": op(
                "the snippet (gzip, ETag, a day's cache)",
                NO_KEY,
                {
                    200: snippet,
                    304: answer("`If-None-Match` names the current ETag"),
                    503: answer("not built: run scripts/build-js", "Error", RETRY_LATER),
                },
            )
        },
        "/v1/collect": _collect(),
        "/v1/decide": {
            "get": public(
                "the popups and showcases this visitor may see on this page now",
                {
                    200: answer("never cached (Cache-Control: no-store)", "Decision"),
                    400: answer("a bad parameter (named)", "Error"),
                },
                _decide_parameters(),
            )
        },
        "/v1/recommendations": {
            "get": public(
                "one showcase's items, as /v1/decide fills that slot",
                {
                    200: answer("the showcase", "Recommendations"),
                    400: answer("a bad parameter (named)", "Error"),
                },
                _recommendation_parameters(),
            )
        },
        "/v1/subscribe": _subscribe(),
        **_stats(),
        **_reports(),
        **_rules(),
        "/v1/admin/settings": _settings(),
        "/v1/admin/coupons/{pool}": _coupons(),
        "/v1/admin/catalog": _catalog(),
        "/v1/admin/import": _import(),
        "/v1/admin/visitors/{vid}": {
            "delete": secret(
                "erase a visitor: their events, orders, records, subscriptions and codes",
                {
                    200: answer("what was removed, by kind", "VisitorErased"),
                    400: answer("not a visitor id", "Error"),
                    404: answer("nothing is kept of this visitor", "Error"),
                },
                [path("vid", "the visitor id, as events send it")],
            )
        },
        **_subscribers(),
        "/healthz": {"get": op("the process answers", NO_KEY, {200: answer("alive", "Alive")})},
        "/readyz": {
            "get": op(
                "the process and Redis answer",
                NO_KEY,
                {200: answer("ready", "Ready"), 503: answer("Redis does not answer", "NotReady")},
            )
        },
        "/metrics": {
            "get": op(
                "Prometheus metrics",
                NO_KEY,
                {200: {"description": "the Prometheus text format", "content": text}},
            )
        },
        "/openapi.json": {
            "get": op(
                "this document",
                NO_KEY,
                {200: {"description": "OpenAPI 3.1", "content": json_content({"type": "object"})}},
            )
        },
    }
