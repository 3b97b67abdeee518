"""Ingest benchmark: HTTP POST (100 readings a request) -> stored in PostgreSQL, detectors on;
and POST -> alert on a WebSocket client, at a district's load.

    python bench/ingest_bench.py [--database DSN] [--seconds 20] [--clients 16]
    python bench/ingest_bench.py --database ADMIN_DSN --month-days 30 [--month-enterprises 20]

The second form compares, in one run: ingest on an empty store, ingest on a store holding
``--month-days`` days of ``--month-enterprises`` enterprises' readings (filled by COPY and
packed, ``storage_bench.fill``), both with the store upkeep every second and the readings
timestamped in sealed hours, so the packer packs them while the run goes on; then raw COPY
into the same PostgreSQL (``pg_copy_bench``) as the limit.

The server runs as its own process (``warning run``) on a generated site of 200
enterprises x 4 bag filters x 7 points (5,600 points); this script is the load generator
and the WebSocket client. Two phases:

1. throughput: ``--clients`` connections post pre-built bodies as fast as the server
   answers; readings/s counts 202-accepted readings, and the script then checks that the
   same number of rows is in PostgreSQL.
2. latency: a steady background of ``--rate`` readings/s (default 6,000) of normal values,
   plus 10 probes a second, each a ``vent_open = true`` on a device that has no alert
   (a red alert, no duration filter); latency is from the probe's POST to its ``raised``
   event arriving on the WebSocket.

Both share this machine's 2 cores with the server and PostgreSQL: figures are for the
whole system on one box, load generator included.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import asyncpg
import numpy as np
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import free_port, run_command, wait_ready  # noqa: E402
from simulators.site import credentials_toml, generate_site  # noqa: E402


def normal_body(eid_devices: list[str], t_ms: int, n: int = 100) -> bytes:
    """``n`` readings of normal values spread over an enterprise's devices."""
    items, count, k = [], 0, 0
    while count < n:
        dev = eid_devices[k % len(eid_devices)]
        vals = {
            "dp": 1100.0 + (k % 7),
            "hopper_temp": 30.0 + (k % 3) * 0.1,
            "air_speed": 20.0,
            "spark": 0,
            "airlock_fault": False,
            "running": True,
            "vent_open": False,
        }
        take = dict(list(vals.items())[: n - count])
        items.append({"device": dev, "ts": t_ms + k, "values": take})
        count += len(take)
        k += 1
    return orjson.dumps(items)


async def paced(post, devices: dict, rate: float, seconds: float, tick: float = 0.1) -> None:
    """Background load: ``post(eid, body)`` of 100 normal readings, ``rate`` readings/s in
    all, started every ``tick`` s round the enterprises; waits (10 s at most) for the last."""
    eids = sorted(devices)
    per_tick = rate / 100 * tick
    acc, k, t_next = 0.0, 0, time.perf_counter()
    end = t_next + seconds
    pending: set[asyncio.Future] = set()
    while t_next < end:
        acc += per_tick
        while acc >= 1:
            acc -= 1
            eid = eids[k % len(eids)]
            k += 1
            task = asyncio.ensure_future(post(eid, normal_body(devices[eid], int(time.time() * 1000))))
            pending.add(task)
            task.add_done_callback(pending.discard)
        t_next += tick
        await asyncio.sleep(max(0.0, t_next - time.perf_counter()))
    if pending:
        await asyncio.wait(pending, timeout=10)


async def throughput(url, tokens, devices, seconds, clients, sim_start_ms: int | None = None) -> tuple[int, float]:
    """With ``sim_start_ms``, readings are timestamped on a simulated clock from there (every
    point a reading per 10 s of it: the district's round of requests advances it 10 s), so
    they land in sealed hours and the packer packs them while the run goes on."""
    eids = sorted(tokens)
    base = int(time.time() * 1000) - 60_000
    n_points = sum(len(d) for d in devices.values()) * 7
    step_ms = 10_000 * 100 / n_points  # simulated ms a request
    accepted = 0
    stop_at = time.perf_counter() + seconds

    async def client(i: int):
        nonlocal accepted
        async with aiohttp.ClientSession() as s:
            k = i
            while time.perf_counter() < stop_at:
                eid = eids[k % len(eids)]
                t_ms = base + k * 10 if sim_start_ms is None else sim_start_ms + int(k * step_ms)
                body = normal_body(devices[eid], t_ms)
                k += clients
                async with s.post(
                    url + "/api/v1/telemetry",
                    data=body,
                    headers={"Authorization": f"Bearer {tokens[eid]}", "Content-Type": "application/json"},
                ) as r:
                    if r.status == 202:
                        accepted += (await r.json())["accepted"]
                    elif r.status in (429, 503):
                        await asyncio.sleep(0.01)
                    else:
                        raise RuntimeError(f"HTTP {r.status}: {await r.text()}")

    t0 = time.perf_counter()
    await asyncio.gather(*(client(i) for i in range(clients)))
    return accepted, time.perf_counter() - t0


