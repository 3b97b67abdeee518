"""The one way to read stored readings: both forms (raw rows and packed hours) at once.

Every reader of history (the dashboard's series, ``warning export``, reports, the
detectors' warm-up) goes through :func:`raw` or :func:`summary`. A reading is in exactly
one form at any commit (packing moves rows in one transaction), so reading both in one
snapshot (``REPEATABLE READ``, opened here when the caller has no transaction) sees every
reading once.

Ranges are half-open ``[lo_ms, hi_ms)`` in epoch milliseconds.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import asyncpg
import numpy as np

from . import codec, stats
from .packing import HOUR_MS, MINUTE_MS, decode_minutes

Series = tuple[np.ndarray, np.ndarray]  #: (ts_ms int64, values float64), time order


@contextlib.asynccontextmanager
async def _snapshot(conn: asyncpg.Connection) -> AsyncIterator[None]:
    if conn.is_in_transaction():
        yield
    else:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            yield


def _arrays(rows: list, cols: int) -> list[np.ndarray]:
    n = len(rows)
    dtypes = (np.int64, np.int64, np.float64)
    return [np.fromiter((r[i] for r in rows), dtypes[i], n) for i in range(cols)]


async def raw(conn: asyncpg.Connection, point_ids: list[int], lo_ms: int, hi_ms: int) -> dict[int, Series]:
    """Every reading of ``point_ids`` with ``lo_ms <= ts < hi_ms``, per point, in time order
    (readings with equal times in storage order: packed before raw, then by batch)."""
    parts: dict[int, list[Series]] = {p: [] for p in point_ids}
    async with _snapshot(conn):
        packed = await conn.fetch(
            "SELECT point_id, blob FROM readings_packed WHERE point_id = ANY($1::int[]) AND t0 > $2 AND t0 < $3 "
            "ORDER BY point_id, t0",
            point_ids,
            lo_ms - HOUR_MS,
            hi_ms,
        )
        rows = await conn.fetch(
            "SELECT point_id, ts_ms, value FROM readings WHERE point_id = ANY($1::int[]) AND ts_ms >= $2 "
            "AND ts_ms < $3 ORDER BY point_id, ts_ms, batch",
            point_ids,
            lo_ms,
            hi_ms,
        )
    for r in packed:
        t, v = codec.decode("tf", bytes(r["blob"]))
        if t.size and (t[0] < lo_ms or t[-1] >= hi_ms):
            keep = (t >= lo_ms) & (t < hi_ms)
            t, v = t[keep], v[keep]
        parts[r["point_id"]].append((t, v))
    if rows:
        pid, ts, val = _arrays(rows, 3)
        starts = np.flatnonzero(np.concatenate(([True], pid[1:] != pid[:-1])))
        ends = np.concatenate((starts[1:], [pid.size]))
        for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
            parts[int(pid[a])].append((ts[a:b], val[a:b]))
    out: dict[int, Series] = {}
    for p, chunks in parts.items():
        if not chunks:
            out[p] = (np.zeros(0, np.int64), np.zeros(0, np.float64))
            continue
        t = np.concatenate([c[0] for c in chunks])
        v = np.concatenate([c[1] for c in chunks])
        if t.size > 1 and (np.diff(t) < 0).any():  # late raw rows inside packed hours
            o = np.argsort(t, kind="stable")
            t, v = t[o], v[o]
        out[p] = (t, v)
    return out


async def summary(
    conn: asyncpg.Connection, point_ids: list[int], lo_ms: int, hi_ms: int, step_ms: int
) -> dict[int, stats.Summary]:
    """Per point, one summary row per ``step_ms`` bucket (bucket = its start, epoch ms) from
    the rollups (``step_ms`` a multiple of a minute) plus the raw readings not packed yet.
    Buckets are aligned to ``step_ms`` from the epoch; those starting in ``[lo_ms, hi_ms)``."""
    if step_ms % MINUTE_MS:
        raise ValueError("step_ms must be a whole number of minutes")
    lo_ms = lo_ms // step_ms * step_ms
    parts: dict[int, list[stats.Summary]] = {p: [] for p in point_ids}
    hourly = step_ms % HOUR_MS == 0
    async with _snapshot(conn):
        cols = "point_id, t0, n, lo, hi, total, last, last_ts" + ("" if hourly else ", minutes")
        rolled = await conn.fetch(
            f"SELECT {cols} FROM rollups WHERE point_id = ANY($1::int[]) AND t0 > $2 AND t0 < $3 ORDER BY 1, 2",
            point_ids,
            lo_ms - HOUR_MS,
            hi_ms,
        )
        rows = await conn.fetch(
            "SELECT point_id, ts_ms, value FROM readings WHERE point_id = ANY($1::int[]) AND ts_ms >= $2 "
            "AND ts_ms < $3",
            point_ids,
            lo_ms,
            hi_ms,
        )
    if hourly:
        by: dict[int, list] = {}
        for r in rolled:
            by.setdefault(r["point_id"], []).append(r)
        for p, rs in by.items():
            t0 = np.array([r["t0"] for r in rs], np.int64)
            parts[p].append(
                stats.Summary(
                    t0 // step_ms * step_ms,
                    np.array([r["n"] for r in rs], np.int64),
                    np.array([r["lo"] for r in rs]),
                    np.array([r["hi"] for r in rs]),
                    np.array([r["total"] for r in rs]),
                    np.array([r["last"] for r in rs]),
                    np.array([r["last_ts"] for r in rs], np.int64),
                )
            )
    else:
        for r in rolled:
            m = decode_minutes(bytes(r["minutes"]))
            start = r["t0"] + m.bucket * MINUTE_MS
            parts[r["point_id"]].append(m._replace(bucket=start // step_ms * step_ms))
    if rows:
        pid, ts, val = _arrays(rows, 3)
        for p in np.unique(pid).tolist():
            sel = pid == p
            parts[p].append(stats.of_readings(ts[sel] // step_ms * step_ms, ts[sel], val[sel]))
    out = {}
    for p, chunks in parts.items():
        s = stats.reduce(stats.concat(chunks))
        keep = (s.bucket >= lo_ms) & (s.bucket < hi_ms)
        out[p] = stats.Summary(*(col[keep] for col in s))
    return out
