"""``warning``: the one console command. Each subcommand lives in its own module here and
registers itself through ``register(subparsers)``, setting ``func`` to its entry point.

    warning run | worker | simulate | token | hash-password | score | evaluate | report | replay | export
"""

from __future__ import annotations

import argparse
import logging
import sys

from ..config import ConfigError
from . import evaluate, export, replay, report, run, score, secrets_cmd, simulate, worker

COMMANDS = (run, worker, simulate, secrets_cmd, score, evaluate, report, replay, export)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="warning", description="Real-time monitoring and early warning "
                                                                 "for dust-explosion hazards.")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in COMMANDS:
        module.register(sub)
    args = parser.parse_args(argv)
    logging.basicConfig(level=getattr(args, "log_level", "INFO").upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
