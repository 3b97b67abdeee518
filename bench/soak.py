"""Soak: a district's load (6,000 readings/s) with a dashboard client for an hour.

    python bench/soak.py [--minutes 60] [--rate 6000] [--database DSN]

Each window of about a minute pushes the background load plus 10 alert probes a second
(vent opening on a device: POST -> ``raised`` on the WebSocket), then closes the probes'
alerts so the next window can raise them again. After each window it records the server's
RSS and CPU and the window's latency percentiles; at the end it reports RSS growth after
the first five minutes (warm-up) and any drift in latency.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

import aiohttp
import orjson
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ingest_bench import DistrictServer, latency, pct  # noqa: E402


async def close_probes(srv: DistrictServer) -> None:
    """vent_open false twice, 11 s apart: the vent rule clears after 10 s of closed."""
    async with aiohttp.ClientSession() as s:
        for _ in range(2):
            for eid, devs in srv.devices.items():
                body = orjson.dumps(
                    [{"device": d, "ts": int(time.time() * 1000), "values": {"vent_open": False}} for d in devs]
                )
                async with s.post(
                    srv.url + "/api/v1/telemetry",
                    data=body,
                    headers={"Authorization": f"Bearer {srv.tokens[eid]}", "Content-Type": "application/json"},
                ) as r:
                    assert r.status == 202, await r.text()
            await asyncio.sleep(11)


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=60)
    ap.add_argument("--rate", type=float, default=6000)
    ap.add_argument("--database")
    args = ap.parse_args()
    async with DistrictServer(args.database) as srv:
        proc = psutil.Process(srv.proc.pid)
        proc.cpu_percent()
        rows = []
        end = time.monotonic() + args.minutes * 60
        while time.monotonic() < end:
            t0 = time.monotonic()
            lat = await latency(srv.url, srv.ws_url, srv.cookie, srv.tokens, srv.devices, 45, args.rate)
            await close_probes(srv)
            ms = [x * 1000 for x in lat] or [float("nan")]
            row = {
                "minute": (time.monotonic() - (end - args.minutes * 60)) / 60,
                "rss_mb": proc.memory_info().rss / 2**20,
                "cpu_pct": proc.cpu_percent(),
                "p50": statistics.median(ms),
                "p99": pct(ms, 99),
                "probes": len(lat),
                "window_s": time.monotonic() - t0,
            }
            rows.append(row)
            print(
                "minute {minute:5.1f}  RSS {rss_mb:6.1f} MB  CPU {cpu_pct:5.1f} %  probes {probes:4d}  "
                "p50 {p50:6.1f} ms  p99 {p99:6.1f} ms".format(**row),
                flush=True,
            )
        warm = [r for r in rows if r["minute"] >= 5] or rows
        growth = (warm[-1]["rss_mb"] - warm[0]["rss_mb"]) / warm[0]["rss_mb"] * 100
        print(
            f"RSS after warm-up {warm[0]['rss_mb']:.1f} MB -> end {warm[-1]['rss_mb']:.1f} MB ({growth:+.1f} %); "
            f"p99 first {warm[0]['p99']:.1f} ms, last {warm[-1]['p99']:.1f} ms, "
            f"worst {max(r['p99'] for r in rows):.1f} ms; mean CPU {statistics.mean(r['cpu_pct'] for r in rows):.0f} %"
        )


if __name__ == "__main__":
    asyncio.run(main())
