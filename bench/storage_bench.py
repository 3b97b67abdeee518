"""Storage benchmark (issue 16): a district's month in simulated time, packed as it lands.

Fills ``--enterprises`` x ``--points`` points at one reading per ``--interval`` seconds for
``--days`` days of simulated time straight into ``readings`` by COPY (not the HTTP path),
with the packer running beside the fill on its own connection, then reports:

* bytes on disk per sealed reading, all in: the partitions of ``readings_packed`` and
  ``rollups`` (tables, indexes, TOAST; ``pg_total_relation_size`` summed) over the readings
  they hold; and the raw ``readings`` table's bytes a row for comparison;
* one point's 30-day chart query (``dash_api.series_buckets``: 1-hour rollups) p50/p99;
* one point's day of raw readings (``history.raw``: packed hours) p50/p99;
* ``warning export`` of one enterprise-day (``export.export_csv``) in readings/s;
* store ingest: the runtime writer's group commit (message-id check, COPY of readings and
  ids, one transaction per group) on an empty database vs. on the filled one with the
  packer packing beside it, same run, same groups.

    python bench/storage_bench.py                  # 200 x 28 points, 30 days (hours of work, ~1.5e9 readings)
    python bench/storage_bench.py --enterprises 4 --days 30   # 4.8e7 readings
    python bench/storage_bench.py --quick          # 1 enterprise, 3 days: a minute

Values are random walks written with one or two decimals (as gateways send them), at exact
``--interval`` steps; ``--jitter-ms`` adds a random offset to each timestamp.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.kafka_bench import fresh_db  # noqa: E402
from warning.cli.export import export_csv  # noqa: E402
from warning.store import history, packing, readings, timeparts  # noqa: E402
from warning.store.db import migrate  # noqa: E402
from warning.web.dash_api import series_buckets  # noqa: E402

H = packing.HOUR_MS
DAY = 24 * H
COLUMNS = ("batch", "point_id", "ts_ms", "value")


class Walk:
    """Every point's random walk, one hour at a time (decimals by point: 1 or 2)."""

    def __init__(self, n_points: int, per_hour: int, seed: int = 1):
        self.rng = np.random.default_rng(seed)
        self.level = self.rng.uniform(20, 1500, n_points)
        self.decimals = np.where(np.arange(n_points) % 2 == 0, 1, 2)
        self.step = np.where(self.decimals == 1, 0.6, 0.04)
        self.per_hour = per_hour

    def hour(self) -> np.ndarray:
        walk = self.level[:, None] + np.cumsum(
            self.rng.normal(0, 1, (self.level.size, self.per_hour)) * self.step[:, None], axis=1
        )
        self.level = walk[:, -1]
        return np.where(self.decimals[:, None] == 1, np.round(walk, 1), np.round(walk, 2))


def hour_rows(
    t0: int,
    pids: np.ndarray,
    values: np.ndarray,
    interval_ms: int,
    jitter_ms: int,
    batch: int,
    rng: np.random.Generator,
) -> list[tuple]:
    n = values.shape[1]
    ts = t0 + np.arange(n, dtype=np.int64) * interval_ms
    ts = np.broadcast_to(ts, values.shape)
    if jitter_ms:
        ts = ts + rng.integers(0, jitter_ms, values.shape)
    p = np.broadcast_to(pids[:, None], values.shape)
    return list(
        zip([batch] * values.size, p.ravel().tolist(), ts.ravel().tolist(), values.ravel().tolist(), strict=True)
    )


async def setup(dsn: str, enterprises: int, points: int, start: datetime) -> list[tuple[str, list[int]]]:
    conn = await asyncpg.connect(dsn)
    await migrate(conn)
    await timeparts.ensure_ahead(conn, start)
    rows = [(f"E{e:03d}", f"D{p // 7}", f"p{p}", "dp") for e in range(enterprises) for p in range(points)]
    await conn.executemany("INSERT INTO points (enterprise, device, point, kind) VALUES ($1, $2, $3, $4)", rows)
    got = await conn.fetch("SELECT id, enterprise FROM points ORDER BY id")
    await conn.close()
    by: dict[str, list[int]] = {}
    for r in got:
        by.setdefault(r["enterprise"], []).append(r["id"])
    return list(by.items())


