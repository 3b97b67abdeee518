"""What "accepted" guarantees (HTTP 202 and MQTT PUBACK), checked by killing the process.

``warning run`` (embedded PostgreSQL) runs as a real subprocess while a client pushes
numbered readings. It is killed with SIGKILL at random moments and started again; the
next start must recover from its crashed predecessor by itself. Afterwards every reading
that got a 202 is stored exactly once, and alerts raised before the kills are still
open exactly once.
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import signal
import subprocess
import time
import tomllib
from pathlib import Path

import aiomqtt
import asyncpg
import httpx
import orjson

from tests.conftest import free_port, warning_run

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "config" / "demo" / "site.toml"
KILLS = int(os.environ.get("WARNING_KILL_CYCLES", "4"))


def token(enterprise: str) -> str:
    with open(ROOT / "config" / "demo" / "credentials.toml", "rb") as fh:
        return tomllib.load(fh)["tokens"][enterprise]


def start(data_dir: Path, port: int, mqtt_id: str, mqtt_url: str) -> subprocess.Popen:
    env = {**os.environ, "XDG_RUNTIME_DIR": str(data_dir)}
    log = open(data_dir / "server.log", "ab")
    return subprocess.Popen(
        warning_run(
            str(SITE),
            port,
            "--data-dir",
            str(data_dir),
            "--checkpoint-interval",
            "0.5",
            "--mqtt",
            mqtt_url,
            "--mqtt-client-id",
            mqtt_id,
        ),
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=ROOT,
    )


async def wait_ready(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as c:
        while time.monotonic() < deadline:
            assert proc.poll() is None, "server exited during start-up"
            try:
                if (await c.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("server not ready in time")


class Pusher:
    """Sends numbered readings; remembers which ones were answered 202. A request whose
    answer was lost is retried with the same message ids until it gets an answer."""

    def __init__(self, port_ref: list[int]):
        self.port_ref = port_ref
        self.acked: set[int] = set()
        self.next = 0
        self.auth = {"Authorization": f"Bearer {token('E001')}", "Content-Type": "application/json"}

    def body(self, first: int, n: int) -> bytes:
        now = int(time.time() * 1000)
        return orjson.dumps(
            [
                {"device": "DC1", "ts": now, "id": f"kill-{i}", "values": {"dp": float(i)}}
                for i in range(first, first + n)
            ]
        )

    async def run(self, stop: asyncio.Event) -> None:
        async with httpx.AsyncClient(timeout=5) as c:
            while not stop.is_set():
                first, n = self.next, 20
                body = self.body(first, n)
                while not stop.is_set():
                    try:
                        r = await c.post(
                            f"http://127.0.0.1:{self.port_ref[0]}/api/v1/telemetry", content=body, headers=self.auth
                        )
                    except httpx.HTTPError:
                        await asyncio.sleep(0.05)  # server down: retry the same messages
                        continue
                    if r.status_code == 202:
                        self.acked.update(range(first, first + n))
                        self.next += n
                        break
                    await asyncio.sleep(0.05)  # 503 while starting: retry


class MqttPublisher:
    """Publishes numbered readings (QoS 1, with ids) to E001/DC2; remembers the ones the
    broker acknowledged. The broker holds them until the server acknowledges in turn."""

    def __init__(self, broker):
        self.acked: set[int] = set()
        self.token = token("E001")
        self.broker = broker

    async def run(self, stop: asyncio.Event) -> None:
        i = 0
        async with aiomqtt.Client(self.broker.host, self.broker.port) as c:
            while not stop.is_set():
                body = orjson.dumps(
                    {
                        "token": self.token,
                        "telemetry": [{"ts": int(time.time() * 1000), "id": f"mqtt-{i}", "values": {"dp": float(i)}}],
                    }
                )
                await c.publish("telemetry/E001/DC2", body, qos=1)
                self.acked.add(i)
                i += 1
                await asyncio.sleep(0.01)


async def test_kill_9_loses_and_doubles_nothing(tmp_path, mqtt_broker):
    port = [free_port()]
    mqtt_id = "warning-kill-" + secrets.token_hex(4)
    proc = start(tmp_path, port[0], mqtt_id, mqtt_broker.url)
    await wait_ready(port[0], proc)
    async with httpx.AsyncClient() as c:  # a red alert that must survive every kill, once
        r = await c.post(
            f"http://127.0.0.1:{port[0]}/api/v1/telemetry",
            headers={"Authorization": f"Bearer {token('E002')}", "Content-Type": "application/json"},
            content=orjson.dumps([{"device": "DC1", "ts": int(time.time() * 1000), "values": {"vent_open": True}}]),
        )
        assert r.status_code == 202
    pusher, publisher = Pusher(port), MqttPublisher(mqtt_broker)
    stop = asyncio.Event()
    task = asyncio.create_task(pusher.run(stop))
    mqtt_task = asyncio.create_task(publisher.run(stop))
    rng = random.Random(int(os.environ.get("WARNING_KILL_SEED", "7")))
    try:
        for _ in range(KILLS):
            await asyncio.sleep(rng.uniform(0.5, 2.0))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            proc = start(tmp_path, port[0], mqtt_id, mqtt_broker.url)
            await wait_ready(port[0], proc)
        await asyncio.sleep(1.0)
    finally:
        stop.set()
        await task
        await mqtt_task
    try:
        dsn = f"postgresql://postgres@/postgres?host={tmp_path / 'pgdata'}"
        conn = await asyncpg.connect(dsn)
        try:
            deadline = time.monotonic() + 30  # the broker redelivers what the server had not acknowledged
            while time.monotonic() < deadline:
                n = await conn.fetchval(
                    "SELECT count(DISTINCT value) FROM readings_v WHERE enterprise = 'E001' "
                    "AND device = 'DC2' AND point = 'dp'"
                )
                if n >= len(publisher.acked):
                    break
                await asyncio.sleep(0.2)
            mqtt_rows = await conn.fetch(
                "SELECT value, count(*) AS n FROM readings_v WHERE enterprise = 'E001' "
                "AND device = 'DC2' AND point = 'dp' GROUP BY value"
            )
            rows = await conn.fetch(
                "SELECT value, count(*) AS n FROM readings_v WHERE enterprise = 'E001' "
                "AND device = 'DC1' AND point = 'dp' GROUP BY value"
            )
            vents = await conn.fetch("SELECT id, state FROM alerts WHERE enterprise = 'E002' AND point = 'vent_open'")
            raised = await conn.fetchval(
                "SELECT count(*) FROM alert_events e JOIN alerts a ON a.id = e.alert_id "
                "WHERE a.enterprise = 'E002' AND a.point = 'vent_open' AND e.kind = 'raised'"
            )
        finally:
            await conn.close()
        stored = {int(r["value"]): r["n"] for r in rows}
        assert len(pusher.acked) >= 100, "the test pushed too little to mean anything"
        missing = pusher.acked - stored.keys()
        doubled = {v for v, n in stored.items() if n > 1}
        assert not missing, f"{len(missing)} acknowledged readings lost"
        assert not doubled, f"{len(doubled)} readings stored twice"
        assert [v["state"] for v in vents] == ["active"] and raised == 1
        by_mqtt = {int(r["value"]): r["n"] for r in mqtt_rows}
        assert len(publisher.acked) >= 100
        assert not publisher.acked - by_mqtt.keys(), f"{len(publisher.acked - by_mqtt.keys())} MQTT readings lost"
        assert not {v for v, n in by_mqtt.items() if n > 1}, "MQTT readings stored twice"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    assert not (tmp_path / "pgdata" / "postmaster.pid").exists(), "embedded PostgreSQL left running"
    log = (tmp_path / "server.log").read_text(errors="replace")
    assert "recovered" in log  # the restarts did replay
    with open(ROOT / "config" / "demo" / "credentials.toml", "rb") as fh:
        secrets_ = tomllib.load(fh)
    for tok in secrets_["tokens"].values():
        assert tok not in log, "a token reached the log"
    assert "officer-demo" not in log
