"""``warning replay FILE.csv``: push recorded telemetry (the ``warning export`` CSV) through
the ingest API with its original timing, scaled by ``--speed`` (0: as fast as possible)."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
import tomllib
from pathlib import Path

from ..config import config_dir
from ..times import DEFAULT_TIMEZONE


def register(sub) -> None:
    rp = sub.add_parser("replay", help="push a telemetry CSV through the API with its original timing")
    rp.add_argument("file", type=Path, help="CSV: enterprise,device,point,ts,value (as warning export writes)")
    rp.add_argument("--url", default="http://127.0.0.1:8080")
    rp.add_argument(
        "--credentials",
        type=Path,
        default=config_dir() / "demo" / "credentials.toml",
        help="TOML with a [tokens] table: enterprise id = token",
    )
    rp.add_argument("--speed", type=float, default=1.0, help="1 = recorded timing, 10 = ten times faster, 0 = no waits")
    rp.add_argument(
        "--retime",
        choices=("keep", "now"),
        default="keep",
        help="keep the recorded timestamps, or move them so the replay looks live",
    )
    rp.add_argument(
        "--timezone",
        default=DEFAULT_TIMEZONE,
        help=f"zone of a ts written without one (the site's timezone; default {DEFAULT_TIMEZONE})",
    )
    rp.add_argument("--chunk", type=int, default=2000, help="messages per request, at most")
    rp.add_argument("--concurrency", type=int, default=16)
    rp.set_defaults(func=lambda args: asyncio.run(_replay(args)))


def _span(path: Path, zone_name: str) -> tuple[int, int] | None:
    """First and last timestamp (ms) of a CSV, read once before the replay for ``--retime now``."""
    from simulators.csvio import read_rows

    span: tuple[int, int] | None = None
    with open(path, encoding="utf-8", newline="") as fh:
        for row in read_rows(fh, zone_name):
            span = (row.ts_ms, row.ts_ms) if span is None else (min(span[0], row.ts_ms), max(span[1], row.ts_ms))
    return span


async def _replay(args) -> int:
    from simulators.csvio import read_rows
    from simulators.poster import Poster
    from simulators.replay import live_shift, replay

    with open(args.credentials, "rb") as fh:
        tokens = tomllib.load(fh).get("tokens", {})
    try:
        span = _span(args.file, args.timezone)
    except (OSError, ValueError) as exc:
        print(f"replay: {args.file}: {exc}", file=sys.stderr)
        return 2
    if span is None:
        print(f"replay: {args.file} has no readings", file=sys.stderr)
        return 1
    shift = 0.0 if args.retime == "keep" else live_shift(span[0] / 1000, span[1] / 1000, time.time(), args.speed)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    with open(args.file, encoding="utf-8", newline="") as fh:
        async with Poster(args.url, tokens, concurrency=args.concurrency) as poster:
            stats = await replay(
                read_rows(fh, args.timezone), poster, speed=args.speed, shift_s=shift, stop=stop, chunk=args.chunk
            )
            stats["last_error"] = poster.last_error
    print(json.dumps({**stats, "shift_s": round(shift, 3)}, indent=1))
    return 0 if stats["rejected"] == 0 and stats["failed"] == 0 and stats["skipped"] == 0 else 1