async def fill(dsn: str, pids: np.ndarray, t_start: int, days: int, interval_ms: int, jitter_ms: int) -> dict:
    """COPY the month hour by hour; a second connection packs the hours as they seal."""
    fill_conn = await asyncpg.connect(dsn)
    per_hour = H // interval_ms
    walk = Walk(pids.size, per_hour)
    rng = np.random.default_rng(2)
    sim_now = t_start
    done = asyncio.Event()
    packed = packing.PackStats()

    def packer() -> None:  # as the service runs it: its own thread, connection and loop
        async def go() -> None:
            pc = await asyncpg.connect(dsn)
            while True:
                finished = done.is_set()
                s = await packing.pack(pc, sim_now, grace_ms=0, max_hours=6)
                packed.readings += s.readings
                packed.blocks += s.blocks
                if finished and not s.readings:
                    break
                if not s.readings:
                    await asyncio.sleep(0.05)
            await pc.close()

        asyncio.run(go())

    task = asyncio.create_task(asyncio.to_thread(packer))
    t = time.perf_counter()
    n = 0
    for h in range(days * 24):
        t0 = t_start + h * H
        rows = hour_rows(t0, pids, walk.hour(), interval_ms, jitter_ms, -(h + 1), rng)
        for k in range(0, len(rows), 20_000):
            async with fill_conn.transaction():
                await fill_conn.copy_records_to_table("readings", columns=COLUMNS, records=rows[k : k + 20_000])
        n += len(rows)
        sim_now = t0 + H
        if h % 24 == 23:
            print(
                f"  day {h // 24 + 1}/{days}: {n:,} readings in {time.perf_counter() - t:.0f} s "
                f"({packed.readings:,} packed)",
                flush=True,
            )
    done.set()
    await task
    secs = time.perf_counter() - t
    await fill_conn.close()
    return {"readings": n, "seconds": secs, "packed": packed.readings, "end": sim_now}


async def sealed_bytes(conn: asyncpg.Connection) -> tuple[int, int, int]:
    await conn.execute("VACUUM ANALYZE")
    parts = await timeparts.parts(conn)
    packed = sum(p.bytes for p in parts if p.table == "readings_packed")
    rolled = sum(p.bytes for p in parts if p.table == "rollups")
    n = await conn.fetchval("SELECT coalesce(sum(n), 0) FROM readings_packed")
    return packed, rolled, int(n)


def pct(xs: list[float], q: float) -> float:
    return sorted(xs)[min(len(xs) - 1, int(q * len(xs)))]


