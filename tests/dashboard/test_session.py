"""The sign-in cookie: signed, expiring, never holding the key; the CSRF token."""

from __future__ import annotations

import base64
import dataclasses
import json

from widget_server.dashboard.session import MAX_AGE_S, Session, Sessions, key_check
from widget_server.storage.stores import Store, hash_secret

SECRET_KEY = "sk_abcdefghijkl_" + "s" * 32
STORE = Store("abcdefghijkl", "Shop", ("shop.example",), "pk_x", hash_secret(SECRET_KEY), 0, True)


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_signed_in_session_comes_back_as_it_was_written() -> None:
    sessions = Sessions("x" * 48)
    written = Session.signed_in(STORE)
    assert sessions.load(sessions.dump(written)) == written
    assert written.opens(STORE)


def test_the_cookie_holds_neither_the_key_nor_its_hash() -> None:
    cookie = Sessions("x" * 48).dump(Session.signed_in(STORE))
    payload = cookie.split(".")[0]
    decoded = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
    assert set(json.loads(decoded)) == {"n", "s", "k"}
    for secret in (SECRET_KEY, STORE.secret_hash, STORE.secret_hash[:32]):
        assert secret not in decoded and secret not in cookie


def test_a_forged_damaged_or_foreign_cookie_opens_nothing() -> None:
    sessions = Sessions("x" * 48)
    cookie = sessions.dump(Session.signed_in(STORE))
    assert sessions.load(cookie[:-2] + ("AA" if not cookie.endswith("AA") else "BB")) is None
    assert sessions.load("not a cookie") is None and sessions.load(None) is None
    assert Sessions("y" * 48).load(cookie) is None  # another server secret
    # The payload changed to another store, with the old signature.
    other = base64.urlsafe_b64encode(json.dumps({"n": "n", "s": "zzzzzzzzzzzz", "k": "k"}).encode())
    assert sessions.load(other.decode().rstrip("=") + "." + cookie.split(".", 1)[1]) is None


def test_a_cookie_expires_after_twelve_hours_whatever_the_browser_kept() -> None:
    clock = Clock()
    sessions = Sessions("x" * 48, clock)
    cookie = sessions.dump(Session.signed_in(STORE))
    clock.now += MAX_AGE_S - 1
    assert sessions.load(cookie) is not None
    clock.now += 2
    assert sessions.load(cookie) is None
    assert MAX_AGE_S == 12 * 3600


def test_rotating_the_secret_or_disabling_the_store_signs_everyone_out() -> None:
    session = Session.signed_in(STORE)
    rotated = dataclasses.replace(STORE, secret_hash=hash_secret("sk_abcdefghijkl_" + "t" * 32))
    assert not session.opens(rotated)
    assert not session.opens(dataclasses.replace(STORE, enabled=False))
    assert not session.opens(dataclasses.replace(STORE, id="zzzzzzzzzzzz"))
    assert not session.opens(None)
    assert not Session.anonymous().opens(STORE)
    assert key_check(STORE) != key_check(rotated)


def test_the_csrf_token_belongs_to_one_session() -> None:
    sessions = Sessions("x" * 48)
    mine, theirs = Session.signed_in(STORE), Session.signed_in(STORE)
    token = sessions.csrf_token(mine)
    assert sessions.csrf_ok(mine, token)
    assert not sessions.csrf_ok(theirs, token)  # a new sign-in, a new token
    assert not sessions.csrf_ok(mine, "") and not sessions.csrf_ok(mine, None)
    assert not sessions.csrf_ok(None, token)
    assert not sessions.csrf_ok(mine, token[:-1] + ("0" if token[-1] != "0" else "1"))
    assert not Sessions("y" * 48).csrf_ok(mine, token)  # another server secret
