"""The dashboard's server side over real HTTP and WebSocket: roles, enterprise scoping
(pages, APIs, /ws), resync after reconnect, series, trend, QR codes, session expiry.
The hub's ring is tested without an event loop."""

from __future__ import annotations

import asyncio
import contextlib
import time
import xml.etree.ElementTree as ET

import asyncpg
import httpx
import orjson
import pytest
import websockets

from tests.conftest import PASSWORDS, TOKENS, site_dict, wait_for
from warning.config import ConfigError, parse_site
from warning.security import hash_password
from warning.server import Server, Settings
from warning.store.db import connect_pool
from warning.store.sessions import Sessions
from warning.web.auth import Auth
from warning.web.hub import Hub, TooSlow
from warning.web.scope import Scope

DASH_PASSWORDS = {**PASSWORDS, "ent1": "ent1-pass", "boss": "boss-pass"}
_SALT = b"fedcba9876543210"


def dash_site_dict() -> dict:
    d = site_dict()
    d["enterprises"][0]["location"] = [120.55, 31.33]
    d["users"] += [
        {
            "name": "ent1",
            "role": "enterprise",
            "enterprise": "E1",
            "password": hash_password(DASH_PASSWORDS["ent1"], salt=_SALT),
        },
        {"name": "boss", "role": "admin", "password": hash_password(DASH_PASSWORDS["boss"], salt=_SALT)},
    ]
    return d


@pytest.fixture(scope="module")
def dash_site(kinds):
    return parse_site(dash_site_dict(), kinds)


@pytest.fixture
async def server(dash_site, machine_db):
    srv = Server(dash_site, Settings(port=0, database=machine_db))
    await srv.start()
    yield srv
    await srv.stop()


@contextlib.asynccontextmanager
async def login(port: int, user: str):
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as c:
        r = await c.post("/login", data={"username": user, "password": DASH_PASSWORDS[user]})
        assert r.status_code == 303, r.text
        yield c


async def push(port: int, enterprise: str, device: str, values: dict, t: float | None = None) -> None:
    body = orjson.dumps([{"device": device, "ts": int((t or time.time()) * 1000), "values": values}])
    async with httpx.AsyncClient() as c:
        r = await c.post(
            f"http://127.0.0.1:{port}/api/v1/telemetry",
            content=body,
            headers={"Authorization": f"Bearer {TOKENS[enterprise]}", "Content-Type": "application/json"},
        )
    assert r.status_code == 202, r.text


def ws_connect(port: int, client: httpx.AsyncClient, query: str = ""):
    cookie = client.cookies.get("warning_session")
    return websockets.connect(
        f"ws://127.0.0.1:{port}/ws{query}", additional_headers={"Cookie": f"warning_session={cookie}"}
    )


async def next_event(ws) -> dict:
    while True:
        msg = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
        if msg["type"] == "event":
            return msg


def test_config_roles(kinds):
    d = dash_site_dict()
    site = parse_site(d, kinds)
    assert site.users["ent1"].enterprise == "E1" and site.users["boss"].role == "admin"
    bad = dash_site_dict()
    bad["users"][-2]["enterprise"] = "E9"
    with pytest.raises(ConfigError, match="enterprise"):
        parse_site(bad, kinds)
    bad = dash_site_dict()
    del bad["users"][-2]["enterprise"]
    with pytest.raises(ConfigError, match="enterprise"):
        parse_site(bad, kinds)
    bad = dash_site_dict()
    bad["users"][0]["enterprise"] = "E1"  # an officer bound to one enterprise makes no sense
    with pytest.raises(ConfigError):
        parse_site(bad, kinds)


