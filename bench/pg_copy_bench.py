"""PostgreSQL's share of the distributed runtime, alone: COPY of readings rows into the real
schema (``readings`` with its ``(point_id, ts_ms)`` index), in chunks the size a worker
writes, from 1 and 2 connections at once. An input to the capacity plan (docs/distributed.md).

    python bench/pg_copy_bench.py [--rows 2000000] [--chunk 25600] [--database ADMIN_DSN]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.kafka_bench import fresh_db  # noqa: E402
from warning.store.db import migrate  # noqa: E402

COLUMNS = ("batch", "point_id", "ts_ms", "value")


async def run(dsn: str, rows: int, chunk: int, streams: int) -> float:
    conns = [await asyncpg.connect(dsn) for _ in range(streams)]
    base = int(time.time() * 1000)

    async def stream(i: int, conn) -> None:
        for start in range(i * chunk, rows, chunk * streams):
            batch = [
                (-(start // chunk) - 1, (start + j) % 20_000 + 1, base + start + j, 20.0 + j % 7)
                for j in range(min(chunk, rows - start))
            ]
            async with conn.transaction():
                await conn.copy_records_to_table("readings", columns=COLUMNS, records=batch)

    t = time.perf_counter()
    await asyncio.gather(*(stream(i, c) for i, c in enumerate(conns)))
    secs = time.perf_counter() - t
    for c in conns:
        await c.close()
    return rows / secs


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--chunk", type=int, default=25_600, help="rows a transaction (256 records of 100)")
    ap.add_argument("--database", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = ap.parse_args()
    for streams in (1, 2):
        dsn = await fresh_db(args.database, f"warning_copybench_{streams}")
        conn = await asyncpg.connect(dsn)
        await migrate(conn)
        await conn.close()
        rate = await run(dsn, args.rows, args.chunk, streams)
        conn = await asyncpg.connect(dsn)
        size = await conn.fetchval("SELECT pg_total_relation_size('readings')")
        await conn.close()
        print(
            f"{streams} connection(s): {args.rows:,} rows in chunks of {args.chunk:,}: {rate:,.0f} rows/s; "
            f"{size / args.rows:.0f} bytes a row on disk (table + index)",
            flush=True,
        )


if __name__ == "__main__":
    asyncio.run(main())
