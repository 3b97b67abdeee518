"""simulate, replay, export and the load generator against a real server on loopback and
the machine's PostgreSQL. The CLI runs as real subprocesses (``python -m warning.cli``)
while the server keeps serving in the test's event loop."""

from __future__ import annotations

import asyncio
import io
import json
import sys
import time

import asyncpg
import httpx
import pytest

from simulators.csvio import Row, read_rows, write_rows
from simulators.load import run_load
from simulators.poster import Poster
from simulators.replay import live_shift, replay
from simulators.site import site_toml
from tests.conftest import OFFICER_TOKEN, TOKENS, site_dict, wait_for
from warning.runtime.embedded import Options
from warning.server import Server, Settings


@pytest.fixture
async def server(site, machine_db):
    srv = Server(
        site, Settings(port=0, database=machine_db, rate=4000, burst=4000, runtime=Options(checkpoint_interval=0.5))
    )
    await srv.start()
    srv.dsn = machine_db
    srv.url = f"http://127.0.0.1:{srv.port}"
    yield srv
    await srv.stop()


@pytest.fixture
def files(tmp_path):
    """The test site as a site file, its tokens as a credentials file, and a 2-minute
    scenario on it ending a minute ago, with a vent opening on E1/DC1."""
    (tmp_path / "site.toml").write_text(site_toml(site_dict()), encoding="utf-8")
    (tmp_path / "creds.toml").write_text("[tokens]\n" + "".join(f'{k} = "{v}"\n' for k, v in TOKENS.items()))
    start = float(int(time.time()) - 180)
    (tmp_path / "sc.toml").write_text(f"""
[scenario]
name = "loopback"
start = {start}
duration = 120
interval = 5
schedule = "always"
seed = 4
[site]
file = "site.toml"
[[faults]]
type = "vent_open"
enterprise = "E1"
device = "DC1"
at = 60
duration = 30
""")
    return tmp_path


async def cli(*args: str, timeout: float = 60) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "warning.cli", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    return proc.returncode, out.decode()


async def db_rows(dsn: str) -> list[tuple]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT enterprise, device, point, ts, value FROM readings_v ORDER BY ts, 1, 2, 3")
    finally:
        await conn.close()
    return [(r["enterprise"], r["device"], r["point"], round(r["ts"].timestamp() * 1000), r["value"]) for r in rows]


def json_tail(text: str) -> dict:
    return json.loads(text[text.index("{") :])


async def test_csv_replay_export_round_trip_reaches_the_detectors(server, files):
    code, out = await cli("simulate", "--scenario", str(files / "sc.toml"), "--csv", str(files / "sim.csv"))
    assert code == 0, out
    with open(files / "sim.csv", newline="") as fh:
        rows = list(read_rows(fh))
    assert len(rows) == 24 * (7 * 3)  # 24 steps x 3 devices x 7 points
    vent = [r for r in rows if r.point == "vent_open" and r.value == 1.0]
    assert {(r.enterprise, r.device) for r in vent} == {("E1", "DC1")} and len(vent) == 6

    code, out = await cli(
        "replay",
        str(files / "sim.csv"),
        "--url",
        server.url,
        "--credentials",
        str(files / "creds.toml"),
        "--speed",
        "0",
    )
    assert code == 0, out
    stats = json_tail(out)
    assert stats["accepted"] == len(rows) and stats["rejected"] == stats["failed"] == 0
    stored = await db_rows(server.dsn)
    assert sorted(stored) == sorted(tuple(r) for r in rows)  # same readings, same timestamps

    # the vent opening went through the detectors: a red alert on E1/DC1
    async def red():
        async with httpx.AsyncClient() as c:
            r = await c.get(
                server.url + "/api/v1/alerts?state=all", headers={"Authorization": f"Bearer {OFFICER_TOKEN}"}
            )
        return [a for a in r.json() if a["point"] == "vent_open" and a["severity"] == "red"]

    (alert,) = await wait_for(red, timeout=10)
    assert (alert["enterprise"], alert["device"]) == ("E1", "DC1")

    t0, t1 = rows[0].ts_ms / 1000, rows[-1].ts_ms / 1000
    code, out = await cli(
        "export", "--from", str(t0), "--to", str(t1 + 1), "-o", str(files / "back.csv"), "--database", server.dsn
    )
    assert code == 0, out
    back = (files / "back.csv").read_text()
    assert back == (files / "sim.csv").read_text()  # byte for byte the simulated file
    code, out = await cli(
        "export",
        "--from",
        str(t0),
        "--to",
        str(t1 + 1),
        "--enterprise",
        "E2",
        "-o",
        str(files / "e2.csv"),
        "--database",
        server.dsn,
    )
    with open(files / "e2.csv", newline="") as fh:
        assert {r.enterprise for r in read_rows(fh)} == {"E2"}