def test_hub_ring_cursors_and_filter():
    hub = Hub(keep=4)
    only_e1 = hub.subscribe(Scope.of(["E1"]))
    everyone = hub.subscribe()
    ev = [{"id": str(i), "alert": {"enterprise": "E1" if i % 2 else "E2"}} for i in range(8)]
    hub.publish(ev[:3])
    assert only_e1.wake.is_set() and everyone.wake.is_set()
    assert [orjson.loads(m)["event"]["id"] for m in hub.take(only_e1)] == ["1"]
    assert not only_e1.wake.is_set() and hub.take(only_e1) == []
    assert [orjson.loads(m)["seq"] for m in hub.take(everyone, max_n=2)] == [1, 2]
    assert everyone.wake.is_set()  # one more to take
    assert hub.since(0) == ev[:3] and hub.since(0, Scope.of(["E1"])) == [ev[1]]
    hub.publish(ev[3:7])  # seq 4..7; the ring of 4 now holds 4..7
    assert hub.since(2) is None and hub.since(3) == ev[3:7] and hub.since(7) == [] and hub.since(8) is None
    with pytest.raises(TooSlow):  # everyone's cursor is at 2: seq 3 is gone
        hub.take(everyone)
    assert [orjson.loads(m)["seq"] for m in hub.take(only_e1)] == [4, 6]  # its cursor was 3: still in the ring
    hub.publish(ev[:2])
    assert [orjson.loads(m)["event"]["id"] for m in hub.take(only_e1)] == ["1"]
    late = hub.subscribe()
    assert hub.take(late) == []  # starts at the present: its snapshot has the past


def test_hub_writes_to_waiting_clients_itself_and_leaves_the_rest_to_their_tasks(monkeypatch):
    """publish writes an event straight to every client parked at the newest event; a client
    that is busy, behind, or whose socket refuses the frame is woken and catches up in order."""
    import warning.web.hub as hub_module

    hub = Hub(keep=100)
    wrote: dict[str, list[int]] = {"idle": [], "refuses": [], "busy": [], "E2 only": []}
    refuse = [True]

    def sender(name: str):
        def send_now(frame: bytes) -> bool:
            if name == "refuses" and refuse[0]:
                return False
            wrote[name].append(orjson.loads(frame)["seq"])
            return True

        return send_now

    clients = {
        name: hub.subscribe(Scope.of(["E2"]) if name == "E2 only" else Scope.of(["E1", "E2"]), sender(name))
        for name in wrote
    }
    plain = hub.subscribe()  # a server without send_now: always its task
    for name, c in clients.items():
        c.idle = name != "busy"
    ev = [{"id": str(i), "alert": {"enterprise": "E1"}} for i in range(6)]

    hub.publish(ev[:2])
    assert wrote["idle"] == [1, 2] and clients["idle"].cursor == 2 and not clients["idle"].wake.is_set()
    assert clients["E2 only"].cursor == 2 and not clients["E2 only"].wake.is_set()  # moved past, nothing sent
    for name in ("refuses", "busy"):  # nothing written; their tasks send 1 and 2
        assert wrote[name] == [] and clients[name].cursor == 0 and clients[name].wake.is_set()
    assert plain.wake.is_set() and plain.cursor == 0

    refuse[0] = False  # its socket could take a frame again, but it is behind: never written out of order
    hub.publish(ev[2:3])
    assert wrote["refuses"] == [] and clients["refuses"].cursor == 0
    assert [orjson.loads(m)["seq"] for m in hub.take(clients["refuses"])] == [1, 2, 3]
    hub.publish(ev[3:4])  # caught up and still parked: written at once again
    assert wrote["refuses"] == [4] and wrote["idle"] == [1, 2, 3, 4]

    monkeypatch.setattr(hub_module, "SEND_NOW_BUDGET", 2)  # a burst: the first event's two frames written here
    hub.publish(ev[4:6])
    assert wrote["idle"] == [1, 2, 3, 4, 5] and wrote["refuses"] == [4, 5]
    assert clients["idle"].wake.is_set() and [orjson.loads(m)["seq"] for m in hub.take(clients["idle"])] == [6]
    clients["idle"].kicked.set()  # a dropped client is never written to
    hub.publish(ev[:1])
    assert wrote["idle"][-1] == 5

    def broken(frame: bytes) -> bool:
        raise OSError("a transport that fails")

    bad, good = hub.subscribe(send_now=broken), hub.subscribe(send_now=sender("idle"))
    bad.idle = good.idle = True
    hub.publish(ev[:1])  # one connection's fault stops nobody's frame: its own task meets it
    assert bad.cursor == hub.seq - 1 and bad.wake.is_set() and good.cursor == hub.seq


