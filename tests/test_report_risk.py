"""The shift and monthly reports show the loop (issue 15): risk warnings by level and street,
the enterprises' sign and reply times against the limits, overdue items, returns (退回) and
hazard reports (隐患举报) received and closed; Chinese first, HTML and CSV, from a real store
written by the loop itself (warning.risk.loop + warning.store.risk), through ``warning report``."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import asyncpg

from warning import monthly, report
from warning.risk.config import default
from warning.risk.loop import Loop
from warning.store import risk as risk_store
from warning.store.db import migrate
from warning.times import parse_time

ROOT = Path(__file__).resolve().parent.parent
T0 = parse_time("2026-11-03T09:00")  # China time
MIN = 60.0


async def _write_loop(conn) -> None:
    """W1 red (桃浦镇): signed and replied in time, returned, replied again late, closed.
    W2 orange (长征镇): nobody signs: escalated to the street, then the district; signed late.
    R1 a hazard report (桃浦镇): signed, replied and closed. W0: closed the day before (not counted)."""
    loop = Loop(default())
    ev = loop.open("W0", "warning", "E001", "桃浦镇", "yellow", T0 - 86400)
    ev += loop.sign("W0", "E001user", T0 - 86000)
    ev += loop.reply("W0", "E001user", T0 - 85000, cause="c", measures="m", verdict="true")
    ev += loop.review("W0", "duty", T0 - 80000, close=True, note=None)
    ev += loop.open("W1", "warning", "E001", "桃浦镇", "orange", T0)
    ev += loop.set_level("W1", "red", T0 + 1 * MIN)
    ev += loop.sign("W1", "E001user", T0 + 5 * MIN)
    ev += loop.reply("W1", "E001user", T0 + 30 * MIN, cause="料斗积尘", measures="已清理", verdict="true")
    ev += loop.review("W1", "street-officer", T0 + 40 * MIN, close=False, note="请附照片")
    ev += loop.open("W2", "warning", "E002", "长征镇", "orange", T0 + 10 * MIN)
    ev += loop.open("R1", "report", "E001", "桃浦镇", "report", T0 + 20 * MIN, note="除尘器旁积尘很厚")
    ev += loop.sign("R1", "street-officer", T0 + 25 * MIN)
    ev += loop.reply("R1", "street-officer", T0 + 50 * MIN, cause="属实", measures="已督促清扫", verdict="true")
    ev += loop.review("R1", "duty", T0 + 60 * MIN, close=True, note=None)
    ev += loop.tick(T0 + 85 * MIN)  # W2: sign limit 30 min -> street at +40, district at +70
    ev += loop.sign("W2", "E002user", T0 + 90 * MIN)
    ev += loop.tick(T0 + 101 * MIN)  # W1: a new reply was due 1 h after the return (+100)
    ev += loop.reply("W1", "E001user", T0 + 120 * MIN, cause="料斗积尘", measures="已清理，附照片", verdict="true")
    ev += loop.review("W1", "duty", T0 + 130 * MIN, close=True, note=None)
    await risk_store.record(conn, ev)


async def test_shift_and_monthly_reports_show_the_loop(machine_db, tmp_path):
    conn = await asyncpg.connect(machine_db)
    try:
        await migrate(conn)
        await _write_loop(conn)
        data = await report.gather(conn, T0 - 3600, T0 + 8 * 3600, {"E001": "一号"}, streets={"桃浦镇": "桃浦镇"})
        month = await monthly.gather(conn, parse_time("2026-11-01T00:00"), parse_time("2026-12-01T00:00"))
    finally:
        await conn.close()
    r = data["risk"]
    assert r["warnings"] == 2 and r["by_level"] == {"red": 1, "orange": 1, "yellow": 0, "blue": 0}
    assert (r["reports_received"], r["reports_closed"], r["warnings_closed"], r["returns"]) == (1, 1, 1, 1)
    assert (r["signed_in_time"], r["signed_late"]) == (2, 1)  # W1 and R1 in time; W2 after two escalations
    assert (r["replied_in_time"], r["replied_late"]) == (1, 1)  # R1 in time; W1's second reply was late
    assert (r["overdue_sign"], r["overdue_reply"]) == (1, 1)
    assert r["escalations_by_tier"] == {"street": 2, "district": 1}
    assert r["sign_p50"] == 5 * MIN and r["open_at_end"] == 1  # W2 is signed, not replied
    items = {i["id"]: i for i in r["items"]}
    assert set(items) == {"W1", "W2", "R1"}  # W0 was closed before the span
    assert items["W1"]["level"] == "red" and items["W1"]["sign_limit_s"] == 900 and items["W1"]["returns"] == 1
    assert items["W2"]["top_tier"] == "district" and items["W2"]["state"] == "signed"
    streets = {b["street"]: b for b in r["by_street"]}
    assert (streets["桃浦镇"]["red"], streets["桃浦镇"]["reports"], streets["桃浦镇"]["returns"]) == (1, 1, 1)
    assert (streets["长征镇"]["orange"], streets["长征镇"]["overdue"]) == (1, 1)

    page = report.to_html(data, "测试区", "zh-CN", "Asia/Shanghai")
    for text in (
        "风险预警与企业回复",
        "按街镇统计的风险预警与隐患举报",
        "隐患举报：受理 / 办结",
        "红色 15 分钟 / 1 小时",
        "区应急局值班",
    ):
        assert text in page, text
    rows = list(csv.reader(io.StringIO(report.to_csv(data, "warnings", "zh-CN", "Asia/Shanghai"))))
    assert rows[0][:6] == ["编号", "类别", "企业编号", "企业", "街镇", "最高等级"]
    by_id = {x[0]: x for x in rows[1:]}
    assert by_id["W1"][1] == "风险预警" and by_id["W1"][5] == "红色" and by_id["R1"][1] == "隐患举报"
    assert by_id["W2"][rows[0].index("超时签收")] == "是" and by_id["W2"][rows[0].index("升级至")] == "区应急局值班"
    en = list(csv.reader(io.StringIO(report.to_csv(data, "warning-streets", "en"))))
    assert en[0][:3] == ["street", "street_name", "red"]

    mr = month["risk"]
    assert mr["warnings"] == 3 and mr["returns"] == 1 and mr["reports_received"] == 1  # W0 too, in November
    mpage = monthly.to_html(month, "测试区", "zh-CN", "Asia/Shanghai")
    assert "风险预警与企业回复" in mpage and "退回" in mpage
    mcsv = list(csv.reader(io.StringIO(monthly.to_csv(month, "warnings", "zh-CN"))))
    assert mcsv[0][:3] == ["街镇代码", "街镇", "红色"] and len(mcsv) == 3


async def test_warning_report_writes_the_loop_files(machine_db, tmp_path):
    conn = await asyncpg.connect(machine_db)
    try:
        await migrate(conn)
        await _write_loop(conn)
    finally:
        await conn.close()

    def run(*args):
        out = subprocess.run(
            [sys.executable, "-m", "warning.cli", "report", "--database", machine_db, "--demo", "--out", str(tmp_path)]
            + list(args),
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=120,
        )
        assert out.returncode == 0, out.stderr
        return out.stdout

    said = run("--from", "2026-11-03T08:00", "--to", "2026-11-03T17:00")
    assert "风险预警 2 条" in said and "退回 1 次" in said and "隐患举报受理 1 条，办结 1 条" in said, said
    rows = list(csv.reader(open(tmp_path / "warnings.csv", encoding="utf-8")))
    assert {r[0] for r in rows[1:]} == {"W1", "W2", "R1"} and rows[1][3] != "E001"  # named from the demo site
    streets = list(csv.reader(open(tmp_path / "warning-streets.csv", encoding="utf-8")))
    assert {r[1] for r in streets[1:]} == {"桃浦镇", "长征镇"}
    assert "风险预警与企业回复" in (tmp_path / "report.html").read_text(encoding="utf-8")
    run("--monthly", "--month", "2026-11")
    m = list(csv.reader(open(tmp_path / "monthly-warnings.csv", encoding="utf-8")))
    assert m[0][1] == "街镇" and len(m) == 3