async def queries(dsn: str, all_pids: list[int], t_end: int, days: int, reps: int) -> dict:
    conn = await asyncpg.connect(dsn)
    rnd = random.Random(5)
    chart, raw = [], []
    span = min(30, days) * DAY
    for _ in range(reps):
        p = rnd.choice(all_pids)
        t = time.perf_counter()
        got, res = await series_buckets(conn, [p], t_end - span, t_end, span // 720)
        chart.append((time.perf_counter() - t) * 1000)
        assert res in ("1h", "1m") and got[p], res
        day0 = t_end - rnd.randint(1, days) * DAY
        t = time.perf_counter()
        r = await history.raw(conn, [p], day0, day0 + DAY)
        raw.append((time.perf_counter() - t) * 1000)
        assert r[p][0].size >= DAY // (10_000 * 2)
    await conn.close()
    return {
        "chart_p50": statistics.median(chart),
        "chart_p99": pct(chart, 0.99),
        "raw_p50": statistics.median(raw),
        "raw_p99": pct(raw, 0.99),
        "span_days": span // DAY,
    }


async def export_rate(dsn: str, enterprise: str, t_end: int) -> tuple[int, float]:
    conn = await asyncpg.connect(dsn)
    day0 = t_end - 2 * DAY
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        n = await export_csv(
            conn,
            datetime.fromtimestamp(day0 / 1000, UTC),
            datetime.fromtimestamp((day0 + DAY) / 1000, UTC),
            enterprise,
            Path(d) / "e.csv",
        )
        secs = time.perf_counter() - t
    await conn.close()
    return n, n / secs


async def ingest(
    dsn: str, pids: np.ndarray, t_start: int, seconds_sim: int, interval_ms: int, with_packer: bool
) -> dict:
    """The writer's group commit (id check, COPY readings, COPY ids) over ``seconds_sim`` of
    simulated time; with ``with_packer`` the hours seal and are packed beside it."""
    conn = await asyncpg.connect(dsn)
    per_hour = H // interval_ms
    walk = Walk(pids.size, per_hour, seed=9)
    rng = np.random.default_rng(3)
    sim_now = t_start
    stop = asyncio.Event()
    packed = [0]

    def packer() -> None:  # as the service runs it: its own thread, connection and loop
        async def go() -> None:
            pc = await asyncpg.connect(dsn)
            while not stop.is_set():
                s = await packing.pack(pc, sim_now, grace_ms=0, max_hours=1)
                packed[0] += s.readings
                if not s.readings:
                    await asyncio.sleep(0.02)
            await pc.close()

        asyncio.run(go())

    task = asyncio.create_task(asyncio.to_thread(packer)) if with_packer else None
    batch = await readings.next_batch(conn)
    n = 0
    busy = 0.0
    for h in range(seconds_sim // 3600):
        t0 = t_start + h * H
        rows = hour_rows(t0, pids, walk.hour(), interval_ms, 0, 0, rng)
        for k in range(0, len(rows), 20_000):
            group = [(pid, ts / 1000.0, v) for _, pid, ts, v in rows[k : k + 20_000]]
            ids = [("E000", f"m{t0}-{k}-{j}") for j in range(0, len(group), 28)]
            t = time.perf_counter()
            async with conn.transaction():
                known = await readings.known_ids(conn, "E000", [m for _, m in ids])
                assert not known
                batch += 1
                await readings.copy_readings(conn, -batch, group)
                await readings.record_ids(conn, -batch, ids)
            busy += time.perf_counter() - t
            n += len(group)
        sim_now = t0 + H
    stop.set()
    if task is not None:
        await task
    await conn.close()
    return {"readings": n, "rate": n / busy, "packed": packed[0]}


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--enterprises", type=int, default=200)
    ap.add_argument("--points", type=int, default=28, help="points per enterprise")
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--interval", type=float, default=10.0, help="seconds between readings of a point")
    ap.add_argument("--jitter-ms", type=int, default=0)
    ap.add_argument("--ingest-hours", type=int, default=2, help="simulated hours of the ingest comparison")
    ap.add_argument("--reps", type=int, default=200, help="queries of each kind")
    ap.add_argument("--quick", action="store_true", help="1 enterprise, 3 days")
    ap.add_argument("--database", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = ap.parse_args()
    if args.quick:
        args.enterprises, args.days, args.reps = 1, 3, 50
    start = datetime(2026, 6, 1, tzinfo=UTC)
    t_start = int(start.timestamp() * 1000)
    interval_ms = int(args.interval * 1000)
    dsn = await fresh_db(args.database, "warning_storebench")
    ents = await setup(dsn, args.enterprises, args.points, start)
    pids = np.array([p for _, ps in ents for p in ps], np.int64)
    print(
        f"{args.enterprises} enterprises x {args.points} points at {args.interval:g} s, {args.days} days "
        f"= {pids.size * args.days * 86400 // args.interval:,.0f} readings",
        flush=True,
    )
    f = await fill(dsn, pids, t_start, args.days, interval_ms, args.jitter_ms)
    print(
        f"fill: {f['readings']:,} readings in {f['seconds']:.0f} s by COPY with packing beside it "
        f"({f['readings'] / f['seconds']:,.0f}/s); {f['packed']:,} packed",
        flush=True,
    )
    conn = await asyncpg.connect(dsn)
    packed_b, rolled_b, n = await sealed_bytes(conn)
    await conn.close()
    print(
        f"sealed: {n:,} readings; readings_packed {packed_b / n:.2f} B + rollups {rolled_b / n:.2f} B "
        f"= {(packed_b + rolled_b) / n:.2f} bytes a reading all in (tables, indexes, TOAST)",
        flush=True,
    )
    q = await queries(dsn, pids.tolist(), f["end"], args.days, args.reps)
    print(
        f"one point, {q['span_days']} days chart (rollups): p50 {q['chart_p50']:.1f} ms, "
        f"p99 {q['chart_p99']:.1f} ms; one day raw (packed): p50 {q['raw_p50']:.1f} ms, "
        f"p99 {q['raw_p99']:.1f} ms  ({args.reps} queries each)",
        flush=True,
    )
    en, rate = await export_rate(dsn, ents[0][0], f["end"])
    print(f"export of an enterprise-day: {en:,} readings at {rate:,.0f} readings/s", flush=True)
    first = ents[0][1]
    e_pids = np.array(first, np.int64)
    empty = await fresh_db(args.database, "warning_storebench_empty")
    await setup(empty, 1, args.points, start)
    a = await ingest(empty, e_pids, f["end"], args.ingest_hours * 3600, interval_ms // 10, False)
    conn = await asyncpg.connect(empty)
    raw_b = await conn.fetchval("SELECT pg_total_relation_size('readings')") / a["readings"]
    await conn.close()
    b = await ingest(dsn, e_pids, f["end"], args.ingest_hours * 3600, interval_ms // 10, True)
    print(
        f"store ingest (group commit: id check + COPY, 20k readings a group): empty store {a['rate']:,.0f}/s; "
        f"month-filled store with packing beside it {b['rate']:,.0f}/s ({b['packed']:,} packed meanwhile); "
        f"raw table {raw_b:.0f} bytes a reading",
        flush=True,
    )


if __name__ == "__main__":
    asyncio.run(main())
