"""Isolation by construction, checked from outside: every route of the running application
(walked from ``app.routes``, so a new route is covered by itself, and a route this test does
not know fails it) and the WebSocket feed, for every caller below, against a real server
with two enterprises' data on real PostgreSQL. Nothing of an enterprise outside the
caller's scope may come back: not its id, name or device, not one of its alert or silence
ids (what the request itself named may be echoed); objects outside the scope answer 401,
403 or 404; refused writes change nothing.

The callers are rows of :data:`CALLERS`: a street officer (issue 14) is one more row with
the street's enterprises as its scope. The expectations here are this test's own, not read
from ``warning.web.scope``, so a route declared with the wrong access is caught too.
:func:`test_the_sweep_catches_a_planted_leak` shows the sweep failing on a planted leak.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

import httpx
import orjson
import pytest
import uvicorn
import websockets
from starlette.routing import Mount, Route, WebSocketRoute

from tests.conftest import free_port, wait_for
from tests.test_alert_flow import Receiver
from warning.config import parse_site
from warning.security import hash_password, token_digest
from warning.server import Server, Settings
from warning.web.app import build_app
from warning.web.pages import STATIC
from warning.web.responses import json_response
from warning.web.scope import ROUTES, Access, Rule, UndeclaredRoute

ALPHA, BRAVO = "ALPHA01", "BRAVO02"
ENTERPRISES = {
    ALPHA: {
        "name": "Alpha Powder Works 阿尔法粉体",
        "device": "ALPHA-DC1",
        "token": "tok-alpha-" + "a" * 24,
        "street": "taopu",
    },
    BRAVO: {
        "name": "Bravo Grain Mill 布拉沃粮机",
        "device": "BRAVO-DC9",
        "token": "tok-bravo-" + "b" * 24,
        "street": "wanli",
    },
}
STREETS = [{"id": "taopu", "name": "桃浦镇"}, {"id": "wanli", "name": "万里街道"}]
OFFICER_TOKEN = "officer-token-" + "o" * 24
PASSWORDS = {
    "duty": "duty-pass-1",
    "watcher": "watcher-pass-1",
    "boss": "boss-pass-1",
    "ent-alpha": "alpha-pass-1",
    "ent-bravo": "bravo-pass-1",
    "taopu-duty": "taopu-pass-1",
}
_SALT = b"isolation-salt16"


@dataclass(frozen=True)
class Caller:
    name: str
    scope: frozenset[str] | None  #: the enterprises it may see; None: every one
    user: str | None = None  #: logs in with this user's password
    bearer: str | None = None  #: or sends this API token


CALLERS = [
    Caller("officer", None, user="duty"),
    Caller("officer API token", None, bearer=OFFICER_TOKEN),
    Caller("viewer", None, user="watcher"),
    Caller("admin", None, user="boss"),
    Caller("enterprise ALPHA01", frozenset({ALPHA}), user="ent-alpha"),
    Caller("enterprise BRAVO02", frozenset({BRAVO}), user="ent-bravo"),
    Caller("street officer 桃浦镇", frozenset({ALPHA}), user="taopu-duty"),  # issue 14: one street's enterprises
    Caller("none", frozenset()),
]

#: What the ``{id}`` of a path names.
ID_KIND = {
    "/e/{id}": "enterprise",
    "/qr/{id}.svg": "enterprise",
    "/alert/{id}": "alert",
    "/api/v1/alerts/{id}": "alert",
    "/api/v1/dash/alerts/{id}": "alert",
    "/api/v1/alerts/{id}/ack": "alert",
    "/api/v1/alerts/{id}/handle": "alert",
    "/api/v1/alerts/{id}/feedback": "alert",
    "/api/v1/alerts/{id}/resolve": "alert",
    "/api/v1/silences/{id}": "silence",
    "/api/v1/warnings/{id}": "warning",
    "/api/v1/warnings/{id}/sign": "warning",
    "/api/v1/warnings/{id}/reply": "warning",
    "/api/v1/warnings/{id}/review": "warning",
    "/api/v1/photos/{id}": "photo",
    "/q/{id}": "enterprise",
    "/api/v1/public/{id}": "enterprise",
    "/api/v1/public/{id}/report": "enterprise",
    "/api/v1/admin/enterprises/{id}": "enterprise",
    "/api/v1/admin/enterprises/{id}/onboarding": "enterprise",
    "/api/v1/admin/enterprises/{id}/token": "enterprise",
}
#: Query strings tried on a path ({e}: each enterprise and an unknown one; {d}: its device; {a}: its alerts).
QUERIES = {
    "/api/v1/alerts": ["?state=all", "?state=open&limit=5"],
    "/api/v1/dash/site": ["", "?devices=1", "?enterprise={e}"],
    "/api/v1/dash/alerts": ["?state=all", "?enterprise={e}&state=all"],
    "/api/v1/dash/trend": ["?hours=24", "?enterprise={e}&hours=24"],
    "/api/v1/dash/series": ["?enterprise={e}", "?enterprise={e}&device={d}&from=0&to=4000000000"],
    "/api/v1/report": [
        "?format=json",
        "?format=csv&table=summary",
        "?format=csv&table=open",
        "?format=html",
        "?format=json&from=0",
    ],
    "/api/v1/notifications": ["", "?alert={a}"],
    "/api/v1/enterprise-alarms": ["", "?enterprise={e}", "?since=0&limit=5"],
    "/api/v1/silences": ["", "?expired=true"],
    "/api/v1/warnings": ["?state=all", "?state=open&kind=warning"],
    "/api/v1/photos": ["?enterprise={e}"],
    "/api/v1/cleaning": ["?enterprise={e}"],
    "/api/v1/cleaning/checkin": ["?enterprise={e}"],
    "/api/v1/onboarding": ["", "?enterprise={e}"],
    "/api/v1/admin/audit": ["", "?kind=enterprise&object={e}"],
    "/api/v1/admin/export": ["?format=csv", "?format=xlsx"],
}
PLAIN = {
    "/api/v1/telemetry",
    "/ws",
    "/api/v1/policies",
    "/openapi.json",
    "/metrics",
    "/healthz",
    "/readyz",
    "/",
    "/login",
    "/logout",
    "/api/v1/me",
    "/static",
    "/admin",
    "/api/v1/admin/ledger",
    "/api/v1/admin/streets",
    "/api/v1/admin/streets/{id}",
    "/api/v1/admin/enterprises",
    "/api/v1/admin/enterprises/{id}/devices/{device}",
    "/api/v1/admin/users",
    "/api/v1/admin/users/{id}",
    "/api/v1/admin/import",
    "/api/v1/dash/map",
    "/api/v1/i18n/ui.json",
    "/notifications",
}
KNOWN = PLAIN | set(ID_KIND) | set(QUERIES)
#: Paths anyone may read (they carry no enterprise's data); every other path needs a caller.
PUBLIC = {
    "/openapi.json",
    "/metrics",
    "/healthz",
    "/readyz",
    "/login",
    "/static",
    "/api/v1/telemetry",
    "/logout",
    "/api/v1/i18n/ui.json",
    "/q/{id}",
    "/api/v1/public/{id}",
    "/api/v1/public/{id}/report",
}
#: Public paths about one enterprise (the QR code's page): its own name may show there, nothing else of it.
PUBLIC_ABOUT = {"/q/{id}", "/api/v1/public/{id}", "/api/v1/public/{id}/report"}
#: District-wide configuration and logs: a caller scoped to some enterprises gets 403.
DISTRICT = {"/api/v1/silences", "/api/v1/silences/{id}", "/api/v1/policies", "/api/v1/notifications", "/notifications"}
PAGES = {"/", "/e/{id}", "/alert/{id}", "/admin", "/notifications"}
#: The ledger's administration (issue 14): the admin role only; everyone else gets 403.
ADMIN = {p for p in KNOWN if p == "/admin" or p.startswith("/api/v1/admin/")}
ADMIN_USERS = {"boss"}
#: Writes the sweep leaves alone: they end the caller's session, or are login attempts (tests/test_security.py).
NOT_SWEPT = {("POST", "/logout"), ("POST", "/login")}


def site_raw(receiver_url: str) -> dict:
    dc = ["dp", "hopper_temp", "spark", "vent_open", "fan_fault", "running"]
    users = [
        {"name": "duty", "role": "officer", "api_token_sha256": token_digest(OFFICER_TOKEN)},
        {"name": "watcher", "role": "viewer"},
        {"name": "boss", "role": "admin"},
        {"name": "ent-alpha", "role": "enterprise", "enterprise": ALPHA},
        {"name": "ent-bravo", "role": "enterprise", "enterprise": BRAVO},
        {"name": "taopu-duty", "role": "officer", "streets": ["桃浦镇"]},  # by name: resolved to its id
    ]
    for u in users:
        u["password"] = hash_password(PASSWORDS[u["name"]], salt=_SALT)
    return {
        "site": {"name": "isolation district"},
        "streets": STREETS,
        "enterprises": [
            {
                "id": eid,
                "name": e["name"],
                "token_sha256": [token_digest(e["token"])],
                "location": [121.4, 31.2],
                "street": e["street"],
                "devices": [{"id": e["device"], "type": "bag_filter", "points": dc}],
            }
            for eid, e in ENTERPRISES.items()
        ],
        "users": users,
        "channels": [{"id": "hook", "type": "webhook", "url": receiver_url}],
        "policy": {"noise": {"group_interval": 0}},
    }


@dataclass
class World:
    """The data the sweep looks for: per enterprise, its markers and its objects' ids."""

    alerts: dict[str, list[str]] = field(default_factory=dict)
    silences: dict[str, list[str]] = field(default_factory=dict)
    warnings: dict[str, list[str]] = field(default_factory=dict)

    def markers(self, enterprise: str) -> set[str]:
        e = ENTERPRISES[enterprise]
        return {
            enterprise,
            e["name"],
            e["device"],
            *self.alerts[enterprise],
            *self.silences[enterprise],
            *self.warnings.get(enterprise, ()),
        }

    def owner(self, kind: str, value: str) -> str | None:
        if kind == "enterprise":
            return value if value in ENTERPRISES else None
        if kind == "photo":
            return None
        table = {"alert": self.alerts, "silence": self.silences, "warning": self.warnings}[kind]
        return next((e for e, ids in table.items() if value in ids), None)

    def ids(self, kind: str) -> list[str]:
        if kind == "enterprise":
            return [*ENTERPRISES, "NOSUCH9"]
        if kind == "photo":
            return ["no-such-id"]
        table = {"alert": self.alerts, "silence": self.silences, "warning": self.warnings}[kind]
        return [i for ids in table.values() for i in ids] + ["no-such-id"]


