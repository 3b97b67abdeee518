"""The alerting API over real HTTP on real PostgreSQL: the full lifecycle with roles and clear
errors, silences CRUD (and that a silence really mutes), policies, the notification log,
the shift report (API and the ``warning report`` command)."""

from __future__ import annotations

import asyncio
import csv
import io
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import OFFICER_TOKEN, site_dict, wait_for
from tests.test_alert_flow import Receiver, login, overheat, push
from warning.config import parse_site
from warning.server import Server, Settings

ROOT = Path(__file__).resolve().parent.parent


def api(port) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {OFFICER_TOKEN}"})


@pytest.fixture
async def receiver():
    async with Receiver() as r:
        yield r


@pytest.fixture
async def server(kinds, machine_db, receiver):
    raw = site_dict(channels=[{"id": "hook", "type": "webhook", "url": receiver.url}])
    raw["policy"] = {"noise": {"group_interval": 0}}
    srv = Server(parse_site(raw, kinds), Settings(port=0, database=machine_db))
    await srv.start()
    srv.runtime.outbox.poll_interval = 0.1
    try:
        yield srv
    finally:
        await srv.stop()


async def open_alert(srv) -> str:
    await overheat(srv.port)
    return (await wait_for(lambda: [a for a in srv.runtime.open_alerts() if a.rule == "threshold"]))[0].id


