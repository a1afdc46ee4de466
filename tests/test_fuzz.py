"""Hostile input. Every operation of `/openapi.json` fuzzed by Schemathesis, with
both keys, against the real app on a real Redis; Hypothesis properties of `POST
/v1/collect`; and each input that once answered 500. Whatever comes in, no answer
is a 5xx, every answer is one the document describes, and bad input is refused
naming its field, never stored."""

from __future__ import annotations

import json
import re
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import schemathesis
from conftest import BROWSER_UA
from helpers import event, make_store, sync_client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from processes import Server
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi as schemathesis_asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.testclient import TestClient

from widget_server.app import create_app
from widget_server.collect.events import MAX_BODY_BYTES, decode_event
from widget_server.openapi.document import document
from widget_server.settings import Settings
from widget_server.storage import event_entries, keys
from widget_server.storage.clock import MAX_EVENT_AGE_MS

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# Each of the ~40 operations gets this many cases, positive and negative: enough to
# reach past the checks of every parameter, few enough for CI (the file runs in
# well under two minutes on two cores).
EXAMPLES_PER_OPERATION = 20
FUZZ = settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
ERROR = re.compile(r"^[a-z_]+(\[\d+\])?(\.[a-z_]+(\[\d+\])?)*: \S")
DEEP = "nested too deeply; objects and lists may nest a few hundred levels at most"


@schemathesis.serializer("application/x-ndjson", "application/jsonl", "application/json-lines")
def json_lines(ctx: Any, value: Any) -> bytes:
    rows = value if isinstance(value, list) else [value]
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


@schemathesis.serializer("application/csv")
def csv_text(ctx: Any, value: Any) -> bytes:
    return value.encode() if isinstance(value, str) else json.dumps(value).encode()


class AppUnderTest:
    """What Schemathesis sends to: each test's own app, on that test's Redis. The
    document is built from the code, so loading it needs no running app."""

    def __init__(self) -> None:
        self.app: Any = None
        self.public_key = self.secret_key = self.rule_id = ""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


under_test = AppUnderTest()
schema = schemathesis.openapi.from_dict(document())
schema.app = under_test


def local_settings(redis_url: str, data_dir: Path, **env: str) -> Settings:
    return Settings.from_env({"TARRY_REDIS_URL": redis_url, "TARRY_DATA_DIR": str(data_dir), **env})


@pytest.fixture
def api(standalone_url: str, tmp_path: Path) -> Iterator[None]:
    settings_ = local_settings(standalone_url, tmp_path)
    store, secret = make_store(settings_)
    under_test.app = create_app(settings_)
    under_test.public_key, under_test.secret_key = store.public_key, secret
    with TestClient(under_test.app, headers={"authorization": f"Bearer {secret}"}) as client:
        created = client.post("/v1/admin/rules", json={"preset": "dont_go"})
        under_test.rule_id = created.json()["id"]
    try:
        yield
    finally:
        # The ASGI transport keeps an app's lifespan (and its Redis clients) open
        # for the whole process unless told.
        schemathesis_asgi.shutdown_lifespans()


@schema.parametrize()
@FUZZ
def test_no_operation_answers_5xx_or_off_the_document(case: Any, api: None) -> None:
    # Random keys would stop every case at 401: the store's own keys let the cases
    # reach the checks behind them (unauthorised cases come from negative mode,
    # which drops or garbles the header and parameters it generates).
    if case.query is not None and "k" in case.query:
        case.query["k"] = under_test.public_key
    if isinstance(case.body, dict) and "k" in case.body:
        case.body["k"] = under_test.public_key
    if case.path_parameters and "rule_id" in case.path_parameters:
        case.path_parameters["rule_id"] = under_test.rule_id
    headers = {"authorization": f"Bearer {under_test.secret_key}", "user-agent": BROWSER_UA}
    case.call_and_validate(headers=headers, checks=CHECKS)


# -- POST /v1/collect, property by property ----------------------------------------


