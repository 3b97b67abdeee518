"""Notifications across ``kill -9``: none lost, none doubled.

``warning run`` (embedded PostgreSQL, the demo site plus a webhook channel to a receiver in
this process) runs as a real subprocess while a client raises alerts one after another
(explosion vents opening, device by device). The receiver answers slowly, so kills land
in the middle of deliveries. After the cycles every raised alert event must have reached
the receiver, and no event may appear in two different notifications. A message re-sent
with the *same* ``Idempotency-Key`` (the process died after the receiver had it but
before it was marked sent) is the documented at-least-once behaviour; it is counted and
printed, and a receiver that keys on the header sees it once.

``WARNING_NOTIFY_KILL_CYCLES`` sets the cycles (4 in CI; the bench runs 20).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
import tomllib

import asyncpg
import httpx
import orjson
from aiohttp import web

from tests.conftest import free_port, warning_run
from tests.support import serve_loopback
from tests.test_kill import ROOT, SITE, wait_ready

KILLS = int(os.environ.get("WARNING_NOTIFY_KILL_CYCLES", "4"))


def tokens() -> dict:
    with open(ROOT / "config" / "demo" / "credentials.toml", "rb") as fh:
        return tomllib.load(fh)["tokens"]


def devices() -> list[tuple[str, str]]:
    with open(SITE, "rb") as fh:
        site = tomllib.load(fh)
    return [(e["id"], d["id"]) for e in site["enterprises"] for d in e["devices"] if "vent_open" in d["points"]]


class Receiver:
    def __init__(self):
        self.requests: list[tuple[str, dict]] = []  #: (Idempotency-Key, body)

    async def handle(self, request):
        body = await request.json()
        await asyncio.sleep(0.05)  # slow enough that kills land mid-delivery
        self.requests.append((request.headers.get("Idempotency-Key", ""), body))
        return web.json_response({"ok": True})

    async def start(self):
        self.runner, base = await serve_loopback(self.handle, "/hook")
        self.url = base + "/hook"

    def items(self) -> dict[str, set[str]]:
        """event id -> the notification keys that carried it."""
        out: dict[str, set[str]] = {}
        for key, body in self.requests:
            ids = body["event_ids"] if body.get("kind") == "group" else [body["event_id"]]
            for eid in ids:
                out.setdefault(eid, set()).add(key)
        return out


def run_server(data_dir, port):
    import subprocess

    env = {**os.environ, "XDG_RUNTIME_DIR": str(data_dir)}
    log = open(data_dir / "server.log", "ab")
    return subprocess.Popen(
        warning_run(
            str(data_dir / "site.toml"),
            port,
            "--data-dir",
            str(data_dir),
            "--checkpoint-interval",
            "0.5",
        ),
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=ROOT,
    )


class Raiser:
    """Opens vents one device after another (one new red alert each), retrying a request whose
    answer was lost with the same message id."""

    def __init__(self, port_ref):
        self.port_ref = port_ref
        self.tokens = tokens()
        self.todo = devices()
        self.done = 0

    async def run(self, stop: asyncio.Event) -> None:
        async with httpx.AsyncClient(timeout=5) as c:
            while not stop.is_set() and self.done < len(self.todo):
                ent, dev = self.todo[self.done]
                body = orjson.dumps(
                    [
                        {
                            "device": dev,
                            "ts": int(time.time() * 1000),
                            "id": f"vent-{ent}-{dev}",
                            "values": {"vent_open": True},
                        }
                    ]
                )
                while not stop.is_set():
                    try:
                        r = await c.post(
                            f"http://127.0.0.1:{self.port_ref[0]}/api/v1/telemetry",
                            content=body,
                            headers={"Authorization": f"Bearer {self.tokens[ent]}", "Content-Type": "application/json"},
                        )
                    except httpx.HTTPError:
                        await asyncio.sleep(0.05)
                        continue
                    if r.status_code == 202:
                        self.done += 1
                        break
                    await asyncio.sleep(0.05)
                await asyncio.sleep(0.08)


async def test_kill_9_loses_and_doubles_no_notification(tmp_path):
    receiver = Receiver()
    await receiver.start()
    site = SITE.read_text(encoding="utf-8")
    site += f'\n[[channels]]\nid = "hook"\ntype = "webhook"\nurl = "{receiver.url}"\n'
    (tmp_path / "site.toml").write_text(site, encoding="utf-8")
    (tmp_path / "policies.toml").write_text("[policy.noise]\ngroup_interval = 2\n", encoding="utf-8")
    port = [free_port()]
    proc = run_server(tmp_path, port[0])
    await wait_ready(port[0], proc)
    raiser = Raiser(port)
    stop = asyncio.Event()
    task = asyncio.create_task(raiser.run(stop))
    rng = random.Random(int(os.environ.get("WARNING_KILL_SEED", "11")))
    try:
        for _ in range(KILLS):
            await asyncio.sleep(rng.uniform(0.5, 2.0))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            proc = run_server(tmp_path, port[0])
            await wait_ready(port[0], proc)
        await asyncio.wait_for(task, 120)  # every device's vent opened
        dsn = f"postgresql://postgres@/postgres?host={tmp_path / 'pgdata'}"
        conn = await asyncpg.connect(dsn)
        try:
            deadline = time.monotonic() + 60
            while await conn.fetchval("SELECT count(*) FROM outbox WHERE state = 'pending'"):
                assert time.monotonic() < deadline, "notifications still pending"
                await asyncio.sleep(0.2)
            await asyncio.sleep(3)  # group windows close and send
            while await conn.fetchval("SELECT count(*) FROM outbox WHERE state = 'pending'"):
                assert time.monotonic() < deadline, "notifications still pending"
                await asyncio.sleep(0.2)
            raised = {
                r["id"]
                for r in await conn.fetch(
                    "SELECT e.id FROM alert_events e JOIN alerts a ON a.id = e.alert_id "
                    "WHERE e.kind = 'raised' AND a.point = 'vent_open'"
                )
            }
            vents = await conn.fetchval(
                "SELECT count(DISTINCT (enterprise, device)) FROM alerts WHERE point = 'vent_open'"
            )
        finally:
            await conn.close()
    finally:
        stop.set()
        if not task.done():
            task.cancel()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        await receiver.runner.cleanup()
    items = receiver.items()
    assert vents == len(raiser.todo) and len(raised) == len(raiser.todo), "one alert per opened vent"
    lost = raised - items.keys()
    doubled = {e: keys for e, keys in items.items() if e in raised and len(keys) > 1}
    resent = len(receiver.requests) - len({k for k, _ in receiver.requests})
    print(
        f"\n{KILLS} kills: {len(raised)} alerts, {len(receiver.requests)} requests, "
        f"{resent} re-sent with the same key, {len(lost)} lost, {len(doubled)} in two notifications"
    )
    assert not lost, f"{len(lost)} raised alerts never notified"
    assert not doubled, f"{len(doubled)} events notified in two different messages"
    assert not (tmp_path / "pgdata" / "postmaster.pid").exists(), "embedded PostgreSQL left running"
