"""``warning``: the one console command.

    warning run [--demo] [--site FILE] [--database DSN] [--data-dir DIR] [--host H] [--port P]
    warning simulate --url URL [--site FILE] [--credentials FILE] [--speed X]
    warning token                      print a new enterprise token and its digest
    warning hash-password              read a password on stdin, print its scrypt hash
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import tomllib
from pathlib import Path

from .config import CONFIG_DIR, ConfigError, load_site
from .security import hash_password, new_token, token_digest

DEMO_DIR = CONFIG_DIR / "demo"
log = logging.getLogger("warning")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="warning", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="serve ingest, detectors, alerts and the dashboard")
    run.add_argument("--demo", action="store_true", help="demo site with its simulator and demo accounts")
    run.add_argument("--site", type=Path, help="site file (TOML); default config/site.toml")
    run.add_argument("--database", default=os.environ.get("WARNING_DATABASE_URL"),
                     help="PostgreSQL DSN (or WARNING_DATABASE_URL); without it an embedded server is started")
    run.add_argument("--data-dir", type=Path, help="embedded PostgreSQL folder (or WARNING_DATA_DIR)")
    run.add_argument("--host", default=os.environ.get("WARNING_HOST", "127.0.0.1"))
    run.add_argument("--port", type=int, default=int(os.environ.get("WARNING_PORT", "8080")))
    run.add_argument("--checkpoint-interval", type=float, default=10.0, help="seconds between pipeline checkpoints")
    run.add_argument("--max-pending", type=int, default=200_000, help="readings queued before 503")
    run.add_argument("--rate", type=float, default=5000.0, help="readings/s allowed per enterprise token")
    run.add_argument("--log-level", default="INFO")

    sim = sub.add_parser("simulate", help="push the demo site's simulated telemetry to a running server")
    sim.add_argument("--url", default="http://127.0.0.1:8080")
    sim.add_argument("--site", type=Path, default=DEMO_DIR / "site.toml")
    sim.add_argument("--credentials", type=Path, default=DEMO_DIR / "credentials.toml")
    sim.add_argument("--speed", type=float, default=1.0, help="1 = real time, 0 = as fast as possible")
    sim.add_argument("--duration", type=float, default=None, help="simulated seconds (default: forever)")

    sub.add_parser("token", help="print a new enterprise token and the digest to put in the site file")
    sub.add_parser("hash-password", help="hash a password read from stdin for the site file")

    args = parser.parse_args(argv)
    if args.command == "token":
        tok = new_token()
        print(f"token  = {tok}\ndigest = {token_digest(tok)}")
        return 0
    if args.command == "hash-password":
        print(hash_password(sys.stdin.readline().rstrip("\n")))
        return 0
    logging.basicConfig(level=getattr(args, "log_level", "INFO").upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "run":
            return asyncio.run(_run(args))
        if args.command == "simulate":
            return asyncio.run(_simulate(args))
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    return 1


async def _run(args) -> int:
    from .runtime.embedded import Options
    from .server import Server, Settings

    site_path = args.site or (DEMO_DIR / "site.toml" if args.demo else CONFIG_DIR / "site.toml")
    if not site_path.exists():
        print(f"no site file at {site_path}: pass --site, or try --demo", file=sys.stderr)
        return 2
    site = load_site(site_path)
    settings = Settings(host=args.host, port=args.port, database=args.database, data_dir=args.data_dir,
                        rate=args.rate, burst=args.rate * 10,
                        runtime=Options(checkpoint_interval=args.checkpoint_interval, max_pending=args.max_pending))
    server = Server(site, settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await server.start()
    log.info("serving %s (%d enterprises, %d points) on http://%s:%d/", site.name, len(site.enterprises),
             len(site.points), args.host, server.port)
    tasks = []
    if args.demo:
        tasks.append(asyncio.create_task(_demo_feed(site_path, f"http://127.0.0.1:{server.port}", stop)))
        log.info("demo accounts: officer / officer-demo, viewer / viewer-demo (see config/demo/credentials.toml)")
    await stop.wait()
    log.info("stopping")
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await server.stop()
    return 0


def _load_demo(site_path: Path, cred_path: Path):
    with open(site_path, "rb") as fh:
        site = tomllib.load(fh)
    with open(cred_path, "rb") as fh:
        creds = tomllib.load(fh)
    return site, creds


async def _demo_feed(site_path: Path, url: str, stop: asyncio.Event, speed: float = 1.0,
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
    await _demo_feed(args.site, args.url, stop, args.speed, args.duration, args.credentials)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
