"""The live ledger in distributed mode (issue 14), against the real Kafka-protocol broker
(tansu) and PostgreSQL, all real subprocesses: a worker and two gateways.

An admin adds a device on one gateway. The other gateway takes the change within seconds
(its sync reads the committed version) and accepts telemetry for the new point; the worker,
which has the ledger record in the partition before that reading, judges it (the vent alert
is raised). Then the worker is killed; meanwhile a second enterprise gains a device and the
first device is retired. A fresh worker catches up: the reading sent while it was down is
judged against the new point, and the retired device's open alert is closed, once, with the
ledger's note (whether the dead worker's snapshot held it or only the store did). Last, with
both gateways killed, a change committed straight to the store (a gateway that died between
its commit and its announcement) is announced by the worker itself and applied.
"""

from __future__ import annotations

import asyncio
import signal
import time

import httpx

from tests.conftest import drop_database, fresh_database
from tests.test_distributed import CREDS, PARTITIONS, SITE, Cluster, broker, owners  # noqa: F401  (fixture)
from warning.config import load_kinds
from warning.ledger.plan import Proposal, plan
from warning.security import hash_password
from warning.store import ledger as ledger_store

__all__ = ["broker"]
ADMIN_PW = "ledger-admin-1"


class LedgerCluster(Cluster):
    def __init__(self, bootstrap, dsn, work):
        super().__init__(bootstrap, dsn, work)
        self.site = work / "site.toml"
        self.site.write_text(
            SITE.read_text(encoding="utf-8")
            + f'\n[[users]]\nname = "boss"\nrole = "admin"\npassword = "{hash_password(ADMIN_PW)}"\n',
            encoding="utf-8",
        )

    def worker(self, name: str, *extra: str) -> None:
        self.spawn(name, ["worker", "--site", str(self.site), "--name", name, "--checkpoint-interval", "2", *extra])

    def gateway(self, name: str = "gw", roles: str = "ingest,dashboard,notifier") -> None:
        self.spawn(name, ["run", "--site", str(self.site), "--role", roles])


async def post_until_accepted(port: int, ent: str, device: str, values: dict, within: float) -> float:
    """Seconds until the gateway on ``port`` answers 202 (telemetry for an unknown point is 4xx)."""
    started = time.monotonic()
    async with httpx.AsyncClient(timeout=10) as c:
        while True:
            r = await c.post(
                f"http://127.0.0.1:{port}/api/v1/telemetry",
                headers={"Authorization": f"Bearer {CREDS['tokens'][ent]}"},
                json=[{"device": device, "ts": int(time.time() * 1000), "values": values}],
            )
            if r.status_code == 202:
                return time.monotonic() - started
            assert r.status_code in (400, 403, 503), r.text
            assert time.monotonic() - started < within, f"{ent}/{device} not accepted in {within} s: {r.text}"
            await asyncio.sleep(0.1)


async def alert_on(c: httpx.AsyncClient, ent: str, device: str, state: str, within: float) -> dict:
    api = {"Authorization": f"Bearer {CREDS['users']['officer']['api_token']}"}
    deadline = time.monotonic() + within
    while True:
        rows = (await c.get("/api/v1/alerts?state=all", headers=api)).json()
        mine = [a for a in rows if (a["enterprise"], a["device"], a["point"]) == (ent, device, "vent_open")]
        if mine and (mine[0]["state"] == state or (state == "open" and mine[0]["state"] != "resolved")):
            return mine[0]
        assert time.monotonic() < deadline, f"no {state} vent alert on {ent}/{device}: {mine}"
        await asyncio.sleep(0.1)