async def test_the_feed_is_written_at_publish_on_a_real_connection(server):
    """The server offers the hub its non-blocking send (warning.web.sendnow): an event goes
    out in the publish itself, before the client's task runs, and arrives whole."""
    port = server.port
    hub = server.app.state.warning.hub
    async with login(port, "duty") as duty, ws_connect(port, duty) as ws:
        assert orjson.loads(await ws.recv())["type"] == "snapshot"
        await wait_for(lambda: len(hub.clients) == 1 and next(iter(hub.clients)).idle, what="the feed parked")
        (client,) = hub.clients
        assert client.send_now is not None
        hub.publish(
            [{"id": "x", "kind": "updated", "alert": {"id": "a", "enterprise": "E1", "device": "DC1", "point": "dp"}}]
        )
        assert client.cursor == hub.seq and not client.wake.is_set()  # written here, its task not woken
        msg = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
        assert msg["type"] == "event" and msg["seq"] == hub.seq and msg["event"]["id"] == "x"


async def test_enterprise_user_sees_only_its_enterprise(server):
    port = server.port
    async with login(port, "ent1") as ent, login(port, "duty") as duty:
        await push(port, "E1", "DC2", {"vent_open": True})
        await push(port, "E2", "DC1", {"vent_open": True})
        everything = await wait_for(lambda: _alerts(duty, 2))
        other = next(a for a in everything if a["enterprise"] == "E2")

        # pages
        r = await ent.get("/")
        assert r.status_code == 303 and r.headers["location"] == "/e/E1"
        assert (await ent.get("/e/E1")).status_code == 200
        assert (await ent.get("/e/E2")).status_code == 404
        assert (await duty.get("/e/E2")).status_code == 200
        # APIs: every one filters by the caller's scope (the full sweep: tests/test_isolation.py)
        assert [a["enterprise"] for a in (await ent.get("/api/v1/alerts")).json()] == ["E1"]
        assert (await ent.get(f"/api/v1/alerts/{other['id']}")).status_code == 404
        assert (await ent.get("/api/v1/silences")).status_code == 403
        mine = (await ent.get("/api/v1/dash/alerts")).json()
        assert [a["enterprise"] for a in mine] == ["E1"]
        assert (await ent.get("/api/v1/dash/alerts?enterprise=E2")).status_code == 404
        assert (await ent.get(f"/api/v1/dash/alerts/{other['id']}")).status_code == 404
        assert (await duty.get(f"/api/v1/dash/alerts/{other['id']}")).json()["events"][0]["kind"] == "raised"
        assert [e["id"] for e in (await ent.get("/api/v1/dash/site")).json()["enterprises"]] == ["E1"]
        assert (await ent.get("/api/v1/dash/series?enterprise=E2")).status_code == 404
        assert (await ent.get("/api/v1/dash/trend?enterprise=E2")).status_code == 404
        assert (await ent.get("/qr/E2.svg")).status_code == 404
        assert (await ent.get("/qr/E1.svg")).status_code == 200
        me = (await ent.get("/api/v1/me")).json()
        assert me["enterprise"] == "E1" and me["can_act"] is False

        # /ws: the snapshot and the live feed carry E1 only
        async with ws_connect(port, ent) as ws:
            snap = orjson.loads(await ws.recv())
            assert snap["type"] == "snapshot" and {a["enterprise"] for a in snap["alerts"]} == {"E1"}
            assert snap["me"]["enterprise"] == "E1"
            await push(port, "E2", "DC1", {"spark": 3})
            await push(port, "E1", "DC1", {"spark": 2})
            msg = await next_event(ws)
            assert msg["event"]["alert"]["enterprise"] == "E1" and msg["event"]["alert"]["device"] == "DC1"
            # the officer's feed had the E2 spark too
            assert any(
                a["enterprise"] == "E2" and a["rule"] == "threshold" and a["point"] == "spark"
                for a in (await duty.get("/api/v1/dash/alerts")).json()
            )


async def _alerts(client, n):
    rows = (await client.get("/api/v1/dash/alerts")).json()
    return rows if len(rows) >= n else None


