"""一码发现 under a script's flood (issue 15 target): N hazard-report posts from one address
within a minute against the real server; how many are accepted, how many stored, and
whether the server stays healthy.

    python bench/risk_flood.py [--database DSN] [--posts 10000] [--clients 20]

Each post is what a script that reads the page would send: it fetches the public answer
(form token + challenge), solves the challenge and posts. Accepted must be ≤ the configured
per-address limit (config/risk.toml [public] reports_per_address), every accepted report
stored exactly once; side by side, the same number of ``GET /healthz`` as the baseline
rate. The load generator, the server and PostgreSQL share this machine's cores.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter
from pathlib import Path

import aiohttp
import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import site_dict  # noqa: E402
from warning.config import load_kinds, parse_site  # noqa: E402
from warning.server import Server, Settings  # noqa: E402


async def flood(base: str, posts: int, clients: int) -> tuple[Counter, float]:
    codes: Counter = Counter()
    todo = iter(range(posts))

    async def worker(s: aiohttp.ClientSession) -> None:
        for _ in todo:
            async with s.get(f"{base}/api/v1/public/E1") as r:
                info = await r.json()
            a, b = (int(x) for x in info["challenge"].split(" = ")[0].split(" + "))
            async with s.post(
                f"{base}/api/v1/public/E1/report",
                headers={"Origin": base},
                json={"text": "scripted", "token": info["token"], "answer": str(a + b)},
            ) as r:
                await r.read()
                codes[r.status] += 1

    t = time.perf_counter()
    async with aiohttp.ClientSession() as s:
        await asyncio.gather(*(worker(s) for _ in range(clients)))
    return codes, time.perf_counter() - t


async def baseline(base: str, n: int, clients: int) -> float:
    todo = iter(range(n))

    async def worker(s: aiohttp.ClientSession) -> None:
        for _ in todo:
            async with s.get(f"{base}/healthz") as r:
                await r.read()

    t = time.perf_counter()
    async with aiohttp.ClientSession() as s:
        await asyncio.gather(*(worker(s) for _ in range(clients)))
    return time.perf_counter() - t


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--database",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="a server where a scratch database may be created",
    )
    ap.add_argument("--posts", type=int, default=10_000)
    ap.add_argument("--clients", type=int, default=20)
    args = ap.parse_args()
    name = f"warning_risk_flood_{int(time.time())}"
    admin = await asyncpg.connect(args.database)
    await admin.execute(f'CREATE DATABASE "{name}"')
    dsn = args.database.rsplit("/", 1)[0] + "/" + name
    uploads = Path("/tmp") / name
    srv = Server(parse_site(site_dict(), load_kinds()), Settings(port=0, database=dsn, uploads=uploads))
    try:
        await srv.start()
        base = f"http://127.0.0.1:{srv.port}"
        limit = srv.risk.config.reports_per_address if srv.risk else None
        codes, wall = await flood(base, args.posts, args.clients)
        async with aiohttp.ClientSession() as s, s.get(f"{base}/healthz") as r:
            healthy = r.status == 200
        base_wall = await baseline(base, args.posts, args.clients)
        async with srv.pool.acquire() as conn:
            stored = await conn.fetchval("SELECT count(*) FROM risk_items WHERE kind = 'report'")
            distinct = await conn.fetchval("SELECT count(DISTINCT item_id) FROM risk_reporters")
        print(
            f"{args.posts} posts (each after a GET of the form) from one address, {args.clients} clients: "
            f"{wall:.1f} s ({args.posts / wall:,.0f} posts/s); answers {dict(codes)}"
        )
        print(
            f"accepted {codes[201]} (limit {limit}), stored {stored} reports ({distinct} reporter rows), "
            f"healthy after: {healthy}"
        )
        print(f"baseline: {args.posts} GET /healthz in {base_wall:.1f} s ({args.posts / base_wall:,.0f}/s)")
        ok = codes[201] <= (limit or 0) and stored == codes[201] == distinct and healthy and wall <= 60
        print("target:", "met" if ok else "MISSED")
    finally:
        await srv.stop()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
