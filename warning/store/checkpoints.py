"""Pipeline checkpoints: the snapshot bytes and the last reading batch they cover."""

from __future__ import annotations

import asyncpg


async def save(conn: asyncpg.Connection, name: str, batch: int, state: bytes) -> None:
    await conn.execute(
        "INSERT INTO checkpoints (name, batch, state, saved_at) VALUES ($1, $2, $3, now()) "
        "ON CONFLICT (name) DO UPDATE SET batch = EXCLUDED.batch, state = EXCLUDED.state, saved_at = now()",
        name,
        batch,
        state,
    )


async def load(conn: asyncpg.Connection, name: str) -> tuple[int, bytes] | None:
    row = await conn.fetchrow("SELECT batch, state FROM checkpoints WHERE name = $1", name)
    return None if row is None else (row["batch"], bytes(row["state"]))


async def load_prefix(conn: asyncpg.Connection, prefix: str) -> dict[str, tuple[int, bytes]]:
    rows = await conn.fetch("SELECT name, batch, state FROM checkpoints WHERE starts_with(name, $1)", prefix)
    return {r["name"]: (r["batch"], bytes(r["state"])) for r in rows}


async def delete_beyond(conn: asyncpg.Connection, prefix: str, count: int) -> str:
    """Drop ``prefix<k>`` checkpoints with ``k >= count`` (left by a larger shard count)."""
    return await conn.execute(
        "DELETE FROM checkpoints WHERE starts_with(name, $1) AND substr(name, length($1) + 1) ~ '^[0-9]+$' "
        "AND substr(name, length($1) + 1)::int >= $2",
        prefix,
        count,
    )