async def test_ws_resync_sends_missed_events(server):
    port = server.port
    async with login(port, "duty") as duty:
        async with ws_connect(port, duty) as ws:
            snap = orjson.loads(await ws.recv())
        seq, boot = snap["seq"], snap["boot"]
        await push(port, "E1", "DC2", {"vent_open": True})  # while this client is away
        await wait_for(lambda: _alerts(duty, 1))
        async with ws_connect(port, duty, f"?since={seq}&boot={boot}") as ws:
            snap2 = orjson.loads(await ws.recv())
            missed = orjson.loads(await ws.recv())
        assert len(snap2["alerts"]) == 1 and snap2["seq"] > seq
        assert missed["type"] == "missed" and [e["kind"] for e in missed["events"]] == ["raised"]
        async with ws_connect(port, duty, f"?since={seq}&boot=another-boot") as ws:
            await ws.recv()
            assert orjson.loads(await ws.recv()) == {"type": "missed", "gap": True}


async def test_series_trend_site_and_qr(server):
    port = server.port
    async with login(port, "duty") as duty:
        t0 = time.time() - 100
        for i in range(50):
            await push(port, "E1", "DC1", {"hopper_temp": 30.0 + i * 0.1, "dp": 1100.0}, t0 + i)
        await push(port, "E1", "DC2", {"vent_open": True})
        await wait_for(lambda: _alerts(duty, 1))
        r = await duty.get(
            "/api/v1/dash/series",
            params={"enterprise": "E1", "device": "DC1", "from": t0 - 1, "to": t0 + 60, "max": 10},
        )
        assert r.status_code == 200, r.text
        s = r.json()["series"]
        assert set(s) == {
            f"DC1/{p}" for p in ("dp", "hopper_temp", "air_speed", "spark", "vent_open", "airlock_fault", "running")
        }
        temp = s["DC1/hopper_temp"]
        assert 5 <= len(temp) <= 11  # bucketed to about max values
        assert temp[0][2] == pytest.approx(30.0) and temp[-1][3] == pytest.approx(34.9)
        assert s["DC1/air_speed"] == []
        one = (
            await duty.get(
                "/api/v1/dash/series",
                params={
                    "enterprise": "E1",
                    "device": "DC1",
                    "point": "hopper_temp",
                    "from": t0 - 1,
                    "to": t0 + 60,
                    "max": 1000,
                },
            )
        ).json()["series"]
        assert list(one) == ["DC1/hopper_temp"] and len(one["DC1/hopper_temp"]) == 50
        assert (await duty.get("/api/v1/dash/series", params={"enterprise": "E1", "from": "x"})).status_code == 400
        assert (await duty.get("/api/v1/dash/series", params={"enterprise": "E1", "device": "NOPE"})).status_code == 404

        trend = (await duty.get("/api/v1/dash/trend?hours=1&bucket=600")).json()
        assert sum(b["red"] for b in trend["buckets"]) == 1

        assert (await duty.get("/api/v1/dash/site")).json()["enterprises"][0]["devices"] == 2  # a count
        site = (await duty.get("/api/v1/dash/site?devices=1")).json()
        e1 = site["enterprises"][0]
        assert e1["location"] == [120.55, 31.33] and site["enterprises"][1]["location"] is None
        temp_def = next(p for p in e1["devices"][0]["points"] if p["point"] == "hopper_temp")
        assert {(x["value"], x["severity"]) for x in temp_def["limits"]} == {(55.0, "yellow"), (70.0, "red")}

        r = await duty.get("/qr/E1.svg")
        assert r.headers["content-type"].startswith("image/svg+xml")
        root = ET.fromstring(r.content)
        assert root.tag.endswith("svg") and any(el.tag.endswith("path") for el in root.iter())
        assert (await duty.get("/qr/NOPE.svg")).status_code == 404


