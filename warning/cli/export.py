"""``warning export --from T --to T [--enterprise E] -o FILE.csv``: readings of a time
range from PostgreSQL (the ``readings_v`` view; ``--database``, or the embedded server in
``--data-dir``) as the telemetry CSV that ``warning replay`` reads. Times are ISO-8601 (read
in ``--timezone``, default Asia/Shanghai, when they have no zone) or epoch seconds; ``--to``
defaults to now and ``--from`` to an hour before ``--to``.

Sharp edge: the view computes ``ts`` from the stored epoch milliseconds, so the range
filter cannot use the ``ts_ms`` index: a range of a large table is a full scan.
"""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from .. import times
from ..times import DEFAULT_TIMEZONE
from . import _store

QUERY = """
SELECT enterprise, device, point, (extract(epoch FROM ts) * 1000)::bigint AS ts_ms, value
FROM readings_v
WHERE ts >= $1 AND ts < $2 AND ($3::text IS NULL OR enterprise = $3)
ORDER BY ts, enterprise, device, point
"""


def register(sub) -> None:
    ex = sub.add_parser("export", parents=[_store.options("database", "data_dir")],
                        help="write readings of a time range from PostgreSQL to a telemetry CSV")
    ex.add_argument("--from", dest="since", default=None, help="ISO-8601 or epoch seconds")
    ex.add_argument("--to", dest="until", default=None, help="ISO-8601 or epoch seconds (default now)")
    ex.add_argument("--timezone", default=DEFAULT_TIMEZONE,
                    help=f"zone of a time written without one (the site's timezone; default {DEFAULT_TIMEZONE})")
    ex.add_argument("--enterprise", default=None)
    ex.add_argument("-o", "--output", type=Path, required=True)
    ex.set_defaults(func=lambda args: asyncio.run(_export(args)))


def parse_time(text: str, zone_name: str = DEFAULT_TIMEZONE) -> datetime:
    return datetime.fromtimestamp(times.parse_time(text, zone_name=zone_name), UTC)


async def export_csv(conn, since: datetime, until: datetime, enterprise: str | None, out: Path) -> int:
    """Stream the rows to ``out`` through a server-side cursor; returns how many were written."""
    from simulators.csvio import Row, write_rows

    with open(out, "w", encoding="utf-8", newline="") as fh:
        write_rows(fh, ())  # the header
        n, block = 0, []
        async with conn.transaction(readonly=True):
            async for r in conn.cursor(QUERY, since, until, enterprise, prefetch=10_000):
                block.append(Row(r["enterprise"], r["device"], r["point"], r["ts_ms"], r["value"]))
                if len(block) >= 10_000:
                    n += write_rows(fh, block, header=False)
                    block = []
        return n + write_rows(fh, block, header=False)


async def _export(args) -> int:
    try:
        until = parse_time(args.until, args.timezone) if args.until else datetime.fromtimestamp(time.time(), UTC)
        since = (parse_time(args.since, args.timezone) if args.since
                 else datetime.fromtimestamp(until.timestamp() - 3600, UTC))
    except ValueError as exc:
        print(f"export: {exc}", file=sys.stderr)
        return 2
    async with _store.connection(args) as conn:
        n = await export_csv(conn, since, until, args.enterprise, args.output)
    print(f"wrote {n} readings from {since.isoformat()} to {until.isoformat()} to {args.output} "
          f"(from {_store.describe(args)})")
    return 0
