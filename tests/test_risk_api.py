"""Risk warnings end to end over real HTTP on real PostgreSQL: red alarms make one warning
per enterprise (fed by the hub), the enterprise signs for it and replies with a photo, the
street returns it, the enterprise replies again, the regulator closes it; a silent
enterprise escalates street -> district within 5 s of each limit; 一码发现's public answers
carry no internal field, and a script's flood is held to the per-address limit."""

from __future__ import annotations

import asyncio
import time

import httpx
import orjson
import pytest

from tests.conftest import OFFICER_TOKEN, TOKENS, site_dict, wait_for
from warning.config import parse_site
from warning.risk.config import from_dict
from warning.runtime.risk import RiskService
from warning.security import hash_password
from warning.server import Server, Settings
from warning.web.risk_api import PUBLIC_KEYS

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
E_PASS = "e1-pass-123"


def raw_site() -> dict:
    raw = site_dict(channels=[{"id": "log", "type": "log", "risk": True}])
    raw["users"].append(
        {
            "name": "e1user",
            "role": "enterprise",
            "enterprise": "E1",
            "password": hash_password(E_PASS, salt=b"0123456789abcdef"),
        }
    )
    return raw


def to_toml(d: dict) -> str:
    """Sections of numbers and one-level inline tables: all the test's files need."""
    out = []
    for section, keys in d.items():
        out.append(f"[{section}]")
        for k, v in keys.items():
            if isinstance(v, dict):
                out.append(f"{k} = {{ " + ", ".join(f"{a} = {b!r}" for a, b in v.items()) + " }")
            else:
                out.append(f"{k} = {v!r}")
    return "\n".join(out) + "\n"


def fast_limits() -> dict:
    """Limits of seconds, so escalation is seen in a test (the shipped ones are minutes)."""
    kinds = ("blue", "yellow", "orange", "red", "report")
    return {
        "loop": {
            "sign_within": {k: 2.0 for k in kinds},
            "reply_within": {k: 600.0 for k in kinds},
            "escalate_every": {k: 2.0 for k in kinds},
        },
        "public": {"reports_per_address": 3, "report_window": 600.0},
    }


@pytest.fixture
async def server(kinds, machine_db, tmp_path, request):
    risk = tmp_path / "risk.toml"
    limits = (
        fast_limits()
        if getattr(request, "param", "slow") == "fast"
        else {"public": {"reports_per_address": 3, "report_window": 600.0}}
    )
    risk.write_text(to_toml(limits), encoding="utf-8")
    from_dict(limits)  # a bad test file fails here, clearly
    srv = Server(
        parse_site(raw_site(), kinds), Settings(port=0, database=machine_db, risk=risk, uploads=tmp_path / "uploads")
    )
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


async def red_spark(port: int, enterprise: str = "E1") -> None:
    now = time.time()
    async with httpx.AsyncClient() as c:
        r = await c.post(
            f"http://127.0.0.1:{port}/api/v1/telemetry",
            json=[{"device": "DC1", "ts": int(now * 1000), "values": {"spark": 3, "vent_open": True}}],
            headers={"Authorization": f"Bearer {TOKENS[enterprise]}"},
        )
    assert r.status_code == 202, r.text


def officer(port: int) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {OFFICER_TOKEN}"})


async def enterprise_user(port: int) -> tuple[httpx.AsyncClient, str]:
    c = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}")
    r = await c.post("/login", data={"username": "e1user", "password": E_PASS})
    assert r.status_code == 303 and r.headers["location"] == "/e/E1"
    return c, (await c.get("/api/v1/me")).json()["csrf"]


async def one_warning(client: httpx.AsyncClient, enterprise: str = "E1") -> dict:
    async def got():
        rows = (await client.get("/api/v1/warnings")).json()
        return [w for w in rows if w["enterprise"] == enterprise and w["kind"] == "warning"]

    rows = await wait_for(got, timeout=10)
    assert len(rows) == 1
    return rows[0]


