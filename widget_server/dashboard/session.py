"""Who is signed in: a signed, expiring cookie, and the CSRF token of its forms.

The cookie holds a random nonce, and after sign-in the store id and a check value
derived from the store's current secret-key hash; never the key itself. It is
signed (itsdangerous, HMAC-SHA1 over a key derived from the server secret) and
carries its signing time, so a cookie older than `MAX_AGE_S` is refused whatever
the browser kept. Rotating the store's secret changes the check value, which signs
every session of that store out; disabling the store does too.

Every form carries a token derived from the nonce with the server secret: another
site can make a browser post a form, but cannot read the cookie, so it cannot
write the token. The nonce is renewed at sign-in, so a token seen before it is
worthless after.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from typing import Any

from itsdangerous import BadSignature, TimestampSigner, URLSafeTimedSerializer

from widget_server.storage.stores import Store

COOKIE = "tarry_dashboard"
MAX_AGE_S = 12 * 3600
CSRF_FIELD = "csrf"


@dataclasses.dataclass(frozen=True, slots=True)
class Session:
    nonce: str
    store_id: str | None = None
    key_check: str | None = None

    @classmethod
    def anonymous(cls) -> Session:
        return cls(secrets.token_urlsafe(18))

    @classmethod
    def signed_in(cls, store: Store) -> Session:
        return cls(secrets.token_urlsafe(18), store.id, key_check(store))

    def opens(self, store: Store | None) -> bool:
        """True while the store is enabled and its secret is the one signed in with."""
        return (
            store is not None
            and store.enabled
            and self.store_id == store.id
            and self.key_check is not None
            and hmac.compare_digest(self.key_check, key_check(store))
        )


def key_check(store: Store) -> str:
    """A value that changes whenever the store's secret key does, and from which
    neither the key nor its stored hash can be learnt."""
    return hashlib.sha256(b"tarry-dashboard-key:" + store.secret_hash.encode()).hexdigest()[:32]


def _signer(clock: Callable[[], float]) -> type[TimestampSigner]:
    """itsdangerous' signer on `clock`: the signing time, and the age it checks."""

    class ClockedSigner(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(clock())

    return ClockedSigner


class Sessions:
    """Writes and reads session cookies with the server secret."""

    def __init__(self, secret: str, clock: Callable[[], float] = time.time) -> None:
        signer = _signer(clock)
        self._serializer = URLSafeTimedSerializer(
            secret, salt="tarry.dashboard.session", signer=signer
        )
        self._csrf_key = hashlib.sha256(b"tarry-dashboard-csrf:" + secret.encode()).digest()

    def dump(self, session: Session) -> str:
        fields: dict[str, Any] = {"n": session.nonce}
        if session.store_id is not None:
            fields.update(s=session.store_id, k=session.key_check)
        return self._serializer.dumps(fields)

    def load(self, raw: str | None) -> Session | None:
        """The session in a cookie, or None: absent, forged, damaged or expired."""
        if not raw:
            return None
        try:
            fields = self._serializer.loads(raw, max_age=MAX_AGE_S)
        except BadSignature:  # SignatureExpired is one too
            return None
        if not isinstance(fields, dict) or not isinstance(fields.get("n"), str):
            return None
        store_id, check = fields.get("s"), fields.get("k")
        if not (isinstance(store_id, str) and isinstance(check, str)):
            return Session(fields["n"])
        return Session(fields["n"], store_id, check)

    def csrf_token(self, session: Session) -> str:
        return hmac.new(self._csrf_key, session.nonce.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, session: Session | None, token: str | None) -> bool:
        if session is None or not token:
            return False
        return hmac.compare_digest(self.csrf_token(session), token)