async def test_simulate_scenario_pushes_through_the_api(server, files):
    code, out = await cli(
        "simulate",
        "--scenario",
        str(files / "sc.toml"),
        "--url",
        server.url,
        "--credentials",
        str(files / "creds.toml"),
        "--speed",
        "0",
    )
    assert code == 0, out
    stats = json_tail(out)
    assert stats["steps"] == 24 and stats["accepted"] == 24 * 21 and stats["rejected"] == stats["failed"] == 0
    stored = await db_rows(server.dsn)
    assert len(stored) == 24 * 21
    # moved by whole days so that the time of day holds, and no timestamp is in the future
    start = float((files / "sc.toml").read_text().split("start = ")[1].split()[0])
    first = min(r[3] for r in stored) / 1000
    assert (first - start) % 86400 == 0 and max(r[3] for r in stored) / 1000 <= time.time()


async def test_replay_keeps_the_recorded_timing_scaled_by_speed(server):
    base = int(time.time() * 1000) - 60_000
    rows = [Row("E1", "DC1", "dp", base + k * 1000, 1100.0 + k) for k in range(5)]
    buf = io.StringIO()
    write_rows(buf, rows)
    buf.seek(0)
    arrivals = []
    async with Poster(server.url, TOKENS) as poster:
        real_post = poster.post

        async def timed(eid, items, n=None):
            arrivals.append((time.perf_counter(), [m["ts"] for m in items]))
            await real_post(eid, items, n)

        poster.post = timed
        shift = live_shift(base / 1000, base / 1000 + 4, time.time(), 4.0)
        stats = await replay(read_rows(buf), poster, speed=4.0, shift_s=shift)
    assert stats["accepted"] == 5 and stats["messages"] == 5
    gaps = [b[0] - a[0] for a, b in zip(arrivals, arrivals[1:])]
    assert len(arrivals) == 5 and all(g >= 0.2 for g in gaps), gaps  # 1 s recorded / speed 4 (never early)
    assert arrivals[-1][0] - arrivals[0][0] < 2.5  # and not at the recorded pace (4 s)
    sent = [ts for _, tss in arrivals for ts in tss]
    assert [b - a for a, b in zip(sent, sent[1:])] == [1000] * 4  # original spacing kept
    assert sent[-1] / 1000 <= time.time() + 1  # retimed to now, never ahead of the clock
    assert len(await db_rows(server.dsn)) == 5


async def test_load_generator_reports_accepted_and_throttled(server, site):
    raw = site_dict()
    # two enterprises of 4,000 readings/s each: asking for 12,000/s must be throttled
    report = await run_load(raw, TOKENS, server.url, 12_000, 2.0, chunk=200)
    assert report["offered"] >= 12_000  # 24,000 asked; a starved event loop offers less, and says so
    assert report["throttled"] > 0 and report["accepted"] > 0 and report["rejected"] == report["failed"] == 0
    assert report["accepted"] + report["throttled"] + report["unavailable"] == report["offered"]
    assert len(await db_rows(server.dsn)) == report["accepted"]
    await asyncio.sleep(1.5)  # let the token buckets refill
    calm = await run_load(raw, TOKENS, server.url, 1_500, 1.0)
    assert calm["throttled"] == 0 and calm["accepted"] == calm["offered"] > 500
