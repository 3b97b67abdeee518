"""``warning``: the one console command. Each subcommand lives in its own module here and
registers itself through ``register(subparsers)``, setting ``func`` to its entry point.

    warning run | worker | simulate | token | session | hash-password | score | evaluate | report | replay | export

The store options (``--database``, ``--data-dir``, ``--site``) may stand before or after the
subcommand (see ``_store``); :data:`STORE_OPTIONS` says which subcommand uses which, and
one given to a subcommand that does not use it is refused.
"""

from __future__ import annotations

import argparse
import logging
import sys

from ..config import ConfigError
from . import (
    _store,
    evaluate,
    export,
    replay,
    report,
    run,
    score,
    secrets_cmd,
    session_cmd,
    simulate,
    store_cmd,
    worker,
)

COMMANDS = (run, worker, simulate, secrets_cmd, session_cmd, score, evaluate, report, replay, export, store_cmd)
#: The shared options each subcommand uses; the others take none of them.
STORE_OPTIONS: dict[str, tuple[str, ...]] = {
    "run": ("database", "data_dir", "site"),
    "worker": ("database", "site"),
    "token": ("database", "data_dir", "site"),
    "session": ("database", "data_dir"),
    "report": ("database", "data_dir", "site"),  # the site file names the enterprises, gives the zone
    "export": ("database", "data_dir"),
    "store": ("database", "data_dir", "site"),
    "simulate": ("site",),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="warning",
        parents=[_store.options()],
        description="Real-time monitoring and early warning for dust-explosion hazards.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for module in COMMANDS:
        module.register(sub)
    _no_abbreviations(parser)
    return parser


def _no_abbreviations(parser: argparse.ArgumentParser) -> None:
    """Options are spelled out: ``--site`` must not quietly mean ``report --site-name``."""
    parser.allow_abbrev = False
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _no_abbreviations(child)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """Parsed arguments with the store options settled; exits 2 on an option a subcommand does not use."""
    parser = build_parser()
    args = parser.parse_args(argv)
    problem = _store.finish(args, STORE_OPTIONS.get(args.command, ()))
    if problem:
        parser.error(problem)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    logging.basicConfig(
        level=getattr(args, "log_level", "INFO").upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
