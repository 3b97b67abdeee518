"""The ``tokens`` table: digests only, never the tokens themselves."""

from __future__ import annotations

import asyncpg


async def add(conn: asyncpg.Connection, digest: str, enterprise: str, label: str = "") -> None:
    await conn.execute("INSERT INTO tokens (digest, enterprise, label) VALUES ($1, $2, $3)", digest, enterprise, label)


async def revoke(conn: asyncpg.Connection, digest: str, enterprise: str) -> None:
    """Revoke a token (one from the site file too: the row then only records the revocation)."""
    await conn.execute(
        "INSERT INTO tokens (digest, enterprise, label, revoked_at) VALUES ($1, $2, 'revoked', now()) "
        "ON CONFLICT (digest) DO UPDATE SET revoked_at = coalesce(tokens.revoked_at, now())", digest, enterprise)


async def rows(conn: asyncpg.Connection) -> list[tuple[str, str, bool]]:
    return [(r["digest"], r["enterprise"], r["revoked_at"] is not None)
            for r in await conn.fetch("SELECT digest, enterprise, revoked_at FROM tokens")]


async def listing(conn: asyncpg.Connection, enterprise: str | None = None) -> list[dict]:
    q = "SELECT digest, enterprise, label, created_at, revoked_at FROM tokens"
    args = []
    if enterprise:
        q += " WHERE enterprise = $1"
        args.append(enterprise)
    return [dict(r) for r in await conn.fetch(q + " ORDER BY enterprise, created_at", *args)]
