"""Point ids: the store owns them so that readings keep their meaning across config edits."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

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
            "ON CONFLICT (enterprise, device, point) DO UPDATE SET kind = EXCLUDED.kind",
            rows,
        )
    ids = {
        (r["enterprise"], r["device"], r["point"]): r["id"]
        for r in await conn.fetch("SELECT id, enterprise, device, point FROM points")
    }
    return {ids[(p.ref.enterprise, p.ref.device, p.ref.point)]: p for p in site.points}


async def register(conn: asyncpg.Connection, points: list[PointDef]) -> dict[tuple[str, str, str], int]:
    """Register (or update the kind of) just these points; their ids. For a live change of the
    ledger: one new point in a ledger of 160,000 costs one row, not a pass over all of them."""
    if not points:
        return {}
    rows = [(p.ref.enterprise, p.ref.device, p.ref.point, p.kind) for p in points]
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_ID)
        got = await conn.fetch(
            "INSERT INTO points (enterprise, device, point, kind) SELECT * FROM unnest($1::text[], $2::text[], "
            "$3::text[], $4::text[]) ON CONFLICT (enterprise, device, point) DO UPDATE SET kind = EXCLUDED.kind "
            "RETURNING id, enterprise, device, point",
            [r[0] for r in rows],
            [r[1] for r in rows],
            [r[2] for r in rows],
            [r[3] for r in rows],
        )
    return {(r["enterprise"], r["device"], r["point"]): r["id"] for r in got}


Ref = tuple[str, str, str]  #: (enterprise, device, point)


async def points_after(
    conn: asyncpg.Connection, points: Sequence[PointDef], known: Mapping[Ref, tuple[int, str]]
) -> dict[int, PointDef]:
    """Point id -> definition for ``points`` (the ledger changed): a point ``known`` (ref ->
    (id, kind)) with the same kind keeps its id; only new ones, or ones of a new kind, are
    registered. Every runtime takes a ledger change through this."""
    fresh = [p for p in points if known.get(ref_of(p), (0, None))[1] != p.kind]
    ids = await register(conn, fresh)
    return {ids[r] if (r := ref_of(p)) in ids else known[r][0]: p for p in points}


def ref_of(p: PointDef) -> Ref:
    """A point's (enterprise, device, point)."""
    return (p.ref.enterprise, p.ref.device, p.ref.point)


def devices_of(points: Mapping[int, PointDef]) -> dict[str, dict[str, dict[str, int]]]:
    """enterprise -> device -> point -> point id: what a runtime validates telemetry against."""
    out: dict[str, dict[str, dict[str, int]]] = {}
    for pid, p in points.items():
        out.setdefault(p.ref.enterprise, {}).setdefault(p.ref.device, {})[p.ref.point] = pid
    return out