async def test_roles_security_headers_and_admin(server):
    port = server.port
    async with login(port, "boss") as boss:
        r = await boss.get("/")
        assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
        assert "default-src 'self'" in r.headers["content-security-policy"]
        assert r.headers["x-frame-options"] == "DENY" and r.headers["x-content-type-options"] == "nosniff"
        me = (await boss.get("/api/v1/me")).json()
        assert me["role"] == "admin" and me["can_act"] is True and me["enterprise"] is None
    anon = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}")
    async with anon:
        assert (await anon.get("/api/v1/dash/alerts")).status_code == 401
        assert (await anon.get("/e/E1")).status_code == 303
        assert (await anon.get("/qr/E1.svg")).status_code == 401


async def test_sessions_expire(dash_site, machine_db):
    pool = await connect_pool(machine_db)
    try:
        auth = Auth(dash_site, Sessions(pool, max_age=1, cache_s=0.5))
        cookie, _ = await auth.login("ent1", DASH_PASSWORDS["ent1"])
        assert await auth.login("ent1", "wrong") is None

        class Conn:  # the two things Auth reads from a connection
            def __init__(self):
                self.headers = {}
                self.cookies = {"warning_session": cookie}

        p = await auth.principal(Conn())
        assert p is not None and p.enterprise == "E1" and p.csrf and p.scope == Scope.of(["E1"])
        assert not Auth.csrf_ok(p, None) and not Auth.csrf_ok(p, "nope") and Auth.csrf_ok(p, p.csrf)
        await asyncio.sleep(1.6)
        assert await auth.principal(Conn()) is None
    finally:
        await pool.close()


async def test_slow_client_dropped_memory_freed_then_resync(dash_site, machine_db, monkeypatch):
    """A client that reads nothing falls off the hub's ring, is dropped (its server task
    ends, so nothing of it stays in memory) while a reading client gets every event; a
    reconnect gets a fresh snapshot."""
    import socket as _socket

    import warning.web.hub as hub_module

    monkeypatch.setattr(hub_module, "DEFAULT_KEEP", 100)
    srv = Server(dash_site, Settings(port=0, database=machine_db))
    await srv.start()
    try:
        port = srv.port
        hub = srv.app.state.warning.hub
        assert hub.keep == 100
        async with login(port, "duty") as duty:
            cookie = duty.cookies.get("warning_session")
            slow = _socket.socket()
            slow.setsockopt(_socket.SOL_SOCKET, _socket.SO_RCVBUF, 4096)
            slow.setblocking(False)
            loop = asyncio.get_running_loop()
            await loop.sock_connect(slow, ("127.0.0.1", port))
            await loop.sock_sendall(
                slow,
                (
                    f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    f"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                    f"Cookie: warning_session={cookie}\r\n\r\n"
                ).encode(),
            )
            async with ws_connect(port, duty) as fast:
                await fast.recv()  # snapshot
                await wait_for(lambda: len(hub.clients) == 2)
                pad = "x" * 30_000  # big events, so the kernel's socket buffers fill quickly
                got = 0
                for chunk in range(8):  # 400 events in chunks of 50: each fits the ring of 100
                    hub.publish(
                        [
                            {
                                "id": f"{chunk}-{i}",
                                "kind": "updated",
                                "pad": pad,
                                "alert": {"id": "a", "enterprise": "E1", "device": "DC1", "point": "dp"},
                            }
                            for i in range(50)
                        ]
                    )
                    while got < (chunk + 1) * 50:
                        msg = orjson.loads(await asyncio.wait_for(fast.recv(), 5))
                        got += msg["type"] == "event"
                await wait_for(lambda: len(hub.clients) == 1, timeout=5)  # the slow one is gone
                assert srv.app.state.warning.metrics.ws_dropped._value.get() >= 1
            slow.close()
            async with ws_connect(port, duty) as again:
                snap = orjson.loads(await again.recv())
                assert snap["type"] == "snapshot" and snap["seq"] == 400
    finally:
        await srv.stop()


