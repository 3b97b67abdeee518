"""Who is calling: enterprises by bearer token, people by session cookie or API token.

Tokens are looked up by their SHA-256 digest. Sessions live on the server
(``warning.store.sessions``): the cookie is a random token, logout ends the session in the
store, and a change of the user's password, role or enterprise in the site file ends it at
its next use (the session keeps a fingerprint of them). Sessions expire ``max_age`` (8 h)
after login. Cookie-authenticated writes must carry the session's CSRF token in
``X-CSRF-Token``.

What a caller may see is its :class:`~warning.web.scope.Scope` (``Principal.scope``), from
its role: ``viewer`` and ``officer`` and ``admin`` see the district, an ``enterprise`` user
one enterprise. Which routes need what is :data:`warning.web.scope.ROUTES`.

Login takes the same time for unknown and known users: an unknown name (or a user without
a password) is checked against a dummy scrypt hash of the same cost, so the answer time
does not tell which names exist.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from dataclasses import dataclass
from typing import Protocol

from starlette.requests import HTTPConnection

from ..config import Site, User
from ..security import hash_password, token_digest, verify_password
from ..store.sessions import Session, Sessions
from .scope import Scope, scope_for
from .throttle import LoginThrottle

COOKIE = "warning_session"
ACTING_ROLES = ("officer", "admin")  #: may sign for, resolve, silence alerts
VERIFY_AT_ONCE = 4  #: scrypt checks running at once (16 MiB each); more logins wait their turn


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    role: str  #: officer | viewer | admin | enterprise
    csrf: str | None  #: None for API tokens (no cookie, no CSRF exposure)
    enterprise: str | None  #: set for enterprise users: their enterprise
    scope: Scope  #: the enterprises this caller may see
    session: str | None = None  #: the session's id, for a cookie-authenticated caller

    @property
    def can_act(self) -> bool:
        return self.role in ACTING_ROLES


def fingerprint(user: User) -> str:
    """What a session depends on: a change of any of these ends the user's sessions."""
    raw = "\0".join((user.role, user.enterprise or "", user.password or ""))
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


class EnterpriseLookup(Protocol):
    """Token digest -> enterprise id: the site's digests, or the live registry (warning.tokens)
    that adds the tokens issued and revoked at run time."""

    def get(self, digest: str, default: None = None, /) -> str | None: ...


class Auth:
    def __init__(self, site: Site, sessions: Sessions, *, throttle: LoginThrottle | None = None):
        self.site = site
        self.sessions = sessions
        from_site: dict[str, str] = {d: e.id for e in site.enterprises.values() for d in e.token_digests}
        self.enterprise_by_digest: EnterpriseLookup = from_site
        self.user_by_digest = {u.api_token_digest: u for u in site.users.values() if u.api_token_digest}
        self.throttle = throttle or LoginThrottle()
        # Same scheme and cost as real hashes (security.hash_password), so a miss costs a real check.
        self._dummy_hash = hash_password(secrets.token_urlsafe(16))
        self._verifying = asyncio.Semaphore(VERIFY_AT_ONCE)

    def use_site(self, site: Site) -> None:
        """The live ledger changed the users (issue 14): later requests see the new ones; a
        user whose password, role or enterprise changed loses their sessions (fingerprint)."""
        self.site = site
        self.user_by_digest = {u.api_token_digest: u for u in site.users.values() if u.api_token_digest}

    @property
    def max_age(self) -> float:
        return self.sessions.max_age

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

    async def verify(self, name: str, password: str) -> User | None:
        """The user for valid credentials, else None; one scrypt check either way."""
        user = self.site.users.get(name)
        stored = user.password if user is not None and user.password else self._dummy_hash
        async with self._verifying:  # scrypt off the event loop, a few at a time
            ok = await asyncio.to_thread(verify_password, password, stored)
        return user if ok and user is not None and user.password else None

    async def login(self, name: str, password: str, address: str = "") -> tuple[str, User] | None:
        """(cookie value, user) for valid credentials, else None."""
        user = await self.verify(name, password)
        if user is None:
            return None
        token, _ = await self.sessions.open(user.name, fingerprint(user), address)
        return token, user

    async def logout(self, conn: HTTPConnection) -> bool:
        """End the caller's session on the server (a copied cookie stops working)."""
        cookie = conn.cookies.get(COOKIE)
        if not cookie:
            return False
        s = await self.sessions.get(cookie)
        return s is not None and await self.sessions.end(s.id, "logout")

    async def end_user_sessions(self, user: str, why: str) -> int:
        """End every session of ``user`` (password change, an administrator's order)."""
        return await self.sessions.end_user(user, why)

    async def principal(self, conn: HTTPConnection) -> Principal | None:
        """Who is calling, or None."""
        token = self.bearer(conn)
        if token:
            user = self.user_by_digest.get(token_digest(token))
            return self._of(user, None, None, self.site) if user else None
        cookie = conn.cookies.get(COOKIE)
        if not cookie or len(cookie) > 200:
            return None
        s = await self.sessions.get(cookie)
        if s is None:
            return None
        user = self.site.users.get(s.user)
        if user is None or fingerprint(user) != s.fingerprint:
            await self.sessions.end(s.id, "credentials changed")
            return None
        return self._of(user, s.csrf, s, self.site)

    @staticmethod
    def _of(user: User, csrf: str | None, session: Session | None, site: Site) -> Principal:
        return Principal(
            user.name, user.role, csrf, user.enterprise, scope_for(user, site), session.id if session else None
        )

    @staticmethod
    def csrf_ok(p: Principal, supplied: str | None) -> bool:
        # compared as bytes: compare_digest raises TypeError on non-ASCII str (a header with é was a 500)
        return p.csrf is None or (
            supplied is not None
            and secrets.compare_digest(p.csrf.encode(), supplied.encode("utf-8", "surrogateescape"))
        )
