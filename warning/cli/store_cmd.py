"""``warning store sizes`` and ``warning store retain``: the store's size per table and time
partition, and retention (and packing) by hand.

``warning store sizes`` lists every time partition of ``readings_packed``, ``rollups``,
``messages`` and ``dead_letters`` with its bounds and bytes on disk (table, indexes, TOAST),
then the totals per table and the raw ``readings`` table (recent readings, not packed yet).

``warning store retain [--dry-run] [--pack]`` drops the partitions past the site's
``[retention]`` (``--site``; without one, the defaults: packed readings a year, rollups for
ever, message ids 7 days, dead letters 90 days), after packing the sealed hours with
``--pack``. It takes the same advisory lock as the running service's upkeep, so the two
never run at once.
"""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import UTC, datetime

from ..config import load_site
from ..site import Retention
from ..store import maintenance, retention, timeparts
from . import _store


def register(sub) -> None:
    p = sub.add_parser(
        "store",
        parents=[_store.options("database", "data_dir", "site")],
        help="sizes per table and time partition; retention by hand",
    )
    act = p.add_subparsers(dest="action", required=True)
    act.add_parser(
        "sizes", parents=[_store.options("database", "data_dir", "site")], help="bytes on disk per table and partition"
    )
    r = act.add_parser(
        "retain",
        parents=[_store.options("database", "data_dir", "site")],
        help="drop the time partitions past the retention horizon",
    )
    r.add_argument("--dry-run", action="store_true", help="list what would be dropped, drop nothing")
    r.add_argument("--pack", action="store_true", help="pack the sealed hours first")
    p.set_defaults(func=lambda args: asyncio.run(_main(args)))


def _human(size: int) -> str:
    n = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


async def sizes(conn) -> list[tuple[str, str, str, int]]:
    """(table, partition, range, bytes) rows, then one ``(table, "total", "", bytes)`` per table."""
    out = []
    totals: dict[str, int] = {}
    for p in await timeparts.parts(conn):
        span = "default" if p.name.endswith("_default") else f"{p.lo} .. {p.hi}"
        out.append((p.table, p.name, span, p.bytes))
        totals[p.table] = totals.get(p.table, 0) + p.bytes
    totals["readings"] = await conn.fetchval("SELECT pg_total_relation_size('readings')")
    return out + [(t, "total", "", n) for t, n in sorted(totals.items())]


async def _main(args) -> int:
    policy = load_site(args.site).retention if args.site else Retention()
    async with _store.connection(args) as conn:
        if args.action == "sizes":
            await timeparts.ensure_ahead(conn, datetime.now(UTC))
            for table, name, span, n in await sizes(conn):
                print(f"{table:16} {name:28} {span:26} {_human(n):>10}")
            return 0
        if args.dry_run:
            gone = await retention.retain(conn, datetime.now(UTC), policy, dry_run=True)
            for p in gone:
                print(f"would drop {p.name} ({p.lo} .. {p.hi}, {_human(p.bytes)})")
            print(f"{len(gone)} partition(s) past retention (from {_store.describe(args)})")
            return 0
        res = await maintenance.run_pass(conn, policy, now=time.time(), pack=args.pack, max_hours=10**6)
        if not res.ran:
            print("store: another process is packing or retaining now; try again", file=sys.stderr)
            return 1
        if args.pack:
            print(f"packed {res.packed.readings} readings into {res.packed.blocks} point-hours")
        print(
            f"dropped {len(res.dropped)} partition(s): {', '.join(res.dropped) or '-'} (from {_store.describe(args)})"
        )
        return 0
