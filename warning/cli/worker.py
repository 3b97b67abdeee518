"""``warning worker``: a distributed-runtime worker (faust-streaming on Kafka)."""

from __future__ import annotations

import os
import sys

from ..config import config_dir, load_site
from . import _store
from .run import add_kafka_args, kafka_settings


def register(sub) -> None:
    w = sub.add_parser(
        "worker",
        parents=[_store.options("database", "site")],
        help="run detectors and alerts for a share of the readings topic's partitions "
        "(--database: the PostgreSQL shared by all workers and gateways)",
    )
    add_kafka_args(w)
    w.add_argument("--host", default=os.environ.get("WARNING_HOST", "127.0.0.1"), help="operations endpoints host")
    w.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("WARNING_WORKER_PORT", "6066")),
        help="operations endpoints port (/healthz, /readyz, /metrics)",
    )
    w.add_argument("--name", help="this worker's name in partition_state (default: random)")
    w.add_argument(
        "--checkpoint-interval", type=float, default=10.0, help="seconds between snapshots of each partition"
    )
    w.add_argument(
        "--stall-after",
        type=float,
        default=30.0,
        help="seconds without progress before a partition fails /readyz and raises an alert",
    )
    w.add_argument(
        "--store-interval",
        type=float,
        default=300.0,
        help="seconds between store upkeep passes (packing, partitions ahead, retention; once across "
        "all processes on the database); 0: none",
    )
    w.add_argument("--log-level", default="INFO")
    w.set_defaults(func=_run)


def _run(args) -> int:
    from ..runtime.faust_app import WorkerSettings, run_worker
    from ..runtime.worker import WorkerOptions

    if not args.database:
        print("a worker needs the shared PostgreSQL: pass --database or set WARNING_DATABASE_URL", file=sys.stderr)
        return 2
    site_path = args.site or config_dir() / "site.toml"
    if not site_path.exists():
        print(f"no site file at {site_path}: pass --site", file=sys.stderr)
        return 2
    settings = WorkerSettings(
        database=args.database,
        kafka=kafka_settings(args),
        host=args.host,
        port=args.port,
        owner=args.name,
        store_interval=args.store_interval,
        options=WorkerOptions(checkpoint_interval=args.checkpoint_interval, stall_after=args.stall_after),
    )
    return run_worker(load_site(site_path), settings, loglevel=args.log_level.lower())
