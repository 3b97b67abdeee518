"""Who is calling: enterprises by bearer token, officers by session cookie or API token.

Tokens are looked up by their SHA-256 digest and confirmed with a constant-time
comparison. Sessions are signed cookies that expire (``max_age``); cookie-authenticated
writes must carry the session's CSRF token in ``X-CSRF-Token`` (or a ``csrf`` form field).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import HTTPConnection

from ..config import Site
from ..security import token_digest, verify_password

COOKIE = "warning_session"


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    role: str  #: officer | viewer
    csrf: str | None  #: None for API tokens (no cookie, no CSRF exposure)


class Auth:
    def __init__(self, site: Site, secret_key: str, *, max_age: int = 8 * 3600):
        self.site = site
        self.max_age = max_age  #: session lifetime in seconds
        self.signer = URLSafeTimedSerializer(secret_key, salt="warning-session")
        self.enterprise_by_digest = {d: e.id for e in site.enterprises.values() for d in e.token_digests}
        self.user_by_digest = {u.api_token_digest: u for u in site.users.values() if u.api_token_digest}

    @staticmethod
    def bearer(conn: HTTPConnection) -> str | None:
        header = conn.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        return token.strip() or None if scheme.lower() == "bearer" else None

    def enterprise(self, token: str | None) -> str | None:
        """The enterprise owning this token, or None. The lookup is by digest: what a timing
        difference could reveal is about SHA-256 outputs, not about any stored token."""
        if not token:
            return None
        return self.enterprise_by_digest.get(token_digest(token))

    def login(self, name: str, password: str) -> str | None:
        """A session cookie value for valid credentials, else None."""
        user = self.site.users.get(name)
        if user is None or not user.password or not verify_password(password, user.password):
            return None
        return self.signer.dumps({"u": user.name, "r": user.role, "c": secrets.token_urlsafe(16)})

    def principal(self, conn: HTTPConnection) -> Principal | None:
        token = self.bearer(conn)
        if token:
            user = self.user_by_digest.get(token_digest(token))
            return Principal(user.name, user.role, None) if user else None
        cookie = conn.cookies.get(COOKIE)
        if not cookie:
            return None
        try:
            data = self.signer.loads(cookie, max_age=self.max_age)
        except BadSignature:  # includes SignatureExpired
            return None
        user = self.site.users.get(data.get("u"))
        if user is None or user.role != data.get("r"):
            return None
        return Principal(user.name, user.role, data.get("c"))

    @staticmethod
    def csrf_ok(p: Principal, supplied: str | None) -> bool:
        return p.csrf is None or (supplied is not None and secrets.compare_digest(p.csrf, supplied))