@pytest.fixture
def shop(standalone_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, Settings, Any, str]]:
    settings_ = local_settings(standalone_url, tmp_path)
    store, secret = make_store(settings_)
    with TestClient(create_app(settings_), headers={"user-agent": BROWSER_UA}) as client:
        yield client, settings_, store, secret


def post(client: TestClient, body: bytes) -> Any:
    return client.post("/v1/collect", content=body, headers={"content-type": "text/plain"})


def batch(key: str, events: list[Any]) -> bytes:
    return json.dumps({"k": key, "events": events}).encode()


def stored_events(settings_: Settings, store_id: str) -> list[bytes]:
    with sync_client(settings_) as r:
        return [
            json.dumps(e).encode()
            for _, fields in r.xrange(keys.events(store_id))
            for e in event_entries.events(fields)
        ]


# Text as senders send it: any code point, NUL, right-to-left marks, combining
# marks, emoji, and lone halves of surrogate pairs (json.dumps writes those as the
# escapes `\ud800`, which no UTF-8 string can hold).
hostile_text = st.text(
    alphabet=st.characters(codec=None, exclude_categories=()), max_size=40
) | st.sampled_from(
    ["\x00", "a\x00b", "\u202e", "e\u0301", "\U0001f600", "\ud800", "x\udfffy", "\ufeff", ""]
)
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | hostile_text
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(hostile_text, inner, max_size=4),
    max_leaves=12,
)
EVENT_FIELDS = [
    *("id", "type", "ts", "vid", "sid", "url", "ref", "page_type", "title", "items"),
    *("value", "currency", "transaction_id", "engaged_ms", "popup_id", "variant"),
    *("placement", "rec_id", "trigger", "utm_source", "utm_campaign", "uid", "sent_at"),
]


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def assert_kept_or_refused(response: Any, sent: int) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    assert answer["accepted"] + answer["duplicates"] + len(answer["rejected"]) == sent
    for refusal in answer["rejected"]:
        assert ERROR.match(refusal["error"]), refusal
    return answer


@given(body=json_values.map(lambda v: json.dumps(v).encode()) | st.binary(max_size=300))
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
def test_any_body_is_answered_with_a_4xx_naming_what_is_wrong(shop: Any, body: bytes) -> None:
    client, settings_, store, _ = shop
    response = post(client, body)
    assert response.status_code in (400, 401, 413), response.text
    assert ERROR.match(response.json()["error"]), response.json()
    assert stored_events(settings_, store.id) == []


@given(
    events=st.lists(
        st.tuples(st.sampled_from(EVENT_FIELDS), json_values) | json_values, min_size=1, max_size=5
    )
)
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
def test_each_event_is_stored_or_refused_naming_its_field(shop: Any, events: list[Any]) -> None:
    """A good event with one field replaced by anything (wrong types, huge numbers,
    NUL, lone surrogates...), or anything in place of an event."""
    client, settings_, store, _ = shop
    before = len(stored_events(settings_, store.id))
    sent = [{**event(), item[0]: item[1]} if isinstance(item, tuple) else item for item in events]
    response = post(client, batch(store.public_key, sent))
    if response.status_code == 400:  # a lone surrogate breaks the whole body's JSON
        assert response.json()["error"].startswith("body: must be JSON"), response.text
        return
    answer = assert_kept_or_refused(response, len(sent))
    stored = stored_events(settings_, store.id)
    assert len(stored) == before + answer["accepted"]
    for kept in stored:
        decode_event(kept)  # what is stored is an event the schema describes


