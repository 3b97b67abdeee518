"""The ledger managed live (issue 14), against the running server and real PostgreSQL: the
admin API creates, edits and retires; bad requests change nothing; the running system
follows without a restart; imports (good and bad files, CSV and XLSX) and export; the
ledger outlives a restart and the site file's rule."""

from __future__ import annotations

import io
import re
import time

import httpx
import pytest
from openpyxl import Workbook, load_workbook

from tests.conftest import wait_for
from warning.config import parse_site
from warning.ledger import credit
from warning.ledger.table import header
from warning.security import hash_password, token_digest
from warning.server import Server, Settings

SALT = b"ledger-salt-0016"
PW = {"boss": "boss-pass-1", "duty": "duty-pass-1", "tp": "taopu-pass-1"}
TOKEN = "tok-e1-" + "e" * 24
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CJK = re.compile(r"[\u4e00-\u9fff]")


def code(body17: str) -> str:
    return body17 + credit.check_char(body17)


CODE1, CODE2, CODE3 = code("91310107MA1G8XY70"), code("91310107MA1G8XY71"), code("91310107MA1G8XY72")


def raw_site(**extra) -> dict:
    return {
        "site": {"name": "ledger test"},
        "streets": [{"id": "taopu", "name": "桃浦镇"}, {"id": "wanli", "name": "万里街道"}],
        "enterprises": [
            {
                "id": "E1",
                "name": "甲粉体",
                "street": "taopu",
                "credit_code": CODE1,
                "token_sha256": [token_digest(TOKEN)],
                "devices": [{"id": "DC1", "type": "bag_filter", "points": ["dp", "vent_open", "spark"]}],
            }
        ],
        "users": [
            {"name": n, "role": r, "password": hash_password(PW[n], salt=SALT), **x}
            for n, r, x in (("boss", "admin", {}), ("duty", "officer", {}), ("tp", "officer", {"streets": ["taopu"]}))
        ],
        **extra,
    }


async def start(kinds, dsn, raw=None) -> Server:
    srv = Server(parse_site(raw or raw_site(), kinds), Settings(port=0, database=dsn))
    await srv.start()
    return srv


@pytest.fixture
async def server(kinds, machine_db):
    srv = await start(kinds, machine_db)
    yield srv
    await srv.stop()


async def login(base: str, user: str) -> tuple[httpx.AsyncClient, str]:
    c = httpx.AsyncClient(base_url=base, timeout=30)
    r = await c.post("/login", data={"username": user, "password": PW[user]})
    assert r.status_code == 303 and "failed" not in r.headers["location"]
    c.headers["x-csrf-token"] = (await c.get("/api/v1/me")).json()["csrf"]
    return c, c.headers["x-csrf-token"]


def enterprise(eid: str, street: str = "wanli", **kw) -> dict:
    return {
        "id": eid,
        "name": f"企业 {eid}",
        "street": street,
        "credit_code": CODE2,
        "address": "真北路 1 号",
        "industry": "木制品加工",
        "dusts": [{"kind": "木粉", "explosion_class": "St1"}],
        "dust_workers": 14,
        "collectors": {"count": 2, "wet": False, "type": "布袋除尘"},
        "contact_name": "王工",
        "contact_phone": "13800001234",
        "risk_grade": "yellow",
        "devices": [{"id": "DC7", "points": ["dp", "vent_open"], "codes": {"dp": "TNM-E2-DP"}}],
        **kw,
    }


async def push(base: str, token: str, device: str, values: dict) -> httpx.Response:
    async with httpx.AsyncClient() as c:
        return await c.post(
            f"{base}/api/v1/telemetry",
            headers={"Authorization": f"Bearer {token}"},
            json=[{"device": device, "ts": int(time.time() * 1000), "values": values}],
        )


