"""Fuzz every endpoint over real HTTP, as an attacker, a careless integrator and a noisy
neighbour would.

    python bench/fuzz_http.py [--requests 200000] [--seed 1] [--database DSN]

* Telemetry: malformed JSON, wrong types, huge numbers, NaN and Infinity literals, deep
  nesting, giant arrays, unicode device ids, timestamps far in the past and future,
  duplicated ids, wrong headers.
* Every endpoint (telemetry, alert actions with notes and attachments' metadata, silences,
  login, reports, dashboard and alert reads): NUL, other control characters and lone
  surrogates (written as the json module writes them, ``"\\ud800"``) in every text field
  and in paths and queries, every content type, malformed and oversized bodies.
* Raw sockets: header floods (100 KB lines, 200 fields), a trickled head, a trickled body.
* A second enterprise sends good readings throughout: every one of its requests must be 202.

Checks: no 5xx at all; every refusal is JSON naming the problem; every poisoned request is
refused at the edge (400 whose error names the character, ``U+...``); the raw-socket attacks
are answered 4xx or closed, never served; and refused requests change nothing: readings equal
what the 202s counted, silences what the 201s created, officers' alert events what the 200
actions made. The test suite runs the same fuzzer with fewer requests (tests/test_fuzz.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from pathlib import Path
from urllib.parse import quote_from_bytes

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

#: texts no stored field may hold; each poisoned request must be refused 400 naming "U+..."
POISON = ["\x00", "a\x00b", "\ud800", "x\udfffy", "\x1b[31m", "\x7f", "\x08"]
STRANGE = [
    "",
    " ",
    "DC1 ",
    "dc1",
    "ＤＣ１",
    "设备一号",
    "\u0000",
    "\ud7ff",
    "💥",
    "a" * 300,
    "DC1\n",
    "../DC1",
    "DC1'; DROP TABLE readings; --",
    None,
    5,
    True,
    [],
    {},
]
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
        return r.choice(
            [
                0,
                -0.0,
                1,
                -1,
                1e308,
                -1e308,
                5e-324,
                2**63,
                -(2**63),
                2**64,
                10**30,
                1.5,
                1100.0,
                r.uniform(-1e6, 1e6),
                r.randint(-(10**9), 10**9),
            ]
        )

    def ts(self):
        r = self.rng
        now = int(time.time() * 1000)
        return r.choice(
            [
                now,
                now - 1000,
                now + 3_600_000,
                now - 40 * 86400 * 1000,
                0,
                -1,
                2**62,
                1e20,
                "2026-11-30T08:00:00+08:00",
                "2026-11-30T08:00:00",
                "yesterday",
                "9999-12-31T23:59:59Z",
                "0001-01-01T00:00:00Z",
                None,
                [],
                now / 1000,
            ]
        )

    def value(self):
        r = self.rng
        return r.choice([self.number(), True, False, None, "12.5", [], {}, "NaN"])

    def item(self, valid_bias: float):
        r = self.rng
        valid = r.random() < valid_bias
        it = {
            "device": r.choice(self.devices) if valid else r.choice(STRANGE + self.devices),
            "ts": int(time.time() * 1000) if valid else self.ts(),
            "values": (
                {p: float(r.randint(0, 100)) for p in r.sample(POINTS, r.randint(1, 4))}
                if valid
                else r.choice(
                    [
                        {},
                        {"dp": self.value()},
                        {r.choice(STRANGE[:12] or ["x"]): 1},
                        {p: self.value() for p in r.sample(POINTS, 3)},
                        None,
                        [1, 2],
                        "dp=1",
                    ]
                )
            ),
        }
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
            raw = r.choice(
                [
                    b"",
                    b"{",
                    b"[",
                    b"null",
                    b"[1,2,3]",
                    b'{"device":',
                    b"\xff\xfe",
                    b"[NaN]",
                    b'[{"device":"DC1","ts":1,"values":{"dp":-Infinity}}]',
                    b"\x00" * 10,
                    b'[{"device":"DC1","ts":1e999,"values":{"dp":1}}]',
                    '["\udcff"]'.encode("utf-8", "surrogatepass"),
                ]
            )
        elif kind == "nested":
            raw = (
                self.nested(r.choice([10, 200, 1000, 100_000]))
                if r.random() < 0.5
                else b"[" * r.choice([1000, 100_000]) + b"]" * r.choice([0, 1000])
            )
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


CONTENT_TYPES = [
    "application/json",
    "application/json; charset=utf-8",
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "",
    "application/xml",
    "APPLICATION/JSON",
]


class EndpointFuzzer:
    """Seeded requests over every endpoint: (method, path, headers, body bytes, kind, poisoned)."""

    def __init__(
        self,
        seed: int,
        enterprise_token: str,
        other_token: str,
        officer_token: str,
        alert_ids: list[str],
        devices: list[str],
        session: tuple[str, str] | None = None,
    ):
        self.rng = random.Random(seed)
        self.session = session  #: (cookie, csrf) of a logged-in officer: cookie-authenticated writes
        self.telemetry = Fuzzer(seed + 1, enterprise_token, other_token, devices)
        self.enterprise_token, self.officer = enterprise_token, officer_token
        self.alert_ids = alert_ids or ["no-such-alert"]
        self.devices = devices
        self.n = 0

    def text(self, poison: bool) -> str:
        r = self.rng
        if poison:
            base = r.choice(["note", "维修中", "", "x" * r.choice([1, 100])])
            cut = r.randint(0, len(base))
            return base[:cut] + r.choice(POISON) + base[cut:]
        return r.choice(
            ["签收，已派人到现场", "bag change", "", " ", "💥" * 3, "x" * 2001, "a" * 50, "'; DROP TABLE x"]
        )

    def poison_one(self, doc: dict, fields: list[str]) -> dict:
        """``doc`` with one of ``fields`` (a dotted path) holding a poison text."""
        path = self.rng.choice(fields).split(".")
        node = doc
        for key in path[:-1]:
            node = node[int(key)] if isinstance(node, list) else node[key]
        node[int(path[-1]) if isinstance(node, list) else path[-1]] = self.text(True)
        return doc

    def action(self, poison: bool):
        r = self.rng
        aid = r.choice(self.alert_ids + ["nope", "1", "a" * 300])
        verb = r.choice(["ack", "handle", "feedback", "resolve"])
        doc: dict = {"note": self.text(False)} if r.random() < 0.8 else {}
        if verb == "feedback" and r.random() < 0.6:
            doc["attachments"] = [
                {
                    "name": "现场照片.jpg",
                    "type": "image/jpeg",
                    "size": r.randint(0, 10**6),
                    "url": "https://files.example/1.jpg",
                    "sha256": "ab" * 32,
                }
            ]
        if poison:
            doc.setdefault("note", "x")
            fields = ["note"] + (
                ["attachments.0.name", "attachments.0.url", "attachments.0.type"] if "attachments" in doc else []
            )
            doc = self.poison_one(doc, fields)
        elif r.random() < 0.2:
            doc[r.choice(["extra", "attachments", "note"])] = r.choice([None, 5, [], {}, [{"name": 1}], "x"])
        return "POST", f"/api/v1/alerts/{aid}/{verb}", doc

    def silence(self, poison: bool):
        r = self.rng
        now = time.time()
        doc = {
            "matchers": {r.choice(["enterprise", "device", "point", "colour"]): r.choice(["E1", "DC1", "dp", ""])},
            "reason": r.choice(["bag change", "检修", ""]),
            "ends_at": now + r.choice([3600, -5, 10**9]),
            "starts_at": now if poison else r.choice([now, "x", None, float("nan")]),
        }
        if doc["starts_at"] is None:
            del doc["starts_at"]
        if r.random() < 0.2:
            doc["cron"], doc["duration"] = r.choice(["0 2 * * 6", "bad", "* * * * * *"]), r.choice([3600, 1, "x"])
        method = r.choice(["POST", "POST", "PUT"] if poison else ["POST", "POST", "PUT", "DELETE"])
        if poison:  # (a DELETE's body is never read, so poisoning it would prove nothing)
            key = next(iter(doc["matchers"]))
            doc = self.poison_one(doc, ["reason", f"matchers.{key}"] + (["cron"] if "cron" in doc else []))
        path = "/api/v1/silences" if method == "POST" else f"/api/v1/silences/{r.choice(['x', '1', 'nope'])}"
        return method, path, doc

    def read(self):
        r = self.rng
        path = r.choice(
            [
                "/api/v1/alerts",
                "/api/v1/report",
                "/api/v1/dash/trend",
                "/api/v1/dash/series",
                "/api/v1/dash/alerts",
                "/api/v1/silences",
                "/api/v1/notifications",
                "/api/v1/me",
                f"/api/v1/alerts/{r.choice(self.alert_ids)}",
                "/api/v1/dash/site",
                "/qr/E1.svg",
            ]
        )
        q = r.choice(
            [
                "",
                "?state=all&limit=-5",
                "?limit=abc",
                "?from=0&to=1e30",
                "?format=csv",
                "?point=1&from=x",
                "?state=" + "a" * 300,
                "?limit=99999999999999999999",
            ]
        )
        return "GET", path + q, None

    def request(self):
        """(method, path, headers, body, kind, poisoned)."""
        r = self.rng
        self.n += 1
        roll = r.random()
        poisoned = r.random() < 0.3
        if roll < 0.35:
            if poisoned:
                it = {
                    "device": r.choice(self.devices),
                    "ts": int(time.time() * 1000),
                    "values": {"dp": 1.0},
                    "id": f"p-{self.n}",
                }
                it = self.poison_one(it, ["id", "device"])
                if r.random() < 0.3:
                    it["values"] = {self.text(True): 1.0}
                headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self.enterprise_token}"}
                return "POST", "/api/v1/telemetry", headers, _dumps([it]), "telemetry-poison", True
            headers, raw, kind = self.telemetry.body()
            return "POST", "/api/v1/telemetry", headers, raw, "telemetry-" + kind, False
        if roll < 0.85:
            method, path, doc = (self.action if roll < 0.6 else self.silence)(poisoned)
            headers = {"Authorization": f"Bearer {self.officer}", "Content-Type": "application/json"}
            if self.session is not None and r.random() < 0.2:  # a browser's session, with odd CSRF headers
                cookie, csrf = self.session
                del headers["Authorization"]
                headers["Cookie"] = f"warning_session={cookie}"
                headers["X-CSRF-Token"] = (
                    csrf
                    if poisoned or r.random() < 0.5
                    else r.choice(["", "x" * 1000, csrf + "x", "é".encode("latin-1"), b"\xff\xfe", csrf[:-1]])
                )
            raw = b"" if doc is None else _dumps(doc)
            if not poisoned and r.random() < 0.15:
                headers["Content-Type"] = r.choice(CONTENT_TYPES)
            if not poisoned and r.random() < 0.05:
                raw = r.choice([b"{", b"[]", b"null", b"\xff", b"{" * 5000, b'{"note": NaN}', b"x" * 70_000])
            return method, path, headers, raw, path.split("/")[3], poisoned
        if roll < 0.93:
            if poisoned:
                user, pw = (self.text(True), "x") if r.random() < 0.5 else ("duty", self.text(True))
            else:
                user, pw = r.choice(["duty", "nobody", "", "a" * 300]), r.choice(["wrong", "", "x" * 2000])
            body = (
                "username="
                + quote_from_bytes(user.encode("utf-8", "surrogatepass"))
                + "&password="
                + quote_from_bytes(pw.encode("utf-8", "surrogatepass"))
            )
            ctype = "application/x-www-form-urlencoded" if poisoned or r.random() < 0.8 else r.choice(CONTENT_TYPES)
            return "POST", "/login", {"Content-Type": ctype}, body.encode(), "login", poisoned
        method, path, _ = self.read()
        if poisoned:
            bad = quote_from_bytes(r.choice(POISON).encode("utf-8", "surrogatepass"))
            path = r.choice(
                [
                    f"/api/v1/alerts/{bad}",
                    f"/api/v1/silences/x{bad}",
                    f"/api/v1/alerts?state={bad}",
                    f"/api/v1/report?enterprise={bad}",
                    f"/api/v1/alerts/{bad}/ack",
                ]
            )
            method = "POST" if path.endswith("ack") else "GET"
        return method, path, {"Authorization": f"Bearer {self.officer}"}, b"", "read", poisoned


def _refused_at_the_edge(status: int, answer) -> bool:
    return status == 400 and isinstance(answer, dict) and "U+" in str(answer.get("error", "")) + str(answer)


async def attack(port: int, kind: str, head_timeout: float) -> str:
    """One raw-socket attack; returns "refused" (4xx or closed) or what went wrong."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        if kind == "big-header":
            writer.write(b"GET /api/v1/alerts HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n")
        elif kind == "many-headers":
            writer.write(
                b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(200)) + b"\r\n"
            )
        elif kind == "flood-line":
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nX-Flood: ")
            for _ in range(64):  # 4 MiB of one header line
                writer.write(b"a" * 65536)
                await writer.drain()
        elif kind == "slow-head":
            for part in (b"GET /healthz HTTP/1.1\r\n", b"Host: x\r\n", b"X-Slow: 1\r\n"):
                writer.write(part)
                await writer.drain()
                await asyncio.sleep(head_timeout / 3)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), head_timeout + 35)
    except (ConnectionResetError, BrokenPipeError):
        return "refused"
    except TimeoutError:
        return f"{kind}: not cut off"
    finally:
        writer.close()
    if answer == b"" or answer.startswith((b"HTTP/1.1 4",)):
        return "refused"
    return f"{kind}: answered {answer[:40]!r}"


