"""``warning report --from --to``: the shift report (信息报送) as HTML and CSV files.

Reads the same store as ``warning run`` (``--database`` / ``WARNING_DATABASE_URL``, or the
embedded server in ``--data-dir``, adopted if a ``warning run`` holds it). Writes
``report.html``, ``summary.csv`` (alerts by enterprise and severity) and ``open.csv``
(items carried over) into ``--out``.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from ..times import DEFAULT_TIMEZONE
from . import _store


def register(sub) -> None:
    p = sub.add_parser("report", parents=[_store.options("database", "data_dir")],
                       help="shift report (HTML and CSV) for a time range")
    p.add_argument("--from", dest="start", required=True,
                   help="ISO-8601 (read in --timezone if it has no zone) or epoch seconds")
    p.add_argument("--to", dest="end", required=True, help="ISO-8601 or epoch seconds")
    p.add_argument("--timezone", default=DEFAULT_TIMEZONE,
                   help=f"zone of a time written without one (the site's timezone; default {DEFAULT_TIMEZONE})")
    p.add_argument("--out", type=Path, default=Path("."), help="folder for report.html, summary.csv, open.csv")
    p.add_argument("--site-name", default="", help="title for the HTML page")
    p.set_defaults(func=lambda args: asyncio.run(_report(args)))


async def _report(args) -> int:
    from .. import report

    try:
        start, end = report.parse_time(args.start, args.timezone), report.parse_time(args.end, args.timezone)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    if end <= start:
        print("--from must be before --to", file=sys.stderr)
        return 2
    async with _store.connection(args) as conn:
        data = await report.gather(conn, start, end)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.html").write_text(report.to_html(data, args.site_name), encoding="utf-8")
    (args.out / "summary.csv").write_text(report.to_csv(data, "summary"), encoding="utf-8")
    (args.out / "open.csv").write_text(report.to_csv(data, "open"), encoding="utf-8")
    t = data["totals"]
    print(f"{t['alerts']} alerts, {t['escalations']} escalations, {t['carried_over']} open items carried over; "
          f"wrote {args.out / 'report.html'}, summary.csv, open.csv (from {_store.describe(args)})")
    return 0
