"""The platform adapters through real HTTP, real encryption and real PostgreSQL: both formats
stored once, every refusal a dead letter with nothing stored, the enterprises' own alarms kept
and listed beside ours, a fuzz round, and the push to a local upstream that fails, times out and
comes back."""

from __future__ import annotations

import asyncio
import random
import re
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import orjson
import pytest
from aiohttp import web

from tests.conftest import OFFICER_TOKEN, site_dict, wait_for
from tests.support import serve_loopback
from warning.config import parse_site
from warning.platforms.crypto import CipherSpec
from warning.runtime.embedded import Options
from warning.security import hash_password
from warning.server import Server, Settings

POINTS = ["dp", "hopper_temp", "air_speed", "spark", "vent_open", "airlock_fault", "running"]
QY = {"E1": "320100000001", "E2": "320100000002"}
KEYS = {
    "GW1": (b"12345678", b"abcdefgh"),
    "GW2": (b"87654321", b"hgfedcba"),
    "APP1": (b"sm4-key-16-bytes", b"sm4-iv-16-bytes!"),
    "UP": (b"up-des-k", b"up-des-i"),
}
SECRET = "national-app-secret"
TZ = ZoneInfo("Asia/Shanghai")
CJK = re.compile(r"[\u4e00-\u9fff]")


def code(ent: str, dev: str, point: str) -> str:
    """A 19-digit point code: the enterprise's 12 digits, device, point."""
    return f"{QY[ent]}{int(dev[2:]):03d}{POINTS.index(point):04d}"


def platform_site(kinds, channels=None):
    raw = site_dict(channels)
    for e in raw["enterprises"]:
        e["code"] = QY[e["id"]]
        for d in e["devices"]:
            d["codes"] = {p: code(e["id"], d["id"], p) for p in POINTS}
    raw["users"].append(
        {
            "name": "e2user",
            "role": "enterprise",
            "enterprise": "E2",
            "password": hash_password("e2-pass", salt=b"0123456789abcdef"),
        }
    )
    raw["gateways"] = [
        {"id": "GW1", "platform": "provincial", "enterprise": "E1", "key_env": "T_GW1_KEY", "iv_env": "T_GW1_IV"},
        {"id": "GW2", "platform": "provincial", "enterprise": "E2", "key_env": "T_GW2_KEY", "iv_env": "T_GW2_IV"},
        {
            "id": "APP1",
            "platform": "national",
            "enterprise": "E1",
            "key_env": "T_APP1_KEY",
            "iv_env": "T_APP1_IV",
            "secret_env": "T_APP1_SECRET",
        },
    ]
    return parse_site(raw, kinds)


@pytest.fixture
def keys_env(monkeypatch):
    for gid, (k, iv) in KEYS.items():
        monkeypatch.setenv(f"T_{gid}_KEY", k.decode())
        monkeypatch.setenv(f"T_{gid}_IV", iv.decode())
    monkeypatch.setenv("T_APP1_SECRET", SECRET)


async def start(site, dsn):
    srv = Server(
        site, Settings(port=0, database=dsn, rate=100_000, burst=200_000, runtime=Options(checkpoint_interval=0.5))
    )
    await srv.start()
    srv.dsn = dsn
    return srv


@pytest.fixture
async def server(kinds, machine_db, keys_env):
    srv = await start(platform_site(kinds), machine_db)
    yield srv
    await srv.stop()


def local(t: float) -> str:
    return datetime.fromtimestamp(t, TZ).strftime("%Y-%m-%d %H:%M:%S")


def prov_body(items, gw="GW1", ent="E1", key=None) -> bytes:
    k, iv = KEYS[gw]
    spec = CipherSpec("des", key or k, iv, encodings=("base64", "hex"))
    return orjson.dumps({"qybm": QY[ent], "wgbm": gw, "data": spec.seal(orjson.dumps(items))})


def nat_body(items) -> bytes:
    k, iv = KEYS["APP1"]
    return orjson.dumps({"appid": "APP1", "data": CipherSpec("sm4", k, iv).seal(orjson.dumps(items))})


def url(srv, path):
    return f"http://127.0.0.1:{srv.port}{path}"


async def q(srv, sql, *args):
    conn = await asyncpg.connect(srv.dsn)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


