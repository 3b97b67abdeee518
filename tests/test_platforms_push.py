"""Pushed upward through the durable outbox, against a local platform that fails, hangs past the
timeout and comes back: every step of a risk warning (issued, signed, replied, closed) and the
real-time readings in batches, each by a stable id, none lost, repeats only of the same id;
and point codes from the live ledger: a point added through the admin API is posted in the
provincial format without a restart."""

from __future__ import annotations

import asyncio
import time

import httpx
import orjson
from aiohttp import web

from tests.conftest import OFFICER_TOKEN, PASSWORDS, site_dict, wait_for
from tests.test_platforms_http import (
    KEYS,
    POINTS,
    QY,
    code,
    keys_env,
    local,
    prov_body,
    q,
    serve_upstream,
    start,
    upstream_channel,
    url,
)
from warning.config import parse_site
from warning.platforms.crypto import CipherSpec
from warning.security import hash_password

__all__ = ["keys_env"]  # the fixture, shared with test_platforms_http

E_PASS = "e1-pass-123"
ADMIN_PASS = "boss-pass-1"


class Platform:
    """A local platform above: fails (HTTP 500), then hangs past the client's timeout, then takes."""

    def __init__(self):
        self.mode = "fail"
        self.took: dict[str, list] = {}  #: Idempotency-Key -> the items of the message it took
        self.tries = 0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        k, iv = KEYS["UP"]
        items = orjson.loads(CipherSpec("des", k, iv, encodings=("base64", "hex")).open(body["data"]))
        assert body["wgbm"] == "UP-GW" and body["qybm"] in QY.values()
        self.tries += 1
        if self.mode == "fail":
            return web.json_response({"code": 500, "msg": "down", "data": None}, status=500)
        if self.mode == "hang":
            await asyncio.sleep(2)
        key = request.headers["Idempotency-Key"]
        assert self.took.get(key, items) == items  # a repeat is the same message, by its id
        self.took[key] = items
        return web.json_response({"code": 200, "msg": "操作成功", "data": None})


def raw_users(raw: dict) -> dict:
    raw["users"] += [
        {
            "name": "e1user",
            "role": "enterprise",
            "enterprise": "E1",
            "password": hash_password(E_PASS, salt=b"0123456789abcdef"),
        },
        {"name": "boss", "role": "admin", "password": hash_password(ADMIN_PASS, salt=b"0123456789abcdef")},
    ]
    return raw


async def login(port: int, user: str, password: str) -> httpx.AsyncClient:
    c = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30)
    r = await c.post("/login", data={"username": user, "password": password})
    assert r.status_code == 303 and "failed" not in r.headers["location"], r.text
    c.headers["x-csrf-token"] = (await c.get("/api/v1/me")).json()["csrf"]
    return c


async def test_risk_warnings_and_realtime_data_survive_an_upstream_outage(kinds, machine_db, keys_env, monkeypatch):
    up = Platform()
    runner = await serve_upstream(up.handle, monkeypatch)
    channel = upstream_channel(risk=True, realtime=True, realtime_interval=0.2, realtime_batch=4)
    raw = raw_users(_platform_raw(site_dict([channel])))
    srv = await start(parse_site(raw, kinds), machine_db)
    try:
        t = time.time() - 20
        sent = []  # (code, local time, value) of every reading posted
        async with httpx.AsyncClient() as c:
            for k in range(3):  # red (vent open, spark) on E1: a risk warning
                items = [
                    {"tnm": code("E1", "DC1", p), "ts": local(t + k), "val": v}
                    for p, v in zip(POINTS, ("1100.5", "31.5", "18", "3", "1", "0", "1"), strict=True)
                ]
                r = await c.post(url(srv, "/platform/prov/api/rtsData"), content=prov_body(items))
                assert r.json()["code"] == 200, r.text
                sent += [(it["tnm"], it["ts"], it["val"]) for it in items]
                await asyncio.sleep(0.3)
        off = httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{srv.port}", headers={"Authorization": f"Bearer {OFFICER_TOKEN}"}
        )

        async def warning():
            rows = (await off.get("/api/v1/warnings")).json()
            return [w for w in rows if w["enterprise"] == "E1" and w["kind"] == "warning"]

        [w] = await wait_for(warning, timeout=15)
        await asyncio.sleep(1.0)  # failing
        up.mode = "hang"
        ent = await login(srv.port, "e1user", E_PASS)
        assert (await ent.post(f"/api/v1/warnings/{w['id']}/sign", json={})).status_code == 200
        r = await ent.post(
            f"/api/v1/warnings/{w['id']}/reply", json={"cause": "滤袋破损", "measures": "已更换", "verdict": "true"}
        )
        assert r.status_code == 200, r.text
        r = await off.post(f"/api/v1/warnings/{w['id']}/review", json={"close": True, "note": "同意销号"})
        assert r.json()["state"] == "closed", r.text
        await asyncio.sleep(1.5)  # timing out
        up.mode = "ok"

        async def settled():
            rows = await q(srv, "SELECT event_id, state, attempts, kind FROM outbox WHERE channel = 'province'")
            return rows if rows and {r["state"] for r in rows} == {"sent"} else None

        rows = await wait_for(settled, timeout=30)
        assert set(up.took) == {r["event_id"] for r in rows}  # every queued message taken, none made up
        assert max(r["attempts"] for r in rows) > 1  # retried through the outage
        kinds_sent = {r["kind"] for r in rows}
        assert {
            "upstream:risk:opened",
            "upstream:risk:sign",
            "upstream:risk:reply",
            "upstream:risk:close",
        } <= kinds_sent
        assert "upstream:realtime" in kinds_sent and "upstream:raised" in kinds_sent
        risk = [it for items in up.took.values() for it in items if it.get("type") == "risk"]
        assert {it["warningId"] for it in risk} == {w["id"]}
        steps = {it["kindZh"]: it for it in risk}
        assert {"发布", "签收", "反馈", "解除"} <= set(steps)
        assert steps["签收"]["actor"] == "e1user" and steps["解除"]["note"] == "同意销号"
        assert all(it["qybm"] == QY["E1"] and it["level"] in (1, 2, 3, 4) for it in risk)
        # real-time data: every posted reading went up once, in messages of at most 4 items
        rt = [r["event_id"] for r in rows if r["kind"] == "upstream:realtime"]
        got = [(it["tnm"], it["ts"], float(it["val"])) for mid in rt for it in up.took[mid]]
        assert sorted(got) == sorted((c_, ts, float(v)) for c_, ts, v in sent)
        assert max(len(up.took[mid]) for mid in rt) == 4 and len(rt) == 6  # 7 readings a post: 4 + 3
        log = (await off.get("/api/v1/notifications?channel=province")).json()
        assert {n["state"] for n in log} == {"sent"} and len(log) == len(rows)  # visible on the page's API
        await off.aclose()
        await ent.aclose()
        await _seen_on_the_page(srv.port, {r["event_id"]: r["kind"] for r in rows})
    finally:
        await srv.stop()
        await runner.cleanup()


