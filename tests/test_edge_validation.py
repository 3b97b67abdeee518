"""Bad text stays with its sender: the validator, the rate limit and the fair share (pure),
then every text field of every write endpoint against a real server with a real alert: a
NUL, another control character, a lone surrogate (as the json module writes it) or an
over-long value is a 400 naming the field, and nothing changes in the store. And one
tenant's NUL-laden traffic mixed with another's good traffic: the other's are all 202."""

from __future__ import annotations

import asyncio
import json
import time
from urllib.parse import quote_from_bytes

import asyncpg
import httpx
import pytest

from tests.conftest import OFFICER_TOKEN, TOKENS, site_dict, wait_for
from tests.test_alert_flow import overheat
from warning.config import parse_site
from warning.server import Server, Settings
from warning.textcheck import TextError, check_text, first_bad_text, storable
from warning.web.admission import Admission
from warning.web.ratelimit import Buckets

BAD = ["a\x00b", "\x00", "x\x1b[2J", "\x7f", "\ud800", "lo\udfffne"]


def test_check_text():
    assert check_text("设备 DC1\t\n\r ok 💥", field="f", max_len=20) == "设备 DC1\t\n\r ok 💥"
    for bad in BAD:
        with pytest.raises(TextError) as e:
            check_text(bad, field="note", max_len=100)
        # the reason is a catalogue text: zh-CN by default, English for an English reader
        assert e.value.field == "note" and "U+" in str(e.value.reason) and "字符" in str(e.value.reason)
        assert "character" in e.value.reason.render("en") or "surrogate" in e.value.reason.render("en")
    with pytest.raises(TextError, match="U\\+0000"):
        check_text("a\x00", field="f", max_len=10)
    with pytest.raises(TextError, match="超过上限 3 个字符"):
        check_text("abcd", field="f", max_len=3)
    with pytest.raises(TextError, match="必须是字符串"):
        check_text(5, field="f", max_len=3)  # type: ignore[arg-type]
    assert first_bad_text({"a": [1, {"b": "ok"}]}, max_len=10) is None
    assert first_bad_text({"a": [1, {"b": "o\x00k"}]}, max_len=10).field == "body.a[1].b"
    assert first_bad_text({"k\x00": 1}, max_len=10).field == "body key"
    deep: list = []
    for _ in range(40):
        deep = [deep]
    assert "嵌套超过 32 层" in str(first_bad_text(deep, max_len=10, max_depth=32).reason)
    assert storable("a\x00b\ud800", 10) == "a\ufffdb\ufffd"


def test_buckets_decide_before_the_body_and_go_into_debt():
    b = Buckets(rate=100, burst=1000)
    assert b.wait("t", 0.0) == 0.0
    b.debit("t", 1500, 0.0)  # a request bigger than what was left: accepted, bucket in debt
    assert b.wait("t", 0.0) == pytest.approx(5.01)  # until the debt of 500 is paid and one more
    assert b.wait("t", 5.0) > 0 and b.wait("t", 5.02) == 0.0
    b.debit("t", 10**9, 6.0)
    assert b.state["t"][0] == -1000  # debt capped at one burst


def test_admission_bounds_each_tenant_alone():
    a = Admission(max_requests=2, max_readings=100)
    assert a.enter("E1") and a.enter("E1") and not a.enter("E1")
    assert a.enter("E2")  # another tenant is not affected
    a.leave("E1")
    assert a.enter("E1")
    assert a.reserve("E1", 500)  # alone: a large request is slowed, never refused for ever
    assert not a.reserve("E1", 1) and a.reserve("E2", 60) and not a.reserve("E2", 41)
    a.release("E1", 500)
    assert a.reserve("E1", 100) and a.readings == {"E1": 100, "E2": 60}


def jdump(doc) -> bytes:
    """What a careless client writes: the json module passes lone surrogates through as \\ud800."""
    return json.dumps(doc).encode()


