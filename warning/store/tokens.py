"""The ``tokens`` table: digests only, never the tokens themselves."""

from __future__ import annotations

import asyncpg


async def add(conn: asyncpg.Connection, digest: str, enterprise: str, label: str = "") -> None:
    await conn.execute("INSERT INTO tokens (digest, enterprise, label) VALUES ($1, $2, $3)", digest, enterprise, label)


async def revoke(conn: asyncpg.Connection, digest: str, enterprise: str) -> str:
    """Revoke a token (one from the site file too: the row then only records the revocation).
    Returns what happened: "was active", "already revoked", "recorded" (a digest this store
    had not issued, e.g. the site file's) or "other enterprise" (nothing changed)."""
    async with conn.transaction():
        row = await conn.fetchrow("SELECT enterprise, revoked_at FROM tokens WHERE digest = $1 FOR UPDATE", digest)
        if row is not None and row["enterprise"] != enterprise:
            return "other enterprise"
        if row is not None and row["revoked_at"] is not None:
            return "already revoked"
        await conn.execute(
            "INSERT INTO tokens (digest, enterprise, label, revoked_at) VALUES ($1, $2, 'revoked', now()) "
            "ON CONFLICT (digest) DO UPDATE SET revoked_at = coalesce(tokens.revoked_at, now())",
            digest,
            enterprise,
        )
        return "recorded" if row is None else "was active"


async def rows(conn: asyncpg.Connection) -> list[tuple[str, str, bool]]:
    return [
        (r["digest"], r["enterprise"], r["revoked_at"] is not None)
        for r in await conn.fetch("SELECT digest, enterprise, revoked_at FROM tokens")
    ]


async def listing(conn: asyncpg.Connection, enterprise: str | None = None) -> list[dict]:
    q = "SELECT digest, enterprise, label, created_at, revoked_at FROM tokens"
    args = []
    if enterprise:
        q += " WHERE enterprise = $1"
        args.append(enterprise)
    return [dict(r) for r in await conn.fetch(q + " ORDER BY enterprise, created_at", *args)]