async def test_both_formats_are_stored_once(server):
    t = time.time() - 30
    items = [
        {"tnm": code("E1", "DC1", "dp"), "ts": local(t), "val": "1100.50"},
        {"tnm": code("E1", "DC2", "hopper_temp"), "ts": local(t), "val": "31.2"},
    ]
    async with httpx.AsyncClient() as c:
        r = await c.post(url(server, "/platform/prov/api/rtsData"), content=prov_body(items))
        assert r.status_code == 200 and r.json() == {"code": 200, "msg": "操作成功", "data": None}, r.text
        again = await c.post(url(server, "/platform/prov/api/rtsData"), content=prov_body(items))
        assert again.json()["code"] == 200
        nat = [
            {"tnm": code("E1", "DC1", "dp"), "ts": local(t), "val": "1100.50"},  # the same reading: once
            {"tnm": code("E1", "DC1", "air_speed"), "ts": local(t + 1), "val": 18},
        ]
        r = await c.post(
            url(server, "/platform/national/api/data"), content=nat_body(nat), headers={"appsecret": SECRET}
        )
        assert r.status_code == 200 and r.json()["code"] == 200, r.text
    rows = await q(
        server,
        "SELECT p.device, p.point, r.ts_ms, r.value FROM readings r JOIN points p "
        "ON p.id = r.point_id ORDER BY p.device, p.point",
    )
    want_ms = int(t) * 1000  # whole local seconds: the format has no fraction
    assert [(r["device"], r["point"], r["ts_ms"], r["value"]) for r in rows] == [
        ("DC1", "air_speed", want_ms + 1000, 18.0),
        ("DC1", "dp", want_ms, 1100.5),
        ("DC2", "hopper_temp", want_ms, 31.2),
    ]
    assert not await q(server, "SELECT 1 FROM dead_letters")


async def _count(srv, sql, *args) -> int:
    return (await q(srv, sql, *args))[0]["n"]


async def test_a_repeat_is_stored_once_raw_packed_and_after_restart(kinds, machine_db, keys_env):
    """(point code, ts) is judged against the stored readings themselves: a repeat is stored
    once while the reading is raw, after its hour is packed, after a restart, and through the
    other format; the pipeline's checkpoint covers the first batch before packing moves it."""
    from warning.store import packing

    site = platform_site(kinds)
    t = (time.time() - 3 * 3600) // 1 * 1.0  # an hour that is sealed (packing takes it)
    first = [{"tnm": code("E1", "DC1", p), "ts": local(t + k), "val": f"{k}.5"} for k in range(3) for p in POINTS]
    raw_n = "SELECT count(*) AS n FROM readings"
    srv = await start(site, machine_db)
    try:
        async with httpx.AsyncClient() as c:
            for _ in range(2):
                r = await c.post(url(srv, "/platform/prov/api/rtsData"), content=prov_body(first))
                assert r.json()["code"] == 200, r.text
        assert await _count(srv, raw_n) == len(first)
        batch = (await q(srv, "SELECT max(batch) AS b FROM readings"))[0]["b"]
        await wait_for(lambda: _covered(srv, batch), timeout=10)
        conn = await asyncpg.connect(machine_db)
        try:
            done = await packing.pack(conn, int(time.time() * 1000))
        finally:
            await conn.close()
        assert done.readings == len(first) and await _count(srv, raw_n) == 0
        # again, now that they are packed, with one new reading among them, through both formats
        new = {"tnm": code("E1", "DC2", "dp"), "ts": local(t), "val": "7"}
        async with httpx.AsyncClient() as c:
            r = await c.post(url(srv, "/platform/prov/api/rtsData"), content=prov_body([*first, new]))
            assert r.json()["code"] == 200, r.text
            r = await c.post(
                url(srv, "/platform/national/api/data"), content=nat_body(first[:5]), headers={"appsecret": SECRET}
            )
            assert r.json()["code"] == 200, r.text
        assert await _count(srv, raw_n) == 1
    finally:
        await srv.stop()
    srv = await start(site, machine_db)  # a restart forgets nothing: the readings are the record
    try:
        async with httpx.AsyncClient() as c:
            for body in (prov_body([*first, new]), prov_body([new, new])):
                r = await c.post(url(srv, "/platform/prov/api/rtsData"), content=body)
                assert r.json()["code"] == 200, r.text
        total = "SELECT (SELECT count(*) FROM readings) + (SELECT coalesce(sum(n), 0) FROM readings_packed) AS n"
        assert await _count(srv, total) == len(first) + 1  # raw or packed (start-up upkeep may pack the new one)
        assert await _count(srv, "SELECT count(*) AS n FROM messages") == 0  # no id a reading any more
    finally:
        await srv.stop()


async def _covered(srv, batch):
    v = (await q(srv, "SELECT min(batch) AS b FROM checkpoints WHERE starts_with(name, 'pipeline/')"))[0]["b"]
    return v is not None and v >= batch