@pytest.fixture
async def server(kinds, machine_db):
    raw = site_dict()
    raw["policy"] = {"noise": {"group_interval": 0}}
    srv = Server(parse_site(raw, kinds), Settings(port=0, database=machine_db))
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


STATE_TABLES = ("readings", "message_ids", "alert_events", "silences", "dead_letters")


async def state_counts(dsn: str) -> dict:
    conn = await asyncpg.connect(dsn)
    try:
        out = {}
        for t in STATE_TABLES:
            if await conn.fetchval("SELECT to_regclass($1)", t):
                out[t] = await conn.fetchval(f"SELECT count(*) FROM {t}")
        return out
    finally:
        await conn.close()


async def test_every_text_field_refuses_bad_characters_and_changes_nothing(server):
    await overheat(server.port)
    aid = (await wait_for(lambda: [a for a in server.runtime.open_alerts() if a.rule == "threshold"]))[0].id
    dsn = server.settings.database
    await asyncio.sleep(0.5)  # let the alert's events reach the store
    before = await state_counts(dsn)
    now_ms = int(time.time() * 1000)
    silence = {"matchers": {"enterprise": "E1"}, "reason": "maintenance", "ends_at": time.time() + 3600}
    cases: list[tuple[str, str, dict, str]] = []  # (method, path, body, field expected in the answer)
    for bad in BAD:
        good_item = {"device": "DC1", "ts": now_ms, "values": {"dp": 1.0}}
        cases += [
            ("POST", "/api/v1/telemetry", [{**good_item, "id": bad}], "id"),
            ("POST", "/api/v1/telemetry", [{**good_item, "device": bad}], "device"),
            ("POST", "/api/v1/telemetry", [{**good_item, "values": {bad: 1.0}}], "values"),
            ("POST", f"/api/v1/alerts/{aid}/ack", {"note": bad}, "note"),
            ("POST", f"/api/v1/alerts/{aid}/handle", {"note": "ok", "extra": [bad]}, "extra"),
            ("POST", f"/api/v1/alerts/{aid}/feedback", {"note": "ok", "attachments": [{"name": bad}]}, "attachments"),
            ("POST", f"/api/v1/alerts/{aid}/feedback", {"attachments": [{"name": "a.jpg", "url": bad}]}, "attachments"),
            ("POST", f"/api/v1/alerts/{aid}/resolve", {"note": bad}, "note"),
            ("POST", "/api/v1/silences", {**silence, "reason": bad}, "reason"),
            ("POST", "/api/v1/silences", {**silence, "matchers": {"enterprise": bad}}, "matchers"),
        ]
    cases += [
        ("POST", f"/api/v1/alerts/{aid}/ack", {"note": "x" * 2001}, "note"),
        ("POST", "/api/v1/silences", {**silence, "reason": "r" * 2001}, "reason"),
        ("POST", "/api/v1/silences", {**silence, "ends_at": "NaN"}, "ends_at"),
    ]
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as c:
        for method, path, body, field in cases:
            token = TOKENS["E1"] if "telemetry" in path else OFFICER_TOKEN
            r = await c.request(
                method,
                path,
                content=jdump(body),
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            )
            assert r.status_code == 400, (path, body, r.status_code, r.text)
            assert field in r.text and "error" in r.json(), (path, body, r.text)
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        for bad in BAD:  # the login form, urlencoded as a browser would (a surrogate as its UTF-8 bytes)
            q = quote_from_bytes(bad.encode("utf-8", "surrogatepass"))
            r = await c.post("/login", content=f"username={q}&password=x", headers=form)
            assert r.status_code == 400 and r.json()["field"] == "username", r.text
            r = await c.post("/login", content=f"username=duty&password={q}", headers=form)
            assert r.status_code == 400 and r.json()["field"] == "password", r.text
        r = await c.post("/login", content=b"username=%FF%FE&password=x", headers=form)
        assert r.status_code == 400 and r.json()["field"] == "username", r.text
        r = await c.post("/login", content=b'{"username": "duty"}', headers={"Content-Type": "application/json"})
        assert r.status_code == 415
        assert [a.state for a in server.runtime.open_alerts() if a.id == aid] == ["active"]
    assert await state_counts(dsn) == before


