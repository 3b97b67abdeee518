"""Time partitions: created ahead, listed with their sizes, dropped whole by retention.

``readings_packed`` and ``rollups`` are partitioned by month of their period start (epoch
ms), ``messages`` and ``batch_times`` by UTC day of arrival, ``dead_letters`` by month
received. The last three have a DEFAULT partition so an insert never fails for want of a partition; creating a
partition moves the default's rows of that range into it in the same transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import asyncpg

log = logging.getLogger(__name__)
LOCK_ID = 0x77617270  #: advisory lock: one process making partitions at a time (packing's is 0x7761726F)

MONTHLY_MS = ("readings_packed", "rollups")  #: bigint epoch-ms keys, partitions per month


@dataclass(frozen=True, slots=True)
class Part:
    table: str  #: parent
    name: str
    lo: date  #: first day covered
    hi: date  #: first day after
    bytes: int


def month_start(d: date) -> date:
    return date(d.year, d.month, 1)


def next_month(d: date) -> date:
    return date(d.year + d.month // 12, d.month % 12 + 1, 1)


def day_of_ms(ms: int) -> date:
    return datetime.fromtimestamp(ms / 1000.0, UTC).date()


def ms_of(d: date) -> int:
    return int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp() * 1000)


async def ensure_month_ms(conn: asyncpg.Connection, table: str, d: date) -> None:
    """The month partition of ``table`` (packed or rollups) holding day ``d``."""
    lo = month_start(d)
    hi = next_month(lo)
    await conn.execute(
        f"CREATE TABLE IF NOT EXISTS {table}_{lo:%Y%m} PARTITION OF {table} "
        f"FOR VALUES FROM ({ms_of(lo)}) TO ({ms_of(hi)})"
    )


async def _ensure_with_default(
    conn: asyncpg.Connection, table: str, key: str, name: str, lo: str, hi: str, adopt: bool
) -> None:
    exists = await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", name)
    if exists:
        return
    stray = await conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM {table}_default WHERE {key} >= {lo} AND {key} < {hi})")
    if not stray:  # the usual case: a day ahead, nothing to move
        await conn.execute(f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF {table} FOR VALUES FROM ({lo}) TO ({hi})")
        return
    if not adopt:
        # Moving rows out of the default while the service inserts and looks ids up would let a
        # lookup planned before the ATTACH miss rows deleted from the default: only at start-up.
        log.warning("%s: rows of %s .. %s wait in %s_default for the next start-up", table, lo, hi, table)
        return
    async with conn.transaction():
        await conn.execute(f"LOCK TABLE {table}_default IN ACCESS EXCLUSIVE MODE")
        if await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", name):
            return
        await conn.execute(f"CREATE TABLE {name} (LIKE {table} INCLUDING DEFAULTS)")
        await conn.execute(f"INSERT INTO {name} SELECT * FROM {table}_default WHERE {key} >= {lo} AND {key} < {hi}")
        await conn.execute(f"DELETE FROM {table}_default WHERE {key} >= {lo} AND {key} < {hi}")
        await conn.execute(f"ALTER TABLE {table} ATTACH PARTITION {name} FOR VALUES FROM ({lo}) TO ({hi})")


async def ensure_ahead(conn: asyncpg.Connection, now: datetime, *, days_ahead: int = 7, adopt: bool = False) -> None:
    """Partitions from yesterday to ``days_ahead`` days on (message days; months otherwise).
    With ``adopt`` (at start-up, before any ingest), rows sitting in a DEFAULT partition are
    moved into partitions of their own, so retention can drop them.

    One process at a time (a session advisory lock of its own): ``CREATE TABLE IF NOT EXISTS …
    PARTITION OF`` is not safe against a concurrent one, and processes starting together on
    one database (two gateways, a gateway and ``warning store``) all make the days ahead."""
    await conn.execute("SELECT pg_advisory_lock($1)", LOCK_ID)
    try:
        await _ensure_ahead(conn, now, days_ahead, adopt)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", LOCK_ID)


async def _ensure_ahead(conn: asyncpg.Connection, now: datetime, days_ahead: int, adopt: bool) -> None:
    today = now.astimezone(UTC).date()
    # Rows that fell into a DEFAULT partition (from before 012, or a gap) get their own
    # partitions too, so retention can drop them.
    stray = {r["d"] for r in await conn.fetch("SELECT DISTINCT day AS d FROM messages_default")}
    stray_arrivals = {
        date(1970, 1, 1) + timedelta(days=int(r["d"]))
        for r in await conn.fetch(
            "SELECT DISTINCT floor(at / 86400) AS d FROM batch_times_default WHERE at >= 0 AND at < 253402300800"
        )
    }
    stray_months = {
        month_start(r["d"])
        for r in await conn.fetch(
            "SELECT DISTINCT (received_at AT TIME ZONE 'UTC')::date AS d FROM dead_letters_default"
        )
    }
    ahead = {today + timedelta(days=k) for k in range(-1, days_ahead + 1)}
    for d in sorted(stray | ahead):
        await _ensure_with_default(
            conn, "messages", "day", f"messages_{d:%Y%m%d}", f"'{d}'::date", f"'{d + timedelta(days=1)}'::date", adopt
        )
    for d in sorted(stray_arrivals | ahead):
        lo_s = ms_of(d) // 1000
        await _ensure_with_default(
            conn, "batch_times", "at", f"batch_times_{d:%Y%m%d}", str(lo_s), str(lo_s + 86_400), adopt
        )
    months = {month_start(today + timedelta(days=k)) for k in range(0, days_ahead + 32, 28)}
    for m in sorted(months | stray_months):
        if m in months:
            for table in MONTHLY_MS:
                await ensure_month_ms(conn, table, m)
        await _ensure_with_default(
            conn,
            "dead_letters",
            "received_at",
            f"dead_letters_{m:%Y%m}",
            f"'{m}'::timestamptz",
            f"'{next_month(m)}'::timestamptz",
            adopt,
        )


async def parts(conn: asyncpg.Connection) -> list[Part]:
    """Every time partition with its bounds and size on disk (table, indexes, TOAST)."""
    rows = await conn.fetch(
        "SELECT p.relname AS parent, c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound, "
        "pg_total_relation_size(c.oid) AS size FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = ANY($1::text[]) ORDER BY 1, 2",
        ["readings_packed", "rollups", "messages", "dead_letters", "batch_times"],
    )
    out = []
    for r in rows:
        lo, hi = _bounds(r["parent"], r["name"])
        out.append(Part(r["parent"], r["name"], lo, hi, r["size"]))
    return out


def _bounds(parent: str, name: str) -> tuple[date, date]:
    suffix = name[len(parent) + 1 :]
    if suffix == "default":
        return date.min, date.max
    if len(suffix) == 8:
        d = date(int(suffix[:4]), int(suffix[4:6]), int(suffix[6:]))
        return d, d + timedelta(days=1)
    d = date(int(suffix[:4]), int(suffix[4:6]), 1)
    return d, next_month(d)


async def drop(conn: asyncpg.Connection, part: Part) -> None:
    await conn.execute(f"DROP TABLE {part.name}")
