"""A noisy neighbour: one enterprise floods while another sends one-reading requests.

    python bench/isolation_bench.py [--seconds 20] [--writers 24] [--tokens 30] [--database DSN]

Runs a real ``warning run`` (demo site, a fresh database on the given PostgreSQL) and three
phases of ``--seconds`` each, one after the other in one run:

1. baseline: only the victim (enterprise E002, 4 workers each sending one reading then
   pausing 0.1 s);
2. one token: the victim, and ``--writers`` flooders on E001's one token, each sending
   1,000-reading requests back to back;
3. many tokens: the victim, and ``--tokens`` flooders on as many tokens of E001 (issued in
   the store), the same way.

The flooders run in a separate process (aiohttp), the victim in this one (httpx). Printed
per phase: the victim's p50/p99 latency, its statuses and requests unanswered within 15 s;
the flood's statuses, readings offered per second (what it sent) and accepted per second.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import free_port, run_command, wait_ready  # noqa: E402

TIMEOUT = 15.0  #: a request not answered within this counts as unanswered


def flood_body(n_items: int = 200) -> bytes:
    now = int(time.time() * 1000)
    items = [
        {
            "device": ("DC1", "DC2", "DC3")[i % 3],
            "ts": now - i,
            "values": {"dp": 1100.0 + i % 7, "hopper_temp": 30.0, "air_speed": 20.0, "spark": 0, "vent_open": False},
        }
        for i in range(n_items)
    ]
    return json.dumps(items).encode()


async def _flood(url: str, tokens: list[str], writers: int, seconds: float) -> dict:
    import aiohttp

    stats: dict = {"statuses": {}, "sent_readings": 0, "accepted_readings": 0, "errors": 0}
    stop_at = time.monotonic() + seconds

    async def writer(i: int, session: aiohttp.ClientSession):
        headers = {"Authorization": f"Bearer {tokens[i % len(tokens)]}", "Content-Type": "application/json"}
        while time.monotonic() < stop_at:
            body = flood_body()
            try:
                async with session.post(url + "/api/v1/telemetry", data=body, headers=headers) as r:
                    answer = await r.read()
                    stats["statuses"][r.status] = stats["statuses"].get(r.status, 0) + 1
                    stats["sent_readings"] += 1000
                    if r.status == 202:
                        stats["accepted_readings"] += json.loads(answer)["accepted"]
                    elif r.status in (429, 503):
                        await asyncio.sleep(0)  # a careless client: retries at once, ignoring Retry-After
            except (TimeoutError, aiohttp.ClientError):
                stats["errors"] += 1

    conn = aiohttp.TCPConnector(limit=writers)
    async with aiohttp.ClientSession(connector=conn, timeout=aiohttp.ClientTimeout(total=60)) as session:
        await asyncio.gather(*(writer(i, session) for i in range(writers)))
    return stats


async def victim(url: str, token: str, seconds: float, workers: int = 4) -> dict:
    import httpx

    lat: list[float] = []
    stats: dict = {"statuses": {}, "unanswered": 0}
    stop_at = time.monotonic() + seconds
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    async def worker(c: httpx.AsyncClient, w: int):
        n = 0
        while time.monotonic() < stop_at:
            n += 1
            body = json.dumps(
                [
                    {
                        "device": "DC1",
                        "ts": int(time.time() * 1000),
                        "values": {"dp": 1100.0},
                        "id": f"victim-{os.getpid()}-{time.monotonic_ns()}-{w}-{n}",
                    }
                ]
            ).encode()
            t0 = time.perf_counter()
            try:
                r = await c.post(url + "/api/v1/telemetry", content=body, headers=headers)
                lat.append(time.perf_counter() - t0)
                stats["statuses"][r.status_code] = stats["statuses"].get(r.status_code, 0) + 1
            except httpx.HTTPError:
                stats["unanswered"] += 1
            await asyncio.sleep(0.1)

    probe: list[float] = []

    async def health(c: httpx.AsyncClient):
        """GET /healthz: no body, no commit; tells scheduling delay apart from waiting for a commit."""
        while time.monotonic() < stop_at:
            t0 = time.perf_counter()
            try:
                await c.get(url + "/healthz")
                probe.append(time.perf_counter() - t0)
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)

    async with httpx.AsyncClient(timeout=TIMEOUT, limits=httpx.Limits(max_connections=workers + 1)) as c:
        await asyncio.gather(health(c), *(worker(c, w) for w in range(workers)))
    probe.sort()
    stats["health_p50_ms"] = 1000 * probe[len(probe) // 2] if probe else float("nan")
    stats["health_p99_ms"] = 1000 * probe[min(len(probe) - 1, int(len(probe) * 0.99))] if probe else float("nan")
    lat.sort()
    stats["requests"] = len(lat) + stats["unanswered"]
    stats["p50_ms"] = 1000 * lat[len(lat) // 2] if lat else None
    stats["p99_ms"] = 1000 * lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else None
    return stats


async def phase(
    name: str, url: str, victim_token: str, flood_tokens: list[str], writers: int, seconds: float, server_pid: int
):
    import psutil

    proc = psutil.Process(server_pid)
    cpu0, t0 = sum(proc.cpu_times()[:2]), time.monotonic()
    child = None
    if flood_tokens:
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--flood-child",
            "--url",
            url,
            "--flood-tokens",
            ",".join(flood_tokens),
            "--writers",
            str(writers),
            "--seconds",
            str(seconds),
            stdout=subprocess.PIPE,
        )
        await asyncio.sleep(0.5)  # let the flood start before measuring the victim
    v = await victim(url, victim_token, seconds)
    f = None
    if child is not None:
        out, _ = await child.communicate()
        f = json.loads(out.decode().strip().splitlines()[-1])
    cpu = (sum(proc.cpu_times()[:2]) - cpu0) / (time.monotonic() - t0)
    print(f"\n== {name} (server CPU {100 * cpu:.0f} % of a core; machine load {os.getloadavg()[0]:.1f})")
    print(
        f"victim (E002, one reading per request): p50 {v['p50_ms']:.1f} ms, p99 {v['p99_ms']:.1f} ms, "
        f"{v['requests']} requests, statuses {dict(sorted(v['statuses'].items()))}, "
        f"unanswered within {TIMEOUT:.0f} s: {v['unanswered']}; GET /healthz p50 {v['health_p50_ms']:.1f} ms, "
        f"p99 {v['health_p99_ms']:.1f} ms"
    )
    if f is not None:
        print(
            f"flood (E001, {writers} writers on {len(flood_tokens)} token(s)): statuses "
            f"{dict(sorted((int(k), n) for k, n in f['statuses'].items()))}, connection errors {f['errors']}, "
            f"offered {f['sent_readings'] / seconds:,.0f} readings/s, accepted {f['accepted_readings'] / seconds:,.0f} "
            f"readings/s"
        )
    return v, f


async def main(args) -> None:
    import asyncpg

    from warning.security import new_token, token_digest
    from warning.store import tokens as token_store

    creds = tomllib.loads((ROOT / "config" / "demo" / "credentials.toml").read_text())["tokens"]
    admin = await asyncpg.connect(args.database)
    name = f"warning_iso_{int(time.time())}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    dsn = args.database.rsplit("/", 1)[0] + "/" + name
    port = free_port()
    server = subprocess.Popen(
        run_command(ROOT / "config/demo/site.toml", port, "--database", dsn, rate=args.rate),
        cwd=ROOT,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_ready(url, server)
        many = [new_token() for _ in range(args.tokens)]
        conn = await asyncpg.connect(dsn)
        for t in many:
            await token_store.add(conn, token_digest(t), "E001", "isolation bench")
        await conn.close()
        await asyncio.sleep(6)  # the server reloads the tokens table every 5 s
        print(f"isolation bench: {args.seconds:.0f} s per phase, rate limit {args.rate:g} readings/s per token")
        await phase("baseline: no flood", url, creds["E002"], [], 0, args.seconds, server.pid)
        await phase(
            "flood: one enterprise, one token",
            url,
            creds["E002"],
            [creds["E001"]],
            args.writers,
            args.seconds,
            server.pid,
        )
        await phase(
            f"flood: one enterprise, {args.tokens} tokens",
            url,
            creds["E002"],
            many,
            args.tokens,
            args.seconds,
            server.pid,
        )
    finally:
        server.terminate()
        server.wait(60)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--writers", type=int, default=24)
    ap.add_argument("--tokens", type=int, default=30)
    ap.add_argument("--rate", type=float, default=5000.0, help="the server's --rate (readings/s per token)")
    ap.add_argument("--database", default="postgresql://postgres@127.0.0.1:5432/test")
    ap.add_argument("--flood-child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--flood-tokens", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.flood_child:
        print(json.dumps(asyncio.run(_flood(a.url, a.flood_tokens.split(","), a.writers, a.seconds))))
    else:
        asyncio.run(main(a))
