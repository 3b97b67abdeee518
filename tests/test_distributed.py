"""The distributed runtime against a real Kafka-protocol broker (tansu, started here) and
the machine's PostgreSQL: two ``warning worker`` processes and a gateway
(``warning run --role ingest,dashboard,notifier``), all real subprocesses.

The run pushes 100,000 readings through the gateway's HTTP API (with message ids, so a
resend is safe) while a duty officer's WebSocket is open, and ``kill -9``s one worker in the
middle. The other must own every partition within 30 s; afterwards every accepted reading
is stored once, and every expected alert (a vent opening on each enterprise, half of them
after the kill) exists once, was raised once, and reached the WebSocket once.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import asyncpg
import httpx
import orjson
import pytest
import websockets

from tests.conftest import drop_database, free_port, fresh_database, wait_for
from warning.config import load_site
from warning.runtime import records
from warning.runtime.tansu import Tansu

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "config" / "demo" / "site.toml"
PARTITIONS = 8
TOTAL = 100_000
PER_REQUEST = 100
#: The workers' consumer-group session (WARNING_KAFKA_SESSION_TIMEOUT; production keeps 10 s).
#: tansu holds every join phase open for half the session timeout, and a killed or paused
#: worker's partitions move only once its session expires, so at 10 s each start cost 5 s and
#: each takeover 15 s. 4 s still leaves three missed heartbeats (faust beats every second).
SESSION_TIMEOUT = 4.0

with open(ROOT / "config" / "demo" / "credentials.toml", "rb") as fh:
    CREDS = tomllib.load(fh)


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    with Tansu(log=tmp_path_factory.mktemp("tansu") / "tansu.log") as b:
        yield b


class Cluster:
    """Workers and a gateway sharing one broker prefix and one database."""

    def __init__(self, bootstrap: str, dsn: str, work: Path, session_timeout: float = SESSION_TIMEOUT):
        self.dsn = dsn
        self.work = work
        self.prefix = "t" + os.urandom(4).hex()
        self.env = dict(
            os.environ,
            WARNING_KAFKA=bootstrap,
            WARNING_KAFKA_PREFIX=self.prefix,
            WARNING_KAFKA_PARTITIONS=str(PARTITIONS),
            WARNING_KAFKA_IDEMPOTENT="0",
            WARNING_KAFKA_SESSION_TIMEOUT=str(session_timeout),
            WARNING_DATABASE_URL=dsn,
        )
        self.procs: dict[str, subprocess.Popen] = {}
        self.ports: dict[str, int] = {}

    def spawn(self, name: str, args: list[str]) -> None:
        port = free_port()
        self.ports[name] = port
        log = open(self.work / f"{name}.log", "ab")
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", "warning.cli", *args, "--port", str(port)],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def worker(self, name: str, *extra: str) -> None:
        self.spawn(name, ["worker", "--site", str(SITE), "--name", name, "--checkpoint-interval", "2", *extra])

    def gateway(self, name: str = "gw") -> None:
        self.spawn(name, ["run", "--site", str(SITE), "--role", "ingest,dashboard,notifier"])

    async def ready(self, name: str, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient() as c:
            while time.monotonic() < deadline:
                assert self.procs[name].poll() is None, f"{name} exited; see {self.work / (name + '.log')}"
                try:
                    r = await c.get(f"http://127.0.0.1:{self.ports[name]}/readyz")
                    if r.status_code == 200:
                        return r.json()
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError(f"{name} not ready in {timeout} s")

    async def two_workers_and_gateway(self) -> asyncpg.Connection:
        """Start w1, w2 and a gateway; return a store connection once every partition is owned
        and both workers own some."""
        self.worker("w1")
        self.worker("w2")
        self.gateway()
        await asyncio.gather(self.ready("w1"), self.ready("w2"), self.ready("gw"))
        conn = await asyncpg.connect(self.dsn)
        deadline = time.monotonic() + 60
        while True:
            own = await owners(conn, self.prefix)
            if len(own) == PARTITIONS and set(own.values()) == {"w1", "w2"}:
                return conn
            assert time.monotonic() < deadline, f"partitions not spread over both workers: {own}"
            await asyncio.sleep(0.1)

    def stop(self) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs.values():
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


async def owners(conn, prefix: str) -> dict[int, str]:
    rows = await conn.fetch("SELECT partition, owner FROM partition_state WHERE topic = $1", f"{prefix}-readings")
    return {r["partition"]: r["owner"] for r in rows}


class Feed:
    """Numbered readings for every enterprise, 100 a request, each with a message id; a
    request without an answer is sent again with the same ids."""

    def __init__(self, port: int, site):
        self.url = f"http://127.0.0.1:{port}/api/v1/telemetry"
        self.devices: dict[str, list[str]] = {}  #: enterprise -> its bag filters (they have hopper_temp)
        for p in site.points:
            if p.ref.point == "hopper_temp":
                self.devices.setdefault(p.ref.enterprise, []).append(p.ref.device)
        self.sent = 0
        self.vents: list[tuple[str, str]] = []  #: (enterprise, device) opened, in order

    async def post(self, c: httpx.AsyncClient, ent: str, items: list[dict]) -> None:
        body = orjson.dumps(items)
        headers = {"Authorization": f"Bearer {CREDS['tokens'][ent]}", "Content-Type": "application/json"}
        while True:
            try:
                r = await c.post(self.url, content=body, headers=headers)
            except httpx.HTTPError:
                await asyncio.sleep(0.2)
                continue
            if r.status_code == 202:
                return
            assert r.status_code in (429, 503), r.text
            await asyncio.sleep(0.2)

    async def push(self, c: httpx.AsyncClient, n: int, vent_enterprises: list[str]) -> None:
        """``n`` readings spread over the enterprises; a vent opens on DC1 of each listed one."""
        ents = sorted(self.devices)
        done = 0
        while done < n:
            for ent in ents:
                t = int(time.time() * 1000)
                items = []
                for j in range(PER_REQUEST):
                    i = self.sent + j
                    dev = self.devices[ent][j % len(self.devices[ent])]
                    items.append(
                        {"device": dev, "ts": t, "id": f"{ent}-{i}", "values": {"hopper_temp": 30.0 + (i % 7) * 0.01}}
                    )
                if ent in vent_enterprises and done + PER_REQUEST * len(ents) >= n:
                    items[-1] = {
                        "device": "DC1",
                        "ts": t,
                        "id": f"{ent}-{self.sent + PER_REQUEST - 1}",
                        "values": {"vent_open": True},
                    }
                    self.vents.append((ent, "DC1"))
                await self.post(c, ent, items)
                self.sent += PER_REQUEST
                done += PER_REQUEST
                if done >= n:
                    break


class Watcher:
    """A duty officer's WebSocket on the gateway: every event it receives, in order."""

    def __init__(self):
        self.events: list[dict] = []
        self.task: asyncio.Task | None = None

    async def start(self, port: int) -> None:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as c:
            r = await c.post("/login", data={"username": "officer", "password": CREDS["users"]["officer"]["password"]})
            assert r.status_code == 303
            cookie = c.cookies.get("warning_session")
        ws = await websockets.connect(
            f"ws://127.0.0.1:{port}/ws", additional_headers={"Cookie": f"warning_session={cookie}"}
        )
        snap = orjson.loads(await ws.recv())
        assert snap["type"] == "snapshot"
        self.task = asyncio.create_task(self._read(ws))

    async def _read(self, ws) -> None:
        async with ws:
            async for msg in ws:
                d = orjson.loads(msg)
                if d.get("type") == "event":
                    self.events.append(d["event"])

    def raised(self, rule_point: str) -> list[dict]:
        return [e for e in self.events if e["kind"] == "raised" and e["alert"]["point"] == rule_point]