async def latency(url, ws_url, cookie, tokens, devices, seconds, rate) -> list[float]:
    eids = sorted(tokens)
    probes = [(eid, dev) for eid in eids for dev in devices[eid]]
    sent: dict[tuple[str, str], float] = {}
    got: list[float] = []
    done = asyncio.Event()

    async with aiohttp.ClientSession() as s:
        ws = await s.ws_connect(ws_url, headers={"Cookie": cookie})
        await ws.receive()  # snapshot

        async def reader():
            async for msg in ws:
                data = orjson.loads(msg.data)
                if data.get("type") != "event":
                    continue
                a = data["event"]["alert"]
                key = (a["enterprise"], a["device"])
                if data["event"]["kind"] == "raised" and a["point"] == "vent_open" and key in sent:
                    got.append(time.perf_counter() - sent.pop(key))
                if done.is_set() and not sent:
                    return

        async def post(eid, body):
            async with s.post(
                url + "/api/v1/telemetry",
                data=body,
                headers={"Authorization": f"Bearer {tokens[eid]}", "Content-Type": "application/json"},
            ) as r:
                if r.status != 202:
                    raise RuntimeError(f"HTTP {r.status}: {await r.text()}")

        async def background():
            await paced(post, devices, rate, seconds, tick=0.1)

        async def prober():
            i = 0
            end = time.perf_counter() + seconds
            while time.perf_counter() < end and i < len(probes):
                eid, dev = probes[i]
                i += 1
                body = orjson.dumps([{"device": dev, "ts": int(time.time() * 1000), "values": {"vent_open": True}}])
                sent[(eid, dev)] = time.perf_counter()
                asyncio.ensure_future(post(eid, body))
                await asyncio.sleep(0.1)
            done.set()

        rd = asyncio.create_task(reader())
        await asyncio.gather(background(), prober())
        try:
            await asyncio.wait_for(rd, 10)
        except TimeoutError:
            pass
        await ws.close()
    return got


async def processed_count(url) -> float:
    async with aiohttp.ClientSession() as s, s.get(url + "/metrics") as r:
        for line in (await r.text()).splitlines():
            if line.startswith("warning_readings_processed_total "):
                return float(line.split()[1])
    return 0.0


