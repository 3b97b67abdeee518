"""Importing a big ledger (issue 14 target: 5,000 enterprises x 4 devices x 8 points, dry
run then apply, <= 30 s on this machine, in one transaction).

    python bench/ledger_import_bench.py [--database DSN] [--enterprises 5000] [--devices 4]

Starts the server in this process on a fresh database (a small site file: one enterprise
and an admin), then, over HTTP as the admin: ``POST /api/v1/admin/import?dry_run=1`` with a
CSV of the whole ledger, then the same file applied; both timed, and the apply's parts
(checks, building the site, the store's transaction, the runtime taking 160,000 points).
Side by side, the baseline: what the site-file way costs for the same ledger, i.e.
``parse_site`` of it (every restart with a site file does this, before any store work).
The figures are for the whole box (client, server and PostgreSQL share its cores).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import aiohttp
import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from warning.config import load_kinds, parse_site  # noqa: E402
from warning.ledger import credit  # noqa: E402
from warning.ledger.plan import Records  # noqa: E402
from warning.ledger.table import header, read_csv, write_csv  # noqa: E402
from warning.live import site_from_records  # noqa: E402
from warning.security import hash_password  # noqa: E402
from warning.server import Server, Settings  # noqa: E402

POINTS = ("dp", "hopper_temp", "air_speed", "spark", "vent_open", "airlock_fault", "fan_fault", "running")


def credit_code(i: int) -> str:
    body = f"913101{i:011d}"  # 9 1 + 3101xx division digits + a sequence: 17 characters
    return body + credit.check_char(body)


def ledger(n: int, devices: int) -> list[dict]:
    streets = ["桃浦镇", "长征镇", "真如镇街道", "万里街道"]
    out = []
    for i in range(n):
        out.append(
            {
                "id": f"B{i:05d}",
                "name": f"基准企业{i}",
                "credit_code": credit_code(i),
                "address": f"路 {i} 号",
                "street": streets[i % 4],
                "industry": "金属制品",
                "dusts": [{"kind": "铝粉", "explosion_class": "St2"}],
                "dust_workers": 10 + i % 50,
                "collectors": {"count": devices, "wet": bool(i % 2), "type": "布袋除尘"},
                "contact_name": "张工",
                "contact_phone": "021-5555 0000",
                "risk_grade": "yellow",
                "location": [121.35 + (i % 100) / 1000, 31.22 + (i // 100 % 50) / 1000],
                "devices": [
                    {"id": f"DC{d}", "points": list(POINTS), "codes": {"dp": f"T{i:05d}{d}"}} for d in range(devices)
                ],
            }
        )
    return out


def base_site(kinds):
    return parse_site(
        {
            "site": {"name": "bench"},
            "streets": [{"id": s, "name": s} for s in ("桃浦镇", "长征镇", "真如镇街道", "万里街道")],
            "users": [{"name": "boss", "role": "admin", "password": hash_password("boss-pass-1")}],
        },
        kinds,
    )


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--database",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="a server where a scratch database may be created",
    )
    ap.add_argument("--enterprises", type=int, default=5000)
    ap.add_argument("--devices", type=int, default=4)
    args = ap.parse_args()
    kinds = load_kinds()
    records = ledger(args.enterprises, args.devices)
    text = write_csv(records).encode()
    assert read_csv(text.decode())[0] == header()
    print(
        f"ledger: {args.enterprises} enterprises x {args.devices} devices x {len(POINTS)} points = "
        f"{args.enterprises * args.devices * len(POINTS)} points; CSV {len(text) / 1e6:.1f} MB"
    )

    t = time.perf_counter()
    site = base_site(kinds)
    streets = {s: {"id": s, "name": s} for s in site.streets}
    rec = Records(streets, {r["id"]: {**r, "street": r["street"]} for r in records}, {})
    built = site_from_records(site, rec, kinds)
    baseline = time.perf_counter() - t
    print(f"baseline, the site-file way: parse_site of the same ledger {baseline:.1f} s ({len(built.points)} points)")

    name = f"warning_ledger_bench_{int(time.time())}"
    admin = await asyncpg.connect(args.database)
    await admin.execute(f'CREATE DATABASE "{name}"')
    dsn = args.database.rsplit("/", 1)[0] + "/" + name
    srv = Server(site, Settings(port=0, database=dsn))
    await srv.start()
    try:
        base = f"http://127.0.0.1:{srv.port}"
        async with aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=600), cookie_jar=aiohttp.CookieJar(unsafe=True)
        ) as s:
            async with s.post(
                f"{base}/login", data={"username": "boss", "password": "boss-pass-1"}, allow_redirects=False
            ) as r:
                assert r.status == 303
            async with s.get(f"{base}/api/v1/me") as r:
                csrf = (await r.json())["csrf"]
            headers = {"content-type": "text/csv", "x-csrf-token": csrf}
            results = {}
            for label, q in (("dry run", "?dry_run=1"), ("apply", "")):
                t = time.perf_counter()
                async with s.post(f"{base}/api/v1/admin/import{q}", data=text, headers=headers) as r:
                    body = await r.json()
                    assert r.status == 200, (r.status, str(body)[:500])
                results[label] = time.perf_counter() - t
                print(f"{label}: {results[label]:.1f} s, applied={body['applied']}, summary={body['summary']}")
        total = sum(results.values())
        n_points = sum(len(p) for d in srv.runtime.devices.values() for p in d.values())
        print(f"dry run + apply: {total:.1f} s (target <= 30 s); the runtime now has {n_points} points")
        async with srv.pool.acquire() as conn:
            audit = await conn.fetchval("SELECT count(*) FROM ledger_audit WHERE action = 'import'")
        print(f"audit rows of the import: {audit}")
    finally:
        await srv.stop()
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
