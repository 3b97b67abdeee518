"""The enterprises' own alarms (from their gateways' eventsData / videosData), stored once and listed."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from ..platforms.decode import Alarm

_COLUMNS = (
    "id, enterprise, gateway, platform, kind, code, point_id, ts_ms, value, status, threshold, content, received_at"
)


async def add_alarms(
    conn: asyncpg.Connection, enterprise: str, gateway: str, platform: str, alarms: Sequence[Alarm]
) -> tuple[int, int]:
    """Store in one transaction; returns (new, repeats). A re-sent alarm is kept once."""
    async with conn.transaction():
        rows = await conn.fetch(
            "INSERT INTO enterprise_alarms (enterprise, gateway, platform, kind, code, point_id, ts_ms, value, status, "
            "threshold, content) SELECT $1, $2, $3, * FROM unnest($4::text[], $5::text[], $6::int[], $7::bigint[], "
            "$8::text[], $9::int[], $10::text[], $11::text[]) ON CONFLICT DO NOTHING RETURNING id",
            enterprise,
            gateway,
            platform,
            [a.kind for a in alarms],
            [a.code for a in alarms],
            [a.point_id for a in alarms],
            [round(a.ts * 1000) for a in alarms],
            [a.value for a in alarms],
            [a.status for a in alarms],
            [a.threshold for a in alarms],
            [a.content for a in alarms],
        )
    return len(rows), len(alarms) - len(rows)


async def list_alarms(
    conn: asyncpg.Connection, *, enterprises: Sequence[str] | None, since_ms: int | None, limit: int
) -> list[dict]:
    """Newest first, with our device and point names; ``enterprises=None`` means all."""
    rows = await conn.fetch(
        f"SELECT a.{_COLUMNS.replace(', ', ', a.')}, p.device, p.point FROM enterprise_alarms a "
        "LEFT JOIN points p ON p.id = a.point_id "
        "WHERE ($1::text[] IS NULL OR a.enterprise = ANY($1::text[])) AND ($2::bigint IS NULL OR a.ts_ms >= $2) "
        "ORDER BY a.ts_ms DESC, a.id DESC LIMIT $3",
        None if enterprises is None else list(enterprises),
        since_ms,
        limit,
    )
    out = []
    for r in rows:
        d = dict(r)
        d["ts"] = d.pop("ts_ms") / 1000.0
        d["received_at"] = d["received_at"].timestamp()
        out.append(d)
    return out
