"""``warning export --from T --to T [--enterprise E] -o FILE.csv``: readings of a time
range from PostgreSQL (``--database``, or the embedded server in ``--data-dir``) as the
telemetry CSV that ``warning replay`` reads. Times are ISO-8601 (read in ``--timezone``,
default Asia/Shanghai, when they have no zone) or epoch seconds; ``--to`` defaults to now
and ``--from`` to an hour before ``--to``.

Readings come through ``warning.store.history.raw`` (raw and packed hours alike), up to a
day at a time, and are written in (time, enterprise, device, point) order.
"""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from .. import times
from ..store import csvtext, history
from ..store.packing import HOUR_MS
from ..times import DEFAULT_TIMEZONE
from . import _store


def register(sub) -> None:
    ex = sub.add_parser(
        "export",
        parents=[_store.options("database", "data_dir")],
        help="write readings of a time range from PostgreSQL to a telemetry CSV",
    )
    ex.add_argument("--from", dest="since", default=None, help="ISO-8601 or epoch seconds")
    ex.add_argument("--to", dest="until", default=None, help="ISO-8601 or epoch seconds (default now)")
    ex.add_argument(
        "--timezone",
        default=DEFAULT_TIMEZONE,
        help=f"zone of a time written without one (the site's timezone; default {DEFAULT_TIMEZONE})",
    )
    ex.add_argument("--enterprise", default=None)
    ex.add_argument("-o", "--output", type=Path, required=True)
    ex.set_defaults(func=lambda args: asyncio.run(_export(args)))


def parse_time(text: str, zone_name: str = DEFAULT_TIMEZONE) -> datetime:
    return datetime.fromtimestamp(times.parse_time(text, zone_name=zone_name), UTC)


CHUNK_MS = 86_400_000  #: at most a day of readings in memory at a time...
CHUNK_READINGS = 2_000_000  #: ... and about this many (points x readings at 10 s)
PER_POINT_DAY = 8_640


def _csv_field(text: str) -> str:
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\r\n') else text


async def export_csv(conn, since: datetime, until: datetime, enterprise: str | None, out: Path) -> int:
    """Write the readings of ``[since, until)`` to ``out``; returns how many were written.

    The text is ``csvio``'s (times as ``iso_ms``, values as ``repr``), made by numpy
    (``warning.store.csvtext``) a chunk of time at a time."""
    from simulators.csvio import HEADER

    points = await conn.fetch(
        "SELECT id, enterprise, device, point FROM points "
        "WHERE $1::text IS NULL OR enterprise = $1 ORDER BY enterprise, device, point",
        enterprise,
    )
    ids = [r["id"] for r in points]
    rank = {r["id"]: k for k, r in enumerate(points)}  # (enterprise, device, point) order
    prefix = [",".join(_csv_field(r[c]) for c in ("enterprise", "device", "point")).encode() for r in points]
    lo, hi = int(since.timestamp() * 1000), int(until.timestamp() * 1000)
    hours = max(1, min(24, CHUNK_READINGS * 24 // (PER_POINT_DAY * max(1, len(ids)))))
    chunk = min(CHUNK_MS, hours * HOUR_MS)
    n = 0
    with open(out, "wb") as fh:
        fh.write((",".join(HEADER) + "\n").encode())
        async with conn.transaction(isolation="repeatable_read", readonly=True):  # one snapshot
            start = lo
            while start < hi:
                end = min((start // chunk + 1) * chunk, hi)  # chunks aligned to hours: each block decoded once
                got = await history.raw(conn, ids, start, end)
                start = end
                parts = [(p, s) for p, s in got.items() if s[0].size]
                if not parts:
                    continue
                ts = np.concatenate([s[0] for _, s in parts])
                val = np.concatenate([s[1] for _, s in parts])
                who = np.concatenate([np.full(s[0].size, rank[p], np.int64) for p, s in parts])
                order = np.lexsort((who, ts))
                fh.write(
                    csvtext.rows(
                        [csvtext.texts(prefix, who[order]), csvtext.iso_ms(ts[order]), csvtext.floats(val[order])]
                    )
                )
                n += ts.size
    return n


async def _export(args) -> int:
    try:
        until = parse_time(args.until, args.timezone) if args.until else datetime.fromtimestamp(time.time(), UTC)
        since = (
            parse_time(args.since, args.timezone)
            if args.since
            else datetime.fromtimestamp(until.timestamp() - 3600, UTC)
        )
    except ValueError as exc:
        print(f"export: {exc}", file=sys.stderr)
        return 2
    async with _store.connection(args) as conn:
        n = await export_csv(conn, since, until, args.enterprise, args.output)
    print(
        f"wrote {n} readings from {since.isoformat()} to {until.isoformat()} to {args.output} "
        f"(from {_store.describe(args)})"
    )
    return 0
