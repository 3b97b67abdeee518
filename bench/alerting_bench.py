"""Alerting benchmark: alert raised -> channel request sent, escalation timer accuracy, and a
flood from one enterprise. The server runs as its own process (``warning run``); this
script is the load generator, the officer and the channels' receiver (loopback HTTP).

    python bench/alerting_bench.py [--database DSN] [--seconds 30] [--rate 6000]

Phases:

1. district: the ingest bench's site (200 enterprises x 4 bag filters x 7 points) with a
   background of ``--rate`` readings/s of normal values, plus 5 probes a second, each a
   ``vent_open = true`` on a device of an enterprise that has had no alert (red, at once).
   Latency is from the probe's POST to the WeCom robot's and the webhook's request
   arriving at the receiver. Nobody signs for half of the probes: they escalate every
   ``--escalate`` seconds (duty officer -> shift leader SMS -> bureau DingTalk, one repeat);
   timer error is the escalation request's arrival minus its due time (opened + k x interval).
   The other half are signed for after 1 s: any escalation of those is a violation.
2. flood: one enterprise with 1,000 collectors raises 1,000 yellow alerts within a minute;
   with ``group_interval = 10`` s each channel must get at most one message per 10 s, and
   the messages together must cover all 1,000 alerts.

Everything shares this machine's 2 cores (server, PostgreSQL, load, receiver).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import orjson
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from ingest_bench import normal_body  # noqa: E402

from bench.common import free_port, wait_ready  # noqa: E402
from simulators.site import generate_site  # noqa: E402
from tests.support import serve_loopback  # noqa: E402
from warning.security import token_digest  # noqa: E402

OFFICER_TOKEN = "bench-officer-token-" + "d" * 24


def pct(xs, p):
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


class Receiver:
    def __init__(self):
        self.hits: list[tuple[str, float, dict]] = []  #: (path, arrival, body)

    async def handle(self, request):
        body = await request.json()
        self.hits.append((request.path, time.time(), body))
        return web.json_response({"errcode": 0})

    async def start(self):
        self.runner, self.base = await serve_loopback(self.handle)


def channels_toml(base: str) -> str:
    return f"""
[[users]]
name = "bench"
role = "officer"
api_token_sha256 = "{token_digest(OFFICER_TOKEN)}"

[[channels]]
id = "robot"
type = "wecom"
url = "{base}/robot"

[[channels]]
id = "leader-sms"
type = "sms"
url = "{base}/sms"
to = ["13900000000"]

[[channels]]
id = "bureau-dt"
type = "dingtalk"
url = "{base}/dingtalk"

[[channels]]
id = "hook"
type = "webhook"
url = "{base}/hook"
"""


def policy_toml(escalate: float, group_interval: float) -> str:
    return f"""
[policy.escalation]
after = {{ red = {escalate} }}
repeat = 1
tiers = [
  {{ name = "duty officer", channels = ["robot"] }},
  {{ name = "shift leader", channels = ["leader-sms"] }},
  {{ name = "bureau leader", channels = ["bureau-dt"] }},
]