async def test_refusals_store_nothing_and_are_dead_letters(server):
    t = time.time()
    ok = {"tnm": code("E1", "DC1", "dp"), "ts": local(t), "val": "1"}
    cases = [
        ("/platform/prov/api/rtsData", b"not json", {}, 400),
        ("/platform/prov/api/rtsData", prov_body([ok], key=b"wrongkey"), {}, 400),
        ("/platform/prov/api/rtsData", prov_body([ok, {**ok, "tnm": code("E2", "DC1", "dp")}]), {}, 403),
        ("/platform/prov/api/rtsData", prov_body([ok, {**ok, "ts": "2026-13-01 00:00:00"}]), {}, 400),
        ("/platform/prov/api/rtsData", prov_body([ok], gw="GW2", ent="E1"), {}, 403),  # E2's gateway, E1's code
        ("/platform/prov/api/rtsData", orjson.dumps({"qybm": QY["E1"], "wgbm": "GW1", "data": "zz"}), {}, 400),
        ("/platform/national/api/data", nat_body([ok]), {"appsecret": "nope"}, 401),
        ("/platform/national/api/data", nat_body([ok]), {}, 401),
    ]
    cjk = re.compile(r"[\u4e00-\u9fff]")
    async with httpx.AsyncClient() as c:
        for path, body, headers, status in cases:  # Chinese unless the gateway asks for English
            zh = (await c.post(url(server, path), content=body, headers=headers)).json()
            r = await c.post(url(server, path), content=body, headers={**headers, "Accept-Language": "en"})
            assert r.status_code == status, (path, r.text)
            en = r.json()
            assert zh["code"] == en["code"] == status and zh["data"] is en["data"] is None, (zh, en)
            assert cjk.search(zh["msg"]) and " / " not in zh["msg"], zh  # one language, the catalogue's
            assert en["msg"] and not cjk.search(en["msg"]), en
    assert not await q(server, "SELECT 1 FROM readings")
    dead = await q(server, "SELECT source, topic, payload, reason FROM dead_letters ORDER BY id")
    assert len(dead) == 2 * len(cases)
    for i, (path, body, _, status) in enumerate(cases):
        for d in dead[2 * i : 2 * i + 2]:  # kept in zh-CN whatever the answer's language
            assert d["topic"] == path and bytes(d["payload"]) == body and d["reason"].startswith(str(status))
            assert cjk.search(d["reason"]), d["reason"]
        assert dead[2 * i]["reason"] == dead[2 * i + 1]["reason"]
    assert "填充" in dead[2]["reason"] or "JSON" in dead[2]["reason"]
    assert "（网关 GW1）" in dead[2]["reason"]


async def test_a_gateway_without_its_key_is_refused_in_the_readers_language(kinds, machine_db, keys_env, monkeypatch):
    """A gateway whose key the environment lacks (or gives at the wrong size) is refused with a 401
    whose reason, the operator's configuration problem included, comes from the catalogue: all
    Chinese by default, all English when the gateway asks; no English literal inside the Chinese."""
    monkeypatch.delenv("T_GW1_IV")
    monkeypatch.setenv("T_GW2_KEY", "short")
    srv = await start(platform_site(kinds), machine_db)
    latin = re.compile(r"[A-Za-z]{2,}")
    try:
        async with httpx.AsyncClient() as c:
            for gw, ent, needle_zh, needle_en in (
                ("GW1", "E1", "环境变量 T_GW1_IV 未设置", "environment variable T_GW1_IV is not set"),
                ("GW2", "E2", "des 需要 8 字节的密钥，而不是 5 字节", "des needs a key of 8 bytes, not 5"),
            ):
                body = prov_body([], gw=gw, ent=ent)
                zh = (await c.post(url(srv, "/platform/prov/api/rtsData"), content=body)).json()
                en = (
                    await c.post(
                        url(srv, "/platform/prov/api/rtsData"), content=body, headers={"Accept-Language": "en"}
                    )
                ).json()
                assert zh["code"] == en["code"] == 401, (zh, en)
                assert zh["msg"].startswith("网关密钥未配置：") and needle_zh in zh["msg"], zh
                # only names (gateway, variable, algorithm) are latin in the Chinese answer
                assert not latin.search(re.sub(rf"T_GW\d_(KEY|IV)|{gw}|des", "", zh["msg"])), zh
                assert en["msg"].startswith("the gateway's key is not configured: ") and needle_en in en["msg"], en
                assert not CJK.search(en["msg"]), en
    finally:
        await srv.stop()