async def test_reply_loop_with_photo_return_and_close(server):
    await red_spark(server.port)
    off = officer(server.port)
    w = await one_warning(off)
    w = await wait_for(lambda: _red(off, w["id"]), timeout=10)
    assert w["state"] == "open"
    assert {f["group"] for f in w["factors"]} >= {"alarm"} and abs(sum(f["share"] for f in w["factors"]) - 1) < 0.01
    await red_spark(server.port)  # more alarms: still one warning for the enterprise
    ent, csrf = await enterprise_user(server.port)
    h = {"X-CSRF-Token": csrf}
    # ?enterprise=: one enterprise's items (its page's badge), within the caller's scope
    assert [x["id"] for x in (await off.get("/api/v1/warnings?enterprise=E1&kind=warning")).json()] == [w["id"]]
    assert (await off.get("/api/v1/warnings?enterprise=E2")).json() == []
    assert [x["id"] for x in (await ent.get("/api/v1/warnings?enterprise=E1")).json()] == [w["id"]]
    for other in ("E2", "nope"):  # another enterprise's and an unknown one look the same
        assert (await ent.get(f"/api/v1/warnings?enterprise={other}")).status_code == 404
    assert (await ent.post(f"/api/v1/warnings/{w['id']}/sign", json={})).status_code == 403  # no CSRF token
    r = await ent.post(
        f"/api/v1/warnings/{w['id']}/reply", json={"cause": "c", "measures": "m", "verdict": "true"}, headers=h
    )
    assert r.status_code == 409 and r.json()["error"] == "请先签收"  # zh-CN unless asked otherwise
    r = await ent.post(
        f"/api/v1/warnings/{w['id']}/reply",
        json={"cause": "c", "measures": "m", "verdict": "true"},
        headers={**h, "Accept-Language": "en"},
    )
    assert r.status_code == 409 and r.json()["error"] == "sign for it first"
    assert (await ent.post(f"/api/v1/warnings/{w['id']}/sign", json={}, headers=h)).status_code == 200
    # photos: the type is read from the bytes, the size capped
    bad = await ent.post("/api/v1/photos", content=b"GIF89a not allowed", headers={**h, "Content-Type": "image/png"})
    assert bad.status_code == 415
    big = await ent.post("/api/v1/photos", content=PNG + b"\x00" * (5 * 1024 * 1024), headers=h)
    assert big.status_code == 413
    up = await ent.post("/api/v1/photos", content=PNG, headers={**h, "Content-Type": "image/png"})
    assert up.status_code == 201, up.text
    photo = up.json()
    assert photo["type"] == "image/png" and photo["size"] == len(PNG)
    assert (server.settings.uploads / f"{photo['id']}.png").read_bytes() == PNG  # a real file
    r = await ent.post(
        f"/api/v1/warnings/{w['id']}/reply",
        headers=h,
        json={"cause": "除尘器滤袋破损", "measures": "已停机更换滤袋", "verdict": "nope", "photos": [photo["id"]]},
    )
    assert r.status_code == 400 and r.json() == {
        "error": "verdict：应为 true, false_alarm, maintenance 之一（属实/误报/检修）",
        "field": "verdict",
    }
    r = await ent.post(
        f"/api/v1/warnings/{w['id']}/reply",
        headers=h,
        json={"cause": "除尘器滤袋破损", "measures": "已停机更换滤袋", "verdict": "true", "photos": [photo["id"]]},
    )
    assert r.status_code == 200 and r.json()["state"] == "replied"
    assert (await ent.post(f"/api/v1/warnings/{w['id']}/review", json={"close": True}, headers=h)).status_code == 403
    r = await off.post(f"/api/v1/warnings/{w['id']}/review", json={"close": False})
    assert r.status_code == 400  # a return needs a note
    r = await off.post(f"/api/v1/warnings/{w['id']}/review", json={"close": False, "note": "请补充现场照片"})
    assert r.json()["state"] == "returned"
    r = await ent.post(
        f"/api/v1/warnings/{w['id']}/reply",
        headers=h,
        json={"cause": "除尘器滤袋破损", "measures": "已更换, 补充照片", "verdict": "true", "photos": [photo["id"]]},
    )
    assert r.json()["state"] == "replied"
    r = await off.post(f"/api/v1/warnings/{w['id']}/review", json={"close": True, "note": "同意销号"})
    item = r.json()
    assert item["state"] == "closed" and item["closed_at"] is not None
    # the system's own steps (a level change as more alarms came) sit between the people's
    assert [(s["action"], s["actor"]) for s in item["steps"] if s["action"] not in ("level", "cleared")] == [
        ("opened", None),
        ("sign", "e1user"),
        ("reply", "e1user"),
        ("return", "duty"),
        ("reply", "e1user"),
        ("close", "duty"),
    ]
    assert next(s for s in item["steps"] if s["action"] == "return")["note"] == "请补充现场照片"
    got = await ent.get(f"/api/v1/photos/{photo['id']}")
    assert got.status_code == 200 and got.content == PNG and got.headers["content-type"] == "image/png"
    # the other enterprise's user would see none of it: E2 has no user here; an officer sees E1's only by scope
    await off.aclose()
    await ent.aclose()