async def test_two_workers_kill_one_nothing_lost_or_doubled(broker, tmp_path):
    dsn, db = await fresh_database()
    site = load_site(SITE)
    cluster = Cluster(broker.bootstrap, dsn, tmp_path)
    watcher = Watcher()
    try:
        conn = await cluster.two_workers_and_gateway()
        await watcher.start(cluster.ports["gw"])
        feed = Feed(cluster.ports["gw"], site)
        ents = sorted(feed.devices)
        async with httpx.AsyncClient(timeout=10) as c:
            await feed.push(c, TOTAL // 2, ents[: len(ents) // 2])
            victim = "w1"
            lost = {k for k, o in (await owners(conn, cluster.prefix)).items() if o == victim}
            assert lost, "the victim owned no partition"
            cluster.procs[victim].send_signal(signal.SIGKILL)
            killed_at = time.monotonic()
            pushing = asyncio.create_task(feed.push(c, TOTAL - TOTAL // 2, ents[len(ents) // 2 :]))
            while True:
                own = await owners(conn, cluster.prefix)
                if all(own[k] == "w2" for k in lost):
                    takeover = time.monotonic() - killed_at
                    break
                assert time.monotonic() - killed_at < 30, f"no takeover in 30 s: {own}"
                await asyncio.sleep(0.1)
            await pushing
        print(f"takeover of {len(lost)} partitions after kill -9: {takeover:.1f} s")
        assert feed.sent == TOTAL

        # everything accepted is stored exactly once
        deadline = time.monotonic() + 60
        while await conn.fetchval("SELECT count(*) FROM readings") < TOTAL and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        await asyncio.sleep(2)  # anything doubled would show up by now
        assert await conn.fetchval("SELECT count(*) FROM readings") == TOTAL
        assert await conn.fetchval("SELECT count(*) FROM messages") == TOTAL
        assert await conn.fetchval("SELECT count(DISTINCT msg_id) FROM messages") == TOTAL

        # every expected alert exists once, raised once, and reached the officer once
        expected = {(e, d) for e, d in feed.vents}
        assert len(expected) == len(ents)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(watcher.raised("vent_open")) < len(expected):
            await asyncio.sleep(0.1)
        rows = await conn.fetch("SELECT id, enterprise, device FROM alerts WHERE point = 'vent_open'")
        assert sorted((r["enterprise"], r["device"]) for r in rows) == sorted(expected)
        raised = await conn.fetch(
            "SELECT alert_id, count(*) AS n FROM alert_events WHERE kind = 'raised' "
            "AND alert_id = ANY($1::text[]) GROUP BY alert_id",
            [r["id"] for r in rows],
        )
        assert len(raised) == len(expected) and all(r["n"] == 1 for r in raised)
        seen = watcher.raised("vent_open")
        assert sorted((e["alert"]["enterprise"], e["alert"]["device"]) for e in seen) == sorted(expected)
        assert len({e["id"] for e in watcher.events}) == len(watcher.events), "an event reached the dashboard twice"
        dup = await conn.fetchval(
            "SELECT count(*) FROM (SELECT event_id, channel FROM outbox GROUP BY 1, 2 HAVING count(*) > 1) d"
        )
        assert dup == 0
        # and the notifier delivered them (the demo's duty log channel)
        deadline = time.monotonic() + 30
        while True:
            states = await conn.fetch(
                "SELECT o.state FROM outbox o JOIN alert_events e ON e.id = o.event_id "
                "WHERE e.alert_id = ANY($1::text[])",
                [r["id"] for r in rows],
            )
            if len(states) >= len(expected) and {r["state"] for r in states} == {"sent"}:
                break
            assert time.monotonic() < deadline, f"notifications not delivered: {[r['state'] for r in states]}"
            await asyncio.sleep(0.2)
        # the survivor is ready and owns everything
        body = await cluster.ready("w2")
        assert body["partitions"] == list(range(PARTITIONS))
        await conn.close()
    finally:
        if watcher.task is not None:
            watcher.task.cancel()
        cluster.stop()
        await drop_database(db)


async def test_officer_action_goes_through_the_owning_worker(broker, tmp_path):
    """Acknowledge through the gateway: a command record on the alert's partition, the answer
    back on alert-events; an unknown alert is a 404, a second resolve a 409."""
    dsn, db = await fresh_database()
    cluster = Cluster(broker.bootstrap, dsn, tmp_path)
    try:
        cluster.worker("solo")
        cluster.gateway()
        await asyncio.gather(cluster.ready("solo"), cluster.ready("gw"))
        feed = Feed(cluster.ports["gw"], load_site(SITE))
        api = {"Authorization": f"Bearer {CREDS['users']['officer']['api_token']}"}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{cluster.ports['gw']}", timeout=20) as c:
            await feed.post(
                c, "E002", [{"device": "DC1", "ts": int(time.time() * 1000), "values": {"vent_open": True}}]
            )
            deadline = time.monotonic() + 40
            alerts = []
            while time.monotonic() < deadline and not alerts:
                alerts = [a for a in (await c.get("/api/v1/alerts", headers=api)).json() if a["point"] == "vent_open"]
                await asyncio.sleep(0.1)
            assert alerts, "the vent alert was not raised"
            aid = alerts[0]["id"]
            r = await c.post(f"/api/v1/alerts/{aid}/ack", json={"note": "on my way"}, headers=api)
            assert r.status_code == 200, r.text
            assert r.json()["state"] == "acknowledged" and r.json()["acknowledged_by"] == "officer"
            assert (await c.post("/api/v1/alerts/nope/ack", json={}, headers=api)).status_code == 404
            refused = await c.post(f"/api/v1/alerts/{aid}/resolve", json={}, headers=api)
            assert refused.status_code == 409 and "报警条件仍然存在" in refused.json()["error"]  # the engine's rule
            r = await c.post(
                f"/api/v1/alerts/{aid}/resolve", json={"note": "vent inspected, closed by hand"}, headers=api
            )
            assert r.status_code == 200, r.text
            again = await c.post(f"/api/v1/alerts/{aid}/resolve", json={"note": "again"}, headers=api)
            assert again.status_code == 409, again.text
            stored = (await c.get(f"/api/v1/alerts/{aid}", headers=api)).json()
            assert stored["state"] == "resolved"
            assert records.partition_of("E002", PARTITIONS) in range(PARTITIONS)
    finally:
        cluster.stop()
        await drop_database(db)


async def test_paused_worker_is_fenced_when_it_wakes(broker, tmp_path):
    """A worker that stops (SIGSTOP: a long GC pause, a frozen VM) with a write in flight loses
    its partitions to the other; when it wakes it still believes it owns them. Its write must
    fail on the epoch (or with the session the server ended meanwhile), so nothing is stored
    twice, and nothing the other worker stored since is lost."""
    dsn, db = await fresh_database()
    site = load_site(SITE)
    cluster = Cluster(broker.bootstrap, dsn, tmp_path)
    try:
        conn = await cluster.two_workers_and_gateway()
        feed = Feed(cluster.ports["gw"], site)
        async with httpx.AsyncClient(timeout=10) as c:
            await feed.push(c, 10_000, [])
            await stored(conn, 10_000)  # both workers have stored their share
            # The paused worker's next write is held on a lock the test holds, so the pause
            # lands inside its transaction; the lock goes as soon as it is stopped.
            own = await owners(conn, cluster.prefix)
            ent = next(e for e in sorted(feed.devices) if own[records.partition_of(e, PARTITIONS)] == "w1")
            blocker = await asyncpg.connect(dsn)
            tx = blocker.transaction()
            await tx.start()
            await blocker.execute("LOCK TABLE readings IN SHARE MODE")  # COPY waits for it
            items = [
                {
                    "device": feed.devices[ent][0],
                    "ts": int(time.time() * 1000),
                    "id": f"{ent}-held-{j}",
                    "values": {"hopper_temp": 31.0},
                }
                for j in range(PER_REQUEST)
            ]
            await feed.post(c, ent, items)
            deadline = time.monotonic() + 20
            while not await conn.fetchval(
                "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE a.application_name = 'warning worker w1' AND NOT l.granted"
            ):
                assert time.monotonic() < deadline, "the worker's write never reached the store"
                await asyncio.sleep(0.05)
            cluster.procs["w1"].send_signal(signal.SIGSTOP)
            await tx.rollback()
            await blocker.close()
            await feed.push(c, 10_000, [])
            deadline = time.monotonic() + 45
            while set((await owners(conn, cluster.prefix)).values()) != {"w2"}:
                assert time.monotonic() < deadline, "w2 did not take over from the paused worker"
                await asyncio.sleep(0.1)
            cluster.procs["w1"].send_signal(signal.SIGCONT)
            await feed.push(c, 10_000, [])
        await stored(conn, 30_000 + PER_REQUEST)
        await asyncio.sleep(3)  # let the woken worker try whatever it still had
        assert await conn.fetchval("SELECT count(*) FROM readings") == 30_000 + PER_REQUEST
        assert await conn.fetchval("SELECT count(DISTINCT msg_id) FROM messages") == 30_000 + PER_REQUEST
        assert cluster.procs["w1"].poll() is None, "the woken worker crashed instead of standing down"
        # the write held across the pause was refused: the partition had a newer epoch
        async with httpx.AsyncClient() as c:
            text = (await c.get(f"http://127.0.0.1:{cluster.ports['w1']}/metrics")).text
        fenced = [ln for ln in text.splitlines() if ln.startswith("warning_partitions_fenced_total ")]
        assert fenced and float(fenced[0].split()[1]) >= 1, fenced
        await conn.close()
    finally:
        cluster.stop()
        await drop_database(db)


async def stored(conn, n: int, timeout: float = 60) -> None:
    """Wait until ``n`` readings are stored."""

    async def enough() -> bool:
        return await conn.fetchval("SELECT count(*) FROM readings") >= n

    await wait_for(enough, timeout=timeout, interval=0.1, what=f"{n:,} readings stored")


async def test_workers_run_the_store_upkeep_once_without_a_gateway(broker, tmp_path):
    """Distributed mode with no `warning run` on the database: the workers pack sealed hours
    (and run retention) themselves, one pass at a time across them (the advisory lock)."""
    dsn, db = await fresh_database()
    cluster = Cluster(broker.bootstrap, dsn, tmp_path)
    try:
        cluster.worker("w1", "--store-interval", "1")
        cluster.worker("w2", "--store-interval", "1")
        await asyncio.gather(cluster.ready("w1"), cluster.ready("w2"))
        conn = await asyncpg.connect(dsn)
        hour = (int(time.time()) // 3600 - 3) * 3_600_000  # three hours ago: sealed
        pid = await conn.fetchval("SELECT min(id) FROM points")
        rows = [(-7, pid, hour + k * 10_000, round(20 + k * 0.1, 1)) for k in range(360)]
        await conn.copy_records_to_table("readings", columns=("batch", "point_id", "ts_ms", "value"), records=rows)
        deadline = time.monotonic() + 30
        while await conn.fetchval("SELECT count(*) FROM readings"):
            assert time.monotonic() < deadline, "no worker packed the sealed hour"
            await asyncio.sleep(0.2)
        assert await conn.fetchval("SELECT n FROM readings_packed WHERE point_id = $1 AND t0 = $2", pid, hour) == 360
        assert await conn.fetchval("SELECT n FROM rollups WHERE point_id = $1 AND t0 = $2", pid, hour) == 360
        assert await conn.fetchval("SELECT summary FROM store_runs WHERE job = 'maintenance'")
        await conn.close()
    finally:
        cluster.stop()
        await drop_database(db)