async def test_create_enterprise_live_with_its_token_and_onboarding(server):
    base = f"http://127.0.0.1:{server.port}"
    admin, _ = await login(base, "boss")
    r = await admin.post("/api/v1/admin/enterprises", json=enterprise("E2"))
    assert r.status_code == 201, r.text
    body = r.json()
    token = body["token"]
    assert body["summary"]["create"] == 1 and body["onboarding"]["endpoint"] == f"{base}/api/v1/telemetry"
    assert {"device": "DC7", "point": "dp", "kind": "dp", "unit": "Pa", "code": "TNM-E2-DP"} in [
        {k: p[k] for k in ("device", "point", "kind", "unit", "code")} for p in body["onboarding"]["points"]
    ]
    # the token is not stored, only its digest; it works for the new enterprise at once
    async with server.pool.acquire() as conn:
        stored = await conn.fetch("SELECT digest FROM tokens WHERE enterprise = 'E2'")
    assert [r["digest"] for r in stored] == [token_digest(token)]
    r = await push(base, token, "DC7", {"dp": 900.0, "vent_open": True})
    assert r.status_code == 202, r.text
    # the new point is in the pipeline and learning; the alert reaches the street officer of 万里 only
    pid = server.runtime.devices["E2"]["DC7"]["dp"]
    await wait_for(lambda: pid in server.runtime.pipeline.chains, timeout=5)
    duty, _ = await login(base, "duty")
    rows = await wait_for(lambda: _alerts(duty, "E2"), timeout=10)
    assert rows
    tp, _ = await login(base, "tp")
    assert [a["enterprise"] for a in (await tp.get("/api/v1/alerts?state=all")).json()] == []
    assert (await tp.get("/api/v1/dash/site")).json()["enterprises"][0]["id"] == "E1"
    assert len((await tp.get("/api/v1/dash/site")).json()["enterprises"]) == 1
    # the street officer reads its one enterprise's onboarding details, not another street's
    r = await tp.get("/api/v1/onboarding")
    assert r.status_code == 200 and r.json()["enterprise"] == "E1" and r.json()["points"][0]["device"] == "DC1"
    assert (await tp.get("/api/v1/onboarding?enterprise=E2")).status_code == 404
    # the onboarding details again (without the token)
    r = await admin.get("/api/v1/admin/enterprises/E2/onboarding")
    assert r.status_code == 200 and "token" not in r.json() and r.json()["example"][0]["device"] == "DC7"
    for c in (admin, duty, tp):
        await c.aclose()


async def _alerts(client, eid):
    rows = [a for a in (await client.get("/api/v1/alerts?state=all")).json() if a["enterprise"] == eid]
    return rows or None


async def test_bad_requests_change_nothing_and_name_every_field(server):
    base = f"http://127.0.0.1:{server.port}"
    admin, _ = await login(base, "boss")
    before = (await admin.get("/api/v1/admin/ledger")).json()
    bad = enterprise(
        "E3",
        street="nowhere",
        credit_code=CODE2[:17] + ("0" if CODE2[17] != "0" else "1"),
        dust_workers=-1,
        contact_phone="x",
        name="",
    )
    r = await admin.post("/api/v1/admin/enterprises", json=bad)
    assert r.status_code == 422, r.text
    assert {e["field"] for e in r.json()["errors"]} == {
        "street",
        "credit_code",
        "dust_workers",
        "contact_phone",
        "name",
    }
    zh = {e["field"]: e["message"] for e in r.json()["errors"]}  # zh-CN, the default
    assert zh["contact_phone"] == "电话号码格式不对" and zh["name"] == "必填" and zh["street"] == "未知街镇 'nowhere'"
    assert r.json()["error"] == "台账校验未通过，未作任何更改"
    # the same refusal for an admin reading English: the same errors, each message in English
    r = await admin.post("/api/v1/admin/enterprises", json=bad, headers={"accept-language": "en"})
    en = {e["field"]: e["message"] for e in r.json()["errors"]}
    assert r.status_code == 422 and set(en) == set(zh)
    assert en["contact_phone"] == "not a phone number" and en["name"] == "required"
    assert en["dust_workers"] == "must be a whole number from 0 to 1000000"
    assert en["credit_code"].startswith("wrong check character") and en["street"] == "unknown street 'nowhere'"
    assert r.json()["error"] == "the ledger refused the change; nothing was applied"
    assert not CJK.search(r.text)
    # a credit code that another live enterprise has
    r = await admin.post("/api/v1/admin/enterprises", json=enterprise("E3", credit_code=CODE1))
    assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == ["credit_code"]
    assert r.json()["errors"][0]["message"] == "统一社会信用代码与企业 E1 相同"
    # no CSRF token, not an admin: refused
    r = await admin.post("/api/v1/admin/enterprises", json=enterprise("E3"), headers={"x-csrf-token": "nope"})
    assert r.status_code == 403
    duty, _ = await login(base, "duty")
    assert (await duty.post("/api/v1/admin/enterprises", json=enterprise("E3"))).status_code == 403
    assert (await duty.get("/api/v1/admin/ledger")).status_code == 403
    # retiring a street that still has an enterprise
    r = await admin.delete("/api/v1/admin/streets/taopu")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "street"
    assert (await admin.get("/api/v1/admin/ledger")).json() == before
    assert (await admin.get("/api/v1/admin/audit?kind=enterprise&object=E3")).json() == []
    await admin.aclose()
    await duty.aclose()


