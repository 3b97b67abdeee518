"""The overdue-cleaning alarm (粉尘清扫超期, issue 15) in distributed mode, against the real
Kafka-protocol broker (tansu) and PostgreSQL, all real subprocesses: one worker and two gateways.

The gateway's risk service finds the overdue area and hands the finding to the runtime; in
this mode that is an operations record in the enterprise's own partition of the readings
topic, which the owning worker applies through the same step as the embedded runtime (one
alarm per area, stored and published on alert-events). Each gateway runs a risk service, so
both judge the area: still one alarm, raised once. Recording a cleaning clears the finding and
lifts the alarm (a command record, answered by the worker), by whoever checked in; here on the
other gateway, whose own judgement is what lifts it. The worker is then killed and a fresh one
takes the partitions: the lifted alarm stays lifted and nothing is raised again.
"""

from __future__ import annotations

import asyncio
import signal

import asyncpg
import httpx

from tests.conftest import drop_database, fresh_database, wait_for
from tests.test_distributed import CREDS, PARTITIONS, Cluster, broker, owners  # noqa: F401  (fixture)
from warning.runtime import records

__all__ = ["broker"]
AREA = "打磨车间"
ENT = "E002"


async def cleaning_alarm(c: httpx.AsyncClient, api: dict) -> dict | None:
    rows = (await c.get("/api/v1/alerts?state=all", headers=api)).json()
    hits = [a for a in rows if (a["enterprise"], a["device"], a["point"]) == (ENT, "cleaning", AREA)]
    assert len(hits) <= 1, hits  # one alarm per area, however often it is judged
    return hits[0] if hits else None


async def test_the_overdue_cleaning_alarm_is_raised_and_lifted_through_the_broker(broker, tmp_path):  # noqa: F811
    dsn, db = await fresh_database()
    cluster = Cluster(broker.bootstrap, dsn, tmp_path)
    conn: asyncpg.Connection | None = None
    try:
        cluster.worker("w1")
        cluster.gateway()
        cluster.gateway("gw2")
        await asyncio.gather(cluster.ready("w1"), cluster.ready("gw"), cluster.ready("gw2"))
        api = {"Authorization": f"Bearer {CREDS['users']['officer']['api_token']}"}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{cluster.ports['gw']}", timeout=20) as c:
            r = await c.post(
                "/api/v1/cleaning", json={"enterprise": ENT, "area": AREA, "interval_s": 3600}, headers=api
            )
            assert r.status_code == 201, r.text  # never cleaned: overdue at once

            async def raised():
                a = await cleaning_alarm(c, api)
                return a if a and a["state"] == "active" else None

            a = await wait_for(raised, timeout=40, interval=0.1, what="the overdue-cleaning alarm")
            # the other gateway's risk service judges the area too (told of it, it looks at once)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{cluster.ports['gw2']}", timeout=20) as c2:
                body = {"enterprise": ENT, "area": AREA, "interval_s": 3600}
                assert (await c2.post("/api/v1/cleaning", json=body, headers=api)).status_code == 201
            await asyncio.sleep(3)
            assert a["rule"] == "cleaning_overdue" and a["severity"] == "yellow", a
            assert "粉尘清扫超期" in a["message"] and AREA in a["message"]
            conn = await asyncpg.connect(dsn)
            # the worker that owns the enterprise's partition applied it: the finding went through the broker
            part = records.partition_of(ENT, PARTITIONS)
            assert (await owners(conn, cluster.prefix))[part] == "w1"
            kinds = [r["kind"] for r in await conn.fetch("SELECT kind FROM alert_events WHERE alert_id = $1", a["id"])]
            assert kinds.count("raised") == 1, kinds

            # the cleaning is recorded on the other gateway: its risk service, which judged the area
            # too (it knew of no alarm at its start), clears the finding and lifts the alarm
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{cluster.ports['gw2']}", timeout=20) as c2:
                r = await c2.post("/api/v1/cleaning/checkin", json={"enterprise": ENT, "area": AREA}, headers=api)
            assert r.status_code == 201, r.text

            async def lifted():
                got = (await c.get(f"/api/v1/alerts/{a['id']}", headers=api)).json()
                return got if got["state"] == "resolved" else None

            got = await wait_for(lifted, timeout=40, interval=0.1, what="the lifting after a cleaning")
            assert got["resolved_by"] == "officer" and "粉尘清扫打卡" in (got["resolve_note"] or ""), got
            assert got["condition_active"] is False

            # a fresh worker after a kill -9: the lifted alarm stays lifted, nothing raised again
            cluster.procs["w1"].send_signal(signal.SIGKILL)
            cluster.procs["w1"].wait()
            cluster.worker("w2")
            await cluster.ready("w2")
            await wait_for(
                lambda: _owned_by(conn, cluster.prefix, "w2"),
                timeout=60,
                interval=0.1,
                what="w2 owning every partition",
            )
            r = await c.post(
                "/api/v1/cleaning", json={"enterprise": ENT, "area": AREA, "interval_s": 3600}, headers=api
            )
            assert r.status_code == 201, r.text  # the same area again, just cleaned: judged, not overdue
            await asyncio.sleep(3)
            a2 = await cleaning_alarm(c, api)
            assert a2 is not None and a2["id"] == a["id"] and a2["state"] == "resolved", a2
            n = await conn.fetchval("SELECT count(*) FROM alerts WHERE device = 'cleaning'")
            assert n == 1
    finally:
        if conn is not None:
            await conn.close()
        cluster.stop()
        await drop_database(db)


async def _owned_by(conn: asyncpg.Connection, prefix: str, name: str) -> bool:
    own = await owners(conn, prefix)
    return len(own) == PARTITIONS and set(own.values()) == {name}