@pytest.mark.parametrize("server", ["fast"], indirect=True)
async def test_a_silent_enterprise_escalates_to_the_street_then_the_district(server):
    await red_spark(server.port)
    off = officer(server.port)
    w = await one_warning(off)
    opened = w["opened_at"]

    async def escalations():
        item = (await off.get(f"/api/v1/warnings/{w['id']}")).json()
        return [s for s in item["steps"] if s["action"] == "escalate"]

    steps = await wait_for(lambda: _at_least(escalations, 2), timeout=15)
    assert [s["data"]["tier_name"] for s in steps[:2]] == ["street", "district"]
    assert steps[0]["at"] == pytest.approx(opened + 2.0, abs=0.01)  # at the limit itself (its due time)
    assert steps[1]["at"] == pytest.approx(opened + 4.0, abs=0.01)
    # and the message reached the channels: an outbox row per escalation, queued within 5 s of the limit
    async with server.pool.acquire() as conn:
        rows = await conn.fetch("SELECT payload, created_at FROM outbox WHERE alert_id = $1 ORDER BY id", w["id"])
    tiers = [r["payload"] for r in rows]
    assert any('"street"' in p for p in tiers) and any('"district"' in p for p in tiers)
    for r in rows:
        if '"street"' in r["payload"]:
            assert r["created_at"].timestamp() - (opened + 2.0) < 5.0
    await off.aclose()


async def _red(client, wid):
    item = (await client.get(f"/api/v1/warnings/{wid}")).json()
    return item if item["level"] == "red" else None


async def _at_least(fn, n):
    rows = await fn()
    return rows if len(rows) >= n else None


def _keys(value, prefix="") -> set[str]:
    if isinstance(value, dict):
        out = set()
        for k, v in value.items():
            out.add(prefix + k)
            out |= _keys(v, prefix + k + ".")
        return out
    if isinstance(value, list):
        return set().union(*(_keys(v, prefix) for v in value)) if value else set()
    return set()


async def test_public_page_answers_list_no_internal_field_and_reports_reach_the_street(server):
    await red_spark(server.port)
    off = officer(server.port)
    await one_warning(off)
    base = f"http://127.0.0.1:{server.port}"
    async with httpx.AsyncClient(base_url=base) as pub:  # no login
        page = await pub.get("/q/E1")
        assert page.status_code == 200 and "report.js" in page.text
        info = (await pub.get("/api/v1/public/E1")).json()
        assert _keys(info) == set(PUBLIC_KEYS)  # every key listed: nothing internal
        assert info["name"] == "Enterprise one" and info["risk"] == "red"
        a, b = (int(x) for x in info["challenge"].split(" = ")[0].split(" + "))
        origin = {"Origin": base}
        body = {"text": "车间粉尘堆积很厚", "token": info["token"], "answer": str(a + b), "contact": "13800000000"}
        assert (await pub.post("/api/v1/public/E1/report", json=body)).status_code == 403  # no Origin
        assert (
            await pub.post("/api/v1/public/E1/report", json={**body, "answer": str(a + b + 1)}, headers=origin)
        ).status_code == 403  # wrong answer
        r = await pub.post("/api/v1/public/E1/report", json=body, headers=origin)
        assert r.status_code == 201 and _keys(r.json()) == {"ok"}
        assert (await pub.post("/api/v1/public/E1/report", json=body, headers=origin)).status_code == 403  # once
        assert (await pub.get("/api/v1/public/NOPE")).status_code == 404
    rows = (await off.get("/api/v1/warnings?kind=report")).json()
    assert len(rows) == 1 and rows[0]["enterprise"] == "E1" and rows[0]["state"] == "open"
    item = (await off.get(f"/api/v1/warnings/{rows[0]['id']}")).json()
    assert item["steps"][0]["note"] == "车间粉尘堆积很厚"
    async with server.pool.acquire() as conn:
        rep = await conn.fetchrow("SELECT * FROM risk_reporters WHERE item_id = $1", rows[0]["id"])
    assert rep["contact"] == "13800000000"  # kept internally for the street, never in a public answer
    # followed to a close like a warning
    for step, body in (
        ("sign", {}),
        ("reply", {"cause": "现场核实", "measures": "已清扫", "verdict": "true"}),
        ("review", {"close": True, "note": "销号"}),
    ):
        assert (await off.post(f"/api/v1/warnings/{rows[0]['id']}/{step}", json=body)).status_code == 200
    await off.aclose()


