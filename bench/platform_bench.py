"""Platform adapters' benchmark: readings/s committed through an encrypted adapter (provincial
DES, national SM4), side by side with the native JSON endpoint in one run; the fuzz round; and
the upstream outage.

    python bench/platform_bench.py [--seconds 20] [--clients 16] [--database DSN]
    python bench/platform_bench.py --fuzz 20000
    python bench/platform_bench.py --outage 600          # upstream down for 10 minutes

The server is ``warning run`` in its own process on a generated site of 200 enterprises x 4 bag
filters x 7 points, every point with a code and every enterprise with a provincial and a
national gateway (keys in the environment). Each post carries 100 readings. Bodies are built
(and encrypted) before the clock starts, so the figures are the server's, not the client's
encryption; the load generator still shares the machine's two cores with the server and
PostgreSQL. The adapters' repeats are judged by (point, ts) against the stored readings in the
group commit; the native endpoint's "an id a reading" round shows what one message id per
reading costs (the adapters' way before). A last round posts the provincial bodies again: every
reading a repeat, none stored.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
import tomllib
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import asyncpg
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import free_port, wait_ready  # noqa: E402
from bench.ingest_bench import normal_body  # noqa: E402
from simulators.gateway import demo_keys, with_codes  # noqa: E402
from simulators.site import credentials_toml, generate_site, site_toml  # noqa: E402
from warning.platforms.crypto import CipherSpec  # noqa: E402

TZ = ZoneInfo("Asia/Shanghai")
PROV = "/platform/prov/api/rtsData"
NAT = "/platform/national/api/data"
VALUES = {
    "dp": 1100.0,
    "hopper_temp": 30.0,
    "air_speed": 20.0,
    "spark": 0,
    "airlock_fault": 0,
    "running": 1,
    "vent_open": 0,
}


def local(t: float) -> str:
    return datetime.fromtimestamp(t, TZ).strftime("%Y-%m-%d %H:%M:%S")


# -- fuzz cases (also used by tests/test_platforms_http.py) ----------------------------------------
def fuzz_case(rng: random.Random, now: float, code, qy: dict, keys: dict, secret: str) -> tuple[str, bytes, dict]:
    """One request that must be refused: (path, body, headers). ``code(ent, dev, point)`` gives
    point codes; ``keys`` maps gateway ids GW1 (E1, provincial) and APP1 (E1, national) to (key, iv)."""
    k, iv = keys["GW1"]
    des = CipherSpec("des", k, iv, encodings=("base64", "hex"))
    nk, niv = keys["APP1"]
    sm4 = CipherSpec("sm4", nk, niv)
    good = {
        "tnm": code("E1", "DC1", "dp"),
        "ts": local(now - rng.uniform(0, 3600)),
        "val": f"{rng.uniform(0, 2000):.2f}",
    }

    def prov(items, *, spec=des, qybm=qy["E1"], gw="GW1") -> bytes:
        return orjson.dumps({"qybm": qybm, "wgbm": gw, "data": spec.seal(orjson.dumps(items))})

    bad_items = [
        {
            **good,
            "ts": rng.choice(
                [
                    "",
                    "2026-02-30 00:00:00",
                    "yesterday",
                    local(now)[:-3],
                    17,
                    None,
                    local(now - 40 * 86400),
                    local(now + 3600),
                    "9" * 60,
                ]
            ),
        },
        {**good, "val": rng.choice(["", "abc", "nan", "inf", None, True, [], {}, "1e999", "x" * 50])},
        {**good, "tnm": rng.choice(["", "0" * 19, code("E2", "DC1", "dp"), 5, None, "x" * 100])},
        rng.choice([5, "item", None, []]),
    ]
    wrong = CipherSpec("des", bytes(rng.randrange(256) for _ in range(8)), iv, encodings=("base64", "hex"))
    cipher = des.seal(orjson.dumps([good]))
    kind = rng.randrange(14)
    path, headers = PROV, {}
    if kind == 0:
        body = rng.choice([b"", b"{", b"[]", b"null", b'"x"', bytes(rng.randrange(256) for _ in range(40))])
    elif kind == 1:  # envelope fields missing or of the wrong type
        doc = {"qybm": qy["E1"], "wgbm": "GW1", "data": cipher}
        doc.pop(rng.choice(list(doc)))
        body = orjson.dumps(doc) if rng.random() < 0.5 else orjson.dumps({**doc, "data": 5})
    elif kind == 2:
        body = orjson.dumps({"qybm": qy["E1"], "wgbm": rng.choice(["GW9", "", "APP1", "x" * 80]), "data": cipher})
    elif kind == 3:
        body = orjson.dumps({"qybm": rng.choice([qy["E2"], "", "000000000000", None]), "wgbm": "GW1", "data": cipher})
    elif kind == 4:  # not hex
        body = orjson.dumps({"qybm": qy["E1"], "wgbm": "GW1", "data": cipher[:-1] + "g"})
    elif kind == 5:  # hex of something that is not Base64
        body = orjson.dumps({"qybm": qy["E1"], "wgbm": "GW1", "data": b"**not base64**".hex()})
    elif kind == 6:  # Base64 of a cut cipher text
        import base64

        raw = base64.b64decode(bytes.fromhex(cipher))
        cut = raw[: rng.randrange(1, len(raw)) // 8 * 8 + rng.randrange(1, 8)]
        body = orjson.dumps({"qybm": qy["E1"], "wgbm": "GW1", "data": base64.b64encode(cut).hex()})
    elif kind == 7:
        body = prov([good], spec=wrong)
    elif kind == 8:  # a good cipher around something that is not an array of items
        body = orjson.dumps(
            {
                "qybm": qy["E1"],
                "wgbm": "GW1",
                "data": des.seal(rng.choice([b"", b"{", b"[]", b"not json", "中文".encode()])),
            }
        )
    elif kind in (9, 10):
        items = [dict(good) for _ in range(rng.randrange(1, 20))]
        items.insert(rng.randrange(len(items) + 1), rng.choice(bad_items))
        body = prov(items)
    elif kind == 11:  # national: wrong or missing appsecret, or wrong key
        path = NAT
        doc = {"appid": "APP1", "data": sm4.seal(orjson.dumps([good]))}
        choice = rng.randrange(3)
        headers = {} if choice == 0 else {"appsecret": secret + "x"} if choice == 1 else {"appsecret": secret}
        if choice == 2:
            doc["data"] = CipherSpec("sm4", bytes(16), niv).seal(orjson.dumps([good]))
        body = orjson.dumps(doc)
    elif kind == 12:  # national: a bad item behind a good key
        path = NAT
        items = [good, rng.choice(bad_items)]
        body = orjson.dumps({"appid": "APP1", "data": sm4.seal(orjson.dumps(items))})
        headers = {"appsecret": secret}
    else:  # alarm items with a bad field
        path = "/platform/prov/api/eventsData"
        alarm = {
            "ts": local(now),
            "oname": code("E1", "DC1", "hopper_temp"),
            "avx": "75",
            "scd": 4,
            "threshold": "70",
            "content": "超限",
        }
        field, bad = rng.choice(
            [
                ("ts", "2026-99-99 00:00:00"),
                ("ts", None),
                ("oname", "0" * 19),
                ("oname", None),
                ("scd", 4.5),
                ("scd", "x"),
                ("content", "bad\x00"),
                ("content", {"a": 1}),
            ]
        )
        alarm[field] = bad
        body = prov([alarm])
    return path, body, headers


# -- the server ---------------------------------------------------------------------------------
class PlatformServer:
    def __init__(self, database: str | None = None, channels: list[dict] | None = None, extra_env=None):
        self.database, self.channels, self.extra_env = database, channels or [], extra_env or {}

    async def __aenter__(self):
        self.work = work = Path(tempfile.mkdtemp(prefix="warning-platform-bench-"))
        text, self.tokens = generate_site(200, collectors=4, seed=11)
        site = with_codes(tomllib.loads(text))
        site["channels"] = site.get("channels", []) + self.channels
        self.site = site
        self.env = demo_keys(site)
        (work / "site.toml").write_text(site_toml(site, "bench/platform_bench.py"))
        creds = tomllib.loads(credentials_toml(self.tokens, seed=11))
        self.password = creds["users"]["officer"]["password"]
        self.port = free_port()
        cmd = [
            sys.executable,
            "-m",
            "warning.cli",
            "run",
            "--site",
            str(work / "site.toml"),
            "--port",
            str(self.port),
            "--rate",
            "1000000",
            "--log-level",
            "WARNING",
        ]
        cmd += ["--database", self.database] if self.database else ["--data-dir", str(work / "data")]
        env = {**os.environ, **self.env, **self.extra_env, "XDG_RUNTIME_DIR": str(work)}
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=open(work / "server.log", "wb"), stderr=subprocess.STDOUT
        )
        self.url = f"http://127.0.0.1:{self.port}"
        self.dsn = self.database or f"postgresql://postgres@/postgres?host={work / 'data' / 'pgdata'}"
        await wait_ready(self.url, self.proc)
        return self

    async def __aexit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(60)

    def devices(self) -> dict[str, list[dict]]:
        return {e["id"]: [d for d in e["devices"] if d.get("type") == "bag_filter"] for e in self.site["enterprises"]}

    def cipher(self, gid: str, algorithm: str, encodings) -> CipherSpec:
        g = next(g for g in self.site["gateways"] if g["id"] == gid)
        return CipherSpec(
            algorithm, self.env[g["key_env"]].encode(), self.env[g["iv_env"]].encode(), encodings=encodings
        )


def platform_bodies(srv: PlatformServer, platform: str, n: int, t0: float) -> list[tuple[bytes, dict]]:
    """``n`` posts of 100 readings, round the enterprises, each (code, second) used once."""
    devs = srv.devices()
    eids = sorted(devs)
    out = []
    per_ent: dict[str, int] = {}
    for k in range(n):
        eid = eids[k % len(eids)]
        j = per_ent.get(eid, 0)
        per_ent[eid] = j + 1
        ent = next(e for e in srv.site["enterprises"] if e["id"] == eid)
        codes = [(p, c) for d in devs[eid] for p, c in d["codes"].items()]
        items = []
        step = 0
        while len(items) < 100:  # 28 points: four seconds' worth, and a few of a fifth
            ts = local(t0 + (j * 5 + step))
            for p, c in codes[: 100 - len(items)]:  # normal values, as the native bodies carry
                items.append({"tnm": c, "ts": ts, "val": f"{VALUES.get(p, 0) + (len(items) % 7) * (p == 'dp'):.2f}"})
            step += 1
        if platform == "provincial":
            spec = srv.cipher(f"P{eid}", "des", ("base64", "hex"))
            body = orjson.dumps({"qybm": ent["code"], "wgbm": f"P{eid}", "data": spec.seal(orjson.dumps(items))})
            out.append((body, {"Content-Type": "application/json"}))
        else:
            spec = srv.cipher(f"N{eid}", "sm4", ("hex",))
            body = orjson.dumps({"appid": f"N{eid}", "data": spec.seal(orjson.dumps(items))})
            out.append((body, {"Content-Type": "application/json", "appsecret": srv.env[f"WARNING_GW_N_{eid}_SECRET"]}))
    return out


async def drive(
    url: str, bodies: list[tuple[bytes, dict]], seconds: float, clients: int, platform: bool
) -> tuple[int, float, int]:
    """Post as fast as answered; (readings accepted, seconds, refused)."""
    accepted = refused = 0
    stop_at = time.perf_counter() + seconds
    it = iter(bodies)

    async def client():
        nonlocal accepted, refused
        async with aiohttp.ClientSession() as s:
            while time.perf_counter() < stop_at:
                try:
                    body, headers = next(it)
                except StopIteration:
                    return
                while True:
                    async with s.post(url, data=body, headers=headers) as r:
                        doc = await r.json(content_type=None)
                        if r.status in (429, 503):
                            await asyncio.sleep(0.01)
                            continue
                        if platform:
                            if doc.get("code") == 200:
                                accepted += 100
                            else:
                                refused += 1
                        elif r.status == 202:
                            accepted += doc["accepted"]
                        else:
                            refused += 1
                        break

    t0 = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return accepted, time.perf_counter() - t0, refused


async def throughput(args) -> None:
    async with PlatformServer(args.database) as srv:
        conn = await asyncpg.connect(srv.dsn)
        n = int(args.seconds * args.max_rate / 100)
        t0 = time.time() - 20 * 86400
        print(f"building {n} bodies per format ...", flush=True)
        prov = platform_bodies(srv, "provincial", n, t0)
        nat = platform_bodies(srv, "national", n, t0 + 10 * 86400)
        devs = {e: [d["id"] for d in ds] for e, ds in srv.devices().items()}
        eids = sorted(devs)
        base = int((time.time() - 60) * 1000)
        native = [
            (
                normal_body(devs[eids[k % len(eids)]], base + k * 10),
                {"Authorization": f"Bearer {srv.tokens[eids[k % len(eids)]]}", "Content-Type": "application/json"},
            )
            for k in range(n)
        ]
        # the same idempotency as the adapters: one message id per reading
        with_ids = []
        for k in range(n):
            eid = eids[k % len(eids)]
            items = []
            for j, dev in enumerate(devs[eid] * 4):
                for p, v in VALUES.items():
                    if len(items) < 100:
                        ts = base - 86_400_000 + k * 10 + j
                        items.append({"device": dev, "ts": ts, "values": {p: v}, "id": f"pc:{dev}{p}:{ts}"})
            with_ids.append(
                (
                    orjson.dumps(items),
                    {"Authorization": f"Bearer {srv.tokens[eid]}", "Content-Type": "application/json"},
                )
            )
        posted = 0
        for name, path, bodies, platform in (
            ("native JSON, no ids         /api/v1/telemetry", "/api/v1/telemetry", native, False),
            ("provincial DES              /platform/prov/api/rtsData", PROV, prov, True),
            ("native JSON, an id a reading /api/v1/telemetry", "/api/v1/telemetry", with_ids, False),
            ("national SM4                /platform/national/api/data", NAT, nat, True),
        ):
            before = await conn.fetchval("SELECT count(*) FROM readings")
            accepted, elapsed, refused = await drive(srv.url + path, bodies, args.seconds, args.clients, platform)
            if path == PROV:
                posted = accepted // 100  # the first ``posted`` bodies, all taken
            stored = await conn.fetchval("SELECT count(*) FROM readings") - before
            print(
                f"{name}: {accepted:,} readings committed in {elapsed:.1f} s = {accepted / elapsed:,.0f} readings/s "
                f"(posts of 100); rows stored {stored:,}; refused {refused}",
                flush=True,
            )
            await asyncio.sleep(3)  # let the pipeline drain between formats
        # the provincial posts once more: every reading a repeat, judged against the stored readings
        before = await conn.fetchval("SELECT count(*) FROM readings")
        answered, elapsed, refused = await drive(srv.url + PROV, prov[:posted], args.seconds, args.clients, True)
        stored = await conn.fetchval("SELECT count(*) FROM readings") - before
        print(
            f"provincial DES again (every reading a repeat): {answered:,} readings answered in {elapsed:.1f} s = "
            f"{answered / elapsed:,.0f} readings/s; rows stored {stored:,}; refused {refused}",
            flush=True,
        )
        await conn.close()


async def fuzz(args) -> None:
    async with PlatformServer(args.database) as srv:
        conn = await asyncpg.connect(srv.dsn)
        # the fuzzer's fixed names: E1 is the site's first enterprise
        first = srv.site["enterprises"][0]
        second = srv.site["enterprises"][1]
        codes = {
            (e["id"], d["id"], p): c
            for e in srv.site["enterprises"]
            for d in e["devices"]
            for p, c in d.get("codes", {}).items()
        }
        alias = {"E1": first["id"], "E2": second["id"]}
        keys = {
            "GW1": tuple(srv.env[f"WARNING_GW_P_{first['id']}_{x}"].encode() for x in ("KEY", "IV")),
            "APP1": tuple(srv.env[f"WARNING_GW_N_{first['id']}_{x}"].encode() for x in ("KEY", "IV")),
        }
        secret = srv.env[f"WARNING_GW_N_{first['id']}_SECRET"]
        qy = {"E1": first["code"], "E2": second["code"]}

        def code(ent, dev, point):
            return codes[(alias[ent], dev, point)]

        rng = random.Random(args.seed)
        before = {
            t: await conn.fetchval(f"SELECT count(*) FROM {t}")
            for t in ("readings", "enterprise_alarms", "dead_letters")
        }
        statuses: dict[int, int] = {}
        t0 = time.perf_counter()
        ok_answers = 0
        async with aiohttp.ClientSession() as s:
            sem = asyncio.Semaphore(8)

            async def one():
                nonlocal ok_answers
                path, body, headers = fuzz_case(rng, time.time(), code, qy, keys, secret)
                path = path.replace("APP1", "")
                if path == NAT:
                    doc = orjson.loads(body) if body.startswith(b"{") else None
                    if isinstance(doc, dict) and doc.get("appid") == "APP1":
                        doc["appid"] = f"N{first['id']}"
                        body = orjson.dumps(doc)
                elif body.startswith(b"{"):
                    try:
                        doc = orjson.loads(body)
                    except orjson.JSONDecodeError:
                        doc = None
                    if isinstance(doc, dict) and doc.get("wgbm") == "GW1":
                        doc["wgbm"] = f"P{first['id']}"
                        body = orjson.dumps(doc)
                async with sem, s.post(srv.url + path, data=body, headers=headers) as r:
                    statuses[r.status] = statuses.get(r.status, 0) + 1
                    doc = await r.json(content_type=None)
                    ok_answers += doc.get("code") == 200

            for start in range(0, args.fuzz, 200):
                await asyncio.gather(*(one() for _ in range(min(200, args.fuzz - start))))
        after = {t: await conn.fetchval(f"SELECT count(*) FROM {t}") for t in before}
        five = sum(v for k, v in statuses.items() if k >= 500)
        print(
            f"fuzz: {args.fuzz} requests in {time.perf_counter() - t0:.0f} s; statuses {dict(sorted(statuses.items()))}; "
            f"5xx {five}; success answers {ok_answers}; readings stored {after['readings'] - before['readings']}; "
            f"alarms stored {after['enterprise_alarms'] - before['enterprise_alarms']}; dead letters "
            f"{after['dead_letters'] - before['dead_letters']}"
        )
        await conn.close()


async def outage(args) -> None:
    """The upstream is down (500s, then hangs) for ``--outage`` s while alerts are raised (and
    with them risk warnings) and readings flow up as real-time data; then back. Every message is
    counted by its ``Idempotency-Key``: each outbox row must arrive, none unknown."""
    from aiohttp import web

    received: list[str] = []  #: Idempotency-Key of every message that arrived, repeats included
    readings: list[tuple[str, str]] = []  #: (tnm, ts) of every real-time item that arrived
    state = {"mode": "fail"}
    spec = CipherSpec("des", b"upkey-01", b"upiv-001", encodings=("base64", "hex"))

    async def handle(request):
        body = await request.json()
        if state["mode"] == "fail":
            return web.json_response({"code": 500, "msg": "down", "data": None}, status=500)
        if state["mode"] == "hang":
            await asyncio.sleep(30)
        items = orjson.loads(spec.open(body["data"]))
        received.append(request.headers["Idempotency-Key"])
        readings.extend(
            (it["tnm"], it["ts"]) for it in items if "val" in it and "type" not in it and "alarmId" not in it
        )
        return web.json_response({"code": 200, "msg": "操作成功", "data": None})

    app = web.Application()
    app.router.add_post("/push", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    up = free_port()
    await web.TCPSite(runner, "127.0.0.1", up).start()
    channel = {
        "id": "province",
        "type": "upstream",
        "format": "provincial",
        "url": f"http://127.0.0.1:{up}/push",
        "gateway": "UP",
        "key_env": "BENCH_UP_KEY",
        "iv_env": "BENCH_UP_IV",
        "timeout": 5,
        "min_severity": "red",
        "risk": True,
        "realtime": True,
        "realtime_interval": 5,
    }
    async with PlatformServer(args.database, [channel], {"BENCH_UP_KEY": "upkey-01", "BENCH_UP_IV": "upiv-001"}) as srv:
        conn = await asyncpg.connect(srv.dsn)
        devs = srv.devices()
        targets = [(e, d) for e in sorted(devs) for d in devs[e]]
        end = time.time() + args.outage
        k = 0
        posted: set[tuple[str, str]] = set()
        async with aiohttp.ClientSession() as s:
            while time.time() < end:  # one red alert (vent open) every 2 s during the outage
                if time.time() > end - args.outage / 3:
                    state["mode"] = "hang"
                eid, dev = targets[k % len(targets)]
                k += 1
                ent = next(x for x in srv.site["enterprises"] if x["id"] == eid)
                gw = srv.cipher(f"P{eid}", "des", ("base64", "hex"))
                ts = local(time.time())
                items = [{"tnm": dev["codes"]["vent_open"], "ts": ts, "val": "1"}]
                async with s.post(
                    srv.url + PROV,
                    data=orjson.dumps({"qybm": ent["code"], "wgbm": f"P{eid}", "data": gw.seal(orjson.dumps(items))}),
                ) as r:
                    assert (await r.json())["code"] == 200
                posted.add((items[0]["tnm"], ts))
                await asyncio.sleep(2)
            state["mode"] = "ok"
            back = time.time()
            await asyncio.sleep(10)  # the last real-time step queues the last readings

            async def queued() -> set[str]:
                return {
                    r["event_id"] for r in await conn.fetch("SELECT event_id FROM outbox WHERE channel = 'province'")
                }

            while time.time() < back + 900:  # every queued message received, every outbox row settled
                pending = await conn.fetchval(
                    "SELECT count(*) FROM outbox WHERE channel = 'province' AND state = 'pending'"
                )
                if not pending and (await queued()) <= set(received):
                    break
                await asyncio.sleep(1)
        want_alerts = {
            r["id"]
            for r in await conn.fetch(
                "SELECT e.id FROM alert_events e JOIN alerts a ON a.id = e.alert_id WHERE a.rule <> 'dead_letter' "
                "AND e.severity >= 4 AND e.kind IN ('raised', 'updated', 'acknowledged', 'handling', 'feedback', 'resolved')"
            )
        }
        rows = await conn.fetch(
            "SELECT kind, state, count(*) AS n FROM outbox WHERE channel = 'province' GROUP BY kind, state ORDER BY 1, 2"
        )
        want = await queued()
        got = set(received)
        print(
            f"outage {args.outage:.0f} s: {len(want)} messages queued for the upstream "
            f"({len(want_alerts)} alert events, all queued: {want_alerts <= want}); distinct ids received {len(got)}; "
            f"lost {len(want - got)}; unknown ids {len(got - want)}; deliveries {len(received)} (repeats by id: a "
            f"send that timed out in the hang phase arrived all the same); real-time readings posted {len(posted)}, "
            f"received {len(set(readings) & posted)} distinct (items in all {len(readings)}); settled "
            f"{time.time() - back:.0f} s after the upstream came back; outbox "
            f"{ {(r['kind'], r['state']): r['n'] for r in rows} }"
        )
        await conn.close()
    await runner.cleanup()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--database", help="PostgreSQL DSN (default: the embedded server)")
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--max-rate", type=float, default=150_000, help="readings/s the pre-built bodies can cover")
    ap.add_argument("--fuzz", type=int, default=0, metavar="N", help="run N fuzzed requests instead")
    ap.add_argument("--outage", type=float, default=0, metavar="S", help="run the upstream outage of S seconds instead")
    ap.add_argument("--seed", type=int, default=18)
    args = ap.parse_args()
    if args.fuzz:
        asyncio.run(fuzz(args))
    elif args.outage:
        asyncio.run(outage(args))
    else:
        asyncio.run(throughput(args))


if __name__ == "__main__":
    main()