async def good_tenant(base_url: str, token: str, device: str, stop: asyncio.Event, stats: dict) -> None:
    """Another enterprise's good traffic throughout the fuzz: each request must be 202."""
    h = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    n = 0
    async with httpx.AsyncClient(timeout=30) as c:
        while not stop.is_set():
            n += 1
            body = orjson.dumps(
                [
                    {
                        "device": device,
                        "ts": int(time.time() * 1000),
                        "values": {"dp": 1100.0},
                        "id": f"good-{id(stats)}-{n}",
                    }
                ]
            )
            r = await c.post(base_url + "/api/v1/telemetry", content=body, headers=h)
            stats["good"][r.status_code] = stats["good"].get(r.status_code, 0) + 1
            if r.status_code == 202:
                stats["accepted_readings"] += r.json()["accepted"]
            await asyncio.sleep(0.01)


async def fuzz_all(
    base_url: str,
    fuzzer: EndpointFuzzer,
    requests: int,
    *,
    good_token: str,
    good_device: str,
    concurrency: int = 8,
    attacks: int = 8,
    head_timeout: float = 10.0,
) -> dict:
    """Run ``requests`` fuzzed requests, the raw-socket attacks and the good tenant; the stats."""
    stats = {
        "requests": 0,
        "by_status": {},
        "by_kind": {},
        "accepted_readings": 0,
        "server_errors": [],
        "bad_bodies": [],
        "poison_not_refused": [],
        "created_silences": 0,
        "actions_ok": 0,
        "good": {},
        "attacks": [],
    }
    queue = iter(range(requests))
    port = int(base_url.rsplit(":", 1)[1])

    async def worker(client: httpx.AsyncClient):
        for _ in queue:
            method, path, headers, raw, kind, poisoned = fuzzer.request()
            r = await client.request(method, path, content=raw, headers=headers)
            stats["requests"] += 1
            stats["by_status"][r.status_code] = stats["by_status"].get(r.status_code, 0) + 1
            k = stats["by_kind"].setdefault(kind, {})
            k[r.status_code] = k.get(r.status_code, 0) + 1
            sample = (r.status_code, kind, method, path[:80], raw[:120], r.text[:200])
            if r.status_code >= 500:
                stats["server_errors"].append(sample)
            if r.status_code in (303, 200) and path == "/login":
                continue  # a redirect or the page: not JSON
            try:
                answer = r.json()
            except ValueError:
                answer = None
                if not (kind == "read" and r.status_code == 200):  # the QR code is SVG
                    stats["bad_bodies"].append(sample)
            if poisoned and not _refused_at_the_edge(r.status_code, answer):
                stats["poison_not_refused"].append(sample)
            if r.status_code == 202 and path == "/api/v1/telemetry":
                stats["accepted_readings"] += answer["accepted"]
            elif r.status_code == 201 and path == "/api/v1/silences":
                stats["created_silences"] += 1
            elif r.status_code == 200 and "/api/v1/alerts/" in path and method == "POST":
                stats["actions_ok"] += 1
            elif r.status_code >= 400 and not (isinstance(answer, dict) and answer.get("error")):
                stats["bad_bodies"].append(sample)

    stop = asyncio.Event()
    kinds = ["big-header", "many-headers", "flood-line", "slow-head"]
    async with httpx.AsyncClient(
        base_url=base_url, limits=httpx.Limits(max_connections=concurrency), timeout=60
    ) as client:
        good = asyncio.create_task(good_tenant(base_url, good_token, good_device, stop, stats))
        raw_attacks = asyncio.gather(*(attack(port, kinds[i % len(kinds)], head_timeout) for i in range(attacks)))
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        stats["attacks"] = [a for a in await raw_attacks if a != "refused"]
        stop.set()
        await good
    return stats