async def test_enterprise_alarms_are_kept_once_and_listed_beside_ours(server):
    t = time.time() - 10
    items = [
        {
            "ts": local(t),
            "oname": code("E1", "DC1", "hopper_temp"),
            "avx": "75.1",
            "scd": 4,
            "threshold": "70",
            "content": "料斗温度超高高限",
        },
        {
            "ts": local(t + 5),
            "oname": code("E1", "DC1", "hopper_temp"),
            "avx": "60.0",
            "scd": 0,
            "threshold": "70",
            "content": "恢复",
        },
    ]
    async with httpx.AsyncClient() as c:
        for _ in range(2):
            r = await c.post(url(server, "/platform/prov/api/eventsData"), content=prov_body(items))
            assert r.json()["code"] == 200, r.text
        r = await c.post(
            url(server, "/platform/prov/api/eventsData"), content=prov_body([{**items[0], "oname": "9999"}])
        )
        assert r.json()["code"] == 403
        listed = await c.get(
            url(server, "/api/v1/enterprise-alarms"), headers={"Authorization": f"Bearer {OFFICER_TOKEN}"}
        )
        assert (await c.get(url(server, "/api/v1/enterprise-alarms"))).status_code == 401
    rows = listed.json()
    assert [(a["enterprise"], a["device"], a["point"], a["status"], a["content"]) for a in rows] == [
        ("E1", "DC1", "hopper_temp", 0, "恢复"),
        ("E1", "DC1", "hopper_temp", 4, "料斗温度超高高限"),
    ]
    e2 = [{**items[0], "oname": code("E2", "DC1", "spark"), "content": "火花"}]
    async with httpx.AsyncClient() as c:
        r = await c.post(url(server, "/platform/prov/api/eventsData"), content=prov_body(e2, gw="GW2", ent="E2"))
        assert r.json()["code"] == 200
        login = await c.post(url(server, "/login"), data={"username": "e2user", "password": "e2-pass"})
        assert login.status_code in (200, 303), login.text
        mine = (await c.get(url(server, "/api/v1/enterprise-alarms"))).json()
        other = await c.get(url(server, "/api/v1/enterprise-alarms?enterprise=E1"))
    assert [(a["enterprise"], a["point"], a["content"]) for a in mine] == [("E2", "spark", "火花")]
    assert other.status_code == 404  # an enterprise user sees its own enterprise's alarms only
    assert not await q(server, "SELECT 1 FROM alerts")  # theirs are not raised as ours


async def test_fuzzed_requests(server):
    """A CI-size fuzz round (bench/platform_bench.py --fuzz 20000 is the full size)."""
    from bench.platform_bench import fuzz_case

    rng = random.Random(18)
    statuses: dict[int, int] = {}
    async with httpx.AsyncClient() as c:
        for _ in range(300):
            path, body, headers = fuzz_case(rng, time.time(), code, QY, KEYS, SECRET)
            r = await c.post(url(server, path), content=body, headers=headers)
            statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
            assert r.status_code < 500, r.text
            assert r.json()["code"] != 200, (path, body)
    assert not await q(server, "SELECT 1 FROM readings")
    assert not await q(server, "SELECT 1 FROM enterprise_alarms")
    assert (await q(server, "SELECT count(*) AS n FROM dead_letters"))[0]["n"] == 300
    assert len(statuses) >= 2


class Upstream:
    """A local platform that fails (500), then hangs past the client's timeout, then answers."""

    def __init__(self):
        self.mode = "fail"
        self.received: list[dict] = []  #: every item that arrived, repeats included
        self.ok_ids: list[str] = []  #: ids of items answered with success

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        k, iv = KEYS["UP"]
        items = orjson.loads(CipherSpec("des", k, iv, encodings=("base64", "hex")).open(body["data"]))
        assert body["qybm"] in QY.values() and body["wgbm"] == "UP-GW"
        self.received += items
        if self.mode == "fail":
            return web.json_response({"code": 500, "msg": "down", "data": None}, status=500)
        if self.mode == "hang":
            await asyncio.sleep(2)
        self.ok_ids += [it["id"] for it in items]
        return web.json_response({"code": 200, "msg": "操作成功", "data": None})


async def serve_upstream(handler, monkeypatch) -> web.AppRunner:
    """A local upstream on loopback for POST /push, named to the channel by T_UP_URL."""
    runner, base = await serve_loopback(handler, "/push")
    monkeypatch.setenv("T_UP_URL", f"{base}/push")
    return runner


