"""Point ids: the store owns them so that readings keep their meaning across config edits."""

from __future__ import annotations

import asyncpg

from ..site import PointDef, Site

_LOCK_ID = 0x706F696E  # "poin"


async def sync_points(conn: asyncpg.Connection, site: Site) -> dict[int, PointDef]:
    """Register every configured point (idempotent); returns point id -> definition."""
    rows = [(p.ref.enterprise, p.ref.device, p.ref.point, p.kind) for p in site.points]
    async with conn.transaction():
        # Gateways and workers start together: one at a time, or their upserts can deadlock.
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_ID)
        await conn.executemany(
            "INSERT INTO points (enterprise, device, point, kind) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT (enterprise, device, point) DO UPDATE SET kind = EXCLUDED.kind", rows)
    ids = {(r["enterprise"], r["device"], r["point"]): r["id"]
           for r in await conn.fetch("SELECT id, enterprise, device, point FROM points")}
    return {ids[(p.ref.enterprise, p.ref.device, p.ref.point)]: p for p in site.points}