async def make_alert(base_url: str, token: str, srv) -> list[str]:
    """Open a real alert (hopper temperature over its red limit on DC1) for the actions to hit."""
    h = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    now = time.time()
    async with httpx.AsyncClient(timeout=30) as c:
        for i in range(12):
            await c.post(
                base_url + "/api/v1/telemetry",
                headers=h,
                content=orjson.dumps(
                    [{"device": "DC1", "ts": int((now - 12 + i) * 1000), "values": {"hopper_temp": 80.0}}]
                ),
            )
    for _ in range(50):
        ids = [a.id for a in srv.runtime.open_alerts()]
        if ids:
            return ids
        await asyncio.sleep(0.1)
    return []


STATE_SQL = {
    "readings": "SELECT count(*) FROM readings",
    "silences": "SELECT count(*) FROM silences",
    "officer_events": "SELECT count(*) FROM alert_events WHERE actor IS NOT NULL",
    "dead_letters": "SELECT count(*) FROM dead_letters",
}


async def state(conn) -> dict:
    return {k: await conn.fetchval(q) for k, q in STATE_SQL.items()}


def problems(stats: dict, before: dict, after: dict) -> list[str]:
    """Every check of the module docstring that failed, in words (empty: all held)."""
    out = []
    if stats["server_errors"]:
        out.append(f"{len(stats['server_errors'])} 5xx, e.g. {stats['server_errors'][:3]}")
    if stats["bad_bodies"]:
        out.append(f"{len(stats['bad_bodies'])} refusals without a JSON error, e.g. {stats['bad_bodies'][:3]}")
    if stats["poison_not_refused"]:
        out.append(
            f"{len(stats['poison_not_refused'])} poisoned requests not refused at the edge, "
            f"e.g. {stats['poison_not_refused'][:3]}"
        )
    if set(stats["good"]) != {202}:
        out.append(f"the other enterprise's good requests got {stats['good']}")
    if stats["attacks"]:
        out.append(f"raw-socket attacks not refused: {stats['attacks']}")
    expected = {
        "readings": before["readings"] + stats["accepted_readings"],
        "silences": before["silences"] + stats["created_silences"],
        "officer_events": before["officer_events"] + stats["actions_ok"],
        "dead_letters": before["dead_letters"],
    }
    for k, v in expected.items():
        if after[k] != v:
            out.append(f"{k}: {after[k]} rows, expected {v} (a refused request changed the store)")
    return out