@given(
    depth=st.integers(min_value=1_000, max_value=MAX_BODY_BYTES // 2 - 100),
    where=st.sampled_from(["body", "events", "event", "field", "object"]),
)
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_json_nested_past_the_decoders_limit_is_a_400(shop: Any, depth: int, where: str) -> None:
    client, settings_, store, _ = shop
    key, one = json.dumps(store.public_key), json.dumps(event())
    deep_object = '{"a":' * depth + "1" + "}" * depth
    before = len(stored_events(settings_, store.id))
    body = {
        "body": nested(depth),
        "events": f'{{"k": {key}, "events": {nested(depth)}}}',
        "event": f'{{"k": {key}, "events": [{nested(depth)}]}}',
        "field": f'{{"k": {key}, "events": [{one[:-1]}, "extra": {nested(depth)}}}]}}',
        "object": f'{{"k": {key}, "events": [{one[:-1]}, "x": {deep_object}}}]}}',
    }[where].encode()
    response = post(client, body)
    # Past the decoder's limit: "nested too deeply"; within it, msgspec may decide
    # without descending (a list where an object goes) or ignore an unknown field.
    if len(body) > MAX_BODY_BYTES:
        assert response.status_code == 413
    elif response.status_code == 400:
        assert response.json()["error"] in (
            f"body: {DEEP}",
            'body: must be a JSON object such as {"k": "pk_...", "events": [...]}, not a list',
            "events: must be a list of events, not a list",
        ), response.text
    else:
        accepted = assert_kept_or_refused(response, 1)["accepted"]
        assert len(stored_events(settings_, store.id)) == before + accepted


@given(offset_minutes=st.integers(min_value=-(10**9), max_value=10**9) | st.integers(-4000, 30))
@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
def test_timestamps_outside_the_window_are_refused_not_clamped(
    shop: Any, offset_minutes: int
) -> None:
    """Accepted: the last 47 hours up to 10 minutes ahead; refused with the reason
    otherwise, however far (never moved into the window)."""
    client, _, store, _ = shop
    ts = int(time.time() * 1000) + offset_minutes * 60_000
    response = post(client, batch(store.public_key, [event(ts=ts)]))
    answer = assert_kept_or_refused(response, 1)
    window_minutes = MAX_EVENT_AGE_MS // 60_000
    if -window_minutes + 1 <= offset_minutes <= 9:
        assert answer["accepted"] == 1, answer
    elif not (-window_minutes - 1 <= offset_minutes <= 11):
        assert answer["accepted"] == 0
        assert answer["rejected"][0]["error"].startswith("ts: "), answer


numbers = (
    st.floats(allow_nan=False, allow_infinity=False)
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.sampled_from([-1, -0.01, 0, 1e9, 1e9 + 1, 1e308, -1e308, 5e-324])
)


@given(value=numbers, price=numbers, quantity=numbers)
@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
def test_negative_or_absurd_money_is_refused_and_counts_stay_readable(
    shop: Any, value: float, price: float, quantity: float
) -> None:
    client, _, store, secret = shop
    purchase = event(
        "purchase",
        value=value,
        currency="KWD",  # three decimals: the largest minor units
        transaction_id=f"t{time.monotonic_ns()}",
        items=[{"item_id": "SKU-1", "price": price, "quantity": quantity}],
    )
    answer = assert_kept_or_refused(post(client, batch(store.public_key, [purchase])), 1)
    fits = (
        0 <= value <= 1e9
        and 0 <= price <= 1e9
        and isinstance(quantity, int)
        and 0 <= quantity <= 100_000
    )
    assert answer["accepted"] == (1 if fits else 0), answer
    if not fits:
        assert answer["rejected"][0]["error"].split(":")[0] in (
            "value",
            "items[0].price",
            "items[0].quantity",
        )
    auth = {"authorization": f"Bearer {secret}"}
    for report in ("summary", "overview", "popups"):
        read = client.get(f"/v1/stats/{report}", headers=auth)
        assert read.status_code == 200, read.text


@given(count=st.integers(min_value=201, max_value=4000))
@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
def test_thousands_of_items_in_one_event_are_refused(shop: Any, count: int) -> None:
    client, settings_, store, _ = shop
    items = [{"item_id": str(n)} for n in range(count)]
    body = batch(store.public_key, [event("purchase", value=1, items=items)])
    response = post(client, body)
    if len(body) > MAX_BODY_BYTES:
        assert response.status_code == 413
    else:
        answer = assert_kept_or_refused(response, 1)
        assert answer["rejected"] == [{"index": 0, "error": "items: must have at most 200 entries"}]
    assert stored_events(settings_, store.id) == []


def test_lone_surrogates_and_nul_are_refused_or_stored_intact(shop: Any) -> None:
    client, settings_, store, _ = shop
    lone = b'{"k": "%s", "events": [%s]}' % (
        store.public_key.encode(),
        json.dumps(event(title="x")).replace('"x"', '"x\\ud800"').encode(),
    )
    response = post(client, lone)
    assert response.status_code == 400
    assert response.json()["error"].startswith("body: must be JSON")
    raw = post(client, b'{"k": "\xed\xa0\x80", "events": []}')  # a surrogate as UTF-8 bytes
    assert raw.status_code == 400
    assert raw.json() == {"error": "body: must be JSON; Invalid UTF-8 encoded string"}
    nul = event(title="a\x00b", url="https://shop.example/\x00", utm_source="\x00\u202e")
    answer = assert_kept_or_refused(post(client, batch(store.public_key, [nul])), 1)
    assert answer["accepted"] == 1
    assert json.loads(stored_events(settings_, store.id)[0])["title"] == "a\x00b"


# -- huge query strings and headers ---------------------------------------------------


def test_huge_query_strings_and_headers_get_a_bounded_4xx(shop: Any) -> None:
    client, _, store, _ = shop
    k = store.public_key
    big = "x" * 60_000  # the test client's URLs stop at 64 KB: see the real server below
    cases = {
        f"/v1/decide?k={k}&vid=v1&sid=s1&url={big}": "url: at most 2048 characters",
        f"/v1/decide?k={k}&vid=v1&sid=s1&history={','.join(['a'] * 29_000)}": "history:",
        f"/v1/recommendations?k={k}&placement=popular&exclude={','.join(['a'] * 29_000)}": (
            "exclude:"
        ),
        f"/v1/decide?k={k}&vid={big}&sid=s1": "vid:",
    }
    for path, error in cases.items():
        started = time.monotonic()
        response = client.get(path, headers={"x-padding": "y" * 60_000})
        assert response.status_code == 400, (path[:80], response.text[:200])
        assert response.json()["error"].startswith(error), response.text[:200]
        assert len(response.content) < 4096
        assert time.monotonic() - started < 5
    bot = client.get(f"/v1/decide?k={k}&vid=v1&sid=s1", headers={"user-agent": "a" * 60_000})
    assert bot.status_code == 200


def http_status(port: int, request: bytes) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(request)
        head = conn.recv(4096)
    return int(head.split(b" ", 2)[1])


def test_a_real_server_answers_100_kb_query_strings_and_headers_with_a_4xx(
    tmp_path: Path,
) -> None:
    server = Server(tmp_path / "data")
    key = json.loads(
        server.tarry("store", "create", "--name", "S", "--domain", "s.example", "--json")
    )["public_key"]
    server.start()
    try:
        query = b"/v1/decide?k=" + key.encode() + b"&vid=v1&sid=s1&url=" + b"x" * 100_000
        head = b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        assert 400 <= http_status(server.port, b"GET " + query + head + b"\r\n") < 500
        padded = head + b"X-Padding: " + b"y" * 100_000 + b"\r\n\r\n"
        assert 400 <= http_status(server.port, b"GET /v1/decide?k=" + key.encode() + padded) < 500
        # Still serving everyone else.
        fine = b"GET /v1/decide?k=" + key.encode() + b"&vid=v1&sid=s1" + head + b"\r\n"
        assert http_status(server.port, fine) == 200
    finally:
        code, output = server.stop()
    assert code in (0, -signal.SIGTERM), output  # uvicorn re-raises the SIGTERM it handled
    assert "Traceback" not in output, output


# -- inputs that once answered 500 ---------------------------------------------------------


@pytest.fixture
def admin(standalone_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, Any]]:
    settings_ = local_settings(standalone_url, tmp_path)
    store, secret = make_store(settings_)
    headers = {"authorization": f"Bearer {secret}", "user-agent": BROWSER_UA}
    with TestClient(create_app(settings_), headers=headers) as client:
        yield client, store


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/admin/rules"),
        ("PUT", "/v1/admin/settings"),
        ("PATCH", "/v1/admin/rules/{rule}"),
        ("PUT", "/v1/admin/rules/{rule}"),
        ("POST", "/v1/admin/coupons/pool1"),
        ("POST", "/v1/subscribe"),
    ],
)
def test_deeply_nested_json_bodies_are_400_everywhere(admin: Any, method: str, path: str) -> None:
    client, _ = admin
    rule = client.post("/v1/admin/rules", json={"preset": "dont_go"}).json()["id"]
    depth = 2_000 if path == "/v1/subscribe" else 20_000  # subscribe takes 4 KB at most
    response = client.request(method, path.format(rule=rule), content=nested(depth))
    assert response.status_code == 400, response.text
    assert response.json()["error"] == f"body: {DEEP}"