async def test_ledger_changes_reach_workers_and_gateways_and_a_worker_that_was_down(broker, tmp_path):  # noqa: F811
    dsn, db = await fresh_database()
    cluster = LedgerCluster(broker.bootstrap, dsn, tmp_path)
    try:
        cluster.worker("w1")
        cluster.gateway("gw1")
        await cluster.ready("gw1")
        # gw2 once gw1 is ready, as before, but while w1 is still joining the consumer group
        cluster.gateway("gw2", "ingest")
        await asyncio.gather(cluster.ready("w1"), cluster.ready("gw2"))
        import asyncpg

        conn = await asyncpg.connect(dsn)
        deadline = time.monotonic() + 60
        while len(await owners(conn, cluster.prefix)) < PARTITIONS:
            assert time.monotonic() < deadline, "the worker did not take every partition"
            await asyncio.sleep(0.1)
        gw1 = f"http://127.0.0.1:{cluster.ports['gw1']}"
        async with httpx.AsyncClient(base_url=gw1, timeout=30) as admin:
            r = await admin.post("/login", data={"username": "boss", "password": ADMIN_PW})
            assert r.status_code == 303 and "failed" not in r.headers["location"]
            admin.headers["x-csrf-token"] = (await admin.get("/api/v1/me")).json()["csrf"]
            r = await admin.put("/api/v1/admin/enterprises/E002/devices/NEW1", json={"points": ["vent_open"]})
            assert r.status_code == 200 and r.json()["live"] is True, r.text
            # the other gateway takes it from the committed version; the worker judges the reading
            took = await post_until_accepted(cluster.ports["gw2"], "E002", "NEW1", {"vent_open": True}, within=5)
            print(f"second gateway accepted the new point {took:.2f} s after the change was answered")
            await alert_on(admin, "E002", "NEW1", "open", within=30)

            # a worker that was down catches up
            cluster.procs["w1"].send_signal(signal.SIGKILL)
            cluster.procs["w1"].wait()
            r = await admin.put("/api/v1/admin/enterprises/E003/devices/NEW2", json={"points": ["vent_open"]})
            assert r.status_code == 200, r.text
            assert (await admin.delete("/api/v1/admin/enterprises/E002/devices/NEW1")).status_code == 200
            await post_until_accepted(cluster.ports["gw1"], "E003", "NEW2", {"vent_open": True}, within=5)
            cluster.worker("w2")
            await cluster.ready("w2")
            deadline = time.monotonic() + 60
            while set((await owners(conn, cluster.prefix)).values()) != {"w2"}:
                assert time.monotonic() < deadline, "the new worker did not take the partitions"
                await asyncio.sleep(0.1)
            raised = await alert_on(admin, "E003", "NEW2", "open", within=30)
            assert raised["severity"] in ("red", "orange", "yellow", "blue")
            closed = await alert_on(admin, "E002", "NEW1", "resolved", within=30)
            # closed by the catch-up (the worker was down when boss retired the device)
            assert closed["resolved_by"] == "ledger" and "台账" in (closed["resolve_note"] or "")
            resolved = await conn.fetchval(
                "SELECT count(*) FROM alert_events WHERE alert_id = $1 AND kind = 'resolved'", closed["id"]
            )
            assert resolved == 1
        # a change committed by a gateway that died before announcing it (and no gateway runs):
        # the worker's own announcement applies it in order
        for gw in ("gw1", "gw2"):
            cluster.procs[gw].send_signal(signal.SIGKILL)
            cluster.procs[gw].wait()
        current, _ = await ledger_store.load(conn)
        e3 = dict(current.enterprises["E003"])
        e3["devices"] = [d for d in e3["devices"] if d["id"] != "NEW2"]
        changes, errors = plan(current, [Proposal("enterprise", "update", "E003", e3)], load_kinds())
        assert not errors
        await ledger_store.write(conn, changes, "boss")
        deadline = time.monotonic() + 20
        while (await conn.fetchval("SELECT state FROM alerts WHERE id = $1", raised["id"])) != "resolved":
            assert time.monotonic() < deadline, "the worker did not take a change nobody announced"
            await asyncio.sleep(0.1)
        assert await conn.fetchval("SELECT resolved_by FROM alerts WHERE id = $1", raised["id"]) == "ledger"
        await conn.close()
    finally:
        cluster.stop()
        await drop_database(db)
