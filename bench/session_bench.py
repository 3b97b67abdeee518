"""What the server-side session check costs on every request (issue 19).

    python bench/session_bench.py [--database DSN] [--seconds 5] [--clients 8]

Starts the server in this process on a fresh database, logs in once, then measures side by
side in one run:

1. the check alone: ``Sessions.get`` per call, with the 2 s cache and without it (a
   primary-key probe of the ``sessions`` table every time);
2. over HTTP: ``GET /api/v1/me`` (session-checked) with and without the cache, next to
   ``GET /healthz`` (no caller at all) as the baseline, ``--clients`` keep-alive clients;
3. login answer times (``POST /login``, wrong password), a known user against an unknown
   name, interleaved, ``--logins`` each (the throttle is widened for the run).

The load generator, the server and PostgreSQL share this machine's cores: the figures are
for the whole box.
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

from tests.conftest import PASSWORDS, site_dict  # noqa: E402
from warning.config import load_kinds, parse_site  # noqa: E402
from warning.server import Server, Settings  # noqa: E402


async def check_alone(sessions, token: str, n: int) -> float:
    """Microseconds per ``Sessions.get``."""
    t = time.perf_counter()
    for _ in range(n):
        assert await sessions.get(token) is not None
    return (time.perf_counter() - t) / n * 1e6


async def http_rate(url: str, cookie: str | None, seconds: float, clients: int) -> tuple[float, float]:
    """(requests/s, p50 ms) of GETs of ``url`` from ``clients`` keep-alive clients."""
    headers = {"Cookie": f"warning_session={cookie}"} if cookie else {}
    lat: list[float] = []
    stop = time.perf_counter() + seconds

    async def one(session: aiohttp.ClientSession) -> None:
        while time.perf_counter() < stop:
            t = time.perf_counter()
            async with session.get(url, headers=headers) as r:
                await r.read()
                assert r.status == 200, r.status
            lat.append(time.perf_counter() - t)

    async with aiohttp.ClientSession() as session:
        t0 = time.perf_counter()
        await asyncio.gather(*(one(session) for _ in range(clients)))
        took = time.perf_counter() - t0
    return len(lat) / took, statistics.median(lat) * 1000


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--database",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="a server where a scratch database may be created",
    )
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--logins", type=int, default=30)
    args = ap.parse_args()
    name = f"warning_session_bench_{int(time.time())}"
    admin = await asyncpg.connect(args.database)
    await admin.execute(f'CREATE DATABASE "{name}"')
    dsn = args.database.rsplit("/", 1)[0] + "/" + name
    srv = Server(parse_site(site_dict(), load_kinds()), Settings(port=0, database=dsn))
    await srv.start()
    try:
        base = f"http://127.0.0.1:{srv.port}"
        async with aiohttp.ClientSession() as s:
            async with s.post(
                f"{base}/login", data={"username": "duty", "password": PASSWORDS["duty"]}, allow_redirects=False
            ) as r:
                assert r.status == 303
                cookie = r.cookies["warning_session"].value
        sessions = srv.app.state.warning.auth.sessions
        cached = await check_alone(sessions, cookie, args.calls)
        sessions.cache_s = 0.0
        uncached = await check_alone(sessions, cookie, args.calls)
        print(f"Sessions.get: {cached:.1f} µs cached, {uncached:.1f} µs without the cache ({args.calls} calls each)")
        rows = []
        for label, url, ck, cache in (
            ("GET /healthz (no session: baseline)", "/healthz", None, 2.0),
            ("GET /api/v1/me, session cached 2 s", "/api/v1/me", cookie, 2.0),
            ("GET /api/v1/me, session looked up every time", "/api/v1/me", cookie, 0.0),
        ):
            sessions.cache_s = cache
            rate, p50 = await http_rate(base + url, ck, args.seconds, args.clients)
            rows.append((label, rate, p50))
        print(f"\n| request ({args.clients} clients, {args.seconds:g} s) | requests/s | p50 ms |\n|---|---|---|")
        for label, rate, p50 in rows:
            print(f"| {label} | {rate:,.0f} | {p50:.2f} |")
        th = srv.app.state.warning.auth.throttle
        th.free = th.address_free = 10**6  # measure the check, not the throttle
        times: dict[str, list[float]] = {"duty": [], "no-such-user": []}
        async with aiohttp.ClientSession() as s:
            for _ in range(args.logins):
                for name in times:
                    t = time.perf_counter()
                    async with s.post(
                        f"{base}/login", data={"username": name, "password": "wrong"}, allow_redirects=False
                    ) as r:
                        assert r.status == 303
                    times[name].append((time.perf_counter() - t) * 1000)
        known, unknown = (statistics.median(v) for v in times.values())
        print(
            f"\nlogin, wrong password, median of {args.logins}: known user {known:.1f} ms, "
            f"unknown user {unknown:.1f} ms (ratio {unknown / known:.2f})"
        )
    finally:
        await srv.stop()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
