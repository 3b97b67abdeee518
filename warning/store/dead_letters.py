"""Messages that could not be accepted, kept with the reason (never dropped silently)."""

from __future__ import annotations

import asyncpg

MAX_PAYLOAD = 64 * 1024


async def add(conn: asyncpg.Connection, source: str, topic: str, payload: bytes, reason: str) -> None:
    await conn.execute(
        "INSERT INTO dead_letters (source, topic, payload, reason) VALUES ($1, $2, $3, $4)",
        source,
        topic[:512],
        payload[:MAX_PAYLOAD],
        reason[:2000],
    )


async def kafka_offsets(conn: asyncpg.Connection, position: str, after: int) -> set[int]:
    """Offsets after ``after`` kept for the partition whose records are named ``position`` +
    offset (``topic[k]@``): a catch-up passes over them as the live run did."""
    rows = await conn.fetch(
        "SELECT topic FROM dead_letters WHERE source = 'kafka' AND starts_with(topic, $1)", position
    )
    offsets = {int(r["topic"][len(position) :]) for r in rows if r["topic"][len(position) :].isdigit()}
    return {off for off in offsets if off > after}
