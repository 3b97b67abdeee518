"""The monthly analysis (月度安全分析研判): trends by week, the enterprises and points that alarm
most, times to sign for and to lift, and the share of feedback verdicts (属实 confirmed /
误报 false alarm / 检修 maintenance), as HTML with charts and as CSV.

``gather`` reads the alerts opened in the span; ``summarise`` and the writers are pure. Weeks
start on Monday, in the site's time zone. Charts are drawn with matplotlib (Agg, no pyplot
state) and embedded as PNG, so the page is one file; Chinese labels need a CJK font on the
machine (Noto Sans CJK SC, WenQuanYi, SimHei are tried; without one they show as boxes, the
tables beside them do not).
"""

from __future__ import annotations

import base64
import csv
import html
import io
from collections import Counter, defaultdict
from collections.abc import Mapping
from datetime import datetime, timedelta

from .i18n import N_, translate, word
from .model import Severity
from .report import ALERT_COLUMNS, _limits, _row, gather_risk, percentile, risk_sections
from .report import to_csv as report_csv
from .risk.config import RiskConfig
from .risk.config import default as default_risk
from .times import DEFAULT_TIMEZONE, local, zone

VERDICTS = ("confirmed", "false_alarm", "maintenance")
TOP = 10
CJK_FONTS = ["Noto Sans CJK SC", "WenQuanYi Zen Hei", "SimHei", "Microsoft YaHei", "DejaVu Sans"]
COLOURS = {"blue": "#1f6fd1", "yellow": "#e3b600", "orange": "#f07c00", "red": "#d81e06"}


async def gather(
    conn,
    start: float,
    end: float,
    names: Mapping[str, str] | None = None,
    tz: str | None = None,
    *,
    risk: RiskConfig | None = None,
    streets: Mapping[str, str] | None = None,
) -> dict:
    rows = await conn.fetch(
        ALERT_COLUMNS + "WHERE opened_at >= to_timestamp($1) AND opened_at < to_timestamp($2)", start, end
    )
    data = summarise([_row(r) for r in rows], start, end, names, tz)
    data["risk"] = await gather_risk(conn, start, end, names, risk=risk, streets=streets)
    data["risk_limits"] = _limits(risk or default_risk())
    return data


def week_of(t: float, tz: str | None) -> str:
    """The Monday (site time) of the week ``t`` falls in, as YYYY-MM-DD."""
    d = datetime.fromtimestamp(t, zone(tz or DEFAULT_TIMEZONE)).date()
    return (d - timedelta(days=d.weekday())).isoformat()


def summarise(
    alerts: list[dict], start: float, end: float, names: Mapping[str, str] | None = None, tz: str | None = None
) -> dict:
    names = names or {}
    mine = [a for a in alerts if start <= a["opened"] < end and a["enterprise"] != "_system"]
    weeks: dict[str, list[dict]] = defaultdict(list)
    t = start
    while t < end:  # every week of the span, also the quiet ones
        weeks.setdefault(week_of(t, tz), [])
        t += 86400
    for a in mine:
        weeks[week_of(a["opened"], tz)].append(a)

    def peak(a) -> str:
        return Severity(a.get("peak_severity") or a["severity"]).label

    def timing(items):
        tts = [a["acked"] - a["opened"] for a in items if a["acked"] is not None]
        ttl = [a["resolved"] - a["opened"] for a in items if a["resolved"] is not None]
        return {
            "tta_p50": percentile(tts, 50),
            "tta_p90": percentile(tts, 90),
            "ttr_p50": percentile(ttl, 50),
            "ttr_p90": percentile(ttl, 90),
            "sign_rate": len(tts) / len(items) if items else None,
        }

    by_week = [
        {
            "week": w,
            "alerts": len(items),
            **{s.label: sum(1 for a in items if peak(a) == s.label) for s in Severity},
            **timing(items),
        }
        for w, items in sorted(weeks.items())
    ]
    ent = Counter(a["enterprise"] for a in mine)
    top_ent = [
        {
            "enterprise": e,
            "enterprise_name": names.get(e, e),
            "alerts": n,
            "red": sum(1 for a in mine if a["enterprise"] == e and peak(a) == "red"),
            "orange": sum(1 for a in mine if a["enterprise"] == e and peak(a) == "orange"),
        }
        for e, n in ent.most_common(TOP)
    ]
    pts = Counter((a["enterprise"], a["device"], a["point"]) for a in mine)
    top_pts = [
        {"enterprise": e, "enterprise_name": names.get(e, e), "device": d, "point": p, "alerts": n}
        for (e, d, p), n in pts.most_common(TOP)
    ]
    verdicts = Counter(a.get("verdict") or "none" for a in mine)
    judged = sum(verdicts[v] for v in VERDICTS)
    return {
        "from": start,
        "to": end,
        "alerts": len(mine),
        "by_week": by_week,
        "top_enterprises": top_ent,
        "top_points": top_pts,
        **timing(mine),
        "verdicts": {v: verdicts[v] for v in (*VERDICTS, "none")},
        "verdict_shares": {v: (verdicts[v] / judged if judged else None) for v in VERDICTS},
    }