async def push(base: str, enterprise: str, values: dict) -> None:
    e = ENTERPRISES[enterprise]
    async with httpx.AsyncClient() as c:
        r = await c.post(
            f"{base}/api/v1/telemetry",
            json=[{"device": e["device"], "ts": int(time.time() * 1000), "values": values}],
            headers={"Authorization": f"Bearer {e['token']}"},
        )
    assert r.status_code == 202, r.text


@contextlib.asynccontextmanager
async def client_for(base: str, caller: Caller):
    """(client, its CSRF token) for a caller."""
    headers = {"Authorization": f"Bearer {caller.bearer}"} if caller.bearer else {}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=20) as c:
        csrf = None
        if caller.user:
            r = await c.post("/login", data={"username": caller.user, "password": PASSWORDS[caller.user]})
            assert r.status_code == 303 and "failed" not in r.headers["location"], r.text
            csrf = (await c.get("/api/v1/me")).json()["csrf"]
        yield c, csrf


async def build_world(base: str) -> World:
    for eid in ENTERPRISES:
        await push(base, eid, {"vent_open": True, "spark": 3})
    async with client_for(base, CALLERS[1]) as (officer, _):
        rows = await wait_for(lambda: _all_alerts(officer, 4), timeout=10)
        world = World(alerts={e: [a["id"] for a in rows if a["enterprise"] == e] for e in ENTERPRISES})
        world.silences = {}
        for eid, e in ENTERPRISES.items():
            r = await officer.post(
                "/api/v1/silences",
                json={
                    "matchers": {"enterprise": eid, "device": e["device"]},
                    "reason": f"bag change at {e['name']}",
                    "ends_at": time.time() + 3600,
                },
            )
            assert r.status_code == 201, r.text
            world.silences[eid] = [r.json()["id"]]
        # an alert of each enterprise signed for, so events and notifications name officers' notes
        for eid in ENTERPRISES:
            r = await officer.post(
                f"/api/v1/alerts/{world.alerts[eid][0]}/ack", json={"note": f"on my way to {ENTERPRISES[eid]['name']}"}
            )
            assert r.status_code == 200, r.text
        # the red alarms made a risk warning per enterprise (warning.runtime.risk, fed by the hub)
        items = await wait_for(lambda: _warnings(officer, len(ENTERPRISES)), timeout=10)
        world.warnings = {e: [w["id"] for w in items if w["enterprise"] == e] for e in ENTERPRISES}
    return world