async def test_series_over_any_range_reads_rollups_far_and_raw_close(server):
    """Issue 16: the chart's source follows the range; packed hours and raw rows read alike."""
    from warning.store import maintenance

    pid = server.runtime.devices["E1"]["DC1"]["dp"]
    end = (time.time() - 7200) // 3600 * 3600
    start = end - 3 * 86400
    ts = [int((start + 10 * k) * 1000) for k in range(3 * 8640)]
    vals = [round(1000 + (k % 97) * 0.5, 1) for k in range(len(ts))]
    conn = await asyncpg.connect(server.dsn)
    try:
        await conn.copy_records_to_table(
            "readings",
            columns=("batch", "point_id", "ts_ms", "value"),
            records=[(-7, pid, t, v) for t, v in zip(ts, vals, strict=True)],
        )
        for _ in range(100):  # the service's own upkeep pass may hold the lock (or pack it first)
            if (await maintenance.run_pass(conn, server.site.retention, max_hours=1000)).ran:
                break
            await asyncio.sleep(0.05)
        assert await conn.fetchval("SELECT sum(n) FROM readings_packed WHERE point_id = $1", pid) == len(ts)
        assert await conn.fetchval("SELECT count(*) FROM readings WHERE point_id = $1", pid) == 0
    finally:
        await conn.close()
    async with login(server.port, "duty") as duty:
        far = (
            await duty.get(
                "/api/v1/dash/series",
                params={"enterprise": "E1", "device": "DC1", "point": "dp", "from": start, "to": end, "max": 72},
            )
        ).json()
        assert far["resolution"] == "1h"
        hours = far["series"]["DC1/dp"]
        assert len(hours) == 72
        for k in (0, 5, 71):
            chunk = vals[k * 360 : (k + 1) * 360]
            assert hours[k][0] == start + k * 3600
            assert hours[k][1] == pytest.approx(sum(chunk) / 360, rel=1e-12)
            assert (hours[k][2], hours[k][3]) == (min(chunk), max(chunk))
        mid = (
            await duty.get(
                "/api/v1/dash/series",
                params={
                    "enterprise": "E1",
                    "device": "DC1",
                    "point": "dp",
                    "from": start,
                    "to": start + 86400,
                    "max": 300,
                },
            )
        ).json()
        assert mid["resolution"] == "1m"
        close = (
            await duty.get(
                "/api/v1/dash/series",
                params={
                    "enterprise": "E1",
                    "device": "DC1",
                    "point": "dp",
                    "from": start + 3600,
                    "to": start + 7199,
                    "max": 1000,
                },
            )
        ).json()
        assert close["resolution"] == "raw"
        assert [p[1] for p in close["series"]["DC1/dp"]] == vals[360:720]
        assert (
            await duty.get("/api/v1/dash/series", params={"enterprise": "E1", "from": start, "to": start + 800 * 86400})
        ).status_code == 400


async def test_a_database_without_checkpoints_warms_the_detectors_from_history(dash_site, machine_db):
    """Issue 16 item 5: history in the store, no checkpoint (a new or restored database): the
    detectors learn from the stored readings (raw and packed) before the first live one."""
    import pickle

    from warning.pipeline import Pipeline
    from warning.store import maintenance

    srv = Server(dash_site, Settings(port=0, database=machine_db, store_interval=0))
    await srv.start()
    pid = srv.runtime.devices["E1"]["DC1"]["dp"]
    await srv.stop()
    now = time.time()
    conn = await asyncpg.connect(machine_db)
    try:
        await conn.execute("DELETE FROM checkpoints")  # as restored from a dump of the readings
        rows = [(-1, pid, int((now - 7000 + 10 * k) * 1000), 1000.0 + k % 5) for k in range(690)]
        await conn.copy_records_to_table("readings", columns=("batch", "point_id", "ts_ms", "value"), records=rows)
        await maintenance.run_pass(conn, dash_site.retention, now=now)  # the older hours packed
        assert await conn.fetchval("SELECT count(*) FROM readings_packed WHERE point_id = $1", pid) >= 1
        assert await conn.fetchval("SELECT count(*) FROM readings WHERE point_id = $1", pid) >= 1
    finally:
        await conn.close()
    srv = Server(dash_site, Settings(port=0, database=machine_db, store_interval=0))
    await srv.start()
    try:
        warmed = srv.runtime.pipeline.chains.get(pid)
        assert warmed is not None, "no detector state built from history"
        cold = Pipeline(srv.runtime.pipeline.points, dash_site.offline_after)._build_chain(pid)
        assert pickle.dumps(warmed.detectors) != pickle.dumps(cold.detectors)
        assert srv.runtime.step.open_alerts() == []  # history teaches, it raises nothing
    finally:
        await srv.stop()