async def test_lifecycle_through_the_api_with_roles_and_errors(server, receiver):
    aid = await open_alert(server)
    viewer = await login(server.port, "watcher")
    csrf = (await viewer.get("/api/v1/me")).json()["csrf"]
    r = await viewer.post(f"/api/v1/alerts/{aid}/handle", json={"note": "x"}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 403 and "officer" in r.json()["error"]
    await viewer.aclose()
    async with api(server.port) as c:
        r = await c.post(f"/api/v1/alerts/{aid}/handle", json={"note": "too early"})
        assert r.status_code == 409 and "请先签收" in r.json()["error"]  # zh-CN by default (issue 13)
        r = await c.post(f"/api/v1/alerts/{aid}/handle", json={"note": "too early"}, headers={"Accept-Language": "en"})
        assert r.status_code == 409 and "sign for" in r.json()["error"]
        assert (await c.post(f"/api/v1/alerts/{aid}/ack", json={"note": "seen"})).json()["holder"] == "duty"
        r = await c.post(f"/api/v1/alerts/{aid}/handle", json={"note": "team on site", "attachments": []})
        assert r.status_code == 400 and "只有反馈" in r.json()["error"]
        r = await c.post(f"/api/v1/alerts/{aid}/handle", json={"note": "team on site"})
        assert r.status_code == 200 and r.json()["state"] == "handling" and r.json()["handled_by"] == "duty"
        bad = await c.post(f"/api/v1/alerts/{aid}/feedback", json={"note": "x", "attachments": [{"size": 3}]})
        assert bad.status_code == 400 and "名称" in bad.json()["error"]
        bad = await c.post(
            f"/api/v1/alerts/{aid}/feedback", json={"note": "x", "attachments": [{"name": "a", "colour": 1}]}
        )
        assert bad.status_code == 400 and "colour" in bad.json()["error"]
        assert (await c.post(f"/api/v1/alerts/{aid}/feedback", json={})).status_code == 409
        files = [{"name": "photo.jpg", "type": "image/jpeg", "size": 20480, "url": "https://files.example/1"}]
        bad = await c.post(f"/api/v1/alerts/{aid}/feedback", json={"note": "x", "verdict": "maybe"})
        assert bad.status_code == 400 and "confirmed" in bad.json()["error"]
        r = await c.post(
            f"/api/v1/alerts/{aid}/feedback", json={"note": "fire out", "attachments": files, "verdict": "confirmed"}
        )
        assert r.status_code == 200 and r.json()["state"] == "feedback" and r.json()["feedback_count"] == 1
        assert (await c.post(f"/api/v1/alerts/{aid}/resolve", json={})).status_code == 409  # still hot: reason
        r = await c.post(f"/api/v1/alerts/{aid}/resolve", json={"note": "cooled, bags replaced"})
        assert r.status_code == 200 and r.json()["state"] == "resolved"
        r = await c.post(f"/api/v1/alerts/{aid}/feedback", json={"note": "late"})
        assert r.status_code == 409 and "已解除" in r.json()["error"]
        detail = (await c.get(f"/api/v1/alerts/{aid}")).json()
        kinds = [e["kind"] for e in detail["events"]]
        assert kinds[0] == "raised" and kinds[-4:] == ["acknowledged", "handling", "feedback", "resolved"]
        fb = next(e for e in detail["events"] if e["kind"] == "feedback")
        assert fb["actor"] == "duty" and fb["note"] == "fire out" and fb["data"]["attachments"] == files
        assert fb["data"]["verdict"] == "confirmed" and detail["verdict"] == "confirmed"
        assert detail["enterprise_name"] == "Enterprise one" and detail["peak_severity"] == detail["severity"]
        assert detail["point_title"] == "料斗温度" and "料斗温度" in detail["message"]
        en = (await c.get(f"/api/v1/alerts/{aid}", headers={"Accept-Language": "en-GB,en;q=0.9"})).json()
        assert en["message"].startswith("hopper temperature") and en["point_title"] == "hopper temperature"
        assert detail["holder"] == "duty" and detail["handled_by"] == "duty"
        listed = (await c.get("/api/v1/alerts", params={"state": "resolved"})).json()
        assert aid in {a["id"] for a in listed}
        assert (await c.get("/api/v1/alerts", params={"state": "open"})).status_code == 200
    # the lifecycle webhook heard every step, once
    await wait_for(lambda: any(b["kind"] == "resolved" and b["alert"]["id"] == aid for b in receiver.bodies))
    # The outbox delivers concurrently and at least once: a receiver orders by the event's own time.
    heard = [b["kind"] for b in sorted((b for b in receiver.bodies if b["alert"]["id"] == aid), key=lambda b: b["at"])]
    assert heard == ["raised", "acknowledged", "handling", "feedback", "resolved"]


async def test_actions_survive_a_restart_with_attachments(kinds, machine_db, receiver):
    raw = site_dict(channels=[{"id": "hook", "type": "webhook", "url": receiver.url}])
    site = parse_site(raw, kinds)
    srv = Server(site, Settings(port=0, database=machine_db))
    await srv.start()
    try:
        aid = await open_alert(srv)
        async with api(srv.port) as c:
            await c.post(f"/api/v1/alerts/{aid}/ack", json={"note": "seen"})
            await c.post(f"/api/v1/alerts/{aid}/handle", json={"note": "going"})
            await c.post(f"/api/v1/alerts/{aid}/feedback", json={"note": "done", "attachments": [{"name": "r.pdf"}]})
    finally:
        await srv.stop()
    srv = Server(site, Settings(port=0, database=machine_db))
    await srv.start()
    try:
        a = srv.runtime.pipeline.engine.get(aid)
        assert a is not None and a.state.value == "feedback" and a.holder == "duty" and a.feedback_count == 1
    finally:
        await srv.stop()


async def test_silence_crud_roles_and_that_it_mutes(server, receiver):
    now = time.time()
    viewer = await login(server.port, "watcher")
    csrf = (await viewer.get("/api/v1/me")).json()["csrf"]
    body = {"matchers": {"enterprise": "E1", "device": "DC1"}, "reason": "bag change", "ends_at": now + 3600}
    assert (await viewer.post("/api/v1/silences", json=body, headers={"X-CSRF-Token": csrf})).status_code == 403
    async with api(server.port) as c:
        for bad, needle in [
            ({**body, "reason": ""}, "理由"),
            ({k: v for k, v in body.items() if k != "ends_at"}, "截止时间"),
            ({**body, "cron": "0 2 * *", "duration": 3600}, "cron"),
        ]:
            r = await c.post("/api/v1/silences", json=bad)
            assert r.status_code == 400 and needle in r.json()["error"], r.text
        assert (
            await c.post("/api/v1/silences", content=b"[1", headers={"Content-Type": "application/json"})
        ).status_code == 400
        assert (await c.post("/api/v1/silences", content=b"[1")).status_code == 415  # no content type
        r = await c.post("/api/v1/silences", json=body)
        assert r.status_code == 201, r.text
        s = r.json()
        assert s["author"] == "duty" and s["reason"] == "bag change" and s["ends_at"] == pytest.approx(now + 3600)
        listed = (await viewer.get("/api/v1/silences")).json()
        assert s["id"] in {x["id"] for x in listed}
        weekly = await c.post(
            "/api/v1/silences",
            json={
                "matchers": {"point": "dp"},
                "reason": "weekly cleaning",
                "ends_at": now + 30 * 86400,
                "cron": "0 2 * * sat",
                "duration": 7200,
            },
        )
        assert weekly.status_code == 201 and weekly.json()["cron"] == "0 2 * * sat"
        # the silence mutes: an alert on E1/DC1 is raised and stored, but the channel hears nothing
        await overheat(server.port)
        aid = (await wait_for(lambda: [a for a in server.runtime.open_alerts() if a.rule == "threshold"]))[0].id
        await asyncio.sleep(1.0)
        assert not any(b.get("alert", {}).get("id") == aid for b in receiver.bodies)
        assert (await c.get(f"/api/v1/alerts/{aid}")).status_code == 200
        # change it, then delete it: who lifted the mute stays on record
        r = await c.put(
            f"/api/v1/silences/{s['id']}", json={**body, "reason": "bag change, extended", "ends_at": now + 7200}
        )
        assert r.status_code == 200 and r.json()["reason"] == "bag change, extended"
        r = await c.delete(f"/api/v1/silences/{s['id']}")
        assert r.status_code == 200 and r.json()["deleted_by"] == "duty"
        assert (await c.delete(f"/api/v1/silences/{s['id']}")).status_code == 409
        assert (await c.get("/api/v1/silences/nope")).status_code == 404
        history = (await c.get("/api/v1/silences", params={"expired": "true"})).json()
        assert any(x["id"] == s["id"] and x["deleted_by"] == "duty" for x in history)
        # without the silence, the next alert on another point is heard
        await push(
            server.port, b'[{"device": "DC1", "ts": %d, "values": {"vent_open": true}}]' % int(time.time() * 1000)
        )
        await wait_for(lambda: any(b.get("alert", {}).get("point") == "vent_open" for b in receiver.bodies))
    await viewer.aclose()


async def test_policies_notification_log_and_report(server, receiver, machine_db, tmp_path):
    aid = await open_alert(server)
    await wait_for(lambda: receiver.bodies)
    async with api(server.port) as c:
        pol = (await c.get("/api/v1/policies")).json()
        assert pol["noise"]["group_interval"] == 0 and pol["channels"][0]["id"] == "hook"
        assert "url" not in pol["channels"][0]  # no secrets or URLs with keys in the answer
        log = (await c.get("/api/v1/notifications", params={"alert": aid})).json()
        assert log and log[0]["channel"] == "hook" and log[0]["state"] in ("pending", "sent")
        assert (await c.get("/api/v1/notifications", params={"state": "lost"})).status_code == 400
        assert (await c.get("/api/v1/notifications", params={"limit": "x"})).status_code == 400
        await c.post(f"/api/v1/alerts/{aid}/ack", json={"note": "seen"})
        now = time.time()
        rep = (await c.get("/api/v1/report", params={"from": str(now - 3600), "to": str(now + 60)})).json()
        row = next(r for r in rep["by_enterprise_severity"] if r["enterprise"] == "E1" and r["severity"] == "red")
        assert row["alerts"] >= 1 and row["acknowledged"] >= 1 and row["tta_p50"] is not None
        assert aid in {x["id"] for x in rep["carried_over"]}  # still open: handed to the next shift
        assert row["sign_rate"] == 1.0 and row["enterprise_name"] == "Enterprise one"
        assert rep["totals"]["by_peak_severity"]["red"] >= 1
        csv_text = (
            await c.get(
                "/api/v1/report", params={"from": str(now - 3600), "format": "csv"}, headers={"Accept-Language": "en"}
            )
        ).text
        assert next(csv.DictReader(io.StringIO(csv_text)))["enterprise"] == "E1"  # en: the field names
        zh = next(
            csv.DictReader(
                io.StringIO((await c.get("/api/v1/report", params={"from": str(now - 3600), "format": "csv"})).text)
            )
        )
        assert zh["企业编号"] == "E1" and zh["企业"] == "Enterprise one" and zh["签收率"] == "100%"
        page = await c.get("/api/v1/report", params={"format": "html"})
        assert page.status_code == 200 and "四早" in page.text and "签收率" in page.text
        assert (await c.get("/api/v1/report", params={"from": "yesterday"})).status_code == 400
        assert (await c.get("/api/v1/report", params={"format": "pdf"})).status_code == 400
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as anon:
        assert (await anon.get("/api/v1/report")).status_code == 401
        assert (await anon.get("/api/v1/silences")).status_code == 401
        assert (await anon.get("/api/v1/policies")).status_code == 401
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "warning.cli",
            "report",
            "--from",
            str(now - 3600),
            "--to",
            str(now + 60),
            "--database",
            machine_db,
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "签收率 100%" in out.stdout and "移交未结事项" in out.stdout
    # the alerts' three tables, then the risk loop's three (issue 15: figures, by street, items)
    assert (tmp_path / "report.html").read_text(encoding="utf-8").count("<table>") == 6
    rows = list(csv.DictReader(open(tmp_path / "summary.csv", encoding="utf-8")))
    assert any(r["企业编号"] == "E1" and r["最高级别"] == "红色" for r in rows)
    assert aid in open(tmp_path / "open.csv", encoding="utf-8").read()
    bad = subprocess.run(
        [sys.executable, "-m", "warning.cli", "report", "--from", "tomorrow", "--to", "1", "--database", machine_db],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert bad.returncode == 2 and "not a time" in bad.stderr


async def test_runtime_escalates_on_an_injected_clock(kinds, machine_db):
    """The runtime's timers read only the clock it is given: escalation fires when the fake
    clock passes the due time, not before, and the stored event carries the due time."""
    import asyncpg

    from warning.ingest import parse
    from warning.metrics import Metrics
    from warning.runtime.embedded import EmbeddedRuntime, Options
    from warning.store.db import connect_pool
    from warning.web.hub import Hub

    raw = site_dict(channels=[{"id": "log", "type": "log"}])
    raw["policy"] = {
        "escalation": {"tiers": [{"name": "duty", "channels": ["log"]}, {"name": "leader"}], "after": {"red": 600}}
    }
    site = parse_site(raw, kinds)
    now = [1_800_000_000.0]
    pool = await connect_pool(machine_db)
    metrics = Metrics()
    rt = EmbeddedRuntime(
        site,
        pool,
        metrics=metrics,
        hub=Hub(metrics=metrics),
        clock=lambda: now[0],
        options=Options(tick_interval=0.02, notify=False),
    )
    await rt.start()
    try:
        body = b'[{"device": "DC1", "ts": %d, "values": {"vent_open": true}}]' % int(now[0] * 1000)
        await rt.submit("E1", parse(body, rt.devices["E1"], now[0]))
        alert = (await wait_for(lambda: rt.open_alerts()))[0]
        assert alert.holder == "duty" and alert.tier == 0
        now[0] += 599
        await asyncio.sleep(0.2)
        assert rt.pipeline.engine.get(alert.id).tier == 0  # not yet
        now[0] += 1.5
        await wait_for(lambda: rt.pipeline.engine.get(alert.id).tier == 1)
        conn = await asyncpg.connect(machine_db)
        try:
            at = await wait_for(
                lambda: conn.fetchval(
                    "SELECT extract(epoch FROM at) FROM alert_events WHERE alert_id = $1 AND kind = 'escalated'",
                    alert.id,
                )
            )
            holder = await conn.fetchval("SELECT holder FROM alerts WHERE id = $1", alert.id)
        finally:
            await conn.close()
        assert float(at) == pytest.approx(alert.opened_at + 600, abs=0.01) and holder == "leader"
    finally:
        await rt.stop()
        await pool.close()
