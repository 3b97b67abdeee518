"""Telemetry ingest through real HTTP against the machine's PostgreSQL: the happy path and
every bad-input answer, each checked to change nothing."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import httpx
import orjson
import pytest

from tests.conftest import TOKENS
from warning.runtime.embedded import Options
from warning.server import Server, Settings


@pytest.fixture
async def server(site, machine_db):
    srv = Server(
        site,
        Settings(
            port=0,
            database=machine_db,
            max_body=64 * 1024,
            rate=1000,
            burst=2000,
            runtime=Options(checkpoint_interval=0.5),
        ),
    )
    await srv.start()
    srv.dsn = machine_db
    yield srv
    await srv.stop()


def url(srv, path):
    return f"http://127.0.0.1:{srv.port}{path}"


def auth(enterprise="E1"):
    return {"Authorization": f"Bearer {TOKENS[enterprise]}", "Content-Type": "application/json"}


def item(device="DC1", ts=None, **values):
    return {"device": device, "ts": ts if ts is not None else int(time.time() * 1000), "values": values or {"dp": 1100}}


async def count_readings(srv) -> int:
    conn = await asyncpg.connect(srv.dsn)
    try:
        return await conn.fetchval("SELECT count(*) FROM readings")
    finally:
        await conn.close()


async def test_accepted_readings_are_stored(server):
    body = [item(dp=1100.5, hopper_temp=30, vent_open=False), item("DC2", hopper_temp=31)]
    async with httpx.AsyncClient() as c:
        r = await c.post(url(server, "/api/v1/telemetry"), content=orjson.dumps(body), headers=auth())
    assert r.status_code == 202, r.text
    assert r.json() == {"accepted": 4, "duplicates": 0}
    # 202 means committed: the rows are there at the moment of the answer.
    assert await count_readings(server) == 4
    conn = await asyncpg.connect(server.dsn)
    rows = await conn.fetch("SELECT device, point, value FROM readings_v ORDER BY device, point")
    await conn.close()
    assert [(r["device"], r["point"], r["value"]) for r in rows] == [
        ("DC1", "dp", 1100.5),
        ("DC1", "hopper_temp", 30.0),
        ("DC1", "vent_open", 0.0),
        ("DC2", "hopper_temp", 31.0),
    ]


async def test_iso_timestamp_and_single_object(server):
    iso = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
    async with httpx.AsyncClient() as c:
        r = await c.post(
            url(server, "/api/v1/telemetry"),
            headers=auth(),
            content=orjson.dumps({"device": "DC1", "ts": iso, "values": {"dp": 1}}),
        )
    assert r.status_code == 202, r.text
    assert r.json()["accepted"] == 1


async def test_repeated_message_ids_are_ignored(server):
    body = [item(dp=1), {**item(dp=2), "id": "m-1"}]
    async with httpx.AsyncClient() as c:
        r1 = await c.post(url(server, "/api/v1/telemetry"), content=orjson.dumps(body), headers=auth())
        r2 = await c.post(
            url(server, "/api/v1/telemetry"), content=orjson.dumps([{**item(dp=3), "id": "m-1"}]), headers=auth()
        )
    assert r1.json() == {"accepted": 2, "duplicates": 0}
    assert r2.status_code == 202 and r2.json() == {"accepted": 0, "duplicates": 1}
    assert await count_readings(server) == 2


@pytest.mark.parametrize(
    "case, status, needle",
    [
        ("malformed", 400, "malformed JSON"),
        ("schema", 400, "invalid telemetry"),
        ("no_token", 401, "令牌"),
        ("bad_token", 401, "令牌"),
        ("other_device", 403, "not registered"),
        ("unknown_point", 403, "not registered"),
        ("too_large", 413, "上限"),
        ("not_json", 415, "application/json"),
    ],
)
async def test_bad_input_is_rejected_and_changes_nothing(server, case, status, needle):
    headers, body = auth(), orjson.dumps([item()])
    if case == "malformed":
        body = b'[{"device": "DC1", "ts": 1, "values": {"dp": NaN}}]'
    elif case == "schema":
        body = orjson.dumps(
            [
                item(),
                {"device": 5, "ts": 1, "values": {}},
                {"device": "DC1", "values": {"dp": "x"}, "ts": int(time.time() * 1000)},
            ]
        )
    elif case == "no_token":
        headers = {"Content-Type": "application/json"}
    elif case == "bad_token":
        headers = {**headers, "Authorization": "Bearer nope"}
    elif case == "other_device":  # DC2 belongs to E1 only; E2 may not write to it
        headers = auth("E2")
        body = orjson.dumps([item("DC2")])
    elif case == "unknown_point":
        body = orjson.dumps([item(dp=1, no_such_point=2)])
    elif case == "too_large":
        body = orjson.dumps([item() for _ in range(2000)])
    elif case == "not_json":
        headers = {**headers, "Content-Type": "text/plain"}
    async with httpx.AsyncClient() as c:
        r = await c.post(url(server, "/api/v1/telemetry"), content=body, headers=headers)
    assert r.status_code == status, r.text
    assert needle in r.json()["error"]
    if case == "schema":
        items = r.json()["items"]
        assert [i["index"] for i in items] == [1, 2]
        assert "device" in items[0]["reason"] and "number or a boolean" in items[1]["reason"]
    assert await count_readings(server) == 0


async def test_rate_limit_answers_429_with_retry_after_from_the_headers(site, machine_db):
    # a refill of 10 readings/s: under load a request may take a second, and must not repay the debt
    server = Server(site, Settings(port=0, database=machine_db, max_body=64 * 1024, rate=10, burst=2000))
    server.dsn = machine_db
    await server.start()
    try:
        await _rate_limit_checks(server)
    finally:
        await server.stop()


async def _rate_limit_checks(server):
    body = orjson.dumps([item(dp=i, hopper_temp=i) for i in range(500)])  # 1000 readings per request
    async with httpx.AsyncClient() as c:
        codes = [(await c.post(url(server, "/api/v1/telemetry"), content=body, headers=auth())) for _ in range(4)]
    # the burst of 2000; the third finds the bucket not yet empty and takes it into debt; the fourth finds it empty
    assert [r.status_code for r in codes] == [202, 202, 202, 429]
    assert int(codes[3].headers["retry-after"]) >= 1 and "速率上限" in codes[3].json()["error"]
    # decided from the headers: a request whose body never comes is answered at once
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(
        b"POST /api/v1/telemetry HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer " + TOKENS["E1"].encode() + b"\r\nContent-Length: 60000\r\n\r\n"
    )
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 2)
    writer.close()
    assert head.startswith(b"HTTP/1.1 429") and b"retry-after" in head.lower()
    assert await count_readings(server) == 3000


async def test_full_queue_answers_503_with_retry_after(site, machine_db):
    srv = Server(site, Settings(port=0, database=machine_db, runtime=Options(max_pending=10)))
    await srv.start()
    try:
        async with httpx.AsyncClient() as c:
            r = await c.post(
                url(srv, "/api/v1/telemetry"),
                headers=auth(),
                content=orjson.dumps([item(dp=i, hopper_temp=i) for i in range(6)]),
            )
        assert r.status_code == 503 and r.headers["retry-after"] == "1"
        assert "queue full" in r.json()["error"]
    finally:
        await srv.stop()


async def test_metrics_health_and_ready(server):
    async with httpx.AsyncClient() as c:
        await c.post(url(server, "/api/v1/telemetry"), content=orjson.dumps([item()]), headers=auth())
        await c.post(url(server, "/api/v1/telemetry"), content=b"{", headers=auth())
        m = (await c.get(url(server, "/metrics"))).text
        assert (await c.get(url(server, "/healthz"))).json() == {"status": "ok"}
        ready = await c.get(url(server, "/readyz"))
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    assert "warning_readings_accepted_total 1.0" in m
    assert 'warning_readings_rejected_total{reason="invalid"} 1.0' in m
    for name in ("warning_queue_depth", "warning_pipeline_lag_seconds", "warning_alerts_open", "warning_notifications"):
        assert name in m


async def test_the_same_message_sent_twice_at_once_is_stored_once(server):
    """Two requests carrying the same message id land in one group commit: one is stored, the
    other counted as a repeat, and nobody else's request in that group is harmed."""
    import asyncio

    body = orjson.dumps([{**item(dp=7), "id": "same"}])
    other = orjson.dumps([item(dp=8)])
    async with httpx.AsyncClient() as c:
        rs = await asyncio.gather(
            *(c.post(url(server, "/api/v1/telemetry"), content=b, headers=auth()) for b in (body, body, body, other))
        )
    assert [r.status_code for r in rs] == [202] * 4
    assert sum(r.json()["accepted"] for r in rs[:3]) == 1 and sum(r.json()["duplicates"] for r in rs[:3]) == 2
    assert await count_readings(server) == 2


async def test_refusals_follow_accept_language(server):
    """The edge's refusals come from the catalogue: zh-CN unless the request asks for English."""
    body = orjson.dumps([item()])
    async with httpx.AsyncClient() as c:
        zh = await c.post(url(server, "/api/v1/telemetry"), content=body, headers={"Content-Type": "application/json"})
        en = await c.post(
            url(server, "/api/v1/telemetry"),
            content=body,
            headers={"Content-Type": "application/json", "Accept-Language": "en-GB,en;q=0.9"},
        )
        big = await c.post(
            url(server, "/api/v1/telemetry"),
            content=b"[" * 70_000,
            headers={**auth(), "Accept-Language": "en"},
        )
    assert zh.status_code == en.status_code == 401
    assert zh.json()["error"] == "缺少令牌或令牌未知"
    assert en.json()["error"] == "missing or unknown bearer token"
    assert big.status_code == 413 and big.json()["error"].startswith("body of 70000 bytes is over the limit")
