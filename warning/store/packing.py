"""Packing: move sealed hours of raw readings into ``readings_packed`` and ``rollups``.

An hour is sealed ``grace`` after it ends. Its raw rows are packed only once every shard's
checkpoint covers their batch (or they came from the distributed runtime, whose replay
reads the log, not this table): the embedded runtime's recovery replays raw rows after the
checkpoints (``readings.replay_cursor``), so those must stay raw.

One transaction per (hour, group of points): ``DELETE ... RETURNING`` the raw rows, merge
them into the point-hour's packed block (decoded, concatenated, re-encoded) and into its
rollup (summaries merged, see ``stats``), upsert both. A process killed mid-way rolls the
whole group back: each reading is in exactly one form, raw or packed, at every commit.
A reading arriving late for a packed hour lands raw and is merged at the next pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
import numpy as np

from . import codec, stats, timeparts

HOUR_MS = 3_600_000
MINUTE_MS = 60_000
GROUP = 1000  #: points a transaction
LOCK_ID = 0x7761726F  #: advisory lock: one packer/retention at a time across processes


@dataclass(slots=True)
class PackStats:
    readings: int = 0
    blocks: int = 0
    transactions: int = 0


async def safe_batch(conn: asyncpg.Connection) -> int:
    """Newest embedded batch every shard's checkpoint covers (0: none yet)."""
    v = await conn.fetchval("SELECT min(batch) FROM checkpoints WHERE starts_with(name, 'pipeline/')")
    return 0 if v is None else int(v)


def encode_minutes(s: stats.Summary) -> bytes:
    """A point-hour's minute summaries. When lo, hi, last and total are all decimals of one
    scale (the usual case), hi, last and total are stored as small integers relative to lo
    (they are close to it): about half the bytes of four float columns."""
    found = codec.decimal_scale(np.concatenate((s.lo, s.hi, s.last, s.total)))
    if found is None:
        return b"\x00" + codec.encode("iiffff" + "t", s.bucket, s.n, s.lo, s.hi, s.total, s.last, s.last_ts)
    scale, k = found
    lo, hi, last, total = np.split(k, 4)
    return bytes((1, scale)) + codec.encode(
        "iiizzzt", s.bucket, s.n, lo, hi - lo, last - lo, total - s.n * lo, s.last_ts
    )


def decode_minutes(blob: bytes) -> stats.Summary:
    if blob[0] == 0:
        return stats.Summary(*codec.decode("iiffff" + "t", blob[1:]))
    div = 10.0 ** blob[1]
    bucket, n, lo, dhi, dlast, dtotal, last_ts = codec.decode("iiizzzt", blob[2:])
    return stats.Summary(bucket, n, lo / div, (lo + dhi) / div, (dtotal + n * lo) / div, (lo + dlast) / div, last_ts)


def _round_totals(s: stats.Summary) -> stats.Summary:
    """Sums of decimals written with ``k`` digits are decimals with ``k`` digits: rounding the
    float sum to them gives the float nearest the exact sum (closer than the summation was)
    and lets the codec store it as a small integer instead of 8 XORed bytes."""
    found = codec.decimal_scale(np.concatenate((s.lo, s.hi, s.last)))
    if found is None:
        return s
    with np.errstate(invalid="ignore", over="ignore"):
        return s._replace(total=np.round(s.total, found[0]))


_POINTS_PRESENT = """
WITH RECURSIVE p AS (
    SELECT min(point_id) AS id FROM readings
    UNION ALL
    SELECT (SELECT min(point_id) FROM readings WHERE point_id > p.id) FROM p WHERE p.id IS NOT NULL)
SELECT id FROM p WHERE id IS NOT NULL
"""
_FIRST_AFTER = """
SELECT min(x.ts_ms) FROM unnest($1::int[]) AS p(id), LATERAL (
    SELECT ts_ms FROM readings r WHERE r.point_id = p.id AND r.ts_ms >= $2 AND r.ts_ms < $3
    ORDER BY ts_ms LIMIT 1) x
"""


async def pack(
    conn: asyncpg.Connection, now_ms: int, *, grace_ms: int = 600_000, max_hours: int = 100_000, group: int = GROUP
) -> PackStats:
    """Pack every sealed, checkpointed hour (oldest first, at most ``max_hours`` hours)."""
    out = PackStats()
    sealed = (now_ms - grace_ms) // HOUR_MS * HOUR_MS
    safe = await safe_batch(conn)
    hours = 0
    # Every lookup goes through the (point_id, ts_ms) B-tree: the points present (a loose
    # index scan), then per hour the first reading of each at or after the cursor. A scan of
    # the table by time would read the dead rows packing leaves behind until vacuum.
    pids = [r["id"] for r in await conn.fetch(_POINTS_PRESENT)]
    cursor_ms = await conn.fetchval(_FIRST_AFTER, pids, -(2**63), sealed)
    while cursor_ms is not None and hours < max_hours:
        t0 = cursor_ms // HOUR_MS * HOUR_MS
        for k in range(0, len(pids), group):
            n = await pack_hour(conn, t0, pids[k : k + group], safe)
            out.readings += n[0]
            out.blocks += n[1]
            out.transactions += 1
        hours += 1
        cursor_ms = await conn.fetchval(_FIRST_AFTER, pids, t0 + HOUR_MS, sealed)
    return out


_ROW = np.dtype(
    [
        ("fields", ">i2"),
        ("l_pid", ">i4"),
        ("pid", ">i4"),
        ("l_ts", ">i4"),
        ("ts", ">i8"),
        ("l_val", ">i4"),
        ("val", ">f8"),
        ("l_bat", ">i4"),
        ("bat", ">i8"),
    ]
)
_COPY_HEAD = b"PGCOPY\n\xff\r\n\x00"