async def test_edit_keeps_detector_state_retire_closes_alerts_audit_records(server):
    base = f"http://127.0.0.1:{server.port}"
    admin, _ = await login(base, "boss")
    assert (await push(base, TOKEN, "DC1", {"dp": 1000.0, "vent_open": True, "spark": 3})).status_code == 202
    pids = server.runtime.devices["E1"]["DC1"]
    await wait_for(lambda: pids["dp"] in server.runtime.pipeline.chains and _open(server, "vent_open"), timeout=5)
    chain = server.runtime.pipeline.chains[pids["dp"]]
    rec = (await admin.get("/api/v1/admin/enterprises/E1")).json()
    # edit: a phone number, and the device loses vent_open and gains hopper_temp (a new point)
    rec = {
        **rec,
        "contact_phone": "021-62501234",
        "devices": [{"id": "DC1", "type": "bag_filter", "points": ["dp", "spark", "hopper_temp"]}],
    }
    r = await admin.put("/api/v1/admin/enterprises/E1", json=rec)
    assert r.status_code == 200, r.text
    assert server.runtime.pipeline.chains[pids["dp"]] is chain  # unchanged point: the same detectors, state kept
    assert (
        "vent_open" not in server.runtime.devices["E1"]["DC1"] and "hopper_temp" in server.runtime.devices["E1"]["DC1"]
    )
    assert not _open(server, "vent_open")  # the retired point's alert is closed, with a note
    duty, _ = await login(base, "duty")
    closed = [a for a in (await duty.get("/api/v1/alerts?state=all")).json() if a["point"] == "vent_open"]
    assert closed and closed[0]["state"] == "resolved" and closed[0]["resolved_by"] == "boss"
    assert "台账" in (closed[0]["resolve_note"] or "")
    # the new point takes readings now; the retired one is refused
    assert (await push(base, TOKEN, "DC1", {"hopper_temp": 41.0})).status_code == 202
    assert (await push(base, TOKEN, "DC1", {"vent_open": False})).status_code in (400, 403)  # unknown point now
    trail = (await admin.get("/api/v1/admin/audit?kind=enterprise&object=E1")).json()
    assert trail[0]["actor"] == "boss" and trail[0]["action"] == "update"
    assert trail[0]["before"]["devices"][0]["points"] == ["dp", "vent_open", "spark"]
    assert trail[0]["after"]["contact_phone"] == "021-62501234"
    assert trail[-1]["actor"] == "site file" and trail[-1]["action"] == "seed"
    # one device through its own route, then retire the enterprise's device
    r = await admin.put("/api/v1/admin/enterprises/E1/devices/DC9", json={"points": ["dp"]})
    assert r.status_code == 200 and "DC9" in server.runtime.devices["E1"]
    r = await admin.delete("/api/v1/admin/enterprises/E1/devices/DC9")
    assert r.status_code == 200 and "DC9" not in server.runtime.devices["E1"]
    await admin.aclose()
    await duty.aclose()


def _open(server, point: str) -> bool:
    return any(a.point == point for a in server.runtime.pipeline.engine.open_alerts())