# severity columns are headed by the severity's word (context "severity"), the others by their msgid
WEEK_COLUMNS = (
    ("week", N_("week from")),
    ("alerts", N_("alerts")),
    ("red", "red"),
    ("orange", "orange"),
    ("yellow", "yellow"),
    ("blue", "blue"),
    ("sign_rate", N_("sign-for rate")),
    ("tta_p50", N_("time to sign p50 (s)")),
    ("ttr_p50", N_("time to lift p50 (s)")),
)
ENT_COLUMNS = (
    ("enterprise", N_("enterprise code")),
    ("enterprise_name", N_("enterprise")),
    ("alerts", N_("alerts")),
    ("red", "red"),
    ("orange", "orange"),
)
POINT_COLUMNS = (
    ("enterprise_name", N_("enterprise")),
    ("device", N_("device")),
    ("point", N_("point")),
    ("alerts", N_("alerts")),
)


def _cell(key, v) -> str:
    if v is None:
        return ""
    if key == "sign_rate":
        return f"{v * 100:.0f}%"
    return f"{v:.1f}" if isinstance(v, float) else str(v)


def to_csv(data: dict, which: str = "weeks", locale: str | None = None) -> str:
    """``weeks``, ``enterprises``, ``points``, ``verdicts``, or ``warnings`` (risk warnings and
    hazard reports by street, with overdue items and returns); headers in ``locale``."""
    if which == "warnings":
        return report_csv(data, "warning-streets", locale)
    buf = io.StringIO()
    w = csv.writer(buf)
    if which == "verdicts":
        w.writerow([translate("verdict", locale), translate("feedbacks", locale), translate("share", locale)])
        for v in VERDICTS:
            share = data["verdict_shares"][v]
            w.writerow([word("verdict", v, locale), data["verdicts"][v], "" if share is None else f"{share:.3f}"])
        w.writerow([translate("no verdict", locale), data["verdicts"]["none"], ""])
        return buf.getvalue()
    cols, rows = {
        "weeks": (WEEK_COLUMNS, data["by_week"]),
        "enterprises": (ENT_COLUMNS, data["top_enterprises"]),
        "points": (POINT_COLUMNS, data["top_points"]),
    }[which]
    w.writerow(
        [
            translate(h, locale) if h not in ("red", "orange", "yellow", "blue") else word("severity", h, locale)
            for _, h in cols
        ]
    )
    for r in rows:
        w.writerow([_cell(k, r.get(k)) for k, _ in cols])
    return buf.getvalue()


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode()


