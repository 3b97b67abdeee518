"""Header flood against a real ``warning run``: the server's RSS, idle and at its peak.

    python bench/header_flood_bench.py [--connections 8] [--mib 32] [--database DSN]

Each connection sends one header line of ``--mib`` MiB, unauthenticated; then a 100 KB
header and 200 header fields are tried once each. Printed: RSS idle and peak (sampled
every 50 ms), how each flood connection ended, and the status lines of the two probes.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import free_port, run_command, wait_ready  # noqa: E402


async def flood(port: int, mib: int) -> str:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    chunk = b"a" * 65536
    sent = 0
    try:
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nX-Flood: ")
        for _ in range(mib * 16):
            writer.write(chunk)
            await writer.drain()
            sent += len(chunk)
        status = (await asyncio.wait_for(reader.read(200), 10)).split(b"\r\n")[0].decode()
        return f"answered after {sent >> 10} KiB: {status!r}"
    except (ConnectionResetError, BrokenPipeError):
        return f"closed by the server after {sent >> 10} KiB"
    finally:
        writer.close()


async def probe(port: int, request: bytes) -> str:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        return (await asyncio.wait_for(reader.read(200), 10)).split(b"\r\n")[0].decode() or "closed"
    except (ConnectionResetError, BrokenPipeError):
        return "closed"
    finally:
        writer.close()


async def main(args) -> None:
    import asyncpg

    admin = await asyncpg.connect(args.database)
    name = f"warning_flood_{int(time.time())}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    dsn = args.database.rsplit("/", 1)[0] + "/" + name
    port = free_port()
    server = subprocess.Popen(
        run_command(ROOT / "config/demo/site.toml", port, "--database", dsn, rate=5000, log_level="ERROR"),
        cwd=ROOT,
        stderr=subprocess.DEVNULL,
    )
    try:
        await wait_ready(f"http://127.0.0.1:{port}", server)
        proc = psutil.Process(server.pid)
        await asyncio.sleep(2)
        idle = proc.memory_info().rss
        peak = idle
        done = asyncio.Event()

        async def watch():
            nonlocal peak
            while not done.is_set():
                peak = max(peak, proc.memory_info().rss)
                await asyncio.sleep(0.05)

        watcher = asyncio.create_task(watch())
        ends = await asyncio.gather(*(flood(port, args.mib) for _ in range(args.connections)))
        big = await probe(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n")
        many = await probe(
            port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(200)) + b"\r\n"
        )
        done.set()
        await watcher
        print(f"header flood: {args.connections} connections x {args.mib} MiB header line")
        print(f"server RSS idle {idle / 2**20:.0f} MB, peak {peak / 2**20:.0f} MB (+{(peak - idle) / 2**20:.1f} MB)")
        for e in sorted(set(ends)):
            print(f"  {ends.count(e)} x {e}")
        print(f"100 KB header: {big!r}; 200 header fields: {many!r}")
    finally:
        server.terminate()
        server.wait(60)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--mib", type=int, default=32)
    ap.add_argument("--database", default="postgresql://postgres@127.0.0.1:5432/test")
    asyncio.run(main(ap.parse_args()))