async def test_a_quiet_pipeline_still_checkpoints_every_shard_once_an_interval(dash_site, machine_db):
    """The worker wakes itself when a shard's checkpoint is due: with one reading and then
    nothing but ticks (4 a second, fewer than the 64 shards' checkpoints a 2 s interval asks
    for), every shard's checkpoint still covers that reading within about one interval."""
    from warning.pipeline import SHARDS
    from warning.runtime.embedded import Options

    srv = Server(dash_site, Settings(port=0, database=machine_db, runtime=Options(checkpoint_interval=2.0)))
    await srv.start()
    try:
        await push(srv.port, "E1", "DC1", {"dp": 1000.0})
        conn = await asyncpg.connect(machine_db)
        try:
            batch = await conn.fetchval("SELECT max(batch) FROM readings")

            async def covered():
                rows = await conn.fetch("SELECT batch FROM checkpoints WHERE starts_with(name, 'pipeline/')")
                return len(rows) == SHARDS and min(r["batch"] for r in rows) >= batch

            t0 = time.monotonic()
            await wait_for(covered, timeout=15, what="every shard checkpointed after the reading")
            assert time.monotonic() - t0 < 6  # one 2 s round, with room: ticks alone would take 16 s
        finally:
            await conn.close()
    finally:
        await srv.stop()


async def test_changing_the_shard_count_reshards_the_checkpoints(dash_site, machine_db, monkeypatch):
    """Issue 16 item 5: checkpoints taken with the default shard count restore under 4 (nothing discarded,
    nothing warmed from scratch), and are rewritten in the new layout."""
    import pickle

    import warning.pipeline as pipeline_mod
    import warning.runtime.embedded as embedded_mod
    import warning.runtime.embedded.loop as loop_mod
    import warning.runtime.embedded.recovery as recovery_mod

    srv = Server(dash_site, Settings(port=0, database=machine_db, store_interval=0))
    await srv.start()
    t0 = time.time() - 50
    for i in range(40):
        await push(srv.port, "E1", "DC1", {"dp": 1000.0 + i, "hopper_temp": 30.0}, t0 + i)
        await push(srv.port, "E2", "DC1", {"dp": 900.0 + i}, t0 + i)
    pids = [srv.runtime.devices["E1"]["DC1"]["dp"], srv.runtime.devices["E2"]["DC1"]["dp"]]
    await wait_for(lambda: all(p in srv.runtime.pipeline.chains for p in pids), timeout=10)
    await srv.stop()  # a clean stop checkpoints every shard
    conn = await asyncpg.connect(machine_db)
    try:
        before = {r["name"] for r in await conn.fetch("SELECT name FROM checkpoints")}
        assert len(before) == pipeline_mod.SHARDS
        with_state = await conn.fetch("SELECT state FROM checkpoints")
        states = [pickle.loads(r["state"]) for r in with_state]
        want = {
            pid: pickle.dumps(next(s["chains"][pid] for s in states if pid in s["chains"]).detectors) for pid in pids
        }
    finally:
        await conn.close()
    for mod in (pipeline_mod, embedded_mod, loop_mod, recovery_mod):
        monkeypatch.setattr(mod, "SHARDS", 4)
    srv = Server(dash_site, Settings(port=0, database=machine_db, store_interval=0))
    await srv.start()
    try:
        for pid in pids:
            assert pickle.dumps(srv.runtime.pipeline.chains[pid].detectors) == want[pid]
    finally:
        await srv.stop()
    conn = await asyncpg.connect(machine_db)
    try:
        names = {r["name"] for r in await conn.fetch("SELECT name FROM checkpoints")}
        assert names == {f"pipeline/{k}" for k in range(4)}
        assert {pickle.loads(r["state"])["shards"] for r in await conn.fetch("SELECT state FROM checkpoints")} == {4}
    finally:
        await conn.close()
