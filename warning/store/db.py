"""Connection pool and versioned schema migrations.

Migrations are ``migrations/NNN_name.sql`` files applied in order, each in its own
transaction, recorded in ``schema_migrations``. An advisory lock makes concurrent
start-ups (several gateways) apply them once.
"""

from __future__ import annotations

import logging
import re
from importlib import resources

import asyncpg

log = logging.getLogger(__name__)
_LOCK_ID = 0x7761726E  # "warn"


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) in order."""
    out = []
    for entry in resources.files("warning.store").joinpath("migrations").iterdir():
        m = re.fullmatch(r"(\d+)_(\w+)\.sql", entry.name)
        if m:
            out.append((int(m.group(1)), m.group(2), entry.read_text(encoding="utf-8")))
    return sorted(out)


async def migrate(conn: asyncpg.Connection) -> list[int]:
    """Apply pending migrations; returns the versions applied."""
    applied: list[int] = []
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_ID)
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        for version, name, sql in migrations():
            if version in done:
                continue
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", version, name)
            log.info("applied migration %03d_%s", version, name)
            applied.append(version)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_ID)
    return applied


async def connect_pool(
    dsn: str, *, min_size: int = 2, max_size: int = 8, server_settings: dict[str, str] | None = None
) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size, command_timeout=60, server_settings=server_settings
    )
    async with pool.acquire() as conn:
        await migrate(conn)
    return pool