def upstream_channel(**extra: object) -> dict:
    """An ``upstream`` channel in the provincial format, with a short timeout and back-off."""
    return {
        "id": "province",
        "type": "upstream",
        "format": "provincial",
        "url_env": "T_UP_URL",
        "gateway": "UP-GW",
        "key_env": "T_UP_KEY",
        "iv_env": "T_UP_IV",
        "timeout": 0.5,
        "backoff_base": 0.2,
        "backoff_cap": 1.0,
        **extra,
    }


async def test_push_survives_an_upstream_outage(kinds, machine_db, keys_env, monkeypatch):
    up = Upstream()
    runner = await serve_upstream(up.handle, monkeypatch)
    channel = upstream_channel()
    srv = await start(platform_site(kinds, [channel]), machine_db)
    try:
        t = time.time() - 5
        async with httpx.AsyncClient() as c:
            for ent, gw, dev in (("E1", "GW1", "DC1"), ("E1", "GW1", "DC2"), ("E2", "GW2", "DC1")):
                r = await c.post(
                    url(srv, "/platform/prov/api/rtsData"),
                    content=prov_body(
                        [{"tnm": code(ent, dev, "vent_open"), "ts": local(t), "val": "1"}], gw=gw, ent=ent
                    ),
                )
                assert r.json()["code"] == 200
            alerts = await wait_for(lambda: _alerts(srv, 3), timeout=10)
            await asyncio.sleep(2)  # failing
            up.mode = "hang"
            r = await c.post(
                url(srv, f"/api/v1/alerts/{alerts[0]}/ack"),
                json={"note": "已到场"},
                headers={"Authorization": f"Bearer {OFFICER_TOKEN}"},
            )
            assert r.status_code == 200, r.text
            await asyncio.sleep(2)  # timing out
            up.mode = "ok"
        events = await q(srv, "SELECT id FROM alert_events WHERE kind IN ('raised', 'acknowledged')")
        want = {e["id"] for e in events}
        assert len(want) == 4
        await wait_for(lambda: want <= set(up.ok_ids), timeout=20)

        async def settled():
            rows = await q(srv, "SELECT event_id, state, attempts, kind FROM outbox WHERE channel = 'province'")
            return rows if {r["state"] for r in rows} == {"sent"} else None

        rows = await wait_for(settled, timeout=10)
        assert {r["event_id"] for r in rows} == want and {r["state"] for r in rows} == {"sent"}
        assert max(r["attempts"] for r in rows) > 1  # they were retried through the outage
        assert set(up.ok_ids) == want  # nothing lost, nothing made up; repeats only by the same id
        assert {it["kindZh"] for it in up.received} == {"发布", "签收"}
        assert all(it["tnm"] and it["level"] == 1 for it in up.received)
        async with httpx.AsyncClient() as c:
            log = (
                await c.get(
                    url(srv, "/api/v1/notifications?channel=province"),
                    headers={"Authorization": f"Bearer {OFFICER_TOKEN}"},
                )
            ).json()
        assert {n["state"] for n in log} == {"sent"} and len(log) == 4
    finally:
        await srv.stop()
        await runner.cleanup()


async def _alerts(srv, n):
    rows = await q(srv, "SELECT id FROM alerts ORDER BY id")
    return [r["id"] for r in rows] if len(rows) >= n else None


async def test_gateway_simulator_speaks_both_formats(server, kinds):
    """``warning simulate --platform``'s pusher, against the adapters over real HTTP."""
    from simulators.gateway import GatewayPusher

    raw = site_dict()
    for e in raw["enterprises"]:
        e["code"] = QY[e["id"]]
        for d in e["devices"]:
            d["codes"] = {p: code(e["id"], d["id"], p) for p in POINTS}
    raw["gateways"] = [
        {"id": "GW1", "platform": "provincial", "enterprise": "E1", "key_env": "K1", "iv_env": "I1"},
        {"id": "APP1", "platform": "national", "enterprise": "E1", "key_env": "K2", "iv_env": "I2", "secret_env": "S2"},
    ]
    env = {
        "K1": KEYS["GW1"][0].decode(),
        "I1": KEYS["GW1"][1].decode(),
        "K2": KEYS["APP1"][0].decode(),
        "I2": KEYS["APP1"][1].decode(),
        "S2": SECRET,
    }
    total = 0
    for platform, start in (("provincial", time.time() - 600), ("national", time.time() - 300)):
        pusher = GatewayPusher(raw, f"http://127.0.0.1:{server.port}", platform, environ=env, speed=0)
        stats = await pusher.run(steps=5, start=start)
        assert stats["rejected"] == 0 and stats["failed"] == 0 and stats["accepted"] > 0, (stats, pusher.last_error)
        total += stats["accepted"]
    assert (await q(server, "SELECT count(*) AS n FROM readings"))[0]["n"] == total
