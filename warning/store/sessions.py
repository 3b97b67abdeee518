"""Server-side sessions (migration 006): created at login, looked up on every request,
ended by logout, by a password change and by ``warning session end``.

The cookie carries a random 256-bit token; the table keeps only its SHA-256 (``id``).
A lookup is one primary-key probe. :class:`Sessions` adds a small cache of recently
confirmed sessions (``cache_s`` seconds, ``cache_max`` entries), because the check runs
on every request: the process that ends a session drops it from its own cache at once,
so on one server a copied cookie stops working immediately; another gateway of the
distributed runtime may accept it for at most ``cache_s`` more seconds.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass

import asyncpg

from ..security import token_digest


@dataclass(frozen=True, slots=True)
class Session:
    id: str  #: digest of the cookie's token
    user: str
    fingerprint: str
    csrf: str
    expires: float  #: epoch seconds


async def create(
    conn: asyncpg.Connection, sid: str, user: str, fingerprint: str, csrf: str, max_age: float, address: str = ""
) -> float:
    """Store a new session; returns its expiry (epoch seconds). Old rows are purged here,
    so the table holds at most a day's worth of ended and expired sessions."""
    await conn.execute("DELETE FROM sessions WHERE expires_at < now() - interval '1 day'")
    return float(
        await conn.fetchval(
            "INSERT INTO sessions (id, user_name, fingerprint, csrf, address, expires_at) "
            "VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6)) RETURNING extract(epoch FROM expires_at)",
            sid,
            user,
            fingerprint,
            csrf,
            address,
            float(max_age),
        )
    )


async def lookup(conn: asyncpg.Connection, sid: str) -> Session | None:
    row = await conn.fetchrow(
        "SELECT user_name, fingerprint, csrf, extract(epoch FROM expires_at) AS expires FROM sessions "
        "WHERE id = $1 AND ended_at IS NULL AND expires_at > now()",
        sid,
    )
    return (
        None if row is None else Session(sid, row["user_name"], row["fingerprint"], row["csrf"], float(row["expires"]))
    )


async def end(conn: asyncpg.Connection, sid: str, why: str) -> bool:
    return (
        await conn.fetchval(
            "UPDATE sessions SET ended_at = now(), ended_why = $2 WHERE id = $1 AND ended_at IS NULL RETURNING true",
            sid,
            why,
        )
        is not None
    )


async def end_user(conn: asyncpg.Connection, user: str, why: str) -> int:
    """End every live session of ``user``; returns how many."""
    rows = await conn.fetch(
        "UPDATE sessions SET ended_at = now(), ended_why = $2 WHERE user_name = $1 AND ended_at IS NULL RETURNING id",
        user,
        why,
    )
    return len(rows)


async def live(conn: asyncpg.Connection, user: str | None = None) -> list[dict]:
    rows = await conn.fetch(
        "SELECT user_name, address, created_at, expires_at FROM sessions WHERE ended_at IS NULL "
        "AND expires_at > now() AND ($1::text IS NULL OR user_name = $1) ORDER BY user_name, created_at",
        user,
    )
    return [dict(r) for r in rows]


#: What a session check meets when the store cannot be reached (an outage, not bad data).
UNREACHABLE = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
)


class Sessions:
    """Sessions over a pool, with the short cache described above."""

    def __init__(self, pool: asyncpg.Pool, *, max_age: float = 8 * 3600, cache_s: float = 2.0, cache_max: int = 10_000):
        self.pool = pool
        self.max_age = max_age
        self.cache_s = cache_s
        self.cache_max = cache_max
        self._cache: OrderedDict[str, tuple[Session, float]] = OrderedDict()  #: id -> (session, confirmed at)

    async def open(self, user: str, fingerprint: str, address: str = "") -> tuple[str, Session]:
        """A new session: (cookie token, session)."""
        token = secrets.token_urlsafe(32)
        sid, csrf = token_digest(token), secrets.token_urlsafe(16)
        async with self.pool.acquire() as conn:
            expires = await create(conn, sid, user, fingerprint, csrf, self.max_age, address)
        return token, Session(sid, user, fingerprint, csrf, expires)

    async def get(self, token: str) -> Session | None:
        sid = token_digest(token)
        now = time.monotonic()
        hit = self._cache.get(sid)
        if hit is not None and now - hit[1] < self.cache_s and hit[0].expires > time.time():
            return hit[0]
        async with self.pool.acquire() as conn:
            s = await lookup(conn, sid)
        if s is None:
            self._cache.pop(sid, None)
            return None
        self._cache[sid] = (s, now)
        self._cache.move_to_end(sid)
        while len(self._cache) > self.cache_max:
            self._cache.popitem(last=False)
        return s

    async def end(self, sid: str, why: str) -> bool:
        self._cache.pop(sid, None)
        async with self.pool.acquire() as conn:
            return await end(conn, sid, why)

    async def end_user(self, user: str, why: str) -> int:
        for sid in [k for k, (s, _) in self._cache.items() if s.user == user]:
            del self._cache[sid]
        async with self.pool.acquire() as conn:
            return await end_user(conn, user, why)
