"""The shift report (信息报送): what happened between two times, as data, CSV and HTML.

Figures (the "四早" of early detection, judgement, warning and handling):

* alerts by enterprise and severity (早发现 early detection);
* time to acknowledge, p50 and p90 (早研判 early judgement);
* notifications sent and raise→sent delay, escalations (早预警 early warning);
* time to resolve, p50 and p90, and the open items carried over to the next shift (早处置 early handling).

``gather`` reads the store; ``summarise``, ``to_csv`` and ``to_html`` are pure, so the
CLI (``warning report``) and the API (``GET /api/v1/report``) give the same numbers.
Sharp edge: "open at the end" is judged from the alerts' current rows (opened before the
end, not lifted before it); a report for an old shift is therefore exact, but an alert
signed for after the shift shows as signed in the carried-over list.
"""

from __future__ import annotations

import csv
import html
import io
import math
from collections import defaultdict
from datetime import datetime

from . import times
from .model import Severity
from .policy.cron import CST
from .times import DEFAULT_TIMEZONE


def parse_time(text: str, zone_name: str = DEFAULT_TIMEZONE) -> float:
    """Epoch seconds from epoch seconds or ISO-8601 (a time without a zone is read in
    ``zone_name``, the site's ``timezone``): :func:`warning.times.parse_time`."""
    return times.parse_time(text, zone_name=zone_name)


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    s = sorted(values)
    return s[max(0, math.ceil(q / 100 * len(s)) - 1)]


async def gather(conn, start: float, end: float, enterprises: list[str] | None = None) -> dict:
    """The report's figures; only of ``enterprises`` when given (a caller's scope)."""
    alerts = await conn.fetch(
        "SELECT id, enterprise, device, point, rule, severity, state, holder, escalations, "
        "extract(epoch FROM opened_at) AS opened, extract(epoch FROM acknowledged_at) AS acked, "
        "extract(epoch FROM resolved_at) AS resolved, acknowledged_by, message FROM alerts "
        "WHERE opened_at < to_timestamp($2) AND (opened_at >= to_timestamp($1) OR resolved_at IS NULL "
        "OR resolved_at >= to_timestamp($1)) AND ($3::text[] IS NULL OR enterprise = ANY($3))", start, end, enterprises)
    escalations = await conn.fetch(
        "SELECT a.enterprise, count(*) AS n FROM alert_events e JOIN alerts a ON a.id = e.alert_id "
        "WHERE e.kind = 'escalated' AND e.at >= to_timestamp($1) AND e.at < to_timestamp($2) "
        "AND ($3::text[] IS NULL OR a.enterprise = ANY($3)) GROUP BY 1", start, end, enterprises)
    sent = await conn.fetch(
        "SELECT extract(epoch FROM o.sent_at - o.created_at) AS delay FROM outbox o WHERE o.state = 'sent' "
        "AND o.created_at >= to_timestamp($1) AND o.created_at < to_timestamp($2) "
        "AND ($3::text[] IS NULL OR o.alert_id IN (SELECT id FROM alerts WHERE enterprise = ANY($3)))",
        start, end, enterprises)
    rows = [{k: (float(v) if k in ("opened", "acked", "resolved") and v is not None else v) for k, v in dict(r).items()}
            for r in alerts]
    return summarise(rows, {r["enterprise"]: r["n"] for r in escalations}, [float(r["delay"]) for r in sent],
                     start, end)