async def _warnings(client: httpx.AsyncClient, n: int):
    rows = (await client.get("/api/v1/warnings?state=all")).json()
    return rows if len({r["enterprise"] for r in rows}) >= n else None


async def _all_alerts(client: httpx.AsyncClient, n: int):
    rows = (await client.get("/api/v1/alerts?state=all")).json()
    return rows if len(rows) >= n else None


def urls_of(path: str, world: World) -> list[tuple[str, str | None]]:
    """(concrete URL, the enterprise it targets or None) for a path template."""
    if path == "/static":
        return [(f"/static/{f.relative_to(STATIC).as_posix()}", None) for f in sorted(STATIC.rglob("*")) if f.is_file()]
    bases: list[tuple[str, str | None]] = [(path, None)]
    if path in ID_KIND:
        kind = ID_KIND[path]
        bases = [(path.replace("{id}", v), world.owner(kind, v)) for v in world.ids(kind)]
    out = []
    for url, target in bases:
        for q in QUERIES.get(path, [""]):
            if "{e}" in q or "{a}" in q:
                for e in [*ENTERPRISES, "NOSUCH9"]:
                    device = ENTERPRISES[e]["device"] if e in ENTERPRISES else "NODEV"
                    for a in world.alerts.get(e, ["no-such-id"])[:1] if "{a}" in q else [""]:
                        out.append((url + q.format(e=e, d=device, a=a), e if e in ENTERPRISES else target))
            else:
                out.append((url + q, target))
    return out


