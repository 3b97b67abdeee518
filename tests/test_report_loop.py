"""Reports that show the loop (issue 13): sign-for rate, cleared unsigned, overdue, counts by
peak severity, names, Chinese headers, times read in the site's zone, and the monthly analysis
(HTML with charts and CSV) from a real store through ``warning report --monthly``."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import asyncpg

from warning import monthly, report
from warning.alerts import AlertEngine
from warning.model import Finding, PointRef, Severity
from warning.policy.policies import parse_policy
from warning.store import alerts as alert_store
from warning.store.db import migrate
from warning.times import parse_time

ROOT = Path(__file__).resolve().parent.parent
T0 = parse_time("2026-11-02T08:00")  # a Monday, China time


def row(
    aid,
    ent="E1",
    sev=2,
    peak=None,
    opened=T0,
    acked=None,
    resolved=None,
    cleared=None,
    escalations=0,
    verdict=None,
    point="hopper_temp",
):
    return {
        "id": aid,
        "enterprise": ent,
        "device": "DC1",
        "point": point,
        "rule": "threshold",
        "severity": sev,
        "peak_severity": peak or sev,
        "state": "active",
        "holder": None,
        "escalations": escalations,
        "message": "m",
        "acknowledged_by": None,
        "verdict": verdict,
        "opened": opened,
        "acked": acked,
        "resolved": resolved,
        "cleared": cleared,
        "resolved_by": None,
        "condition_active": cleared is None,
    }


def test_shift_summary_gives_sign_rate_cleared_unsigned_overdue_and_peaks():
    rows = [
        row("a", sev=2, peak=4, acked=T0 + 60, cleared=T0 + 30),  # red at its worst, signed
        row("b", sev=4, cleared=T0 + 10, escalations=1),  # cleared, never signed, escalated
        row("c", sev=3, acked=T0 + 900, escalations=1),  # signed late
        row("d", ent="E2", sev=1, acked=T0 + 5, resolved=T0 + 50),
    ]
    rep = report.summarise(rows, {}, [], T0 - 10, T0 + 3600, {"E1": "苏州汇通木制品有限公司", "E2": "E2 Ltd"})
    t = rep["totals"]
    assert t["alerts"] == 4 and t["sign_rate"] == 0.75 and t["cleared_unsigned"] == 1 and t["overdue"] == 2
    assert t["by_peak_severity"] == {"blue": 1, "yellow": 0, "orange": 1, "red": 2}
    assert t["carried_over"] == 3
    e1_red = next(r for r in rep["by_enterprise_severity"] if r["enterprise"] == "E1" and r["severity"] == "red")
    assert e1_red["alerts"] == 2 and e1_red["enterprise_name"] == "苏州汇通木制品有限公司"
    page = report.to_html(rep, "普陀区")
    assert "签收率" in page and "75%" in page and "已恢复未签收" in page and "苏州汇通木制品有限公司" in page
    assert "alerts raised" not in page  # Chinese headers by default
    assert "sign-for rate" in report.to_html(rep, "Putuo", "en")
    head = next(csv.reader(io.StringIO(report.to_csv(rep))))
    assert head[:4] == ["企业编号", "企业", "最高级别", "报警数"]
    assert next(csv.reader(io.StringIO(report.to_csv(rep, "summary", "en"))))[:3] == [
        "enterprise",
        "enterprise_name",
        "severity",
    ]


def test_monthly_summary_weeks_tops_times_and_verdict_shares():
    rows = [
        row(
            f"w1-{i}",
            opened=T0 + i * 3600,
            acked=T0 + i * 3600 + 60,
            resolved=T0 + i * 3600 + 600,
            verdict="confirmed" if i < 2 else "false_alarm",
            peak=4 if i == 0 else 2,
        )
        for i in range(4)
    ]
    rows += [
        row(f"w3-{i}", ent="E2", opened=T0 + 15 * 86400 + i, point="spark", verdict="maintenance" if i else None)
        for i in range(3)
    ]
    data = monthly.summarise(rows, T0, T0 + 28 * 86400, {"E1": "一号企业", "E2": "二号企业"})
    assert [w["week"] for w in data["by_week"]] == ["2026-11-02", "2026-11-09", "2026-11-16", "2026-11-23"]
    assert [w["alerts"] for w in data["by_week"]] == [4, 0, 3, 0] and data["by_week"][0]["red"] == 1
    assert data["top_enterprises"][0] == {
        "enterprise": "E1",
        "enterprise_name": "一号企业",
        "alerts": 4,
        "red": 1,
        "orange": 0,
    }
    assert data["top_points"][0]["point"] == "hopper_temp" and data["tta_p50"] == 60 and data["ttr_p50"] == 600
    assert data["verdicts"] == {"confirmed": 2, "false_alarm": 2, "maintenance": 2, "none": 1}
    assert data["verdict_shares"]["confirmed"] == 2 / 6
    page = monthly.to_html(data, "普陀区")
    assert page.count("data:image/png;base64,") == 3 and "月度安全分析研判" in page and "属实" in page
    verdicts = list(csv.reader(io.StringIO(monthly.to_csv(data, "verdicts"))))
    assert verdicts[1][:2] == ["属实", "2"] and verdicts[2][0] == "误报" and verdicts[3][0] == "检修"


async def test_warning_report_monthly_from_a_real_store(machine_db, tmp_path):
    """Alerts of November written by the engine into a migrated store, then the command."""
    conn = await asyncpg.connect(machine_db)
    try:
        await migrate(conn)
        eng = AlertEngine(parse_policy({"escalation": {"tiers": [{"name": "duty"}], "after": {"red": 60}}}))
        ref = PointRef("E001", "DC1", "hopper_temp")
        evs = eng.observe(ref, Finding("threshold", Severity.RED, T0, 72.0, "hot"))
        aid = evs[0].alert.id
        evs += eng.observe(ref, Finding("threshold", Severity.YELLOW, T0 + 30, 60.0, "cooler"))
        evs += eng.observe(ref, Finding("threshold", None, T0 + 90, 30.0, "normal"))
        evs += eng.acknowledge(aid, "duty", None, T0 + 120)
        evs += eng.feedback(
            aid, "duty", "bags replaced", T0 + 200, [{"name": "verdict", "type": "verdict", "url": "confirmed"}]
        )
        evs += eng.resolve(aid, "duty", None, T0 + 300)
        await alert_store.record(conn, evs)
        stored = await alert_store.get_alert(conn, aid)
        assert stored["peak_severity"] == "red" and stored["severity"] == "yellow" and stored["verdict"] == "confirmed"
        assert stored["message"] == "hot"  # the raising message kept through the fall and the clearing
    finally:
        await conn.close()
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "warning.cli",
            "report",
            "--monthly",
            "--month",
            "2026-11",
            "--database",
            machine_db,
            "--demo",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    page = (tmp_path / "monthly.html").read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") == 3 and "属实 100%" in page
    ents = list(csv.reader(open(tmp_path / "monthly-enterprises.csv", encoding="utf-8")))
    assert ents[1][0] == "E001" and ents[1][1] != "E001" and ents[1][3] == "1"  # named from the demo site; red
    shift = subprocess.run(
        [
            sys.executable,
            "-m",
            "warning.cli",
            "report",
            "--from",
            "2026-11-02T07:00",
            "--to",
            "2026-11-02T09:00",
            "--database",
            machine_db,
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert shift.returncode == 0 and "签收率 100%" in shift.stdout, shift.stdout + shift.stderr
    early = subprocess.run(
        [
            sys.executable,
            "-m",
            "warning.cli",
            "report",
            "--from",
            "2026-11-02T00:00",
            "--to",
            "2026-11-02T07:59",
            "--database",
            machine_db,
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert "报警 0 条" in early.stdout  # 08:00 China time is after 07:59 China time: the zone is the site's
