"""Messages that could not be accepted, kept with the reason (never dropped silently)."""

from __future__ import annotations

import asyncpg

MAX_PAYLOAD = 64 * 1024


async def add(conn: asyncpg.Connection, source: str, topic: str, payload: bytes, reason: str) -> None:
    await conn.execute("INSERT INTO dead_letters (source, topic, payload, reason) VALUES ($1, $2, $3, $4)",
                       source, topic[:512], payload[:MAX_PAYLOAD], reason[:2000])