[policy.noise]
group_interval = {group_interval}
"""


def start_server(work: Path, port: int, database: str | None) -> subprocess.Popen:
    args = [
        sys.executable,
        "-m",
        "warning.cli",
        "run",
        "--site",
        str(work / "site.toml"),
        "--port",
        str(port),
        "--log-level",
        "WARNING",
    ]
    args += ["--database", database] if database else ["--data-dir", str(work)]
    env = {**os.environ, "XDG_RUNTIME_DIR": str(work)}
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=open(work / "server.log", "ab"), stderr=subprocess.STDOUT)


async def district(args, work: Path, database: str | None) -> None:
    rec = Receiver()
    await rec.start()
    site_text, tokens = generate_site(200, collectors=4, seed=11)
    (work / "site.toml").write_text(site_text + channels_toml(rec.base))
    (work / "policies.toml").write_text(policy_toml(args.escalate, 60))
    import tomllib

    devices = {e["id"]: [d["id"] for d in e["devices"]] for e in tomllib.loads(site_text)["enterprises"]}
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start_server(work, port, database)
    try:
        await wait_ready(url, proc)
        eids = sorted(tokens)
        probes: dict[str, tuple[float, str]] = {}  #: enterprise -> (sent at, device)
        acked: set[str] = set()
        stop_at = time.time() + args.seconds
        async with aiohttp.ClientSession() as s:

            async def post(eid, body):
                async with s.post(
                    url + "/api/v1/telemetry",
                    data=body,
                    headers={"Authorization": f"Bearer {tokens[eid]}", "Content-Type": "application/json"},
                ) as r:
                    await r.read()

            async def background():
                k = 0
                per = 100
                interval = per / args.rate
                nxt = time.perf_counter()
                while time.time() < stop_at:
                    eid = eids[k % len(eids)]
                    asyncio.create_task(post(eid, normal_body(devices[eid], int(time.time() * 1000), per)))
                    k += 1
                    nxt += interval
                    await asyncio.sleep(max(0.0, nxt - time.perf_counter()))

            async def prober():
                k = 0
                while time.time() < stop_at and k < len(eids):
                    eid = eids[k]
                    dev = devices[eid][0]
                    t = time.time()
                    probes[eid] = (t, dev)
                    await post(eid, orjson.dumps([{"device": dev, "ts": int(t * 1000), "values": {"vent_open": True}}]))
                    k += 1
                    await asyncio.sleep(0.2)

            async def officer():
                async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {OFFICER_TOKEN}"}) as o:
                    done: set[str] = set()
                    while time.time() < stop_at + args.escalate * 4:
                        for path, _, body in list(rec.hits):
                            if path != "/hook" or body.get("kind") != "raised":
                                continue
                            a = body["alert"]
                            if a["point"] != "vent_open" or a["id"] in done:
                                continue
                            done.add(a["id"])
                            if int(a["enterprise"][1:]) % 2 == 0 and time.time() - body["at"] >= 1.0:
                                async with o.post(f"{url}/api/v1/alerts/{a['id']}/ack", json={"note": "bench"}) as r:
                                    if r.status == 200:
                                        acked.add(a["id"])
                            elif int(a["enterprise"][1:]) % 2 == 0:
                                done.discard(a["id"])
                        await asyncio.sleep(0.1)

            await asyncio.gather(background(), prober(), officer())
        await asyncio.sleep(args.escalate * 2)
    finally:
        proc.terminate()
        proc.wait(60)
        await rec.runner.cleanup()

    first = {}
    for path, arrived, body in rec.hits:
        if path == "/hook" and body.get("kind") == "raised" and body["alert"]["point"] == "vent_open":
            first.setdefault(("hook", body["alert"]["enterprise"]), arrived)
    robot = [(arrived, body) for path, arrived, body in rec.hits if path == "/robot"]
    lat_hook = [first[("hook", e)] - probes[e][0] for e in probes if ("hook", e) in first]
    lat_robot = []
    for e, (sent, _) in probes.items():
        # the title names the enterprise with its code: "名称 (E001) / DC1 / ..." ("E001 / " without a name)
        hit = next(
            (
                arr
                for arr, b in robot
                if (f"({e}) / " in b["markdown"]["content"] or f"] {e} / " in b["markdown"]["content"]) and arr >= sent
            ),
            None,
        )
        if hit is not None:
            lat_robot.append(hit - sent)
    esc_err = [
        arrived - body["at"]
        for path, arrived, body in rec.hits
        if path == "/hook" and body.get("kind") == "escalated" and body["alert"]["point"] == "vent_open"
    ]
    after_ack = 0
    ack_time = {}
    for path, _arrived, body in rec.hits:
        if path == "/hook" and body.get("kind") == "acknowledged":
            ack_time[body["alert"]["id"]] = body["at"]
    for path, _arrived, body in rec.hits:
        if path in ("/hook", "/sms", "/dingtalk") and body.get("kind") == "escalated":
            aid = body["alert"]["id"]
            if aid in ack_time and body["at"] > ack_time[aid]:
                after_ack += 1
    print(f"district: {len(probes)} probes at {args.rate} readings/s background, {len(acked)} signed for")
    print(
        f"  raised -> webhook request   n={len(lat_hook)} p50={pct(lat_hook, 50) * 1000:.1f} ms "
        f"p99={pct(lat_hook, 99) * 1000:.1f} ms max={max(lat_hook, default=0) * 1000:.1f} ms"
    )
    print(
        f"  raised -> WeCom robot       n={len(lat_robot)} p50={pct(lat_robot, 50) * 1000:.1f} ms "
        f"p99={pct(lat_robot, 99) * 1000:.1f} ms max={max(lat_robot, default=0) * 1000:.1f} ms"
    )
    print(
        f"  escalation request - due    n={len(esc_err)} min={min(esc_err, default=0):+.3f} s "
        f"p50={pct(esc_err, 50):+.3f} s p99={pct(esc_err, 99):+.3f} s max={max(esc_err, default=0):+.3f} s"
    )
    print(f"  escalations after sign-for: {after_ack}")


async def flood(args, work: Path, database: str | None) -> None:
    rec = Receiver()
    await rec.start()
    token = "flood-token-" + "f" * 24
    # yellow (hydrogen over 10 %LEL for 3 s): grouping holds back blue and yellow only; orange and
    # red never wait (issue 13), so a red flood is a flood of messages, capped by max_per_minute alone
    devs = "\n".join(
        f'  [[enterprises.devices]]\n  id = "D{i:04d}"\n  type = "bag_filter"\n  points = ["h2"]\n' for i in range(1000)
    )
    site = (
        f'[site]\nname = "flood"\noffline_after = 3600\n\n[[enterprises]]\nid = "F1"\nname = "flood"\n'
        f'token_sha256 = ["{token_digest(token)}"]\n\n{devs}\n' + channels_toml(rec.base)
    )
    (work / "site.toml").write_text(site)
    (work / "policies.toml").write_text(policy_toml(0, args.group_interval))  # after = 0: no escalation
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start_server(work, port, database)
    try:
        await wait_ready(url, proc)
        start = time.time()
        async with aiohttp.ClientSession() as s:
            for i in range(1000):  # 1,000 alerts over 50 s
                now_ms = int(time.time() * 1000)
                body = orjson.dumps(
                    [
                        {"device": f"D{i:04d}", "ts": now_ms - 4000, "values": {"h2": 15.0}},
                        {"device": f"D{i:04d}", "ts": now_ms, "values": {"h2": 15.0}},
                    ]
                )
                async with s.post(
                    url + "/api/v1/telemetry",
                    data=body,
                    headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                ) as r:
                    assert r.status == 202, await r.text()
                await asyncio.sleep(max(0.0, start + (i + 1) * 0.05 - time.time()))
        await asyncio.sleep(args.group_interval + 3)
    finally:
        proc.terminate()
        proc.wait(60)
        await rec.runner.cleanup()
    print(
        f"flood: 1,000 alerts from one enterprise in {time.time() - start - args.group_interval - 3:.0f} s, "
        f"group_interval = {args.group_interval} s"
    )
    for path in ("/robot", "/hook"):
        times = sorted(arr for p, arr, b in rec.hits if p == path and b.get("kind", "x") not in ("acknowledged",))
        gaps = [b - a for a, b in zip(times, times[1:])]
        covered = sum(b.get("count", 1) for p, _, b in rec.hits if p == path == "/hook")
        extra = f", alerts covered {covered}" if path == "/hook" else ""
        print(f"  {path[1:]}: {len(times)} messages, smallest gap {min(gaps, default=float('nan')):.2f} s{extra}")


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--database", help="PostgreSQL DSN (a fresh database is best); default: embedded")
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--rate", type=float, default=6000)
    ap.add_argument("--escalate", type=float, default=5)
    ap.add_argument("--group-interval", type=float, default=10)
    ap.add_argument("--phase", choices=("district", "flood", "all"), default="all")
    args = ap.parse_args()
    for phase in ("district", "flood") if args.phase == "all" else (args.phase,):
        with tempfile.TemporaryDirectory(prefix=f"alerting-bench-{phase}-") as d:
            db = None
            if args.database:
                import asyncpg

                name = f"warning_alert_bench_{phase}_{int(time.time())}"
                conn = await asyncpg.connect(args.database)
                await conn.execute(f'CREATE DATABASE "{name}"')
                await conn.close()
                db = args.database.rsplit("/", 1)[0] + "/" + name
            try:
                await (district if phase == "district" else flood)(args, Path(d), db)
            finally:
                if db:
                    conn = await asyncpg.connect(args.database)
                    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                    await conn.close()


if __name__ == "__main__":
    asyncio.run(main())