async def test_a_scripted_flood_from_one_address_is_held_to_the_limit(server):
    """CI size: 600 concurrent-ish posts; bench/risk_flood.py runs 10,000 in a minute."""
    base = f"http://127.0.0.1:{server.port}"
    limit = server.risk.config.reports_per_address
    async with httpx.AsyncClient(base_url=base, limits=httpx.Limits(max_connections=20)) as pub:

        async def one():
            info = (await pub.get("/api/v1/public/E2")).json()
            a, b = (int(x) for x in info["challenge"].split(" = ")[0].split(" + "))
            r = await pub.post(
                "/api/v1/public/E2/report",
                headers={"Origin": base},
                json={"text": "flood", "token": info["token"], "answer": str(a + b)},
            )
            return r.status_code

        codes = await asyncio.gather(*(one() for _ in range(300)))
        assert (await pub.get("/healthz")).status_code == 200
    assert codes.count(201) == limit and set(codes) <= {201, 429}
    async with server.pool.acquire() as conn:
        stored = await conn.fetchval("SELECT count(*) FROM risk_items WHERE kind = 'report' AND enterprise = 'E2'")
    assert stored == limit


async def test_dust_cleaning_areas_and_check_ins(server):
    ent, csrf = await enterprise_user(server.port)
    h = {"X-CSRF-Token": csrf}
    r = await ent.post("/api/v1/cleaning", json={"area": "打磨车间", "interval_s": 3600}, headers=h)
    assert r.status_code == 201
    rows = (await ent.get("/api/v1/cleaning")).json()
    assert [(x["area"], x["overdue"]) for x in rows] == [("打磨车间", True)]  # never cleaned
    assert (await ent.post("/api/v1/cleaning/checkin", json={"area": "nowhere"}, headers=h)).status_code == 400
    assert (await ent.post("/api/v1/cleaning/checkin", json={"area": "打磨车间"}, headers=h)).status_code == 201
    rows = (await ent.get("/api/v1/cleaning")).json()
    assert rows[0]["overdue"] is False and rows[0]["last_who"] == "e1user"
    assert (await ent.get("/api/v1/cleaning?enterprise=E2")).status_code == 404
    await ent.aclose()


async def test_an_overdue_cleaning_area_is_an_alarm_of_its_own_lifted_by_a_cleaning(server):
    """Past its interval an area raises its own alarm (E1/cleaning/<area>, yellow), as well as
    being a term of the risk score; recording a cleaning clears it and lifts it, by whoever
    checked in, with the step kept in the alarm's history."""
    ent, csrf = await enterprise_user(server.port)
    h = {"X-CSRF-Token": csrf}
    off = officer(server.port)
    try:
        r = await ent.post("/api/v1/cleaning", json={"area": "打磨车间", "interval_s": 3600}, headers=h)
        assert r.status_code == 201  # never cleaned: overdue at once

        async def alarm():
            rows = (await off.get("/api/v1/alerts?state=open")).json()
            hits = [a for a in rows if a["device"] == "cleaning" and a["point"] == "打磨车间"]
            return hits[0] if hits else None

        a = await wait_for(alarm, timeout=10)
        assert a["enterprise"] == "E1" and a["rule"] == "cleaning_overdue" and a["severity"] == "yellow"
        assert "粉尘清扫超期" in a["message"] and "打磨车间" in a["message"]
        score, factors = server.risk.model.score("E1", time.time())
        assert [f.group for f in factors] == ["context"] and score == 8.0  # counted once: the term, not the alarm too
        assert (await ent.post("/api/v1/cleaning/checkin", json={"area": "打磨车间"}, headers=h)).status_code == 201

        async def lifted():
            got = (await off.get(f"/api/v1/alerts/{a['id']}")).json()
            return got if got["state"] == "resolved" else None

        got = await wait_for(lifted, timeout=10)
        assert got["resolved_by"] == "e1user" and "粉尘清扫打卡" in (got["resolve_note"] or "")
        assert not await alarm()
        assert server.risk.model.score("E1", time.time())[0] == 0
    finally:
        await ent.aclose()
        await off.aclose()


