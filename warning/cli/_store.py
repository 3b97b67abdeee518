"""Options every store-using subcommand shares, and opening the store from a command line.

``--database DSN``, ``--data-dir DIR`` and ``--site FILE`` may stand anywhere: before the
subcommand (``warning --database X token revoke ...``), between it and its action
(``warning token --data-dir D revoke ...``) or after. Every parser that offers them does
so with ``default=argparse.SUPPRESS``, so a later parser never replaces a value given to
an earlier one with its default (the bug of issue 19: a revocation went to another
store). Defaults (``WARNING_DATABASE_URL``, ``WARNING_DATA_DIR``) are filled in once, by
:func:`finish`, after parsing; a subcommand given an option it does not use is refused.

The embedded server may already be running under ``warning run``: the handle is shared, and
only the last holder stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import asyncpg

from ..store.db import migrate
from ..store.embedded import EmbeddedPostgres

SHARED = ("database", "data_dir", "site")
_FLAGS = {"database": "--database", "data_dir": "--data-dir", "site": "--site"}


def options(*which: str) -> argparse.ArgumentParser:
    """A parent parser offering the named shared options (all of them by default)."""
    p = argparse.ArgumentParser(add_help=False)
    for name in which or SHARED:
        if name == "database":
            p.add_argument(
                "--database",
                default=argparse.SUPPRESS,
                help="PostgreSQL DSN (or WARNING_DATABASE_URL); default: the embedded server",
            )
        elif name == "data_dir":
            p.add_argument(
                "--data-dir",
                type=Path,
                default=argparse.SUPPRESS,
                help="embedded PostgreSQL folder (or WARNING_DATA_DIR)",
            )
        elif name == "site":
            p.add_argument("--site", type=Path, default=argparse.SUPPRESS, help="site file (TOML)")
        else:
            raise ValueError(name)
    return p


def finish(args: argparse.Namespace, accepted: tuple[str, ...]) -> str | None:
    """Give every accepted shared option its value or default; returns an error message when
    an option was given that this subcommand does not use (None: all well)."""
    given = vars(args)
    unused = [_FLAGS[n] for n in SHARED if n not in accepted and n in given]
    if unused:
        return f"warning {args.command} does not use {', '.join(unused)}"
    if "database" in accepted:
        args.database = given.get("database") or os.environ.get("WARNING_DATABASE_URL") or None
    if "data_dir" in accepted:
        args.data_dir = given.get("data_dir")
    if "site" in accepted:
        args.site = given.get("site")
    return None


def describe(args: argparse.Namespace) -> str:
    """Which store these options name, for messages (a DSN's password left out)."""
    if args.database:
        parts = urlsplit(args.database)
        if parts.scheme.startswith("postgres"):
            host = parts.hostname or dict(parse_qsl(parts.query)).get("host", "")  # a Unix socket's folder
            user = f"{parts.username}@" if parts.username else ""
            port = f":{parts.port}" if parts.port else ""
            return f"PostgreSQL {user}{host}{port}{parts.path}"
        return "PostgreSQL " + args.database.split("@")[-1]  # a keyword DSN: leave out what precedes @
    return f"embedded PostgreSQL in {EmbeddedPostgres(args.data_dir).data_dir}"


@contextlib.asynccontextmanager
async def connection(args):
    embedded = None
    dsn = args.database
    if dsn is None:
        embedded = EmbeddedPostgres(args.data_dir)
        dsn = await asyncio.to_thread(embedded.start)
    conn = await asyncpg.connect(dsn)
    try:
        await migrate(conn)
        yield conn
    finally:
        await conn.close()
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)