def _leaks(text: str, forbidden: set[str], sent: str) -> list[str]:
    return sorted(m for m in forbidden if m in text and m not in sent)


async def sweep(app, base: str, world: World, callers=CALLERS, only: set[str] | None = None) -> list[str]:
    """Every route of ``app`` for every caller; returns the findings (empty: isolated)."""
    findings: list[str] = []
    routes = []
    for r in app.routes:
        if isinstance(r, (Route, Mount, WebSocketRoute)):
            if r.path not in KNOWN:
                findings.append(f"route {r.path} is unknown to the isolation test: teach it (ID_KIND, QUERIES, PLAIN)")
                continue
            if only is None or r.path in only:
                routes.append(r)
        else:
            findings.append(f"unexpected route object {r!r}")
    for caller in callers:
        scope = caller.scope
        forbidden = set().union(*(world.markers(e) for e in ENTERPRISES if scope is not None and e not in scope))
        async with client_for(base, caller) as (client, csrf):
            for r in routes:
                if isinstance(r, WebSocketRoute):
                    continue  # swept by test_websocket_feed_is_scoped
                methods = ["GET"] if isinstance(r, Mount) else sorted((r.methods or set()) - {"HEAD"})
                for method in methods:
                    if (method, r.path) in NOT_SWEPT:
                        continue
                    for url, target in urls_of(r.path, world):
                        outside = target is not None and scope is not None and target not in scope
                        if method != "GET" and not (scope is not None and (target is None or outside)):
                            continue  # writes only where they must be refused: nothing in scope is changed
                        body = orjson.dumps(
                            {
                                "note": "sweep",
                                "matchers": {"enterprise": ALPHA},
                                "reason": "sweep",
                                "ends_at": time.time() + 60,
                            }
                        )
                        headers = {"content-type": "application/json", **({"x-csrf-token": csrf} if csrf else {})}
                        resp = await client.request(
                            method, url, content=body if method != "GET" else None, headers=headers
                        )
                        where = f"{caller.name}: {method} {url} -> {resp.status_code}"
                        text = resp.content.decode("utf-8", "replace") + resp.headers.get("location", "")
                        if resp.status_code >= 500:
                            findings.append(f"{where}: server error")
                        allowed = {ENTERPRISES[target]["name"]} if r.path in PUBLIC_ABOUT and target else set()
                        leaked = _leaks(text, forbidden - allowed, url)
                        if leaked:
                            findings.append(f"{where}: leaks {leaked}")
                        findings += _status_findings(where, r.path, method, resp, caller, outside)
    return findings


