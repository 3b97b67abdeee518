"""``warning report --from --to``: the shift report (信息报送) as HTML and CSV files;
``warning report --monthly [--month YYYY-MM]``: the monthly analysis (月度安全分析研判).

Reads the same store as ``warning run`` (``--database`` / ``WARNING_DATABASE_URL``, or the
embedded server in ``--data-dir``, adopted if a ``warning run`` holds it). The site file
(``--site``; ``config/site.toml`` if there is one, ``--demo`` for the demo's) names the
enterprises and gives the time zone that times without one are read in (``[site] timezone``,
default Asia/Shanghai). Headers are Chinese; ``--locale en`` for English.

Shift: ``report.html``, ``summary.csv`` (alerts by enterprise and peak severity),
``open.csv`` (items carried over), ``warnings.csv`` (risk warnings and hazard reports received,
with sign and reply times against the limits) and ``warning-streets.csv`` (those by street).
Monthly: ``monthly.html`` (with charts) and ``monthly-weeks.csv``, ``monthly-enterprises.csv``,
``monthly-points.csv``, ``monthly-verdicts.csv``, ``monthly-warnings.csv`` (by street).
"""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime
from pathlib import Path

from ..times import DEFAULT_TIMEZONE
from . import _store


def register(sub) -> None:
    p = sub.add_parser(
        "report",
        parents=[_store.options("database", "data_dir", "site")],
        help="shift report, or --monthly analysis (HTML and CSV)",
    )
    p.add_argument(
        "--from", dest="start", help="ISO-8601 (read in the site's time zone if it has no zone) or epoch seconds"
    )
    p.add_argument("--to", dest="end", help="ISO-8601 or epoch seconds")
    p.add_argument(
        "--timezone",
        default=None,
        help=f"zone of a time written without one (default: the site's timezone, else {DEFAULT_TIMEZONE})",
    )
    p.add_argument("--monthly", action="store_true", help="the monthly analysis (月度安全分析研判)")
    p.add_argument("--month", help="YYYY-MM for --monthly (default: the month before this one)")
    p.add_argument("--out", type=Path, default=Path("."), help="folder for the HTML and CSV files")
    p.add_argument("--demo", action="store_true", help="use the demo's site file")
    p.add_argument("--locale", default=None, help="zh-CN (default) or en")
    p.add_argument("--site-name", default=None, help="title for the HTML page (default: the site's name)")
    p.add_argument(
        "--risk", default=None, help="the risk model's file, for the loop's limits (default as `warning run`)"
    )
    p.set_defaults(func=lambda args: asyncio.run(_report(args)))


def _site(args):
    from ..config import ConfigError, config_dir, load_site

    path = args.site or (config_dir() / "demo" / "site.toml" if args.demo else config_dir() / "site.toml")
    if args.site is None and not path.exists():
        return None
    try:
        return load_site(path)
    except ConfigError as exc:
        raise SystemExit(f"{exc}") from None


def month_span(month: str | None, tz: str, now: float) -> tuple[float, float]:
    """[first instant, first instant of the next month) of ``YYYY-MM`` (default: last month) in ``tz``."""
    from ..times import zone

    z = zone(tz)
    if month is None:
        d = datetime.fromtimestamp(now, z)
        y, m = (d.year, d.month - 1) if d.month > 1 else (d.year - 1, 12)
    else:
        try:
            y, m = (int(x) for x in month.split("-"))
            if not 1 <= m <= 12:
                raise ValueError
        except ValueError:
            raise ValueError(f"--month must be YYYY-MM, not {month!r}") from None
    start = datetime(y, m, 1, tzinfo=z)
    end = datetime(y + (m == 12), m % 12 + 1, 1, tzinfo=z)
    return start.timestamp(), end.timestamp()


async def _report(args) -> int:
    import time

    from .. import monthly, report
    from ..i18n import normalise, translate

    site = _site(args)
    tz = args.timezone or (site.timezone if site is not None else DEFAULT_TIMEZONE)
    names = {e.id: e.name for e in site.enterprises.values()} if site is not None else {}
    loc = normalise(args.locale) or "zh-CN"
    title = args.site_name if args.site_name is not None else (site.name if site is not None else "")
    try:
        if args.monthly:
            if args.start and args.end:
                start, end = report.parse_time(args.start, tz), report.parse_time(args.end, tz)
            else:
                start, end = month_span(args.month, tz, time.time())
        else:
            if not (args.start and args.end):
                print("--from and --to are needed (or --monthly)", file=sys.stderr)
                return 2
            start, end = report.parse_time(args.start, tz), report.parse_time(args.end, tz)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    if end <= start:
        print("--from must be before --to", file=sys.stderr)
        return 2
    from ..risk.config import RiskConfigError
    from ..server import load_risk

    try:  # the loop's limits, from the same file the server reads (docs/risk.md)
        risk = load_risk(args.risk)
    except RiskConfigError as exc:
        print(f"risk model: {exc}", file=sys.stderr)
        return 2
    streets = {s.id: s.name for s in site.streets.values()} if site is not None else {}
    async with _store.connection(args) as conn:
        data = await (
            monthly.gather(conn, start, end, names, tz, risk=risk, streets=streets)
            if args.monthly
            else report.gather(conn, start, end, names, risk=risk, streets=streets)
        )
    args.out.mkdir(parents=True, exist_ok=True)
    if args.monthly:
        (args.out / "monthly.html").write_text(monthly.to_html(data, title, loc, tz), encoding="utf-8")
        for which in ("weeks", "enterprises", "points", "verdicts", "warnings"):
            (args.out / f"monthly-{which}.csv").write_text(monthly.to_csv(data, which, loc), encoding="utf-8")
        print(translate("wrote {path}", loc, path=f"{args.out / 'monthly.html'}, monthly-*.csv"))
        return 0
    (args.out / "report.html").write_text(report.to_html(data, title, loc, tz), encoding="utf-8")
    (args.out / "summary.csv").write_text(report.to_csv(data, "summary", loc, tz), encoding="utf-8")
    (args.out / "open.csv").write_text(report.to_csv(data, "open", loc, tz), encoding="utf-8")
    (args.out / "warnings.csv").write_text(report.to_csv(data, "warnings", loc, tz), encoding="utf-8")
    (args.out / "warning-streets.csv").write_text(report.to_csv(data, "warning-streets", loc, tz), encoding="utf-8")
    t = data["totals"]
    r = data["risk"]
    rate = "—" if t["sign_rate"] is None else f"{t['sign_rate'] * 100:.0f}%"
    print(
        translate(
            "{alerts} alerts, sign-for rate {rate}, {cleared} cleared unsigned, {overdue} overdue, "
            "{escalations} escalations, {open} open items carried over; wrote {path}",
            loc,
            alerts=t["alerts"],
            rate=rate,
            cleared=t["cleared_unsigned"],
            overdue=t["overdue"],
            escalations=t["escalations"],
            open=t["carried_over"],
            path=f"{args.out / 'report.html'}, summary.csv, open.csv, warnings.csv, warning-streets.csv "
            f"({_store.describe(args)})",
        )
    )
    print(
        translate(
            "{warnings} risk warnings, {late} replied late, {overdue} overdue, {returns} returns; "
            "hazard reports {received} received, {closed} closed",
            loc,
            warnings=r["warnings"],
            late=r["replied_late"],
            overdue=r["overdue_sign"] + r["overdue_reply"],
            returns=r["returns"],
            received=r["reports_received"],
            closed=r["reports_closed"],
        )
    )
    return 0