async def test_users_and_streets_live_and_the_ledger_outlives_a_restart(kinds, machine_db):
    srv = await start(kinds, machine_db)
    try:
        base = f"http://127.0.0.1:{srv.port}"
        admin, _ = await login(base, "boss")
        assert (
            await admin.post("/api/v1/admin/streets", json={"id": "zhenru", "name": "真如镇街道"})
        ).status_code == 201
        assert (
            await admin.post("/api/v1/admin/enterprises", json=enterprise("E5", street="zhenru"))
        ).status_code == 201
        r = await admin.post(
            "/api/v1/admin/users",
            json={"name": "zr", "role": "officer", "streets": ["zhenru"], "password": "zhenru-pass-1"},
        )
        assert r.status_code == 201, r.text
        assert "password" not in str((await admin.get("/api/v1/admin/users/zr")).json().keys() - {"has_password"})
        zr = httpx.AsyncClient(base_url=base)
        r = await zr.post("/login", data={"username": "zr", "password": "zhenru-pass-1"})
        assert r.status_code == 303 and "failed" not in r.headers["location"]
        assert [e["id"] for e in (await zr.get("/api/v1/dash/site")).json()["enterprises"]] == ["E5"]
        # move E1 into 真如: the street officer sees it at once, without logging in again
        e1 = (await admin.get("/api/v1/admin/enterprises/E1")).json()
        assert (await admin.put("/api/v1/admin/enterprises/E1", json={**e1, "street": "真如镇街道"})).status_code == 200
        assert sorted(e["id"] for e in (await zr.get("/api/v1/dash/site")).json()["enterprises"]) == ["E1", "E5"]
        await zr.aclose()
        await admin.aclose()
    finally:
        await srv.stop()
    # the same (unchanged) site file: the ledger wins, live edits stay
    srv = await start(kinds, machine_db)
    try:
        assert srv.site.enterprises["E1"].street == "zhenru" and "E5" in srv.site.enterprises
        assert "zr" in srv.site.users
    finally:
        await srv.stop()
    # a site file that changed E1's name: that change is imported (audited), the live street stays
    raw = raw_site()
    raw["enterprises"][0]["name"] = "甲粉体（新名）"
    srv = await start(kinds, machine_db, raw)
    try:
        e1 = srv.site.enterprises["E1"]
        assert e1.name == "甲粉体（新名）" and e1.street == "taopu"  # the file's record, as the file now says
        admin, _ = await login(f"http://127.0.0.1:{srv.port}", "boss")
        trail = (await admin.get("/api/v1/admin/audit?kind=enterprise&object=E1")).json()
        assert trail[0]["actor"] == "site file" and trail[0]["action"] == "import"
        await admin.aclose()
    finally:
        await srv.stop()


# -- import and export -----------------------------------------------------------------------


def csv_text(rows: list[list[str]]) -> str:
    lines = [",".join(header())] + [",".join(f'"{c}"' for c in r) for r in rows]
    return "\n".join(lines) + "\n"


def row(
    eid: str, credit_code: str, street: str = "桃浦镇", workers: str = "8", points: str = "DC1: dp=TNM1, spark"
) -> list[str]:
    return [
        eid,
        f"企业{eid}",
        credit_code,
        "地址",
        street,
        "金属制品",
        "铝粉:St2; 镁粉:St3",
        workers,
        "1",
        "湿式",
        "水浴除尘",
        "李工",
        "021-5555 0000",
        "较大风险",
        "121.40",
        "31.25",
        points,
    ]