@pytest.mark.parametrize("server", ["fast"], indirect=True)
async def test_an_open_item_survives_a_restart_and_its_timer_resumes(server):
    """The risk service restarted (as after a crash): its open items come back from the store
    and their escalation timers run on; the enterprise still has one warning."""
    await red_spark(server.port)
    off = officer(server.port)
    w = await one_warning(off)
    old = server.risk
    await old.stop()
    fresh = RiskService(server.site, server.pool, old.hub, old.config)
    await fresh.start()
    try:
        assert w["id"] in fresh.loop.items  # loaded from the store
        assert fresh.item_of["E1"] == w["id"]

        async def escalated():
            rows = await fresh.pool.fetch(
                "SELECT data FROM risk_steps WHERE item_id = $1 AND action = 'escalate' ORDER BY seq", w["id"]
            )
            return rows if len(rows) >= 2 else None

        rows = await wait_for(escalated, timeout=10)
        assert [orjson.loads(r["data"])["tier_name"] for r in rows][:2] == ["street", "district"]
        rows = (await off.get("/api/v1/warnings")).json()
        assert [r["id"] for r in rows if r["kind"] == "warning" and r["enterprise"] == "E1"] == [w["id"]]
    finally:
        await fresh.stop()
        await off.aclose()


async def test_a_new_warning_while_the_item_is_open_is_stored_and_pushed_as_a_renewal(server):
    """One warning per enterprise at a time: the model issuing again while the enterprise's item
    is not closed (its condition was over) is a ``renewed`` step of that item, kept in the
    timeline and pushed to the channels, and the item's condition is live again."""
    from warning.risk.model import Warning, WarningEvent, WarningKind

    now = time.time()

    def we(kind, at, level, wid):
        return WarningEvent(f"{wid}-{kind}", WarningKind(kind), at, Warning(wid, "E1", level, at, at, 80.0, (), level))

    svc = server.risk
    async with svc.lock:
        await svc._handle([we("issued", now, 4, "w-a")], now)
        await svc._handle([we("cleared", now + 1, 0, "w-a")], now + 1)
        assert svc.loop.items["w-a"].condition_over
        await svc._handle([we("issued", now + 2, 4, "w-b")], now + 2)  # red again, same colour
    assert list(svc.loop.items) == ["w-a"] and not svc.loop.items["w-a"].condition_over
    off = officer(server.port)
    item = (await off.get("/api/v1/warnings/w-a")).json()
    assert [s["action"] for s in item["steps"]][-2:] == ["cleared", "renewed"]
    assert item["condition_over"] is False
    async with server.pool.acquire() as conn:
        rows = await conn.fetch("SELECT payload FROM outbox WHERE alert_id = $1 ORDER BY id", "w-a")
    assert any("再次预警" in r["payload"] for r in rows)  # pushed, in Chinese
    rows = (await off.get("/api/v1/warnings")).json()
    assert [r["id"] for r in rows if r["kind"] == "warning" and r["enterprise"] == "E1"] == ["w-a"]
    await off.aclose()


async def test_an_item_moved_on_every_fresh_read_is_answered_503_and_left_as_it_was(server, monkeypatch):
    # another gateway moving the item on each of the service's tries (MAX_TRIES of them; 0 here
    # stands for "every one of them failed") is a busy item: 503 with Retry-After, not a 500
    from warning.runtime import risk as risk_runtime

    await red_spark(server.port)
    off = officer(server.port)
    w = await one_warning(off)
    monkeypatch.setattr(risk_runtime, "MAX_TRIES", 0)
    r = await off.post(f"/api/v1/warnings/{w['id']}/sign", json={})
    assert r.status_code == 503 and r.headers["retry-after"] == "1"
    assert r.json()["error"] == "该事项正在其他网关上被处理，请稍后重试"
    after = (await off.get(f"/api/v1/warnings/{w['id']}")).json()
    assert after["state"] == "open" and all(s["action"] != "sign" for s in after["steps"])
    monkeypatch.setattr(risk_runtime, "MAX_TRIES", 8)
    r = await off.post(f"/api/v1/warnings/{w['id']}/sign", json={})
    assert r.status_code == 200 and r.json()["state"] == "signed"