def _status_findings(where: str, path: str, method: str, resp, caller: Caller, outside: bool) -> list[str]:
    code = resp.status_code
    to_login = code == 303 and resp.headers.get("location") == "/login"
    if caller.scope == frozenset() and caller.user is None and caller.bearer is None:  # nobody
        if path not in PUBLIC and not (code == 401 or (path in PAGES and to_login)):
            return [f"{where}: a caller without credentials must get 401 (or the login page)"]
        return []
    if path in PUBLIC:
        return []
    if path in ADMIN:
        if caller.user in ADMIN_USERS:
            return [f"{where}: refused to the admin"] if code in (401, 403) else []
        return [] if code == 403 else [f"{where}: the ledger's administration must be 403 for a non-admin"]
    if method != "GET":
        return [] if code in (401, 403, 404) else [f"{where}: a write outside the scope must be refused"]
    restricted = caller.scope is not None
    if restricted and path in DISTRICT:
        return [] if code == 403 else [f"{where}: district-wide data must be 403 for a scoped caller"]
    if outside:
        return [] if code in (403, 404) else [f"{where}: an object outside the scope must be 403/404"]
    if code in (401, 403):
        return [f"{where}: refused although in scope"]
    return []


@pytest.fixture
async def server(kinds, machine_db):
    async with Receiver() as receiver:
        srv = Server(parse_site(site_raw(receiver.url), kinds), Settings(port=0, database=machine_db))
        await srv.start()
        srv.runtime.outbox.poll_interval = 0.1
        try:
            yield srv
        finally:
            await srv.stop()


async def test_every_route_for_every_caller_stays_in_scope(server):
    base = f"http://127.0.0.1:{server.port}"
    world = await build_world(base)
    assert all(len(ids) >= 2 for ids in world.alerts.values())
    before = await _state_of(base, world)
    findings = await sweep(server.app, base, world)
    assert findings == [], "\n".join(findings)
    assert await _state_of(base, world) == before  # the refused writes changed nothing


async def _state_of(base: str, world: World) -> tuple:
    async with client_for(base, CALLERS[1]) as (officer, _):
        alerts = []
        for a in (await officer.get("/api/v1/alerts?state=all")).json():
            events = (await officer.get(f"/api/v1/alerts/{a['id']}")).json()["events"]
            alerts.append((a["id"], a["state"], a["acknowledged_by"], len(events)))
        alerts.sort()
        silences = sorted(
            (s["id"], s["matchers"].get("enterprise"), s["reason"])
            for s in (await officer.get("/api/v1/silences?expired=true")).json()
        )
    return alerts, silences