async def test_one_tenants_poison_never_fails_another_tenants_requests(server):
    """E1 sends NUL and lone-surrogate message ids while E2 sends good readings: every E2
    request is 202, every poisoned E1 request is 400, and the store holds exactly E2's."""
    base = f"http://127.0.0.1:{server.port}/api/v1/telemetry"
    statuses: dict[str, dict[int, int]] = {"E1": {}, "E2": {}}
    accepted = 0

    async def sender(enterprise: str, n: int, worker: int):
        nonlocal accepted
        h = {"Authorization": f"Bearer {TOKENS[enterprise]}", "Content-Type": "application/json"}
        async with httpx.AsyncClient(timeout=30) as c:
            for i in range(n):
                ts = int(time.time() * 1000)
                if enterprise == "E1":
                    mid = ["bad\x00id", "\ud800", "ok-then-\x00"][i % 3] + f"-{worker}-{i}"
                else:
                    mid = f"e2-{worker}-{i}"
                body = jdump([{"device": "DC1", "ts": ts, "values": {"dp": 1100.0}, "id": mid}])
                r = await c.post(base, content=body, headers=h)
                statuses[enterprise][r.status_code] = statuses[enterprise].get(r.status_code, 0) + 1
                if r.status_code == 202:
                    accepted += r.json()["accepted"]

    await asyncio.gather(*(sender("E1", 60, w) for w in range(4)), *(sender("E2", 60, w) for w in range(4)))
    assert statuses["E2"] == {202: 240}, statuses
    assert statuses["E1"] == {400: 240}, statuses
    conn = await asyncpg.connect(server.settings.database)
    try:
        assert await conn.fetchval("SELECT count(*) FROM readings") == accepted == 240
    finally:
        await conn.close()


async def test_fair_share_per_enterprise_is_decided_from_the_headers(site, machine_db):
    """One request of E1 held open (its body never comes) fills E1's share of 1: E1's next is
    429 at once, while E2's go through; and all of E1's tokens together have one rate."""
    srv = Server(
        site, Settings(port=0, database=machine_db, rate=1e6, burst=1e6, enterprise_rate=1000, share_requests=1)
    )
    await srv.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        writer.write(
            b"POST /api/v1/telemetry HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + TOKENS["E1"].encode() + b"\r\nContent-Length: 100\r\n\r\n"
        )
        await writer.drain()
        await wait_for(lambda: srv.app.state.warning.admission.requests.get("E1") == 1)
        one = jdump([{"device": "DC1", "ts": int(time.time() * 1000), "values": {"dp": 1.0}}])
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{srv.port}") as c:

            def post(e, body=one):
                return c.post(
                    "/api/v1/telemetry",
                    content=body,
                    headers={"Authorization": f"Bearer {TOKENS[e]}", "Content-Type": "application/json"},
                )

            r = await post("E1")
            assert r.status_code == 429 and "个请求在处理中" in r.json()["error"] and r.headers["retry-after"] == "1"
            assert [(await post("E2")).status_code for _ in range(3)] == [202, 202, 202]
            writer.close()
            await wait_for(lambda: "E1" not in srv.app.state.warning.admission.requests)
            big = jdump(
                [
                    {"device": "DC1", "ts": int(time.time() * 1000) - i, "values": {"dp": 1.0, "spark": 0}}
                    for i in range(500)
                ]
            )  # 1,000 readings: the enterprise's whole burst
            codes = [(await post("E1", big)).status_code for _ in range(3)]
            assert codes[0] == 202 and codes[-1] == 429, codes
            r = await post("E1")
            assert r.status_code == 429 and "该企业所有令牌合计" in r.json()["error"]
    finally:
        await srv.stop()
