"""``warning simulate``: push the demo site's simulated telemetry to a running server."""

from __future__ import annotations

import asyncio
import logging
import signal
import tomllib
from pathlib import Path

from ..config import CONFIG_DIR

DEMO_DIR = CONFIG_DIR / "demo"
log = logging.getLogger("warning")


def register(sub) -> None:
    sim = sub.add_parser("simulate", help="push the demo site's simulated telemetry to a running server")
    sim.add_argument("--url", default="http://127.0.0.1:8080")
    sim.add_argument("--site", type=Path, default=DEMO_DIR / "site.toml")
    sim.add_argument("--credentials", type=Path, default=DEMO_DIR / "credentials.toml")
    sim.add_argument("--speed", type=float, default=1.0, help="1 = real time, 0 = as fast as possible")
    sim.add_argument("--duration", type=float, default=None, help="simulated seconds (default: forever)")
    sim.add_argument("--log-level", default="INFO")
    sim.set_defaults(func=lambda args: asyncio.run(_simulate(args)))


def _load_demo(site_path: Path, cred_path: Path):
    with open(site_path, "rb") as fh:
        site = tomllib.load(fh)
    with open(cred_path, "rb") as fh:
        creds = tomllib.load(fh)
    return site, creds


async def demo_feed(site_path: Path, url: str, stop: asyncio.Event, speed: float = 1.0,
                    duration: float | None = None, cred_path: Path | None = None) -> None:
    import time

    from simulators.push import SitePusher
    from simulators.scenario import DEMO_BACKFILL, demo_faults

    site, creds = _load_demo(site_path, cred_path or site_path.parent / "credentials.toml")
    start = time.time()
    pusher = SitePusher(site, creds, url, demo_faults(site["enterprises"], start), speed=speed,
                        backfill=DEMO_BACKFILL)
    steps = None if duration is None else int(duration)
    stats = await pusher.run(stop, start=start, steps=steps)
    log.info("simulator stopped: %s", stats)


async def _simulate(args) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await demo_feed(args.site, args.url, stop, args.speed, args.duration, args.credentials)
    return 0


