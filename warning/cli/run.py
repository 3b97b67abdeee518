"""``warning run``: serve ingest, detectors, alerts, the dashboard and the duty channel."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

from ..config import config_dir, load_site
from . import _store

log = logging.getLogger("warning")


def add_kafka_args(p) -> None:
    """The broker flags shared by ``run --role`` and ``worker`` (environment: WARNING_KAFKA_*)."""
    p.add_argument("--kafka", help="Kafka bootstrap servers host:port[,...] (or WARNING_KAFKA)")
    p.add_argument("--kafka-prefix", help="topic and group prefix (or WARNING_KAFKA_PREFIX; default warning)")
    p.add_argument("--partitions", type=int, help="partitions of the topics (or WARNING_KAFKA_PARTITIONS; default 16)")


def kafka_settings(args):
    from ..runtime.kafka import KafkaSettings

    return KafkaSettings.from_env(bootstrap=args.kafka, prefix=args.kafka_prefix, partitions=args.partitions)


def register(sub) -> None:
    run = sub.add_parser(
        "run",
        parents=[_store.options("database", "data_dir", "site")],
        help="serve ingest, detectors, alerts and the dashboard (site file: default config/site.toml)",
    )
    run.add_argument("--demo", action="store_true", help="demo site with its simulator and demo accounts")
    run.add_argument("--host", default=os.environ.get("WARNING_HOST", "127.0.0.1"))
    run.add_argument("--port", type=int, default=int(os.environ.get("WARNING_PORT", "8080")))
    run.add_argument(
        "--checkpoint-interval",
        type=float,
        default=10.0,
        help="seconds in which each pipeline shard is checkpointed once",
    )
    run.add_argument("--max-pending", type=int, default=200_000, help="readings queued before 503")
    run.add_argument(
        "--stall-after",
        type=float,
        default=30.0,
        help="seconds the pipeline may go without completing an input while inputs wait before /readyz fails",
    )
    run.add_argument("--rate", type=float, default=5000.0, help="readings/s allowed per enterprise token")
    run.add_argument(
        "--enterprise-rate",
        type=float,
        default=None,
        help="readings/s allowed per enterprise, all its tokens together (default: --rate)",
    )
    run.add_argument(
        "--mqtt",
        default=os.environ.get("WARNING_MQTT_URL"),
        help="subscribe to telemetry/<enterprise>/<device> on this broker, e.g. mqtt://127.0.0.1:1883 "
        "(or WARNING_MQTT_URL); off by default",
    )
    run.add_argument("--mqtt-client-id", default="warning-ingest", help="fixed id: the broker keeps our session")
    run.add_argument(
        "--trusted-proxies",
        default=os.environ.get("WARNING_TRUSTED_PROXIES"),
        help="addresses or networks (comma-separated) of reverse proxies whose Forwarded / "
        "X-Forwarded-For / X-Real-IP headers are believed (or WARNING_TRUSTED_PROXIES); "
        "default none: the peer's address counts",
    )
    run.add_argument(
        "--risk",
        type=Path,
        default=None,
        help="the risk model's file (default WARNING_RISK, else config/risk.toml; docs/risk.md)",
    )
    run.add_argument(
        "--role",
        default=os.environ.get("WARNING_ROLE"),
        help="distributed mode: a gateway with these roles, comma-separated: ingest, dashboard, "
        "notifier (or WARNING_ROLE); needs --database and a Kafka broker (--kafka)",
    )
    run.add_argument(
        "--store-interval",
        type=float,
        default=300.0,
        help="seconds between store upkeep passes (packing, partitions ahead, retention; once across "
        "all processes on the database; every second while packing has a backlog); 0: none",
    )
    add_kafka_args(run)
    run.add_argument("--log-level", default="INFO")
    run.set_defaults(func=lambda args: asyncio.run(_run(args)))


def public_url_problem(demo: bool, environ) -> str | None:
    """What to warn about at start when ``WARNING_PUBLIC_URL`` is unset (not for the demo, whose
    only channel is the log): channel messages then carry no link, and QR codes encode the
    request's own address (behind a proxy: the upstream's, which phones cannot reach)."""
    if demo or environ.get("WARNING_PUBLIC_URL"):
        return None
    return (
        "WARNING_PUBLIC_URL is not set: channel messages carry no link to the alert, and QR codes encode "
        "the request's own address; set it to the address people open, e.g. https://warning.example.gov.cn"
    )


async def _run(args) -> int:
    from ..runtime.embedded import Options
    from ..server import Server, Settings
    from ..sources.mqtt import MqttSettings
    from ..web.proxies import parse_networks

    site_path = args.site or (config_dir() / "demo" / "site.toml" if args.demo else config_dir() / "site.toml")
    if not site_path.exists():
        print(f"no site file at {site_path}: pass --site, or try --demo", file=sys.stderr)
        return 2
    site = load_site(site_path)
    from ..risk.config import RiskConfigError
    from ..risk.standing import StandingError, standings
    from ..server import load_risk

    try:  # the risk model's file, and the ledger fields it weighs: refused here with their names
        standings(site.enterprises.values(), load_risk(args.risk))
    except (RiskConfigError, StandingError) as exc:
        print(f"risk model: {exc}", file=sys.stderr)
        return 2
    problem = public_url_problem(args.demo, os.environ)
    if problem:
        log.warning(problem)
    try:
        parse_networks(args.trusted_proxies)
    except ValueError as exc:
        print(f"--trusted-proxies: {exc}", file=sys.stderr)
        return 2
    settings = Settings(
        host=args.host,
        port=args.port,
        database=args.database,
        data_dir=args.data_dir,
        rate=args.rate,
        burst=args.rate * 10,
        enterprise_rate=args.enterprise_rate,
        runtime=Options(
            checkpoint_interval=args.checkpoint_interval, max_pending=args.max_pending, stall_after=args.stall_after
        ),
        mqtt=MqttSettings.from_url(args.mqtt, client_id=args.mqtt_client_id) if args.mqtt else None,
        trusted_proxies=args.trusted_proxies,
        roles={r.strip() for r in args.role.split(",") if r.strip()} if args.role else None,
        kafka=kafka_settings(args) if args.role else None,
        risk=args.risk,
        store_interval=args.store_interval,
    )
    server = Server(site, settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await server.start()
    log.info(
        "serving %s (%d enterprises, %d points) on http://%s:%d/",
        site.name,
        len(site.enterprises),
        len(site.points),
        args.host,
        server.port,
    )
    tasks = []
    if args.demo:
        from .simulate import demo_feed

        tasks.append(asyncio.create_task(demo_feed(site_path, f"http://127.0.0.1:{server.port}", stop)))
        log.info("demo accounts: officer / officer-demo, viewer / viewer-demo (see config/demo/credentials.toml)")
    await stop.wait()
    log.info("stopping")
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await server.stop()
    return 0
