"""MQTT ingest throughput: publishers → Mosquitto (127.0.0.1:1883) → `warning run` → PostgreSQL.

    python bench/mqtt_bench.py [--seconds 20] [--publishers 8] [--per-message 100] [--database DSN]

Each publisher sends QoS 1 messages of ``--per-message`` readings (the envelope with the
enterprise token) as fast as the broker acknowledges them. The figure is readings committed
per second, read from the server's ``warning_readings_accepted_total`` after the run (so
only what the server PUBACKed after its commit counts). Everything shares this machine's
2 cores: broker, server, PostgreSQL and the publishers.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import aiomqtt
import httpx
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import wait_ready  # noqa: E402


async def accepted(url: str) -> float:
    async with httpx.AsyncClient() as c:
        for line in (await c.get(url + "/metrics")).text.splitlines():
            if line.startswith("warning_readings_accepted_total "):
                return float(line.split()[1])
    return 0.0


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--publishers", type=int, default=8)
    ap.add_argument("--per-message", type=int, default=100)
    ap.add_argument("--rate", type=float, default=40_000, help="readings/s offered in all (paced)")
    ap.add_argument("--database", default=os.environ.get("WARNING_DATABASE_URL"))
    args = ap.parse_args()
    creds = tomllib.loads((ROOT / "config/demo/credentials.toml").read_text())["tokens"]
    port = 18000 + secrets.randbelow(2000)
    work = Path(os.environ.get("TMPDIR", "/tmp")) / f"warning-mqtt-bench-{port}"
    work.mkdir(exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "warning.cli",
        "run",
        "--site",
        str(ROOT / "config/demo/site.toml"),
        "--port",
        str(port),
        "--mqtt",
        "mqtt://127.0.0.1:1883",
        "--mqtt-client-id",
        f"warning-bench-{port}",
        "--rate",
        "1e9",
        "--log-level",
        "WARNING",
    ]
    cmd += ["--database", args.database] if args.database else ["--data-dir", str(work)]
    server = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, "XDG_RUNTIME_DIR": str(work)})
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_ready(url, server)
        eids = sorted(creds)
        stop_at = time.monotonic() + args.seconds
        sent = 0

        async def publisher(i: int):
            nonlocal sent
            e = eids[i % len(eids)]
            async with aiomqtt.Client("127.0.0.1", 1883, max_inflight_messages=100) as m:
                k = 0
                pace = 20 * args.per_message / (args.rate / args.publishers)  # seconds per round of 20
                next_round = time.monotonic()
                while time.monotonic() < stop_at:
                    next_round += pace
                    await asyncio.sleep(max(0.0, next_round - time.monotonic()))
                    items = [
                        {"ts": int(time.time() * 1000) + j, "values": {"dp": 1100.0 + j % 7}}
                        for j in range(args.per_message)
                    ]
                    body = orjson.dumps({"token": creds[e], "telemetry": items})
                    await asyncio.gather(
                        *(m.publish(f"telemetry/{e}/DC{1 + (k + n) % 3}", body, qos=1) for n in range(20))
                    )
                    k += 20
                    sent += 20 * args.per_message

        t0 = time.monotonic()
        pubs = [asyncio.create_task(publisher(i)) for i in range(args.publishers)]
        await asyncio.sleep(2)  # let the broker build a backlog: from here on the server is the bottleneck
        a0, s0 = await accepted(url), time.monotonic()
        await asyncio.gather(*pubs)
        a1, s1 = await accepted(url), time.monotonic()
        print(
            f"MQTT: {sent:,} readings published in {time.monotonic() - t0:.1f} s, offered at "
            f"{args.rate:,.0f} readings/s"
        )
        print(
            f"MQTT: {a1 - a0:,.0f} readings committed in {s1 - s0:.1f} s while the broker had a backlog "
            f"= {(a1 - a0) / (s1 - s0):,.0f} readings/s sustained (QoS 1, PUBACK after commit, "
            f"{args.per_message} readings a message)"
        )
    finally:
        server.terminate()
        server.wait(60)


if __name__ == "__main__":
    asyncio.run(main())