async def test_websocket_feed_is_scoped(server):
    """Snapshot, live events (both enterprises raise while every caller's feed is open) and
    the resync after a reconnect, for every caller."""
    base = f"http://127.0.0.1:{server.port}"
    world = await build_world(base)
    url = f"ws://127.0.0.1:{server.port}/ws"
    async with contextlib.AsyncExitStack() as stack:
        feeds = []
        for caller in CALLERS:
            client, _ = await stack.enter_async_context(client_for(base, caller))
            headers = {"Authorization": f"Bearer {caller.bearer}"} if caller.bearer else {}
            cookie = client.cookies.get("warning_session")
            if cookie:
                headers["Cookie"] = f"warning_session={cookie}"
            ws = await stack.enter_async_context(websockets.connect(url, additional_headers=headers))
            if caller.user is None and caller.bearer is None:
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await asyncio.wait_for(ws.recv(), 5)
                assert closed.value.rcvd.code == 4401
                continue
            wanted = set(ENTERPRISES) if caller.scope is None else set(caller.scope)
            raw = await asyncio.wait_for(ws.recv(), 5)
            snap = orjson.loads(raw)
            assert snap["type"] == "snapshot" and {a["enterprise"] for a in snap["alerts"]} == wanted, caller
            feeds.append((caller, headers, ws, wanted, snap["boot"], [str(raw)]))
        for eid in ENTERPRISES:  # new events of both enterprises while every feed is open
            await push(base, eid, {"fan_fault": True})
        for caller, headers, ws, wanted, boot, texts in feeds:
            seen: set[str] = set()
            with contextlib.suppress(TimeoutError):
                while seen != wanted:
                    msg = await asyncio.wait_for(ws.recv(), 5)
                    texts.append(str(msg))
                    m = orjson.loads(msg)
                    if m["type"] == "event":
                        seen.add(m["event"]["alert"]["enterprise"])
            assert seen == wanted, (caller, seen)
            async with websockets.connect(f"{url}?since=0&boot={boot}", additional_headers=headers) as again:
                texts.append(str(await asyncio.wait_for(again.recv(), 5)))
                missed = await asyncio.wait_for(again.recv(), 5)
                texts.append(str(missed))
                m = orjson.loads(missed)
                assert m["type"] == "missed" and {e["alert"]["enterprise"] for e in m["events"]} == wanted, m
            forbidden = set().union(
                *(world.markers(e) for e in ENTERPRISES if caller.scope is not None and e not in caller.scope)
            )
            leaked = sorted(x for x in forbidden if any(x in t for t in texts))
            assert leaked == [], f"{caller.name}: /ws leaks {leaked}"


async def test_the_sweep_catches_a_planted_leak(server):
    """A route that returns every open alert (declared SCOPED but not filtering), added to a
    fresh app over the same state, is found; so is a route the test does not know; and a
    route without a declared access stops the app from being built."""
    base = f"http://127.0.0.1:{server.port}"
    world = await build_world(base)
    state = server.app.state.warning

    async def leak(request):
        return json_response(state.runtime.open_alerts_json())

    async def unknown(request):
        return json_response({"ok": True})

    with pytest.raises(UndeclaredRoute, match="/api/v1/leak"):
        build_app(state, extra=[("/api/v1/leak", leak, ["GET"])])
    table = {**ROUTES, "/api/v1/leak": Rule(Access.SCOPED), "/api/v1/unknown": Rule(Access.SCOPED)}
    app = build_app(state, extra=[("/api/v1/leak", leak, ["GET"]), ("/api/v1/unknown", unknown, ["GET"])], access=table)
    KNOWN.add("/api/v1/leak")
    port = free_port()
    userver = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning"))
    serving = asyncio.create_task(userver.serve())
    try:
        await wait_for(lambda: userver.started)
        findings = await sweep(app, f"http://127.0.0.1:{port}", world, only={"/api/v1/leak"})
    finally:
        KNOWN.discard("/api/v1/leak")
        userver.should_exit = True
        await serving
    assert any("/api/v1/unknown is unknown" in f for f in findings), findings
    leaks = [f for f in findings if "GET /api/v1/leak" in f and "leaks" in f]
    assert {f.split(":")[0] for f in leaks} == {"enterprise ALPHA01", "enterprise BRAVO02", "street officer 桃浦镇"}, (
        findings
    )
    assert any(BRAVO in f for f in leaks if f.startswith("enterprise ALPHA01"))