async def wait_processed(url, target: int, timeout: float = 300) -> int:
    """Wait until the pipeline has processed ``target`` readings; returns the count."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        n = await processed_count(url)
        if n >= target:
            return int(n)
        await asyncio.sleep(0.05)
    raise RuntimeError("pipeline did not catch up")


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


class DistrictServer:
    """``warning run`` on a generated district (200 enterprises x 4 bag filters x 7 points) in
    its own process, logged in as the officer; ``async with`` starts and stops it."""

    def __init__(self, database: str | None = None, checkpoint_interval: float = 10.0, *extra: str):
        self.database = database
        self.checkpoint_interval = checkpoint_interval
        self.extra = extra

    async def __aenter__(self) -> DistrictServer:
        import tomllib

        self.work = work = Path(tempfile.mkdtemp(prefix="warning-bench-"))
        site_text, self.tokens = generate_site(200, collectors=4, seed=11)
        (work / "site.toml").write_text(site_text)
        site = tomllib.loads(site_text)
        self.devices = {
            e["id"]: [d["id"] for d in e["devices"] if d.get("type") == "bag_filter"] for e in site["enterprises"]
        }
        creds = tomllib.loads(credentials_toml(self.tokens, seed=11))
        port = free_port()
        cmd = run_command(work / "site.toml", port, "--checkpoint-interval", str(self.checkpoint_interval), *self.extra)
        cmd += ["--database", self.database] if self.database else ["--data-dir", str(work / "data")]
        profile = os.environ.get("WARNING_BENCH_PROFILE")  # a file: cProfile of the server process
        if profile:
            cmd = [cmd[0], "-m", "cProfile", "-o", f"{profile}.{os.getpid()}.{port}", *cmd[1:]]
        env = {**os.environ, "XDG_RUNTIME_DIR": str(work)}
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=open(work / "server.log", "wb"), stderr=subprocess.STDOUT
        )
        self.url = url = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port}/ws"
        self.dsn = self.database or f"postgresql://postgres@/postgres?host={work / 'data' / 'pgdata'}"
        await wait_ready(url, self.proc)
        async with aiohttp.ClientSession() as s:
            async with s.post(
                url + "/login",
                data={"username": "officer", "password": creds["users"]["officer"]["password"]},
                allow_redirects=False,
            ) as r:
                self.cookie = r.headers["Set-Cookie"].split(";")[0]
        return self

    async def __aexit__(self, *exc) -> None:
        self.proc.terminate()
        self.proc.wait(60)


async def stored_and_packed(dsn: str) -> tuple[int, int]:
    conn = await asyncpg.connect(dsn)
    try:
        # one statement, one snapshot: a packing transaction moves rows from one table to the other
        row = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM readings) AS raw, (SELECT coalesce(sum(n), 0) FROM readings_packed) AS packed"
        )
        return int(row["raw"]), int(row["packed"])
    finally:
        await conn.close()


async def packed_phase(dsn: str, args, sim_start_ms: int) -> dict:
    """``warning run`` on ``dsn`` with the upkeep every second: throughput with readings in
    sealed hours (the packer packs them as the run goes), then until all are detected."""
    async with DistrictServer(dsn, args.checkpoint_interval, "--store-interval", "1") as srv:
        raw0, packed0 = await stored_and_packed(dsn)
        t0 = time.perf_counter()
        accepted, elapsed = await throughput(srv.url, srv.tokens, srv.devices, args.seconds, args.clients, sim_start_ms)
        raw1, packed1 = await stored_and_packed(dsn)
        processed = await wait_processed(srv.url, accepted)
        drained = time.perf_counter() - t0
    raw2, packed2 = await stored_and_packed(dsn)
    stored = raw2 + packed2 - raw0 - packed0
    assert stored == accepted, (stored, accepted)
    return {
        "rate": accepted / elapsed,
        "e2e": processed / drained,
        "accepted": accepted,
        "packed": packed1 - packed0,
        "elapsed": elapsed,
    }


async def month_run(args) -> None:
    """Empty store, then a month-filled one, then raw COPY into the same PostgreSQL: one run."""
    from bench.kafka_bench import fresh_db
    from bench.pg_copy_bench import run as copy_run
    from bench.storage_bench import fill, queries, sealed_bytes
    from warning.store.db import migrate

    admin = args.database or "postgresql://postgres@127.0.0.1:5432/postgres"
    hour = 3_600_000
    now_h = int(time.time() * 1000) // hour * hour
    sim_start = now_h - 4 * hour  # the runs' readings: sealed hours, after the month
    empty = await fresh_db(admin, "warning_ingest_empty")
    a = await packed_phase(empty, args, sim_start)
    print(
        f"empty store: {a['rate']:,.0f} readings/s accepted over {a['elapsed']:.0f} s, "
        f"{a['e2e']:,.0f}/s stored and detected; {a['packed']:,} packed meanwhile",
        flush=True,
    )
    month = await fresh_db(admin, "warning_ingest_month")
    async with DistrictServer(month, args.checkpoint_interval, "--store-interval", "0"):
        pass  # schema and the site's points
    conn = await asyncpg.connect(month)
    pids = [r["id"] for r in await conn.fetch("SELECT id FROM points ORDER BY enterprise, device, point")]
    enterprises = await conn.fetchval("SELECT count(DISTINCT enterprise) FROM points")
    await conn.close()
    per = len(pids) // enterprises
    fill_pids = np.array(pids[: args.month_enterprises * per], np.int64)
    t_fill = now_h - 5 * hour - args.month_days * 24 * hour
    t = time.perf_counter()
    f = await fill(month, fill_pids, t_fill, args.month_days, 10_000, 0)
    conn = await asyncpg.connect(month)
    packed_b, rolled_b, n_sealed = await sealed_bytes(conn)
    # The fill wrote the month in minutes, faster than the packer packs, so the raw table grew to
    # tens of millions of rows before packing emptied it; a service packing hour by hour holds an
    # hour or two raw. Rewritten (it is empty now), it is the size a month of service leaves.
    bloat = await conn.fetchval("SELECT pg_total_relation_size('readings')")
    await conn.execute("VACUUM FULL readings")
    size = await conn.fetchval("SELECT pg_database_size(current_database())")
    await conn.close()
    print(
        f"month: {f['readings']:,} readings ({len(fill_pids):,} points x {args.month_days} days at 10 s) "
        f"filled and packed in {time.perf_counter() - t:.0f} s; database {size / 2**30:.2f} GiB "
        f"(after VACUUM FULL of the emptied raw table, which the fill had left at {bloat / 2**30:.2f} GiB)",
        flush=True,
    )
    print(
        f"  sealed: {n_sealed:,} readings; packed {packed_b / n_sealed:.2f} B + rollups {rolled_b / n_sealed:.2f} B "
        f"= {(packed_b + rolled_b) / n_sealed:.2f} bytes a reading all in",
        flush=True,
    )
    q = await queries(month, fill_pids.tolist(), f["end"], args.month_days, 200)
    print(
        f"  one point, {q['span_days']} days chart (rollups): p50 {q['chart_p50']:.1f} / p99 {q['chart_p99']:.1f} ms; "
        f"one day raw (packed): p50 {q['raw_p50']:.1f} / p99 {q['raw_p99']:.1f} ms (200 queries each)",
        flush=True,
    )
    b = await packed_phase(month, args, sim_start)
    print(
        f"month-filled store: {b['rate']:,.0f} readings/s accepted over {b['elapsed']:.0f} s, "
        f"{b['e2e']:,.0f}/s stored and detected; {b['packed']:,} packed meanwhile",
        flush=True,
    )
    limit = await fresh_db(admin, "warning_ingest_copy")
    conn = await asyncpg.connect(limit)
    await migrate(conn)
    await conn.close()
    rate = await copy_run(limit, 2_000_000, 25_600, 1)
    print(f"raw COPY into the same PostgreSQL (readings, 25,600 rows a transaction, 1 connection): {rate:,.0f} rows/s")
    print(
        f"month vs empty: {b['rate'] / a['rate'] - 1:+.1%} accepted, {b['e2e'] / a['e2e'] - 1:+.1%} stored and detected"
    )


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--database", help="PostgreSQL DSN (default: the embedded server)")
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--rate", type=float, default=6000)
    ap.add_argument("--checkpoint-interval", type=float, default=10.0, help="passed to warning run")
    ap.add_argument(
        "--month-days",
        type=int,
        default=0,
        help="instead: ingest on an empty store vs one pre-filled with this many days, packing beside, "
        "then raw COPY into the same PostgreSQL (--database: its admin DSN)",
    )
    ap.add_argument("--month-enterprises", type=int, default=20, help="enterprises of the pre-filled month")
    args = ap.parse_args()
    if args.month_days:
        await month_run(args)
        return
    async with DistrictServer(args.database, args.checkpoint_interval) as srv:
        url, tokens, devices = srv.url, srv.tokens, srv.devices
        conn = await asyncpg.connect(srv.dsn)
        before = await conn.fetchval("SELECT count(*) FROM readings")
        t0 = time.perf_counter()
        accepted, elapsed = await throughput(url, tokens, devices, args.seconds, args.clients)
        stored = await conn.fetchval("SELECT count(*) FROM readings") - before
        processed = await wait_processed(url, accepted)
        drained = time.perf_counter() - t0
        print(
            f"ingest: {accepted} readings accepted in {elapsed:.1f} s = {accepted / elapsed:,.0f} readings/s "
            f"(HTTP POST of 100, group commit by COPY); rows stored: {stored}"
        )
        print(
            f"end to end: all {processed} through the detectors after {drained:.1f} s "
            f"= {processed / drained:,.0f} readings/s sustained (stored and detected)"
        )

        lat = await latency(url, srv.ws_url, srv.cookie, tokens, devices, args.seconds, args.rate)
        ms = [x * 1000 for x in lat]
        print(
            f"latency at {args.rate:,.0f} readings/s: {len(ms)} probes, POST -> alert on WebSocket "
            f"p50 {statistics.median(ms):.1f} ms, p99 {pct(ms, 99):.1f} ms, max {max(ms):.1f} ms"
        )
        await conn.close()


if __name__ == "__main__":
    asyncio.run(main())
