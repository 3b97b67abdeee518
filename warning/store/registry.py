"""Point ids: the store owns them so that readings keep their meaning across config edits."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

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


def changed_enterprises(before: Site, after: Site) -> set[str]:
    """The enterprises a ledger change touched (created, edited, retired). The live ledger
    keeps an unchanged enterprise's object from one site to the next (``warning.live``), so
    identity finds them without comparing 160,000 points."""
    old, new = before.enterprises, after.enterprises
    return {e for e, x in new.items() if old.get(e) is not x} | (old.keys() - new.keys())


def ref_of(p: PointDef) -> Ref:
    """A point's (enterprise, device, point)."""
    return (p.ref.enterprise, p.ref.device, p.ref.point)


def devices_of(points: Mapping[int, PointDef]) -> dict[str, dict[str, dict[str, int]]]:
    """enterprise -> device -> point -> point id: what a runtime validates telemetry against."""
    out: dict[str, dict[str, dict[str, int]]] = {}
    for pid, p in points.items():
        out.setdefault(p.ref.enterprise, {}).setdefault(p.ref.device, {})[p.ref.point] = pid
    return out


Devices = dict[str, dict[str, dict[str, int]]]  #: enterprise -> device -> point -> point id


async def points_changed(
    conn: asyncpg.Connection,
    current: Mapping[int, PointDef],
    devices: Devices,
    site: Site,
    changed: Collection[str],
) -> tuple[dict[int, PointDef], Devices]:
    """The point set and the devices map after the ledger changed the enterprises ``changed``
    (``site`` is the new site): only their points are looked at and registered, everyone
    else's are kept as they are, so one change costs its own points, not the ledger's."""
    new_points = [p for p in site.points if p.ref.enterprise in changed]
    known = {
        (e, d, pt): (pid, current[pid].kind)
        for e in changed
        for d, pts in devices.get(e, {}).items()
        for pt, pid in pts.items()
        if pid in current
    }
    ids = await points_after(conn, new_points, known)
    points = dict(current)
    for pid, _ in known.values():
        del points[pid]
    points.update(ids)
    out: Devices = {e: v for e, v in devices.items() if e not in changed}  # the others' maps are shared, never mutated
    out.update(devices_of(ids))
    return points, out
