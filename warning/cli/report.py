"""``warning report --from --to``: the shift report (信息报送) as HTML and CSV files.

Reads the same store as ``warning run`` (``--database`` / ``WARNING_DATABASE_URL``, or the
embedded server in ``--data-dir``, adopted if a ``warning run`` holds it). Writes
``report.html``, ``summary.csv`` (alerts by enterprise and severity) and ``open.csv``
(items carried over) into ``--out``.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from ..times import DEFAULT_TIMEZONE


def register(sub) -> None:
    p = sub.add_parser("report", help="shift report (HTML and CSV) for a time range")
    p.add_argument("--from", dest="start", required=True,
                   help="ISO-8601 (read in --timezone if it has no zone) or epoch seconds")
    p.add_argument("--to", dest="end", required=True, help="ISO-8601 or epoch seconds")
    p.add_argument("--timezone", default=DEFAULT_TIMEZONE,
                   help=f"zone of a time written without one (the site's timezone; default {DEFAULT_TIMEZONE})")
    p.add_argument("--out", type=Path, default=Path("."), help="folder for report.html, summary.csv, open.csv")
    p.add_argument("--database", default=os.environ.get("WARNING_DATABASE_URL"),
                   help="PostgreSQL DSN (or WARNING_DATABASE_URL); without it the embedded server's")
    p.add_argument("--data-dir", type=Path, help="embedded PostgreSQL folder (or WARNING_DATA_DIR)")
    p.add_argument("--site-name", default="", help="title for the HTML page")
    p.set_defaults(func=lambda args: asyncio.run(_report(args)))


async def _report(args) -> int:
    import asyncpg

    from .. import report

    try:
        start, end = report.parse_time(args.start, args.timezone), report.parse_time(args.end, args.timezone)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    if end <= start:
        print("--from must be before --to", file=sys.stderr)
        return 2
    embedded = None
    dsn = args.database
    if dsn is None:
        from ..store.embedded import EmbeddedPostgres
        embedded = EmbeddedPostgres(args.data_dir)
        dsn = await asyncio.to_thread(embedded.start)
    try:
        conn = await asyncpg.connect(dsn)
        try:
            data = await report.gather(conn, start, end)
        finally:
            await conn.close()
    finally:
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.html").write_text(report.to_html(data, args.site_name), encoding="utf-8")
    (args.out / "summary.csv").write_text(report.to_csv(data, "summary"), encoding="utf-8")
    (args.out / "open.csv").write_text(report.to_csv(data, "open"), encoding="utf-8")
    t = data["totals"]
    print(f"{t['alerts']} alerts, {t['escalations']} escalations, {t['carried_over']} open items carried over; "
          f"wrote {args.out / 'report.html'}, summary.csv, open.csv")
    return 0