def parse_binary_copy(buf: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(point_id, ts_ms, value, batch) arrays of a binary ``COPY`` of ``readings`` rows in
    that column order (all NOT NULL: every row the same 46 bytes)."""
    if not buf.startswith(_COPY_HEAD):
        raise ValueError("not a binary COPY stream")
    ext = int.from_bytes(buf[15:19], "big")
    body = memoryview(buf)[19 + ext : len(buf) - 2]  # after the header; before the -1 trailer
    if len(body) % _ROW.itemsize or buf[-2:] != b"\xff\xff":
        raise ValueError("binary COPY rows are not (int4, int8, float8, int8)")
    r = np.frombuffer(body, _ROW)
    if r.size and not (
        (r["fields"] == 4).all() and (r["l_pid"] == 4).all() and (r["l_ts"] == 8).all() and (r["l_val"] == 8).all()
    ):
        raise ValueError("binary COPY rows are not (int4, int8, float8, int8)")
    return (
        r["pid"].astype(np.int64),
        r["ts"].astype(np.int64),
        r["val"].astype(np.float64),
        r["bat"].astype(np.int64),
    )


async def _take_raw(
    conn: asyncpg.Connection, pids: list[int], t0: int, safe: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``DELETE ... RETURNING`` the hour's packable raw rows, as a binary COPY read by numpy
    (asyncpg's records cost a Python object a field, and packing runs beside ingest)."""
    chunks: list[bytes] = []

    async def sink(data: bytes) -> None:
        chunks.append(bytes(data))

    # the values are ours (ints): COPY takes no parameters
    ids = ",".join(str(int(p)) for p in pids)
    await conn.copy_from_query(
        f"DELETE FROM readings WHERE point_id = ANY('{{{ids}}}'::int[]) AND ts_ms >= {int(t0)} "
        f"AND ts_ms < {int(t0) + HOUR_MS} AND (batch <= {int(safe)} OR batch < 0) "
        "RETURNING point_id, ts_ms, value, batch",
        output=sink,
        format="binary",
    )
    return parse_binary_copy(b"".join(chunks))


async def pack_hour(conn: asyncpg.Connection, t0: int, pids: list[int], safe: int) -> tuple[int, int]:
    """One transaction: the raw rows of ``pids`` in the hour at ``t0`` into packed form."""
    await timeparts.ensure_month_ms(conn, "readings_packed", timeparts.day_of_ms(t0))
    await timeparts.ensure_month_ms(conn, "rollups", timeparts.day_of_ms(t0))
    async with conn.transaction():
        pid, ts, val, bat = await _take_raw(conn, pids, t0, safe)
        if not pid.size:
            return 0, 0
        order = np.lexsort((val, bat, ts, pid))
        pid, ts, val, bat = pid[order], ts[order], val[order], bat[order]
        present = np.unique(pid).tolist()
        old_packed = {
            r["point_id"]: r
            for r in await conn.fetch(
                "SELECT point_id, n, max_batch, blob FROM readings_packed WHERE t0 = $1 AND point_id = ANY($2::int[]) "
                "FOR UPDATE",
                t0,
                present,
            )
        }
        old_roll = {
            r["point_id"]: r
            for r in await conn.fetch(
                "SELECT point_id, minutes FROM rollups WHERE t0 = $1 AND point_id = ANY($2::int[]) FOR UPDATE",
                t0,
                present,
            )
        }
        starts = np.flatnonzero(np.concatenate(([True], pid[1:] != pid[:-1])))
        ends = np.concatenate((starts[1:], [pid.size]))
        packed_rows, roll_rows = [], []
        for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
            p = int(pid[a])
            t, v, maxb = ts[a:b], val[a:b], int(bat[a:b].max())
            prev = old_packed.get(p)
            if prev is not None:
                pt, pv = codec.decode("tf", bytes(prev["blob"]))
                t = np.concatenate((pt, t))
                v = np.concatenate((pv, v))
                o = np.argsort(t, kind="stable")
                t, v = t[o], v[o]
                maxb = max(maxb, prev["max_batch"])
            packed_rows.append((p, t0, int(t.size), maxb, codec.encode("tf", t, v)))
            new = stats.of_readings((ts[a:b] - t0) // MINUTE_MS, ts[a:b], val[a:b])
            r = old_roll.get(p)
            minutes = _round_totals(
                stats.reduce(new if r is None else stats.concat([decode_minutes(bytes(r["minutes"])), new]))
            )
            hour = stats.rebucket(minutes, np.zeros(minutes.bucket.size, np.int64))
            roll_rows.append(
                (
                    p,
                    t0,
                    int(hour.n[0]),
                    float(hour.lo[0]),
                    float(hour.hi[0]),
                    float(hour.total[0]),
                    float(hour.last[0]),
                    int(hour.last_ts[0]),
                    encode_minutes(minutes),
                )
            )
        await conn.executemany(
            "INSERT INTO readings_packed (point_id, t0, n, max_batch, blob) VALUES ($1, $2, $3, $4, $5) "
            "ON CONFLICT (point_id, t0) DO UPDATE SET n = EXCLUDED.n, max_batch = EXCLUDED.max_batch, "
            "blob = EXCLUDED.blob",
            packed_rows,
        )
        await conn.executemany(
            "INSERT INTO rollups (point_id, t0, n, lo, hi, total, last, last_ts, minutes) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (point_id, t0) DO UPDATE SET n = EXCLUDED.n, "
            "lo = EXCLUDED.lo, hi = EXCLUDED.hi, total = EXCLUDED.total, last = EXCLUDED.last, "
            "last_ts = EXCLUDED.last_ts, minutes = EXCLUDED.minutes",
            roll_rows,
        )
        return int(pid.size), len(packed_rows)
