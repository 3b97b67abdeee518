"""Overload: far more than the server can commit arrives at once. It sheds with 503 +
Retry-After (never hangs, never errs otherwise), its memory stays bounded, and it is back
to full service within 10 s of the load dropping. The server is a real `warning run`
process so its RSS can be read; `bench/overload.py`-style figures come from the same code
with bigger numbers (WARNING_OVERLOAD_* variables)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
import tomllib
from pathlib import Path

import httpx
import orjson
import psutil

from tests.conftest import drop_database, free_port, fresh_database, warning_run

ROOT = Path(__file__).resolve().parent.parent
CLIENTS = int(os.environ.get("WARNING_OVERLOAD_CLIENTS", "24"))
SECONDS = float(os.environ.get("WARNING_OVERLOAD_SECONDS", "6"))
RSS_BOUND_MB = float(os.environ.get("WARNING_OVERLOAD_RSS_MB", "400"))


def rss_mb(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / 2**20


async def test_overload_sheds_with_503_bounded_memory_and_recovers():
    dsn, name = await fresh_database()
    creds = tomllib.loads((ROOT / "config" / "demo" / "credentials.toml").read_text())["tokens"]
    port = free_port()
    proc = subprocess.Popen(
        warning_run(
            str(ROOT / "config/demo/site.toml"),
            port,
            "--database",
            dsn,
            "--max-pending",
            "20000",
            "--rate",
            "1e9",
            "--log-level",
            "WARNING",
        ),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(timeout=60) as c:
            for _ in range(300):
                try:
                    if (await c.get(base + "/readyz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
            rss_idle = rss_mb(proc.pid)
            eids = sorted(creds)
            bodies = {
                e: orjson.dumps(
                    [
                        {
                            "device": d,
                            "ts": int(time.time() * 1000),
                            "values": {
                                "dp": 1100.0,
                                "hopper_temp": 30.0,
                                "air_speed": 20.0,
                                "spark": 0,
                                "vent_open": False,
                            },
                        }
                        for d in ("DC1", "DC2", "DC3")
                        for _ in range(334)
                    ]
                )
                for e in eids
            }
            statuses: dict[int, int] = {}
            retry_after_ok = True
            peak = rss_idle
            stop_at = time.monotonic() + SECONDS

            async def client(i: int):
                nonlocal retry_after_ok
                e = eids[i % len(eids)]
                h = {"Authorization": f"Bearer {creds[e]}", "Content-Type": "application/json"}
                while time.monotonic() < stop_at:
                    r = await c.post(base + "/api/v1/telemetry", content=bodies[e], headers=h)
                    statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
                    if r.status_code in (429, 503) and not r.headers.get("retry-after", "").isdigit():
                        retry_after_ok = False

            async def watch():
                nonlocal peak
                while time.monotonic() < stop_at:
                    peak = max(peak, rss_mb(proc.pid))
                    await asyncio.sleep(0.1)

            await asyncio.gather(watch(), *(client(i) for i in range(CLIENTS)))
            dropped_at = time.monotonic()
            h = {"Authorization": f"Bearer {creds[eids[0]]}", "Content-Type": "application/json"}
            while (await c.post(base + "/api/v1/telemetry", content=bodies[eids[0]], headers=h)).status_code != 202:
                await asyncio.sleep(0.1)
            recovered_s = time.monotonic() - dropped_at
            burst = [await c.post(base + "/api/v1/telemetry", content=bodies[eids[0]], headers=h) for _ in range(10)]
        print(
            f"overload: statuses {statuses}; RSS idle {rss_idle:.0f} MB, peak {peak:.0f} MB; "
            f"recovered in {recovered_s:.1f} s"
        )
        assert set(statuses) <= {202, 503} and statuses.get(503, 0) > 0 and statuses.get(202, 0) > 0
        assert retry_after_ok
        assert peak - rss_idle < RSS_BOUND_MB, f"RSS grew {peak - rss_idle:.0f} MB under overload"
        assert recovered_s < 10 and all(r.status_code == 202 for r in burst)
    finally:
        proc.terminate()
        proc.wait(60)
        await drop_database(name)