async def _seen_on_the_page(port: int, sent: dict[str, str]) -> None:
    """The outbox page (/notifications) in a real browser: every pushed message, delivered."""
    from tests.test_dashboard_browser import chromium, logged_in_page, until

    base = f"http://127.0.0.1:{port}"
    async with chromium() as browser:
        page, errors = await logged_in_page(browser, base, "duty", password=PASSWORDS["duty"])
        await page.goto(base + "/notifications")
        await page.select_option("#n-channel", "province")
        await until(page, f"document.querySelectorAll('#n-table tbody tr').length === {len(sent)}")
        shown = await page.eval_on_selector_all(
            "#n-table tbody tr", "rs => rs.map(r => [r.dataset.id, r.dataset.kind, r.children[3].textContent])"
        )
        assert {i: k for i, k, _ in shown} == sent
        assert {s for *_, s in shown} == {"已送达"}  # Chinese first, from the catalogue
        assert await page.text_content("h1") == "消息投递记录"
        await page.select_option("#n-state", "failed")
        await until(page, "document.querySelectorAll('#n-table tbody tr').length === 0")
        assert errors == []
    async with httpx.AsyncClient() as anon:  # the page needs a district login
        r = await anon.get(base + "/notifications")
        assert r.status_code == 303 and r.headers["location"] == "/login"


def _platform_raw(raw: dict) -> dict:
    """``platform_site``'s changes, on a raw dict (the test adds users before parsing)."""
    for e in raw["enterprises"]:
        e["code"] = QY[e["id"]]
        for d in e["devices"]:
            d["codes"] = {p: code(e["id"], d["id"], p) for p in POINTS}
    raw["gateways"] = [
        {"id": "GW1", "platform": "provincial", "enterprise": "E1", "key_env": "T_GW1_KEY", "iv_env": "T_GW1_IV"},
        {"id": "GW2", "platform": "provincial", "enterprise": "E2", "key_env": "T_GW2_KEY", "iv_env": "T_GW2_IV"},
    ]
    return raw


async def test_a_point_added_through_the_admin_api_is_posted_without_a_restart(kinds, machine_db, keys_env):
    srv = await start(parse_site(raw_users(_platform_raw(site_dict())), kinds), machine_db)
    try:
        new_code = QY["E1"] + "0090000001"
        item = [{"tnm": new_code, "ts": local(time.time() - 5), "val": "42.5"}]
        async with httpx.AsyncClient() as c:
            r = await c.post(url(srv, "/platform/prov/api/rtsData"), content=prov_body(item))
            assert r.json()["code"] == 403  # not a point yet
        admin = await login(srv.port, "boss", ADMIN_PASS)
        r = await admin.put(
            "/api/v1/admin/enterprises/E1/devices/DC9", json={"points": ["dp"], "codes": {"dp": new_code}}
        )
        assert r.status_code == 200, r.text
        async with httpx.AsyncClient() as c:
            r = await c.post(url(srv, "/platform/prov/api/rtsData"), content=prov_body(item))
            assert r.json()["code"] == 200, r.text
        rows = await q(
            srv,
            "SELECT p.device, p.point, r.value FROM readings r JOIN points p ON p.id = r.point_id WHERE p.device = 'DC9'",
        )
        assert [(r["device"], r["point"], r["value"]) for r in rows] == [("DC9", "dp", 42.5)]
        await admin.aclose()
    finally:
        await srv.stop()
