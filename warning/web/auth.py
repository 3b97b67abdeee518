"""Who is calling: enterprises by bearer token, officers by session cookie or API token.

Tokens are looked up by their SHA-256 digest and confirmed with a constant-time
comparison. Sessions are signed cookies that expire (``max_age``); cookie-authenticated
writes must carry the session's CSRF token in ``X-CSRF-Token`` (or a ``csrf`` form field).

Roles: ``viewer`` reads everything, ``officer`` also acts on alerts, ``admin`` acts like an
officer (an administrator's account; no extra pages yet), ``enterprise`` reads one
enterprise's data only.

Enterprise users are denied by default: :meth:`Auth.principal` returns None for them on
any path that has not declared (in :data:`ENTERPRISE_SCOPED`) that it filters by
``Principal.enterprise``. A new route that forgets to filter therefore answers 401 to an
enterprise user instead of leaking another enterprise's data.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import HTTPConnection

from ..config import Site
from ..security import token_digest, verify_password
from .throttle import LoginThrottle

COOKIE = "warning_session"
ACTING_ROLES = ("officer", "admin")  #: may sign for, resolve, silence alerts

#: Paths (exact, or prefixes ending in "/") whose handlers filter by ``Principal.enterprise``.
ENTERPRISE_SCOPED = ("/", "/ws", "/logout", "/api/v1/me", "/e/", "/alert/", "/qr/", "/api/v1/dash/",
                     "/api/v1/enterprise-alarms")


def enterprise_scoped(path: str) -> bool:
    return any(path == p or (p.endswith("/") and p != "/" and path.startswith(p)) for p in ENTERPRISE_SCOPED)


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    role: str  #: officer | viewer | admin | enterprise
    csrf: str | None  #: None for API tokens (no cookie, no CSRF exposure)
    enterprise: str | None = None  #: set for enterprise users: the only enterprise they may see

    @property
    def can_act(self) -> bool:
        return self.role in ACTING_ROLES

    def may_see(self, enterprise: str) -> bool:
        return self.enterprise is None or self.enterprise == enterprise


class Auth:
    def __init__(self, site: Site, secret_key: str, *, max_age: int = 8 * 3600):
        self.site = site
        self.max_age = max_age  #: session lifetime in seconds
        self.signer = URLSafeTimedSerializer(secret_key, salt="warning-session")
        self.enterprise_by_digest = {d: e.id for e in site.enterprises.values() for d in e.token_digests}
        self.user_by_digest = {u.api_token_digest: u for u in site.users.values() if u.api_token_digest}
        self.throttle = LoginThrottle()  #: failed logins per user and per address

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
        return self.signer.dumps({"u": user.name, "r": user.role, "e": user.enterprise,
                                  "c": secrets.token_urlsafe(16)})

    def principal(self, conn: HTTPConnection) -> Principal | None:
        """Who is calling, or None. Enterprise users only on :data:`ENTERPRISE_SCOPED` paths."""
        p = self._principal(conn)
        if p is not None and p.enterprise is not None and not enterprise_scoped(conn.url.path):
            return None
        return p

    def _principal(self, conn: HTTPConnection) -> Principal | None:
        token = self.bearer(conn)
        if token:
            user = self.user_by_digest.get(token_digest(token))
            return Principal(user.name, user.role, None, user.enterprise) if user else None
        cookie = conn.cookies.get(COOKIE)
        if not cookie:
            return None
        try:
            data = self.signer.loads(cookie, max_age=self.max_age)
        except BadSignature:  # includes SignatureExpired
            return None
        user = self.site.users.get(data.get("u"))
        if user is None or user.role != data.get("r") or user.enterprise != data.get("e"):
            return None
        return Principal(user.name, user.role, data.get("c"), user.enterprise)

    @staticmethod
    def csrf_ok(p: Principal, supplied: str | None) -> bool:
        return p.csrf is None or (supplied is not None and secrets.compare_digest(p.csrf, supplied))
