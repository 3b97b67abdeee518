"""``warning simulate``: push simulated telemetry to a running server, or write it to CSV.

* no options: the demo site and its fault schedule, live (what ``warning run --demo`` runs);
* ``--scenario FILE``: a scenario file (config/scenarios/), its site and faults, at
  ``--speed`` (1 real time, 0 as fast as possible). Its timeline is moved by whole weeks
  (whole days for long runs) so that the server's accepted window (30 days old to 10 min
  ahead) holds every timestamp, and so that the faults keep their time of day (``--live``: starts it now);
  ``--write-site DIR`` writes the scenario's site and credentials for ``warning run --site``
  (or, with ``--enterprises N``, a generated site of N enterprises);
* ``--csv OUT``: write the scenario (or the demo) to a telemetry CSV instead, with the
  scenario's own timestamps (``warning replay`` pushes it later);
* ``--load N``: hold N readings/s for ``--duration`` seconds and report what the server
  accepted, rejected and throttled;
* ``--platform national|provincial``: speak that platform's upload format instead, as an
  enterprise's data-collection gateway would (simulators/gateway.py), through the real HTTP
  path; the site needs point codes and gateways: ``--write-site DIR --platform P`` writes a
  generated one with them and ``gateway-keys.env`` (the keys, for both the server and this
  command; ``--keys FILE`` reads it). With ``--speed 0`` it is a load test.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
import time
import tomllib
from pathlib import Path

from ..config import config_dir
from . import _store

WEEK, DAY = 7 * 86400.0, 86400.0
MAX_AGE = 29 * DAY  #: the server takes readings up to 30 days old; keep a day's room
log = logging.getLogger("warning")


def register(sub) -> None:
    sim = sub.add_parser(
        "simulate",
        parents=[_store.options("site")],
        help="push simulated telemetry to a running server, or write it to CSV "
        "(--site: default the demo's, or the scenario's)",
    )
    sim.add_argument("--url", default="http://127.0.0.1:8080")
    sim.add_argument(
        "--credentials",
        type=Path,
        default=None,
        help="TOML with a [tokens] table (default: the demo's, or the scenario's generated tokens)",
    )
    sim.add_argument("--scenario", type=Path, default=None, help="a scenario file (config/scenarios/*.toml)")
    sim.add_argument("--speed", type=float, default=1.0, help="1 = real time, 0 = as fast as possible")
    sim.add_argument(
        "--duration",
        type=float,
        default=None,
        help="simulated seconds (default: the scenario's; the demo forever; --load 30 s; --csv 1 h)",
    )
    sim.add_argument("--csv", type=Path, default=None, help="write readings to this CSV instead of pushing")
    sim.add_argument("--load", type=float, default=None, metavar="N", help="hold N readings/s (load test)")
    sim.add_argument(
        "--write-site",
        type=Path,
        default=None,
        metavar="DIR",
        help="write the scenario's site.toml and credentials.toml here, then exit",
    )
    sim.add_argument(
        "--enterprises",
        type=int,
        default=None,
        metavar="N",
        help="with --write-site and no --scenario: generate a site of N enterprises",
    )
    sim.add_argument("--collectors", type=int, default=3, help="bag filters per generated enterprise")
    sim.add_argument("--seed", type=int, default=1, help="seed of the generated site (names, tokens)")
    sim.add_argument(
        "--live",
        action="store_true",
        help="with --scenario: move it so it starts now (or ends now, if faster than real time), "
        "not by whole weeks; the faults lose their time of day",
    )
    sim.add_argument(
        "--platform",
        choices=("national", "provincial"),
        default=None,
        help="speak a platform's upload format (SM4 national, DES provincial) as a gateway would",
    )
    sim.add_argument(
        "--keys",
        type=Path,
        default=None,
        metavar="FILE",
        help="with --platform: KEY=VALUE lines holding the gateways' keys (default: the environment)",
    )
    sim.add_argument("--concurrency", type=int, default=32)
    sim.add_argument("--log-level", default="INFO")
    sim.set_defaults(func=lambda args: asyncio.run(_simulate(args)))


def _load_demo(site_path: Path, cred_path: Path):
    with open(site_path, "rb") as fh:
        site = tomllib.load(fh)
    with open(cred_path, "rb") as fh:
        creds = tomllib.load(fh)
    return site, creds


async def demo_feed(
    site_path: Path,
    url: str,
    stop: asyncio.Event,
    speed: float = 1.0,
    duration: float | None = None,
    cred_path: Path | None = None,
) -> None:
    from simulators.push import SitePusher
    from simulators.scenario import DEMO_BACKFILL, demo_faults

    site, creds = _load_demo(site_path, cred_path or site_path.parent / "credentials.toml")
    start = time.time()
    pusher = SitePusher(site, creds, url, demo_faults(site["enterprises"], start), speed=speed, backfill=DEMO_BACKFILL)
    steps = None if duration is None else int(duration)
    stats = await pusher.run(stop, start=start, steps=steps)
    log.info("simulator stopped: %s", stats)


def timeline_shift(start: float, duration: float, speed: float, now: float, *, live: bool = False) -> float:
    """Seconds to move a scenario so that pushing it from ``now`` at ``speed`` keeps every
    timestamp between 29 days old and now: whole weeks when that fits, else whole days;
    ``live``: exactly the latest start that never gets ahead of the wall clock."""
    ahead = duration * (1.0 if speed <= 0 else max(0.0, 1.0 - 1.0 / speed))
    latest = now - ahead  # the latest start that never gets ahead of the wall clock
    if duration > MAX_AGE:
        raise SystemExit(f"simulate: a {duration / DAY:.0f}-day scenario does not fit the server's 30-day window")
    if live:
        return latest - start
    for unit in (WEEK, DAY):
        shift = (latest - start) // unit * unit
        if start + shift >= now - MAX_AGE:
            return shift
    return latest - start


def _scenario_and_site(args):
    """(scenario or None, site dict, tokens dict)."""
    from simulators.scenarios import load_scenario

    sc = load_scenario(args.scenario) if args.scenario else None
    if args.site is not None:
        from simulators.site import resolve_map

        with open(args.site, "rb") as fh:
            site = resolve_map(tomllib.load(fh), args.site.parent)  # its map, relative to the file
        if sc is not None:
            sc.site = site
    elif sc is not None:
        site = sc.site
    else:
        with open(config_dir() / "demo" / "site.toml", "rb") as fh:
            site = tomllib.load(fh)
    if args.credentials is not None:
        with open(args.credentials, "rb") as fh:
            tokens = tomllib.load(fh).get("tokens", {})
    elif sc is not None and sc.tokens and args.site is None:
        tokens = sc.tokens
    else:
        with open(config_dir() / "demo" / "credentials.toml", "rb") as fh:
            tokens = tomllib.load(fh).get("tokens", {})
    return sc, site, tokens


def _write_site(
    sc,
    out: Path,
    args_enterprises: int | None = None,
    args_collectors: int = 3,
    args_seed: int = 1,
    platform: str | None = None,
) -> int:
    from simulators.site import basemap_beside, credentials_toml, site_toml

    if sc is None and args_enterprises:
        from simulators.scenarios import parse_scenario

        sc = parse_scenario(
            {"site": {"enterprises": args_enterprises, "collectors": args_collectors, "seed": args_seed}},
            name=f"{args_enterprises} generated enterprises",
        )
    if sc is None or not sc.tokens:
        print("simulate: --write-site needs --enterprises N or a --scenario with a generated [site]", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    if platform:
        from simulators.gateway import demo_keys, with_codes

        with_codes(sc.site, (platform,))
        keys = demo_keys(sc.site)
        (out / "gateway-keys.env").write_text(
            "# DEMO ONLY: the generated gateways' keys (warning simulate --platform)\n"
            + "".join(f"{k}={v}\n" for k, v in keys.items()),
            encoding="utf-8",
        )
        print(f"wrote {out / 'gateway-keys.env'}: export its lines for `warning run` (or pass --keys to simulate)")
    (out / "site.toml").write_text(site_toml(basemap_beside(sc.site, out), f"scenario {sc.name}"), encoding="utf-8")
    (out / "credentials.toml").write_text(credentials_toml(sc.tokens, sc.site_seed), encoding="utf-8")
    print(f"wrote {out / 'site.toml'} and {out / 'credentials.toml'}")
    return 0


async def _simulate(args) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if not (args.scenario or args.csv or args.load or args.write_site or args.platform):
        await demo_feed(
            args.site or config_dir() / "demo" / "site.toml",
            args.url,
            stop,
            args.speed,
            args.duration,
            args.credentials or (args.site.parent / "credentials.toml" if args.site else None),
        )
        return 0
    sc, site, tokens = _scenario_and_site(args)
    if args.write_site:
        return _write_site(sc, args.write_site, args.enterprises, args.collectors, args.seed, args.platform)
    if args.platform:
        return await _push_platform(args, sc, site, stop)
    if args.load:
        from simulators.load import run_load

        seconds = args.duration if args.duration is not None else 30.0
        report = await run_load(site, tokens, args.url, args.load, seconds, stop=stop, concurrency=args.concurrency)
        print(json.dumps(report, indent=1))
        return 0 if report["accepted"] > 0 else 1
    if args.csv:
        return _to_csv(args, sc, site)
    return await _push_scenario(args, sc, tokens, stop)


def _to_csv(args, sc, site) -> int:
    from simulators.csvio import rows_of_batches, write_rows
    from simulators.scenario import demo_faults
    from simulators.stepper import iter_batches

    if sc is not None:
        duration = args.duration if args.duration is not None else sc.duration
        batches = iter_batches(
            site, sc.faults, sc.start, sc.start + duration, sc.interval, seed=sc.seed, schedule=sc.schedule
        )
    else:
        start = float(int(time.time()))
        duration = args.duration if args.duration is not None else 3600.0
        batches = iter_batches(site, demo_faults(site["enterprises"], start), start, start + duration, 1.0)
    with open(args.csv, "w", encoding="utf-8", newline="") as fh:
        n = write_rows(fh, rows_of_batches(batches))
    print(f"wrote {n} readings to {args.csv}")
    return 0


async def _push_scenario(args, sc, tokens, stop) -> int:
    import dataclasses

    from simulators.push import SitePusher

    duration = args.duration if args.duration is not None else sc.duration
    shift = timeline_shift(sc.start, duration, args.speed, time.time(), live=args.live)
    faults = [dataclasses.replace(f, start=f.start + shift) for f in sc.faults]
    pusher = SitePusher(
        sc.site,
        tokens,
        args.url,
        faults,
        speed=args.speed,
        interval=sc.interval,
        seed=sc.seed,
        schedule=sc.schedule,
        concurrency=args.concurrency,
    )
    log.info(
        "scenario %s moved by %.1f days; pushing %.0f s of it at speed %g", sc.name, shift / DAY, duration, args.speed
    )
    stats = await pusher.run(stop, start=sc.start + shift, steps=int(duration // sc.interval))
    print(json.dumps({**stats, "shift_days": round(shift / DAY, 3), "last_error": pusher.last_error}, indent=1))
    return 0 if stats["failed"] == 0 and stats["rejected"] == 0 else 1


def read_keys(path: Path | None) -> dict[str, str]:
    """The environment, with ``KEY=VALUE`` lines of ``path`` over it."""
    import os

    env = dict(os.environ)
    if path is not None:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip() and not line.startswith("#") and "=" in line:
                k, v = line.split("=", 1)
                env[k.strip()] = v.strip()
    return env


async def _push_platform(args, sc, site, stop) -> int:
    """Push the site's (or scenario's) readings in a platform's format: a gateway's load test."""
    import dataclasses

    from simulators.gateway import GatewayPusher

    if not any(g.get("platform") == args.platform for g in site.get("gateways", [])):
        print(
            f"simulate: the site has no {args.platform} gateways; write one with "
            f"--write-site DIR --enterprises N --platform {args.platform}",
            file=sys.stderr,
        )
        return 2
    env = read_keys(args.keys)
    duration = args.duration if args.duration is not None else (sc.duration if sc else 60.0)
    faults, start, interval, seed, schedule = [], None, 1.0, 0, None
    if sc is not None:
        shift = timeline_shift(sc.start, duration, args.speed, time.time(), live=args.live)
        faults = [dataclasses.replace(f, start=f.start + shift) for f in sc.faults]
        start, interval, seed, schedule = sc.start + shift, sc.interval, sc.seed, sc.schedule
    try:
        pusher = GatewayPusher(
            site,
            args.url,
            args.platform,
            timezone=site.get("site", {}).get("timezone", "Asia/Shanghai"),
            environ=env,
            faults=faults,
            speed=args.speed,
            interval=interval,
            seed=seed,
            schedule=schedule,
            concurrency=args.concurrency,
        )
    except KeyError as exc:
        print(f"simulate: environment variable {exc} (a gateway's key) is not set; see --keys", file=sys.stderr)
        return 2
    t0 = time.time()
    stats = await pusher.run(stop, start=start, steps=int(duration // interval))
    elapsed = time.time() - t0
    print(
        json.dumps(
            {
                **stats,
                "platform": args.platform,
                "seconds": round(elapsed, 2),
                "readings_per_s": round(stats["accepted"] / elapsed) if elapsed else None,
                "last_error": pusher.last_error,
            },
            indent=1,
        )
    )
    return 0 if stats["failed"] == 0 and stats["rejected"] == 0 else 1