def charts(data: dict, locale: str | None = None) -> dict[str, str]:
    """Base64 PNGs: the weekly trend by peak severity, the top enterprises, the verdict shares."""
    from matplotlib import rc_context
    from matplotlib.figure import Figure

    out = {}
    with rc_context({"font.sans-serif": CJK_FONTS, "font.family": "sans-serif", "axes.unicode_minus": False}):
        fig = Figure(figsize=(7, 3.2))
        ax = fig.subplots()
        weeks = [w["week"][5:] for w in data["by_week"]]
        bottom = [0] * len(weeks)
        for s in ("blue", "yellow", "orange", "red"):
            vals = [w[s] for w in data["by_week"]]
            ax.bar(weeks, vals, bottom=bottom, color=COLOURS[s], label=word("severity", s, locale))
            bottom = [b + v for b, v in zip(bottom, vals)]
        ax.set_title(translate("Alerts per week by peak severity", locale))
        ax.legend(fontsize=8)
        out["weeks"] = _png(fig)
        fig = Figure(figsize=(7, 3.2))
        ax = fig.subplots()
        top = data["top_enterprises"][::-1]
        ax.barh([t["enterprise_name"] for t in top], [t["alerts"] for t in top], color="#3a6ea5")
        ax.set_title(translate("Enterprises that alarm most", locale))
        ax.tick_params(axis="y", labelsize=7)
        out["enterprises"] = _png(fig)
        fig = Figure(figsize=(4, 3.2))
        ax = fig.subplots()
        counts = [data["verdicts"][v] for v in VERDICTS]
        if sum(counts):
            ax.pie(
                counts,
                labels=[word("verdict", v, locale) for v in VERDICTS],
                autopct="%1.0f%%",
                colors=["#d81e06", "#7f8c8d", "#f0a500"],
            )
        else:
            ax.text(0.5, 0.5, translate("no feedback with a verdict", locale), ha="center", va="center")
            ax.axis("off")
        ax.set_title(translate("Feedback verdicts", locale))
        out["verdicts"] = _png(fig)
    return out


def to_html(data: dict, site_name: str = "", locale: str | None = None, tz: str | None = None) -> str:
    e = html.escape

    def tr(msgid: str, **params) -> str:
        return translate(msgid, locale, **params)

    def table(rows, cols):
        head = "".join(f"<th>{e(word('severity', h, locale) if h in COLOURS else tr(h))}</th>" for _, h in cols)
        body = "".join("<tr>" + "".join(f"<td>{e(_cell(k, r.get(k)))}</td>" for k, _ in cols) + "</tr>" for r in rows)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    def fmt(v) -> str:
        return "—" if v is None else f"{v:.0f}"

    img = charts(data, locale)
    shares = "，".join(
        f"{word('verdict', v, locale)} {'—' if s is None else f'{s * 100:.0f}%'}"
        for v, s in data["verdict_shares"].items()
    )
    rate = "—" if data["sign_rate"] is None else f"{data['sign_rate'] * 100:.0f}%"
    figures = [
        (tr("alerts"), data["alerts"]),
        (tr("sign-for rate"), rate),
        (tr("time to sign p50 / p90 (s)"), f"{fmt(data['tta_p50'])} / {fmt(data['tta_p90'])}"),
        (tr("time to lift p50 / p90 (s)"), f"{fmt(data['ttr_p50'])} / {fmt(data['ttr_p90'])}"),
        (tr("Feedback verdicts"), shares),
    ]
    fig = "".join(f"<tr><th>{e(k)}</th><td>{e(str(v))}</td></tr>" for k, v in figures)
    lang = "en" if locale == "en" else "zh-CN"
    title = tr("Monthly safety analysis")
    span = f"{local(data['from'], tz)} – {local(data['to'], tz)}"
    pic = "".join(f'<img alt="{e(k)}" src="data:image/png;base64,{v}">' for k, v in img.items())
    return f"""<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><title>{e(title)} {e(site_name)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #999;padding:.3em .6em;text-align:left}}img{{max-width:48%;margin:.5em}}</style></head>
<body><h1>{e(title)} {e(site_name)}</h1><p>{e(span)}</p>
<table>{fig}</table><div>{pic}</div>
<h2>{e(tr("Trend by week"))}</h2>{table(data["by_week"], WEEK_COLUMNS)}
<h2>{e(tr("Enterprises that alarm most"))}</h2>{table(data["top_enterprises"], ENT_COLUMNS)}
<h2>{e(tr("Points that alarm most"))}</h2>{table(data["top_points"], POINT_COLUMNS)}
{risk_sections(data, locale, tz, items=False)}
</body></html>
"""