async def test_import_dry_run_apply_and_export_round_trip(server):
    base = f"http://127.0.0.1:{server.port}"
    admin, _ = await login(base, "boss")
    text = csv_text([row("N1", CODE2), row("N2", CODE3, street="wanli")])
    r = await admin.post("/api/v1/admin/import?dry_run=1", content=text.encode(), headers={"content-type": "text/csv"})
    assert r.status_code == 200 and r.json()["applied"] is False and r.json()["summary"]["create"] == 2, r.text
    assert "N1" not in server.site.enterprises
    r = await admin.post("/api/v1/admin/import", content=text.encode(), headers={"content-type": "text/csv"})
    assert r.status_code == 200 and r.json()["applied"] is True, r.text
    assert server.site.enterprises["N2"].street == "wanli" and server.site.enterprises["N1"].collectors.wet
    assert "dp" in server.runtime.devices["N1"]["DC1"]
    assert next(p.code for p in server.site.points if p.ref.enterprise == "N1" and p.ref.point == "dp") == "TNM1"
    # export gives the same columns back; importing the export changes nothing
    exported = (await admin.get("/api/v1/admin/export?format=csv")).text
    assert exported.lstrip("\ufeff").splitlines()[0] == ",".join(header())
    r = await admin.post(
        "/api/v1/admin/import?dry_run=1", content=exported.encode(), headers={"content-type": "text/csv"}
    )
    assert r.status_code == 200 and r.json()["changes"] == [], r.json()
    # XLSX: the export read back as an import, also no change
    xlsx = (await admin.get("/api/v1/admin/export?format=xlsx")).content
    r = await admin.post(
        "/api/v1/admin/import?dry_run=1",
        content=xlsx,
        headers={"content-type": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
    )
    assert r.status_code == 200 and r.json()["changes"] == [], r.json()
    assert load_workbook(io.BytesIO(xlsx), read_only=True).sheetnames == ["台账"]
    en = (await admin.get("/api/v1/admin/export?format=xlsx", headers={"accept-language": "en"})).content
    assert load_workbook(io.BytesIO(en), read_only=True).sheetnames == ["ledger"]
    await admin.aclose()


async def test_a_file_with_bad_rows_is_refused_whole_with_every_row_named(server):
    base = f"http://127.0.0.1:{server.port}"
    admin, _ = await login(base, "boss")
    wrong = CODE3[:17] + ("0" if CODE3[17] != "0" else "1")
    wb = Workbook()
    ws = wb.active
    ws.append(header())
    for r in [
        row("G1", CODE2),  # row 2: good
        row("B1", wrong),  # row 3: wrong check character
        row("B2", "", street="火星街道"),  # row 4: unknown street
        row("G1", ""),  # row 5: duplicate id
        row("B3", "", workers="十二"),  # row 6: not a number
        ["", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", ""][:0] + ["B4"] + [""] * 16,  # row 7: no name
        row("B5", "", points="DC1 dp"),
    ]:  # row 8: points written wrong
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    r = await admin.post(
        "/api/v1/admin/import",
        content=buf.getvalue(),
        headers={"content-type": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
    )
    assert r.status_code == 422, r.text
    found = {(e["row"], e["field"]) for e in r.json()["errors"]}
    assert found == {(3, "credit_code"), (4, "street"), (5, "id"), (6, "dust_workers"), (7, "name"), (8, "points")}, (
        found
    )
    assert r.json()["applied"] is False and "G1" not in server.site.enterprises
    async with server.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM ledger_enterprises WHERE id = 'G1'") == 0
    by_row = {e["row"]: e["message"] for e in r.json()["errors"]}
    assert by_row[5] == "编号 G1 重复（另见第 2 行）" and by_row[8].startswith("设备写法应为")
    r = await admin.post(
        "/api/v1/admin/import?dry_run=1",
        content=buf.getvalue(),
        headers={"content-type": XLSX, "accept-language": "en-US,en;q=0.9"},
    )
    by_row = {e["row"]: e["message"] for e in r.json()["errors"]}
    assert r.status_code == 422 and {(e["row"], e["field"]) for e in r.json()["errors"]} == found
    assert (
        by_row[5] == "id G1 given twice (also row 2)"
        and by_row[8] == "write a device as id: point, point (got 'DC1 dp')"
    )
    # a file that cannot be read at all: refused in the reader's language too
    r = await admin.post("/api/v1/admin/import", content=b"PK-not-a-workbook", headers={"accept-language": "en"})
    assert r.status_code == 400 and r.json()["error"].startswith("not a readable XLSX file")
    r = await admin.post("/api/v1/admin/import", content=b"", headers={"content-type": "text/csv"})
    assert r.status_code == 400 and r.json()["error"] == "空文件", r.text
    await admin.aclose()


# -- the write and the live apply: the committed version is the truth --------------------------


async def test_an_apply_that_fails_after_the_write_is_repaired_at_the_next_sync(server):
    """The ledger is written (committed, audited), then the runtime fails to take it (the
    store or the broker away at that moment): the answer says so (202, ``live`` false), and
    the server's sync applies the committed version within seconds: telemetry for the new
    point is accepted, nothing is written twice."""
    base = f"http://127.0.0.1:{server.port}"
    admin, _ = await login(base, "boss")
    real = server.runtime.reconfigure
    failures = []

    async def failing_once(site, actor, version):
        if not failures:
            failures.append(version)
            raise ConnectionError("the store went away between the write and the apply")
        await real(site, actor, version)

    server.runtime.reconfigure = failing_once
    r = await admin.put("/api/v1/admin/enterprises/E1/devices/DC2", json={"points": ["dp"]})
    assert r.status_code == 202, r.text
    assert r.json()["applied"] is True and r.json()["live"] is False
    version = r.json()["version"]
    assert failures == [version] and server.ledger.applied < version == server.ledger.version
    assert (await push(base, TOKEN, "DC2", {"dp": 700.0})).status_code in (400, 403)  # not live yet
    await wait_for(lambda: server.ledger.applied == version, timeout=5)
    assert "DC2" in server.runtime.devices["E1"]
    assert (await push(base, TOKEN, "DC2", {"dp": 700.0})).status_code == 202
    trail = (await admin.get("/api/v1/admin/audit?kind=enterprise&object=E1")).json()
    assert sum(1 for t in trail if t["actor"] == "boss") == 1
    await admin.aclose()


async def test_a_crash_between_the_write_and_the_apply_is_repaired_at_start(kinds, machine_db):
    """A process commits a ledger change and dies before any runtime applied it (here: the
    change is written to the store while the server is down). The next start runs on the
    committed ledger: the new point takes readings, and the retired point's open alert (in the
    checkpoint the runtime restores) is closed with the ledger's note."""
    from warning.ledger.plan import Proposal, plan
    from warning.store import ledger as ledger_store

    srv = await start(kinds, machine_db)
    base = f"http://127.0.0.1:{srv.port}"
    try:
        assert (await push(base, TOKEN, "DC1", {"vent_open": True})).status_code == 202
        await wait_for(lambda: _open(srv, "vent_open"), timeout=5)
        records = srv.ledger.records
    finally:
        await srv.stop()  # checkpoints the pipeline with the vent alert open
    e1 = dict(records.enterprises["E1"])
    e1["devices"] = [{"id": "DC1", "type": "bag_filter", "points": ["dp", "spark", "hopper_temp"]}]
    changes, errors = plan(records, [Proposal("enterprise", "update", "E1", e1)], kinds)
    assert not errors
    import asyncpg

    conn = await asyncpg.connect(machine_db)
    try:
        await ledger_store.write(conn, changes, "crashed-admin")
    finally:
        await conn.close()
    srv = await start(kinds, machine_db)
    base = f"http://127.0.0.1:{srv.port}"
    try:
        assert "hopper_temp" in srv.runtime.devices["E1"]["DC1"] and "vent_open" not in srv.runtime.devices["E1"]["DC1"]
        await wait_for(lambda: not _open(srv, "vent_open"), timeout=5)
        assert (await push(base, TOKEN, "DC1", {"hopper_temp": 40.0})).status_code == 202
        duty, _ = await login(base, "duty")
        closed = [a for a in (await duty.get("/api/v1/alerts?state=all")).json() if a["point"] == "vent_open"]
        assert closed and closed[0]["state"] == "resolved" and "台账" in (closed[0]["resolve_note"] or "")
        await duty.aclose()
    finally:
        await srv.stop()


async def test_a_change_another_process_commits_is_taken_within_seconds(server):
    """A second gateway or the CLI writes the ledger: this server takes it at its next sync."""
    from warning.ledger.plan import Proposal, plan
    from warning.store import ledger as ledger_store

    base = f"http://127.0.0.1:{server.port}"
    e1 = dict(server.ledger.records.enterprises["E1"])
    e1["devices"] = [*e1["devices"], {"id": "DC3", "points": ["dp"]}]
    changes, errors = plan(server.ledger.records, [Proposal("enterprise", "update", "E1", e1)], server.ledger.kinds)
    assert not errors
    async with server.pool.acquire() as conn:
        await ledger_store.write(conn, changes, "other-gateway")
    await wait_for(lambda: "DC3" in server.runtime.devices["E1"], timeout=5)
    assert (await push(base, TOKEN, "DC3", {"dp": 500.0})).status_code == 202