def test_deeply_nested_or_broken_feed_lines_are_bad_lines(admin: Any) -> None:
    client, _ = admin
    lines = "\n".join(
        [
            nested(20_000),
            '{"item_id": "a\\ud800", "name": "Mug"}',
            '{"item_id": "ok", "name": "Mug"}',
        ]
    )
    response = client.post("/v1/admin/catalog?format=jsonl", content=lines)
    assert response.status_code == 200, response.text
    assert response.json()["rejected"] == [
        {"line": 1, "error": f"json: {DEEP}"},
        {
            "line": 2,
            "error": "json: a string holds a lone UTF-16 surrogate (such as \\ud800 without"
            " its pair)",
        },
    ]
    assert response.json()["imported"] == 1
    export = client.post("/v1/admin/import?format=ga4", content=nested(20_000) + "\n")
    assert export.status_code == 400
    assert export.json() == {"error": f"body: line 1: not JSON lines (json: {DEEP})"}


@pytest.mark.parametrize(
    ("report", "query", "error"),
    [
        ("overview", "from=0010-01-01&to=2020-01-01", "from: must be a date from 1990-01-01"),
        ("overview", "from=0010-01-01&to=0020-01-01", "to: must be a date from 1990-01-01"),
        ("attribution", "to=1970-01-01", "to: must be a date from 1990-01-01"),
        ("attribution", "from=1970-01-01&to=1990-01-02", "from: must be a date from 1990"),
        ("popups", "from=1970-01-01&to=1970-01-01", "to: must be a date from 1990-01-01"),
        ("showcases", "from=1970-01-01&to=1990-01-01", "from: must be a date from 1990-01-01"),
        ("summary", "from=9999-12-01&to=9999-12-31", "to: must be a date from 1990-01-01"),
    ],
)
def test_dates_outside_the_events_years_are_400(
    admin: Any, report: str, query: str, error: str
) -> None:
    client, _ = admin
    response = client.get(f"/v1/stats/{report}?{query}")
    assert response.status_code == 400, response.text
    assert response.json()["error"].startswith(error)


def test_a_preset_that_is_not_a_name_is_422(admin: Any) -> None:
    client, _ = admin
    for preset in ({}, [], 7):
        response = client.post("/v1/admin/rules", json={"preset": preset})
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["field"] == "preset"


def test_every_refusal_leaves_the_stored_events_decodable(shop: Any) -> None:
    client, settings_, store, _ = shop
    post(client, batch(store.public_key, [event(), {"id": []}, event(items=[{"item_id": 1}])]))
    stored = stored_events(settings_, store.id)
    assert len(stored) == 1
    assert msgspec.json.decode(stored[0])["id"]
