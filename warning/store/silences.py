"""Silences in PostgreSQL: created and expired through the API, loaded into the router.

Deleting a silence keeps its row (``deleted_by``/``deleted_at``): who muted what, and who
lifted the mute, stays on record.
"""

from __future__ import annotations

import secrets

import asyncpg
import orjson

from ..policy.silences import Silence
from .alerts import epoch, seconds, ts


def _silence(r) -> Silence:
    return Silence(
        r["id"],
        orjson.loads(r["matchers"]),
        seconds(r["starts_at"]),
        seconds(r["ends_at"]),
        r["author"],
        r["reason"],
        r["cron"],
        r["duration"],
    )


def _json(r) -> dict:
    d = _silence(r).to_json()
    d["created_at"] = epoch(r["created_at"])
    d["deleted_by"] = r["deleted_by"]
    d["deleted_at"] = epoch(r["deleted_at"])
    return d


async def create(conn: asyncpg.Connection, fields: dict, author: str) -> dict:
    sid = "s-" + secrets.token_hex(6)
    row = await conn.fetchrow(
        "INSERT INTO silences (id, matchers, starts_at, ends_at, cron, duration, author, reason) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *",
        sid,
        orjson.dumps(fields["matchers"]).decode(),
        ts(fields["starts_at"]),
        ts(fields["ends_at"]),
        fields["cron"],
        fields["duration"],
        author,
        fields["reason"],
    )
    return _json(row)


async def update(conn: asyncpg.Connection, sid: str, fields: dict) -> dict | None:
    row = await conn.fetchrow(
        "UPDATE silences SET matchers = $2, starts_at = $3, ends_at = $4, cron = $5, duration = $6, reason = $7 "
        "WHERE id = $1 AND deleted_at IS NULL RETURNING *",
        sid,
        orjson.dumps(fields["matchers"]).decode(),
        ts(fields["starts_at"]),
        ts(fields["ends_at"]),
        fields["cron"],
        fields["duration"],
        fields["reason"],
    )
    return None if row is None else _json(row)


async def delete(conn: asyncpg.Connection, sid: str, actor: str) -> dict | None:
    row = await conn.fetchrow(
        "UPDATE silences SET deleted_by = $2, deleted_at = now() WHERE id = $1 AND deleted_at IS NULL RETURNING *",
        sid,
        actor,
    )
    return None if row is None else _json(row)


async def get(conn: asyncpg.Connection, sid: str) -> dict | None:
    row = await conn.fetchrow("SELECT * FROM silences WHERE id = $1", sid)
    return None if row is None else _json(row)


async def listing(conn: asyncpg.Connection, *, include_expired: bool = False, now: float) -> list[dict]:
    sql = "SELECT * FROM silences"
    if not include_expired:
        sql += " WHERE deleted_at IS NULL AND ends_at > to_timestamp($1)"
        rows = await conn.fetch(sql + " ORDER BY created_at DESC", now)
    else:
        rows = await conn.fetch(sql + " ORDER BY created_at DESC LIMIT 1000")
    return [_json(r) for r in rows]


async def active(conn: asyncpg.Connection, now: float) -> list[Silence]:
    """Silences that have not ended or been deleted (future ones too: the router checks times)."""
    rows = await conn.fetch("SELECT * FROM silences WHERE deleted_at IS NULL AND ends_at > to_timestamp($1)", now)
    return [_silence(r) for r in rows]
