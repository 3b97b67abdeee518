"""The shift report (信息报送): what happened between two times, as data, CSV and HTML.

Figures (the "四早" of early detection, judgement, warning and handling), and the loop:

* alerts by enterprise and *peak* severity (早发现 early detection), with the enterprise named;
* the sign-for rate (签收率: alerts raised in the shift that were signed for by its end), the
  alerts whose condition cleared while nobody had signed (已恢复未签收), and the overdue ones
  (nobody signed before their first escalation step: 超时未签收);
* time to sign for, p50 and p90 (早研判 early judgement);
* notifications sent and raise→sent delay, escalations (早预警 early warning);
* time to lift, p50 and p90, and the open items carried over to the next shift (早处置).

``gather`` reads the store; ``summarise``, ``to_csv`` and ``to_html`` are pure, so the
CLI (``warning report``) and the API (``GET /api/v1/report``) give the same numbers. Every
header comes from the ``warning`` catalogue (zh-CN, or en when asked); times are shown in
the site's time zone. The monthly analysis (月度安全分析研判) is :mod:`warning.monthly`.

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
from collections.abc import Mapping

from . import times
from .i18n import N_, translate, word
from .model import Severity
from .risk import figures as risk_figures
from .risk.config import LEVELS, RiskConfig
from .risk.config import default as default_risk
from .store import risk as risk_store
from .times import DEFAULT_TIMEZONE, local


def parse_time(text: str, zone_name: str | None = DEFAULT_TIMEZONE) -> float:
    """Epoch seconds from epoch seconds or ISO-8601 (a time without a zone is read in
    ``zone_name``, the site's ``timezone``): :func:`warning.times.parse_time`."""
    return times.parse_time(text, zone_name=zone_name or DEFAULT_TIMEZONE)


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    s = sorted(values)
    return s[max(0, math.ceil(q / 100 * len(s)) - 1)]


ALERT_COLUMNS = (
    "SELECT id, enterprise, device, point, rule, severity, peak_severity, state, holder, escalations, message, "
    "acknowledged_by, verdict, extract(epoch FROM opened_at) AS opened, extract(epoch FROM acknowledged_at) AS acked, "
    "extract(epoch FROM resolved_at) AS resolved, extract(epoch FROM cleared_at) AS cleared, resolved_by, "
    "condition_active FROM alerts "
)
_TIMES = ("opened", "acked", "resolved", "cleared")


def _row(r) -> dict:
    return {k: (float(v) if k in _TIMES and v is not None else v) for k, v in dict(r).items()}


async def gather_risk(
    conn,
    start: float,
    end: float,
    names: Mapping[str, str] | None = None,
    enterprises: list[str] | None = None,
    *,
    risk: RiskConfig | None = None,
    streets: Mapping[str, str] | None = None,
) -> dict:
    """The loop's figures (warning.risk.figures): warnings by level and street, reply times
    against the limits of ``risk`` (the server's model file; the defaults if None), overdue
    items, returns, hazard reports received and closed."""
    items, steps = await risk_store.span_items(conn, start, end, enterprises)
    return risk_figures.summarise(items, steps, start, end, risk or default_risk(), names, streets)


async def gather(
    conn,
    start: float,
    end: float,
    names: Mapping[str, str] | None = None,
    enterprises: list[str] | None = None,
    *,
    risk: RiskConfig | None = None,
    streets: Mapping[str, str] | None = None,
) -> dict:
    """The report's figures; only of ``enterprises`` when given (a caller's scope); ``names``
    name the enterprises, ``streets`` the streets; ``risk`` gives the loop's limits."""
    alerts = await conn.fetch(
        ALERT_COLUMNS + "WHERE opened_at < to_timestamp($2) AND (opened_at >= to_timestamp($1) OR resolved_at IS NULL "
        "OR resolved_at >= to_timestamp($1)) AND ($3::text[] IS NULL OR enterprise = ANY($3))",
        start,
        end,
        enterprises,
    )
    escalations = await conn.fetch(
        "SELECT a.enterprise, count(*) AS n FROM alert_events e JOIN alerts a ON a.id = e.alert_id "
        "WHERE e.kind = 'escalated' AND e.at >= to_timestamp($1) AND e.at < to_timestamp($2) "
        "AND ($3::text[] IS NULL OR a.enterprise = ANY($3)) GROUP BY 1",
        start,
        end,
        enterprises,
    )
    sent = await conn.fetch(
        "SELECT extract(epoch FROM o.sent_at - o.created_at) AS delay FROM outbox o WHERE o.state = 'sent' "
        "AND o.created_at >= to_timestamp($1) AND o.created_at < to_timestamp($2) "
        "AND ($3::text[] IS NULL OR o.alert_id IN (SELECT id FROM alerts WHERE enterprise = ANY($3)))",
        start,
        end,
        enterprises,
    )
    data = summarise(
        [_row(r) for r in alerts],
        {r["enterprise"]: r["n"] for r in escalations},
        [float(r["delay"]) for r in sent],
        start,
        end,
        names,
    )
    data["risk"] = await gather_risk(conn, start, end, names, enterprises, risk=risk, streets=streets)
    data["risk_limits"] = _limits(risk or default_risk())
    return data


def _limits(c: RiskConfig) -> dict[str, tuple[float, float]]:
    return {lv: (c.sign_within[lv], c.reply_within[lv]) for lv in (*reversed(LEVELS), "report")}


def _peak(a: dict) -> int:
    return a.get("peak_severity") or a["severity"]


def summarise(
    alerts: list[dict],
    escalations: dict[str, int],
    sent_delays: list[float],
    start: float,
    end: float,
    names: Mapping[str, str] | None = None,
) -> dict:
    names = names or {}
    groups: dict[tuple[str, int], list[dict]] = defaultdict(list)
    opened_in = [a for a in alerts if start <= a["opened"] < end]
    for a in opened_in:
        groups[(a["enterprise"], _peak(a))].append(a)

    def signed(a) -> bool:
        return a["acked"] is not None and a["acked"] < end

    def times(items):
        tta = [a["acked"] - a["opened"] for a in items if signed(a)]
        ttr = [a["resolved"] - a["opened"] for a in items if a["resolved"] is not None and a["resolved"] < end]
        return {
            "tta_p50": percentile(tta, 50),
            "tta_p90": percentile(tta, 90),
            "ttr_p50": percentile(ttr, 50),
            "ttr_p90": percentile(ttr, 90),
            "acknowledged": len(tta),
            "resolved": len(ttr),
            "sign_rate": len(tta) / len(items) if items else None,
            "cleared_unsigned": sum(
                1 for a in items if a.get("cleared") is not None and a["cleared"] < end and not signed(a)
            ),
            "overdue": sum(1 for a in items if a["escalations"] > 0),
        }  # reached a step unsigned

    by = [
        {
            "enterprise": e,
            "enterprise_name": names.get(e, e),
            "severity": Severity(s).label,
            "alerts": len(items),
            "escalations": sum(a["escalations"] for a in items),
            **times(items),
        }
        for (e, s), items in sorted(groups.items(), key=lambda kv: (kv[0][0], -kv[0][1]))
    ]
    carried = [
        {
            "id": a["id"],
            "enterprise": a["enterprise"],
            "enterprise_name": names.get(a["enterprise"], a["enterprise"]),
            "device": a["device"],
            "point": a["point"],
            "rule": a["rule"],
            "severity": Severity(_peak(a)).label,
            "opened_at": a["opened"],
            "signed_for": signed(a),
            "cleared": a.get("cleared") is not None and a["cleared"] < end and not a.get("condition_active", True),
            "holder": a["holder"],
            "message": a["message"],
        }
        for a in alerts
        if a["opened"] < end and (a["resolved"] is None or a["resolved"] >= end)
    ]
    carried.sort(key=lambda x: (-Severity.parse(x["severity"]), x["opened_at"]))
    by_peak = {s.label: sum(1 for a in opened_in if _peak(a) == s) for s in Severity}
    lifted_by_system = sum(
        1 for a in opened_in if a["resolved"] is not None and a["resolved"] < end and a.get("resolved_by") is None
    )
    return {
        "from": start,
        "to": end,
        "totals": {
            "alerts": len(opened_in),
            **times(opened_in),
            "escalations": sum(escalations.values()),
            "notifications_sent": len(sent_delays),
            "sent_delay_p50": percentile(sent_delays, 50),
            "sent_delay_p90": percentile(sent_delays, 90),
            "carried_over": len(carried),
            "by_peak_severity": by_peak,
            "lifted_by_rule": lifted_by_system,
        },
        "by_enterprise_severity": by,
        "escalations_by_enterprise": escalations,
        "carried_over": carried,
    }


#: CSV and table columns: (key, header msgid)
SUMMARY_COLUMNS = (
    ("enterprise", N_("enterprise code")),
    ("enterprise_name", N_("enterprise")),
    ("severity", N_("peak severity")),
    ("alerts", N_("alerts")),
    ("acknowledged", N_("signed for")),
    ("sign_rate", N_("sign-for rate")),
    ("cleared_unsigned", N_("cleared, not signed for")),
    ("overdue", N_("overdue (not signed in time)")),
    ("resolved", N_("lifted")),
    ("escalations", N_("escalations")),
    ("tta_p50", N_("time to sign p50 (s)")),
    ("tta_p90", N_("time to sign p90 (s)")),
    ("ttr_p50", N_("time to lift p50 (s)")),
    ("ttr_p90", N_("time to lift p90 (s)")),
)
OPEN_COLUMNS = (
    ("id", N_("alert no.")),
    ("enterprise", N_("enterprise code")),
    ("enterprise_name", N_("enterprise")),
    ("device", N_("device")),
    ("point", N_("point")),
    ("rule", N_("rule")),
    ("severity", N_("peak severity")),
    ("opened_at", N_("raised at")),
    ("signed_for", N_("signed for")),
    ("cleared", N_("condition cleared")),
    ("holder", N_("held by")),
    ("message", N_("message")),
)
#: the loop (issue 15): warnings and hazard reports by street, and one row per item
RISK_STREET_COLUMNS = (
    ("street", N_("street code")),
    ("street_name", N_("street")),
    ("red", "red"),
    ("orange", "orange"),
    ("yellow", "yellow"),
    ("blue", "blue"),
    ("warnings", N_("risk warnings")),
    ("reports", N_("hazard reports")),
    ("overdue", N_("overdue items")),
    ("returns", N_("returns")),
)
RISK_ITEM_COLUMNS = (
    ("id", N_("item no.")),
    ("kind", N_("kind")),
    ("enterprise", N_("enterprise code")),
    ("enterprise_name", N_("enterprise")),
    ("street_name", N_("street")),
    ("level", N_("peak level")),
    ("opened_at", N_("issued at")),
    ("sign_s", N_("signed after (s)")),
    ("sign_limit_s", N_("sign limit (s)")),
    ("signed_late", N_("signed late")),
    ("reply_s", N_("replied after (s)")),
    ("reply_limit_s", N_("reply limit (s)")),
    ("replied_late", N_("replied late")),
    ("returns", N_("returns")),
    ("escalations", N_("escalations")),
    ("top_tier", N_("escalated to")),
    ("state", N_("state at the end")),
)
CSV_FIELDS = tuple(k for k, _ in SUMMARY_COLUMNS)
OPEN_FIELDS = tuple(k for k, _ in OPEN_COLUMNS)


def _head(h: str, locale: str | None) -> str:
    return word("severity", h, locale) if h in LEVELS else translate(h, locale)


def _cell(key: str, v, locale: str | None, tz: str | None) -> str:
    if v is None:
        return ""
    if key == "severity" or (key == "level" and v in LEVELS):
        return word("severity", v, locale)
    if key in ("kind", "level", "state", "top_tier"):
        return word("risk", v, locale) if v else ""
    if key == "rule":
        return word("rule", v, locale)
    if key in ("opened_at", "closed_at"):
        return local(v, tz)
    if key == "sign_rate":
        return f"{v * 100:.0f}%"
    if isinstance(v, bool):
        return translate("yes" if v else "no", locale)
    if isinstance(v, float):
        return f"{v:.1f}"
    return str(v)


CSV_TABLES = ("summary", "open", "warnings", "warning-streets")


def _table(report: dict, which: str):
    if which == "summary":
        return SUMMARY_COLUMNS, report["by_enterprise_severity"]
    if which == "open":
        return OPEN_COLUMNS, report["carried_over"]
    if which == "warnings":
        return RISK_ITEM_COLUMNS, report["risk"]["items"]
    return RISK_STREET_COLUMNS, report["risk"]["by_street"]


def to_csv(report: dict, which: str = "summary", locale: str | None = None, tz: str | None = None) -> str:
    """``summary``: alerts by enterprise and peak severity; ``open``: items carried over;
    ``warnings``: the risk warnings and hazard reports received, one row each, with their sign
    and reply times against the limits; ``warning-streets``: those by street. Headers in
    ``locale`` (zh-CN by default; ``en`` gives the field names)."""
    buf = io.StringIO()
    cols, rows = _table(report, which)
    w = csv.writer(buf)
    english = locale == "en"
    w.writerow([k if english else _head(h, locale) for k, h in cols])
    for row in rows:
        w.writerow([_csv(k, row.get(k), locale, tz, english) for k, _ in cols])
    return buf.getvalue()


def _dur(s: float, locale: str | None) -> str:
    if s % 86400 == 0:
        return translate("{n} d", locale, n=int(s // 86400))
    if s % 3600 == 0:
        return translate("{n} h", locale, n=int(s // 3600))
    return translate("{n} min", locale, n=round(s / 60))


def risk_figures_html(risk: dict, limits: dict, locale: str | None) -> str:
    """The loop's figures as table rows (the shift and the monthly report show the same)."""
    e = html.escape

    def tr(msgid: str, **params) -> str:
        return translate(msgid, locale, **params)

    def fmt(v) -> str:
        return "—" if v is None else f"{v:.0f}"

    levels = "，".join(f"{word('severity', lv, locale)} {n}" for lv, n in risk["by_level"].items())
    lim = "；".join(
        f"{word('severity', lv, locale) if lv in LEVELS else word('risk', lv, locale)} "
        f"{_dur(a, locale)} / {_dur(b, locale)}"
        for lv, (a, b) in limits.items()
    )
    tiers = "，".join(f"{word('risk', t, locale)} {n}" for t, n in sorted(risk["escalations_by_tier"].items()))
    rows = [
        (tr("risk warnings issued, by peak level"), f"{risk['warnings']}（{levels}）"),
        (tr("limits by level: sign / reply"), lim),
        (tr("signed for: in time / late"), f"{risk['signed_in_time']} / {risk['signed_late']}"),
        (tr("enterprise time to sign p50 / p90 (s)"), f"{fmt(risk['sign_p50'])} / {fmt(risk['sign_p90'])}"),
        (tr("replied: in time / late"), f"{risk['replied_in_time']} / {risk['replied_late']}"),
        (tr("enterprise time to reply p50 / p90 (s)"), f"{fmt(risk['reply_p50'])} / {fmt(risk['reply_p90'])}"),
        (tr("overdue: not signed / not replied in time"), f"{risk['overdue_sign']} / {risk['overdue_reply']}"),
        (tr("escalations by tier"), tiers or "0"),
        (tr("returns (sent back to the enterprise)"), risk["returns"]),
        (tr("risk warnings closed after review"), risk["warnings_closed"]),
        (tr("hazard reports: received / closed"), f"{risk['reports_received']} / {risk['reports_closed']}"),
        (tr("warnings and reports open at the end"), risk["open_at_end"]),
    ]
    return "".join(f"<tr><th>{e(k)}</th><td>{e(str(v))}</td></tr>" for k, v in rows)


def risk_sections(report: dict, locale: str | None, tz: str | None, *, items: bool = True) -> str:
    """The report's loop part (empty for figures gathered without it)."""
    if "risk" not in report:
        return ""
    e = html.escape
    r = report["risk"]
    out = (
        f"<h2>{e(translate('Risk warnings and the enterprises replies', locale))}</h2>"
        f"<table>{risk_figures_html(r, report['risk_limits'], locale)}</table>"
        f"<h2>{e(translate('Risk warnings and hazard reports by street', locale))}</h2>"
        + html_table(r["by_street"], RISK_STREET_COLUMNS, locale, tz)
    )
    if items:
        out += f"<h2>{e(translate('Risk warnings and hazard reports received', locale))}</h2>" + html_table(
            r["items"], RISK_ITEM_COLUMNS, locale, tz
        )
    return out


def html_table(rows, cols, locale: str | None, tz: str | None) -> str:
    e = html.escape
    head = "".join(f"<th>{e(_head(h, locale))}</th>" for _, h in cols)
    body = "".join(
        "<tr>" + "".join(f"<td>{e(_cell(k, r.get(k), locale, tz))}</td>" for k, _ in cols) + "</tr>" for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _csv(key, v, locale, tz, english) -> str:
    if english:  # machine-friendly: labels, epoch seconds, fractions
        if v is None:
            return ""
        return (
            f"{v:.3f}"
            if isinstance(v, float) and key == "sign_rate"
            else (f"{v:.1f}" if isinstance(v, float) else str(v))
        )
    return _cell(key, v, locale, tz)


def to_html(report: dict, site_name: str = "", locale: str | None = None, tz: str | None = None) -> str:
    """A self-contained page (no scripts, inline style) to print or mail."""
    e = html.escape
    t = report["totals"]

    def tr(msgid: str, **params) -> str:
        return translate(msgid, locale, **params)

    def table(rows, cols):
        head = "".join(f"<th>{e(tr(h))}</th>" for _, h in cols)
        body = "".join(
            "<tr>" + "".join(f"<td>{e(_cell(k, r.get(k), locale, tz))}</td>" for k, _ in cols) + "</tr>" for r in rows
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    def fmt(v) -> str:
        return "" if v is None else f"{v:.1f}"

    rate = "—" if t["sign_rate"] is None else f"{t['sign_rate'] * 100:.0f}%"
    peaks = "，".join(f"{word('severity', s, locale)} {n}" for s, n in reversed(t["by_peak_severity"].items()))
    figures = [
        (tr("早发现 alerts raised"), t["alerts"]),
        (tr("alerts by peak severity"), peaks),
        (tr("签收率 sign-for rate"), f"{rate} ({t['acknowledged']} / {t['alerts']})"),
        (tr("cleared, not signed for"), t["cleared_unsigned"]),
        (tr("overdue (not signed in time)"), t["overdue"]),
        (tr("早研判 time to sign p50 / p90 (s)"), f"{fmt(t['tta_p50'])} / {fmt(t['tta_p90'])}"),
        (
            tr("早预警 notifications sent; delay p50 / p90 (s)"),
            f"{t['notifications_sent']}; {fmt(t['sent_delay_p50'])} / {fmt(t['sent_delay_p90'])}",
        ),
        (tr("escalations"), t["escalations"]),
        (tr("早处置 time to lift p50 / p90 (s)"), f"{fmt(t['ttr_p50'])} / {fmt(t['ttr_p90'])}"),
        (tr("lifted by the site's rule (blue and yellow only)"), t["lifted_by_rule"]),
        (tr("open items carried over"), t["carried_over"]),
    ]
    fig = "".join(f"<tr><th>{e(k)}</th><td>{e(str(v))}</td></tr>" for k, v in figures)
    lang = "en" if locale == "en" else "zh-CN"
    span = f"{local(report['from'], tz)} – {local(report['to'], tz)} ({e(tz or 'Asia/Shanghai')})"
    return f"""<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><title>{e(tr("Shift report"))} {e(site_name)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #999;padding:.3em .6em;text-align:left}}</style></head><body>
<h1>{e(tr("Shift report"))} {e(site_name)}</h1>
<p>{e(span)}</p>
<h2>{e(tr("四早 figures"))}</h2><table>{fig}</table>
<h2>{e(tr("Alerts by enterprise and peak severity"))}</h2>{table(report["by_enterprise_severity"], SUMMARY_COLUMNS)}
<h2>{e(tr("Open items carried over to the next shift"))}</h2>{table(report["carried_over"], OPEN_COLUMNS)}
{risk_sections(report, locale, tz)}
</body></html>
"""
