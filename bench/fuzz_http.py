"""Fuzz the telemetry API over real HTTP: malformed JSON, wrong types, huge numbers, NaN and
Infinity literals, deep nesting, giant arrays, unicode device ids, timestamps far in the past
and future, duplicated ids, wrong headers.

    python bench/fuzz_http.py [--requests 100000] [--seed 1] [--database DSN]

Checks: no 5xx, no dropped connection, every answer is JSON naming the problem, and the
readings table grows by exactly the readings the 202 answers counted (a rejected request
changes nothing). The test suite runs the same fuzzer with fewer requests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

STRANGE = ["", " ", "DC1 ", "dc1", "ＤＣ１", "设备一号", "\u0000", "\ud7ff", "💥", "a" * 300, "DC1\n", "../DC1",
           "DC1'; DROP TABLE readings; --", None, 5, True, [], {}]
POINTS = ["dp", "hopper_temp", "air_speed", "spark", "vent_open", "airlock_fault", "running"]


def _dumps(doc) -> bytes:
    """The stdlib encoder: it writes what stricter ones refuse (ints past 64 bits, NaN)."""
    return json.dumps(doc, ensure_ascii=False).encode("utf-8", "surrogatepass")


_GIANTS: dict[int, bytes] = {}


def _giant(n: int) -> bytes:
    """An array of ``n`` small items (made once: it is the same bytes every time)."""
    if n not in _GIANTS:
        _GIANTS[n] = b"[" + b",".join([b'{"device":"DC1","ts":1,"values":{"dp":1}}'] * n) + b"]"
    return _GIANTS[n]


class Fuzzer:
    """Seeded request generator: (headers, body bytes, kind) per call."""

    def __init__(self, seed: int, token: str, other_token: str, devices: list[str]):
        self.rng = random.Random(seed)
        self.token, self.other = token, other_token
        self.devices = devices
        self.n = 0

    def number(self):
        r = self.rng
        return r.choice([0, -0.0, 1, -1, 1e308, -1e308, 5e-324, 2**63, -(2**63), 2**64, 10**30, 1.5, 1100.0,
                         r.uniform(-1e6, 1e6), r.randint(-10**9, 10**9)])

    def ts(self):
        r = self.rng
        now = int(time.time() * 1000)
        return r.choice([now, now - 1000, now + 3_600_000, now - 40 * 86400 * 1000, 0, -1, 2**62, 1e20,
                         "2026-11-30T08:00:00+08:00", "2026-11-30T08:00:00", "yesterday", "9999-12-31T23:59:59Z",
                         "0001-01-01T00:00:00Z", None, [], now / 1000])

    def value(self):
        r = self.rng
        return r.choice([self.number(), True, False, None, "12.5", [], {}, "NaN"])

    def item(self, valid_bias: float):
        r = self.rng
        valid = r.random() < valid_bias
        it = {"device": r.choice(self.devices) if valid else r.choice(STRANGE + self.devices),
              "ts": int(time.time() * 1000) if valid else self.ts(),
              "values": ({p: float(r.randint(0, 100)) for p in r.sample(POINTS, r.randint(1, 4))} if valid else
                         r.choice([{}, {"dp": self.value()}, {r.choice(STRANGE[:12] or ["x"]): 1},
                                   {p: self.value() for p in r.sample(POINTS, 3)}, None, [1, 2], "dp=1"]))}
        if r.random() < 0.5:
            it["id"] = r.choice([f"fz-{self.n}-{r.randint(0, 50)}", "dup", "", None, 7, "x" * 200])
        if r.random() < 0.1:
            it["extra"] = self.value()
        if r.random() < 0.05:
            del it[r.choice(["device", "ts", "values"])]
        return it

    def nested(self, depth: int) -> bytes:
        """Valid JSON nested ``depth`` deep (built as text: serialisers stop at a few hundred)."""
        opens = [b"[" if self.rng.random() < 0.5 else b'{"a":' for _ in range(depth)]
        closes = [b"]" if o == b"[" else b"}" for o in reversed(opens)]
        return b"".join(opens) + b"1" + b"".join(closes)

    def body(self):
        r = self.rng
        kind = r.choice(["items", "items", "items", "raw", "nested", "giant", "scalar"])
        if kind == "items":
            items = [self.item(0.7) for _ in range(r.randint(1, 20))]
            if r.random() < 0.3:
                items = items + items[:2]  # duplicated ids inside the request
            doc = items if r.random() < 0.9 else items[0]
            raw = _dumps(doc)
            if r.random() < 0.1:
                raw = raw.replace(b"1.0", b"NaN", 1).replace(b"2.0", b"Infinity", 1)
        elif kind == "raw":
            raw = r.choice([b"", b"{", b"[", b"null", b"[1,2,3]", b'{"device":', b"\xff\xfe", b"[NaN]",
                            b'[{"device":"DC1","ts":1,"values":{"dp":-Infinity}}]', b"\x00" * 10,
                            b'[{"device":"DC1","ts":1e999,"values":{"dp":1}}]', "[\"\udcff\"]".encode("utf-8", "surrogatepass")])
        elif kind == "nested":
            raw = self.nested(r.choice([10, 200, 1000, 100_000])) if r.random() < 0.5 else \
                b"[" * r.choice([1000, 100_000]) + b"]" * r.choice([0, 1000])
        elif kind == "giant":
            raw = _giant(r.choice([10_001, 30_000]))
        else:
            raw = _dumps(self.value())
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self.token}"}
        roll = r.random()
        if roll < 0.03:
            headers["Content-Type"] = r.choice(["text/plain", "application/x-www-form-urlencoded", ""])
        elif roll < 0.06:
            headers["Authorization"] = r.choice(["", "Bearer", "Basic abc", f"Bearer {self.other}x", "bearer  x"])
        elif roll < 0.08:
            headers["Authorization"] = f"Bearer {self.other}"  # another enterprise: its devices differ
        self.n += 1
        return headers, raw, kind


async def fuzz(base_url: str, fuzzer: Fuzzer, requests: int, concurrency: int = 8) -> dict:
    stats = {"requests": 0, "by_status": {}, "accepted_readings": 0, "server_errors": [], "bad_bodies": 0}
    queue = iter(range(requests))

    async def worker(client: httpx.AsyncClient):
        for _ in queue:
            headers, raw, kind = fuzzer.body()
            r = await client.post(base_url + "/api/v1/telemetry", content=raw, headers=headers)
            stats["requests"] += 1
            stats["by_status"][r.status_code] = stats["by_status"].get(r.status_code, 0) + 1
            if r.status_code >= 500 and r.status_code != 503:
                stats["server_errors"].append((r.status_code, kind, raw[:200], r.text[:200]))
            try:
                answer = r.json()
            except ValueError:
                stats["bad_bodies"] += 1
                continue
            if r.status_code == 202:
                stats["accepted_readings"] += answer["accepted"]
            elif not (isinstance(answer, dict) and answer.get("error")):
                stats["bad_bodies"] += 1

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return stats


async def _main() -> None:
    import tomllib

    import asyncpg

    from warning.config import load_site
    from warning.server import Server, Settings

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--database", default="postgresql://postgres@127.0.0.1:5432/test")
    args = ap.parse_args()
    root = Path(__file__).resolve().parent.parent
    site = load_site(root / "config" / "demo" / "site.toml")
    creds = tomllib.loads((root / "config" / "demo" / "credentials.toml").read_text())
    conn = await asyncpg.connect(args.database)
    name = f"warning_fuzz_{int(time.time())}"
    await conn.execute(f'CREATE DATABASE "{name}"')
    dsn = args.database.rsplit("/", 1)[0] + "/" + name
    srv = Server(site, Settings(port=0, database=dsn, rate=1e9, burst=1e9))
    await srv.start()
    try:
        t0 = time.perf_counter()
        fz = Fuzzer(args.seed, creds["tokens"]["E001"], creds["tokens"]["E002"], ["DC1", "DC2", "DC3"])
        stats = await fuzz(f"http://127.0.0.1:{srv.port}", fz, args.requests)
        c2 = await asyncpg.connect(dsn)
        stored = await c2.fetchval("SELECT count(*) FROM readings")
        await c2.close()
        print(f"{stats['requests']} requests in {time.perf_counter() - t0:.0f} s; statuses {dict(sorted(stats['by_status'].items()))}")
        print(f"5xx other than 503: {len(stats['server_errors'])}; answers without a JSON error: {stats['bad_bodies']}")
        print(f"readings counted in 202 answers: {stats['accepted_readings']}; rows stored: {stored}")
    finally:
        await srv.stop()
        await conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await conn.close()


if __name__ == "__main__":
    asyncio.run(_main())