async def _main() -> None:
    import tomllib

    import asyncpg

    from warning.config import load_site
    from warning.server import Server, Settings

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--database", default="postgresql://postgres@127.0.0.1:5432/test")
    args = ap.parse_args()
    root = Path(__file__).resolve().parent.parent
    site = load_site(root / "config" / "demo" / "site.toml")
    creds = tomllib.loads((root / "config" / "demo" / "credentials.toml").read_text())
    officer = next(
        (u.get("api_token") for u in creds.get("users", {}).values() if isinstance(u, dict) and u.get("api_token")),
        None,
    )
    conn = await asyncpg.connect(args.database)
    name = f"warning_fuzz_{int(time.time())}"
    await conn.execute(f'CREATE DATABASE "{name}"')
    dsn = args.database.rsplit("/", 1)[0] + "/" + name
    srv = Server(site, Settings(port=0, database=dsn, rate=1e9, burst=1e9, share_requests=64))
    await srv.start()
    try:
        base = f"http://127.0.0.1:{srv.port}"
        if officer is None:
            print("no officer API token in config/demo/credentials.toml: alert and silence requests get 401")
        t0 = time.perf_counter()
        fz = EndpointFuzzer(
            args.seed,
            creds["tokens"]["E001"],
            creds["tokens"]["E002"],
            officer or "none",
            await make_alert(base, creds["tokens"]["E001"], srv),
            ["DC1", "DC2", "DC3"],
        )
        c2 = await asyncpg.connect(dsn)
        before = await state(c2)
        stats = await fuzz_all(base, fz, args.requests, good_token=creds["tokens"]["E002"], good_device="DC1")
        after = await state(c2)
        await c2.close()
        print(
            f"{stats['requests']} requests in {time.perf_counter() - t0:.0f} s; statuses {dict(sorted(stats['by_status'].items()))}"
        )
        for kind, codes in sorted(stats["by_kind"].items()):
            print(f"  {kind}: {dict(sorted(codes.items()))}")
        print(f"the other enterprise's requests: {stats['good']}; raw-socket attacks not refused: {stats['attacks']}")
        print(
            f"state before {before}, after {after}; 202 readings {stats['accepted_readings']}, "
            f"201 silences {stats['created_silences']}, 200 actions {stats['actions_ok']}"
        )
        found = problems(stats, before, after)
        print("all checks held" if not found else "FAILED:\n  " + "\n  ".join(found))
    finally:
        await srv.stop()
        await conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await conn.close()


if __name__ == "__main__":
    asyncio.run(_main())
