"""Readings into PostgreSQL: one transaction per group commit, rows by COPY.

A group is several requests' messages. Inside its transaction we drop messages whose
id was stored before (the ``messages`` table), COPY the readings, and record the new
ids, so a message is stored exactly once however often it is sent.

Keyed requests (the platform adapters) carry no ids: their readings are looked up by their
own (point, time) in the raw rows and the packed hours (:func:`stored_keys`), in the same
transaction, so a repeat is stored once for as long as the reading itself is kept.
"""

from __future__ import annotations

from collections.abc import Iterable

import asyncpg
import numpy as np

from ..model import Reading
from . import codec

HOUR_MS = 3_600_000

READING_COLUMNS = ("batch", "point_id", "ts_ms", "value")


async def next_batch(conn: asyncpg.Connection) -> int:
    return await conn.fetchval("SELECT nextval('reading_batch_seq')")


async def known_ids(conn: asyncpg.Connection, enterprise: str, ids: list[str]) -> set[str]:
    rows = await conn.fetch(
        "SELECT msg_id FROM messages WHERE enterprise = $1 AND msg_id = ANY($2::text[])", enterprise, ids
    )
    return {r["msg_id"] for r in rows}


async def known_id_batches(conn: asyncpg.Connection, enterprise: str, ids: list[str]) -> dict[str, int]:
    """Message id -> the batch that stored it, for the ids already stored."""
    rows = await conn.fetch(
        "SELECT msg_id, batch FROM messages WHERE enterprise = $1 AND msg_id = ANY($2::text[])", enterprise, ids
    )
    return {r["msg_id"]: r["batch"] for r in rows}


_STORED = """
SELECT r.point_id, r.ts_ms, NULL::bytea AS blob
  FROM unnest($1::int[], $2::bigint[]) AS k(p, t)
  JOIN readings r ON r.point_id = k.p AND r.ts_ms = k.t
UNION ALL
SELECT x.point_id, x.t0, x.blob
  FROM unnest($3::int[], $4::bigint[]) AS h(p, t0)
  JOIN readings_packed x ON x.point_id = h.p AND x.t0 = h.t0
"""


async def stored_keys(conn: asyncpg.Connection, keys: list[tuple[int, int]]) -> set[tuple[int, int]]:
    """The (point id, epoch ms) of ``keys`` already stored, raw or packed.

    One statement, so one snapshot: packing moves a reading from raw to packed in one
    transaction, and a single snapshot sees it in exactly one of the two. Through the
    (point_id, ts_ms) B-tree for raw rows, and the packed row of each (point, hour) the keys
    fall in (decoded only when there is one: the hour was sealed and packed)."""
    if not keys:
        return set()
    hours = {(p, t - t % HOUR_MS) for p, t in keys}
    rows = await conn.fetch(
        _STORED,
        [p for p, _ in keys],
        [t for _, t in keys],
        [p for p, _ in hours],
        [t for _, t in hours],
    )
    found: set[tuple[int, int]] = set()
    packed = []
    for pid, ts, blob in rows:
        if blob is None:
            found.add((pid, ts))
        else:
            packed.append((pid, ts, blob))
    if packed:
        wanted: dict[tuple[int, int], list[int]] = {}
        for p, t in keys:
            wanted.setdefault((p, t - t % HOUR_MS), []).append(t)
        for pid, t0, blob in packed:
            want = np.array(wanted[(pid, t0)], np.int64)
            have = codec.decode("tf", bytes(blob))[0]
            found.update((pid, int(t)) for t in want[np.isin(want, have)])
    return found


async def copy_readings(conn: asyncpg.Connection, batch: int, readings: Iterable[Reading]) -> None:
    await conn.copy_records_to_table(
        "readings", columns=READING_COLUMNS, records=[(batch, pid, round(t * 1000.0), v) for pid, t, v in readings]
    )


async def record_ids(conn: asyncpg.Connection, batch: int, ids: list[tuple[str, str]]) -> None:
    await conn.copy_records_to_table(
        "messages", columns=("enterprise", "msg_id", "batch"), records=[(e, m, batch) for e, m in ids]
    )


async def record_arrival(conn: asyncpg.Connection, batch: int, at: float) -> None:
    await conn.execute("INSERT INTO batch_times (batch, at) VALUES ($1, $2)", batch, at)


async def arrivals(conn: asyncpg.Connection, after_batch: int) -> dict[int, float]:
    """Arrival time of each batch after ``after_batch`` (batches stored before 007 have none)."""
    rows = await conn.fetch("SELECT batch, at FROM batch_times WHERE batch > $1", after_batch)
    return {r["batch"]: r["at"] for r in rows}


async def replay_cursor(conn: asyncpg.Connection, after_batch: int):
    """Readings of batches after ``after_batch``, in processing order (use inside a transaction).

    Raw rows only, and that is all of them: packing never moves a row whose batch the oldest
    shard checkpoint does not cover (``packing.safe_batch``). Every other reader of history
    goes through ``history``, which reads raw and packed alike."""
    return conn.cursor(
        "SELECT batch, point_id, ts_ms, value FROM readings WHERE batch > $1 ORDER BY batch, ts_ms, point_id",
        after_batch,
        prefetch=10_000,
    )


async def last_batch(conn: asyncpg.Connection) -> int:
    """The newest batch number handed out so far (0 if none)."""
    return await conn.fetchval("SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM reading_batch_seq")


async def copy_rows(
    conn: asyncpg.Connection, rows: list[tuple[int, int, int, float]], ids: list[tuple[str, str, int]]
) -> None:
    """Readings as ``(batch, point id, ts_ms, value)`` and message ids as ``(enterprise, id,
    batch)``, each row naming its own batch (the distributed runtime's records)."""
    if rows:
        await conn.copy_records_to_table("readings", columns=READING_COLUMNS, records=rows)
    if ids:
        await conn.copy_records_to_table("messages", columns=("enterprise", "msg_id", "batch"), records=ids)