def summarise(alerts: list[dict], escalations: dict[str, int], sent_delays: list[float], start: float,
              end: float) -> dict:
    groups: dict[tuple[str, int], list[dict]] = defaultdict(list)
    opened_in = [a for a in alerts if start <= a["opened"] < end]
    for a in opened_in:
        groups[(a["enterprise"], a["severity"])].append(a)

    def times(items):
        tta = [a["acked"] - a["opened"] for a in items if a["acked"] is not None and a["acked"] < end]
        ttr = [a["resolved"] - a["opened"] for a in items if a["resolved"] is not None and a["resolved"] < end]
        return {"tta_p50": percentile(tta, 50), "tta_p90": percentile(tta, 90),
                "ttr_p50": percentile(ttr, 50), "ttr_p90": percentile(ttr, 90),
                "acknowledged": len(tta), "resolved": len(ttr)}

    by = [{"enterprise": e, "severity": Severity(s).label, "alerts": len(items),
           "escalations": sum(a["escalations"] for a in items), **times(items)}
          for (e, s), items in sorted(groups.items(), key=lambda kv: (kv[0][0], -kv[0][1]))]
    carried = [{"id": a["id"], "enterprise": a["enterprise"], "device": a["device"], "point": a["point"],
                "rule": a["rule"], "severity": Severity(a["severity"]).label, "opened_at": a["opened"],
                "signed_for": a["acked"] is not None and a["acked"] < end, "holder": a["holder"],
                "message": a["message"]}
               for a in alerts if a["opened"] < end and (a["resolved"] is None or a["resolved"] >= end)]
    carried.sort(key=lambda x: (-Severity.parse(x["severity"]), x["opened_at"]))
    return {
        "from": start, "to": end,
        "totals": {"alerts": len(opened_in), **times(opened_in), "escalations": sum(escalations.values()),
                   "notifications_sent": len(sent_delays), "sent_delay_p50": percentile(sent_delays, 50),
                   "sent_delay_p90": percentile(sent_delays, 90), "carried_over": len(carried)},
        "by_enterprise_severity": by,
        "escalations_by_enterprise": escalations,
        "carried_over": carried,
    }


CSV_FIELDS = ("enterprise", "severity", "alerts", "acknowledged", "resolved", "escalations", "tta_p50", "tta_p90",
              "ttr_p50", "ttr_p90")
OPEN_FIELDS = ("id", "enterprise", "device", "point", "rule", "severity", "opened_at", "signed_for", "holder",
               "message")


def to_csv(report: dict, which: str = "summary") -> str:
    """``summary``: alerts by enterprise and severity; ``open``: items carried over."""
    buf = io.StringIO()
    fields = CSV_FIELDS if which == "summary" else OPEN_FIELDS
    w = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore")
    w.writeheader()
    for row in report["by_enterprise_severity" if which == "summary" else "carried_over"]:
        w.writerow({k: _fmt(row.get(k)) for k in fields})
    return buf.getvalue()


def _fmt(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.1f}"
    return str(v)


def _when(t: float) -> str:
    return datetime.fromtimestamp(t, CST).strftime("%Y-%m-%d %H:%M")


def to_html(report: dict, site_name: str = "") -> str:
    """A self-contained page (no scripts, inline style) to print or mail."""
    e = html.escape
    t = report["totals"]

    def table(rows, fields):
        head = "".join(f"<th>{e(f)}</th>" for f in fields)
        body = "".join("<tr>" + "".join(f"<td>{e(_fmt(r.get(f)))}</td>" for f in fields) + "</tr>" for r in rows)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    carried = [{**r, "opened_at": _when(r["opened_at"])} for r in report["carried_over"]]
    figures = [("早发现 alerts raised", t["alerts"]),
               ("早研判 time to acknowledge p50 / p90 (s)", f"{_fmt(t['tta_p50'])} / {_fmt(t['tta_p90'])}"),
               ("早预警 notifications sent; delay p50 / p90 (s)",
                f"{t['notifications_sent']}; {_fmt(t['sent_delay_p50'])} / {_fmt(t['sent_delay_p90'])}"),
               ("escalations", t["escalations"]),
               ("早处置 time to resolve p50 / p90 (s)", f"{_fmt(t['ttr_p50'])} / {_fmt(t['ttr_p90'])}"),
               ("open items carried over", t["carried_over"])]
    fig = "".join(f"<tr><th>{e(k)}</th><td>{e(str(v))}</td></tr>" for k, v in figures)
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>信息报送 {e(site_name)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #999;padding:.3em .6em;text-align:left}}</style></head><body>
<h1>值班信息报送 Shift report {e(site_name)}</h1>
<p>{e(_when(report['from']))} – {e(_when(report['to']))} (UTC+8)</p>
<h2>四早 figures</h2><table>{fig}</table>
<h2>Alerts by enterprise and severity</h2>{table(report['by_enterprise_severity'], CSV_FIELDS)}
<h2>Open items carried over to the next shift</h2>{table(carried, OPEN_FIELDS)}
</body></html>
"""
