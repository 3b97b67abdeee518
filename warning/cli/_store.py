"""Open the store from a command line: ``--database DSN`` or the embedded server in ``--data-dir``.

The embedded server may already be running under ``warning run``: the handle is shared, and
only the last holder stops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

import asyncpg

from ..store.db import migrate
from ..store.embedded import EmbeddedPostgres


def add_arguments(parser) -> None:
    parser.add_argument("--database", default=os.environ.get("WARNING_DATABASE_URL"),
                        help="PostgreSQL DSN (or WARNING_DATABASE_URL); default: the embedded server")
    parser.add_argument("--data-dir", type=Path, help="embedded PostgreSQL folder (or WARNING_DATA_DIR)")


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
