"""A point added to the ledger while readings flow (issue 14 target: readings for it accepted
within 5 s; none refused or lost for the other points; ingest rate drops by <= 10 %).

    python bench/ledger_live_bench.py [--database DSN] [--seconds 12] [--clients 8] [--batch 500]

Starts the server in this process on a fresh database with ``--enterprises`` enterprises (2
devices x 8 points each, from a site file), then ``--clients`` clients post batches of
readings for those points as fast as the server takes them. Halfway, the admin adds a device
with a new point (``PUT /api/v1/admin/enterprises/{id}/devices/{device}``) and a probe posts a
reading for the new point every 50 ms until it is accepted. Printed side by side: the
accepted rate per second before, during (the second of the change and the next) and after the
change, refusals of the other points, the time until the new point's first 202. The load
generator, the server and PostgreSQL share this machine's cores: the rate is the box's.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

import aiohttp
import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from warning.config import load_kinds, parse_site  # noqa: E402
from warning.security import hash_password, token_digest  # noqa: E402
from warning.server import Server, Settings  # noqa: E402

POINTS = ("dp", "hopper_temp", "air_speed", "spark", "vent_open", "airlock_fault", "fan_fault", "running")


def site_raw(n: int) -> dict:
    return {
        "site": {"name": "live bench"},
        "enterprises": [
            {
                "id": f"L{i:03d}",
                "name": f"企业{i}",
                "token_sha256": [token_digest(f"tok-{i:03d}-" + "x" * 24)],
                "devices": [{"id": f"DC{d}", "points": list(POINTS)} for d in range(2)],
            }
            for i in range(n)
        ],
        "users": [{"name": "boss", "role": "admin", "password": hash_password("boss-pass-1")}],
    }


def new_ids(srv) -> list[int]:
    return list(srv.runtime.devices["L000"].get("NEW1", {}).values())


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--database", default="postgresql://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--enterprises", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=12.0)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--batch", type=int, default=500, help="readings per request")
    args = ap.parse_args()
    name = f"warning_ledger_live_{int(time.time())}"
    admin = await asyncpg.connect(args.database)
    await admin.execute(f'CREATE DATABASE "{name}"')
    dsn = args.database.rsplit("/", 1)[0] + "/" + name
    srv = Server(
        parse_site(site_raw(args.enterprises), load_kinds()),
        Settings(port=0, database=dsn, rate=1e9, burst=1e9, store_interval=0),
    )
    await srv.start()
    base = f"http://127.0.0.1:{srv.port}"
    accepted: list[tuple[float, int]] = []
    refused = {"count": 0}
    stop = time.perf_counter() + args.seconds
    t0 = time.perf_counter()

    async def client(k: int, s: aiohttp.ClientSession) -> None:
        seq = 0
        while time.perf_counter() < stop:
            i = (k + seq) % args.enterprises
            seq += 1
            ts = int(time.time() * 1000)
            items = [
                {"device": f"DC{j % 2}", "ts": ts - (args.batch - j), "values": {POINTS[j % 8]: 1.0 + j % 7}}
                for j in range(args.batch)
            ]
            async with s.post(
                f"{base}/api/v1/telemetry", json=items, headers={"Authorization": f"Bearer tok-{i:03d}-" + "x" * 24}
            ) as r:
                await r.read()
                if r.status == 202:
                    accepted.append((time.perf_counter() - t0, args.batch))
                else:
                    refused["count"] += 1

    async def change(s: aiohttp.ClientSession) -> tuple[float, float, float]:
        async with s.post(
            f"{base}/login", data={"username": "boss", "password": "boss-pass-1"}, allow_redirects=False
        ) as r:  # before the load: a login is a scrypt check
            assert r.status == 303
        async with s.get(f"{base}/api/v1/me") as r:
            csrf = (await r.json())["csrf"]
        await asyncio.sleep(args.seconds / 2)
        started = time.perf_counter()
        async with s.put(
            f"{base}/api/v1/admin/enterprises/L000/devices/NEW1",
            json={"points": ["dp"]},
            headers={"x-csrf-token": csrf},
        ) as r:
            assert r.status == 200, await r.text()
        applied = time.perf_counter() - started
        while True:
            async with s.post(
                f"{base}/api/v1/telemetry",
                headers={"Authorization": "Bearer tok-000-" + "x" * 24},
                json=[{"device": "NEW1", "ts": int(time.time() * 1000), "values": {"dp": 900.0}}],
            ) as r:
                await r.read()
                if r.status == 202:
                    return started - t0, applied, time.perf_counter() - started
            await asyncio.sleep(0.05)

    try:
        async with (
            aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s,
            aiohttp.ClientSession() as load,
        ):
            results = await asyncio.gather(change(s), *(client(k, load) for k in range(args.clients)))
        at, applied, first_ok = results[0]
        per_s: dict[int, int] = {}
        for t, n in accepted:
            per_s[int(t)] = per_s.get(int(t), 0) + n
        secs = sorted(per_s)[1:-1]  # the first and last seconds are partial
        before = [per_s[x] for x in secs if x < int(at)]
        during = [per_s[x] for x in secs if int(at) <= x <= int(at) + 1]
        after = [per_s[x] for x in secs if x > int(at) + 1]
        med = statistics.median(before) if before else float("nan")
        print(
            f"accepted readings/s, median: before {med:,.0f}; during the change "
            f"{', '.join(f'{v:,}' for v in during)}; after {statistics.median(after) if after else float('nan'):,.0f}"
        )
        print("per second: " + ", ".join(f"{x}s {per_s[x]:,}" + (" (change)" if x == int(at) else "") for x in secs))
        if before and during:
            print(
                f"drop during the change: {100 * (1 - min(during) / med):.0f} % of the median before (target <= 10 %)"
            )
        if before and during and after:
            around = statistics.median(before + after)
            print(
                f"drop during the change against the seconds before and after: {100 * (1 - min(during) / around):.0f} %"
            )
        print(f"other points' requests refused: {refused['count']} (target 0)")
        print(
            f"new point: change sent at {at:.1f} s, answered (applied) in {applied:.2f} s, its first reading "
            f"accepted {first_ok:.2f} s after sending (target <= 5 s)"
        )
        async with srv.pool.acquire() as conn:  # accepted means committed: every one must be stored
            stored = await conn.fetchval("SELECT count(*) FROM readings WHERE point_id <> ALL($1::int[])", new_ids(srv))
        total = sum(n for _, n in accepted)
        print(f"other points' readings accepted {total:,}, stored {stored:,} (lost: {total - stored:,}, target 0)")
    finally:
        await srv.stop()
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
