"""Export benchmark (issue 16): ``warning export`` of one enterprise-day as CSV, side by side
with PostgreSQL writing the same rows as CSV itself, in one run.

Fills ``--enterprises`` x ``--points`` points at one reading per ``--interval`` s for
``--days`` days of simulated time (``storage_bench.fill``: COPY, packed as the hours seal),
then, ``--reps`` times each, for one enterprise-day:

* ``export``: ``warning.cli.export.export_csv`` to a file (packed hours decoded, CSV made
  with numpy: ``warning.store.csvtext``);
* ``COPY raw``: the same rows held raw in a table of their own (``point_id, ts_ms, value``,
  indexed like ``readings``), ``COPY (SELECT point_id, ts_ms, value ... ORDER BY ts_ms,
  point_id) TO STDOUT CSV`` into a file: the cheapest CSV PostgreSQL writes;
* ``COPY as export``: the same, joined to ``points`` with the time formatted as the export's
  (``to_char``), i.e. the export's text made by PostgreSQL;

and checks that the export's file reads back to exactly the stored values (bits) and
times, row for row, in the order of ``COPY as export``.

    python bench/export_bench.py [--enterprises 2] [--days 3] [--reps 5]
"""

from __future__ import annotations

import argparse
import asyncio
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
from bench.storage_bench import DAY, fill, setup  # noqa: E402
from warning.cli.export import export_csv  # noqa: E402
from warning.store import history  # noqa: E402

ISO = """to_char(to_timestamp(ts_ms / 1000.0) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"+00:00"')"""


async def copy_to(conn: asyncpg.Connection, query: str, path: Path) -> None:
    await conn.copy_from_query(query, output=str(path), format="csv")


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--enterprises", type=int, default=2)
    ap.add_argument("--points", type=int, default=28)
    ap.add_argument("--days", type=int, default=3)
    ap.add_argument("--interval", type=float, default=10.0)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--database", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = ap.parse_args()
    start = datetime(2026, 6, 1, tzinfo=UTC)
    t_start = int(start.timestamp() * 1000)
    dsn = await fresh_db(args.database, "warning_exportbench")
    ents = await setup(dsn, args.enterprises, args.points, start)
    pids = np.array([p for _, ps in ents for p in ps], np.int64)
    f = await fill(dsn, pids, t_start, args.days, int(args.interval * 1000), 0)
    enterprise, e_pids = ents[0]
    day0 = f["end"] - 2 * DAY
    lo, hi = datetime.fromtimestamp(day0 / 1000, UTC), datetime.fromtimestamp((day0 + DAY) / 1000, UTC)
    conn = await asyncpg.connect(dsn)
    got = await history.raw(conn, e_pids, day0, day0 + DAY)
    rows = [(p, int(t), float(v)) for p, (ts, vs) in got.items() for t, v in zip(ts.tolist(), vs.tolist())]
    await conn.execute("CREATE TABLE export_raw (point_id integer, ts_ms bigint, value double precision)")
    await conn.copy_records_to_table("export_raw", records=rows, columns=("point_id", "ts_ms", "value"))
    await conn.execute("CREATE INDEX ON export_raw (point_id, ts_ms)")
    await conn.execute("VACUUM ANALYZE export_raw")
    n = len(rows)
    raw_q = "SELECT point_id, ts_ms, value FROM export_raw ORDER BY ts_ms, point_id"
    as_export_q = (
        f"SELECT p.enterprise, p.device, p.point, {ISO}, r.value FROM export_raw r JOIN points p ON p.id = r.point_id "
        "ORDER BY r.ts_ms, p.enterprise, p.device, p.point"
    )
    times: dict[str, list[float]] = {"export": [], "COPY raw": [], "COPY as export": []}
    with tempfile.TemporaryDirectory() as d:
        out, ref = Path(d) / "export.csv", Path(d) / "copy.csv"
        for _ in range(args.reps):
            t = time.perf_counter()
            written = await export_csv(conn, lo, hi, enterprise, out)
            times["export"].append(time.perf_counter() - t)
            assert written == n, (written, n)
            t = time.perf_counter()
            await copy_to(conn, raw_q, ref)
            times["COPY raw"].append(time.perf_counter() - t)
            t = time.perf_counter()
            await copy_to(conn, as_export_q, ref)
            times["COPY as export"].append(time.perf_counter() - t)
        mine = out.read_text().splitlines()[1:]
        theirs = ref.read_text().splitlines()
    await conn.close()
    assert len(mine) == len(theirs) == n
    for a, b in zip(mine, theirs, strict=True):  # same rows, same order; values to the bit
        ma, mb = a.rsplit(",", 1), b.rsplit(",", 1)
        assert ma[0] == mb[0], (a, b)
        assert np.float64(ma[1]).tobytes() == np.float64(mb[1]).tobytes(), (a, b)
        assert repr(float(mb[1])) == ma[1], (a, b)
    print(f"{enterprise}: one day = {n:,} readings ({len(e_pids)} points), {args.reps} runs each, best / median:")
    for name, ts in times.items():
        print(f"  {name:15} {n / min(ts):>12,.0f} readings/s  (median {n / statistics.median(ts):,.0f})", flush=True)
    print("  export file checked against COPY: same rows and order, values bit for bit, text = repr(float)")


if __name__ == "__main__":
    asyncio.run(main())
