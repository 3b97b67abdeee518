"""Every channel against a real receiver on loopback: the exact message format and signature
(checked the way the vendor's server checks it), SMTP through a real aiosmtpd server, and
the whole path from a reading to each channel, the lifecycle webhook, and a dead letter."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time

import aiohttp
import asyncpg
import httpx
import orjson
import pytest
from aiohttp import web
from aiosmtpd.controller import Controller

from tests.conftest import OFFICER_TOKEN, free_port, site_dict, wait_for
from tests.support import serve_loopback
from tests.test_alert_flow import overheat, push
from warning.config import Channel, parse_site
from warning.notify.channels import Sender
from warning.server import Server, Settings

SECRET_DT = "SECdingtalk-test-secret"
SECRET_FS = "feishu-test-secret"


class Hooks:
    """Loopback HTTP receiver keeping (path, query, headers, body) of every request."""

    def __init__(self):
        self.seen: list[dict] = []

    async def handle(self, request):
        body = await request.json()
        if request.path == "/slow":
            await asyncio.sleep(3)
        self.seen.append(
            {
                "path": request.path,
                "query": dict(request.query),
                "headers": dict(request.headers),
                "body": body,
                "at": time.time(),
            }
        )
        if request.path == "/feishu":
            return web.json_response({"code": 0, "msg": "success"})
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    def on(self, path):
        return [s for s in self.seen if s["path"] == path]

    async def __aenter__(self):
        self.runner, self.base = await serve_loopback(self.handle)
        return self

    async def __aexit__(self, *exc):
        await self.runner.cleanup()


class Mailbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd handler hook
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content.decode()))
        return "250 OK"


@pytest.fixture
async def hooks():
    async with Hooks() as h:
        yield h


@pytest.fixture
def smtp():
    box = Mailbox()
    ctl = Controller(box, hostname="127.0.0.1", port=free_port())
    ctl.start()
    try:
        yield box, ctl.port
    finally:
        ctl.stop()


def payload(kind="raised", severity="red"):
    alert = {
        "id": "a1b2c3",
        "enterprise": "E1",
        "device": "DC1",
        "point": "hopper_temp",
        "rule": "threshold",
        "severity": severity,
        "state": "active",
        "message": "料斗温度 75.0 °C，超过红色限值 70 °C",
        "message_data": {
            "id": "{title} {value}, above the {severity} limit {limit}",
            "params": {
                "title": "hopper temperature",
                "value": 75.04,
                "precision": 1,
                "unit": "°C",
                "limit": 70.0,
                "severity": "red",
            },
        },
        "holder": "duty officer: zhang.san",
    }
    # what the router adds (warning.labels): the enterprise's name, the kind's title, the link
    return {
        "id": "ev123",
        "kind": kind,
        "at": 1_800_000_000.0,
        "actor": None,
        "note": None,
        "data": None,
        "alert": alert,
        "recipient": {"name": "zhang.san", "phone": "13800000001", "email": "zs@example.cn"},
        "contact": {"phone": "13700000001", "email": "safety@e1.example.cn"},
        "enterprise_name": "苏州汇通木制品有限公司",
        "point_title": "hopper temperature",
        "link": "https://warning.example.gov.cn/alert/a1b2c3",
    }


def verify_dingtalk(query: dict, secret: str, now: float) -> None:
    """What DingTalk's server does: timestamp within an hour, sign = HMAC-SHA256 over "ts\\nsecret"."""
    ts = int(query["timestamp"])
    assert abs(now * 1000 - ts) < 3600_000
    expected = base64.b64encode(hmac.new(secret.encode(), f"{ts}\n{secret}".encode(), hashlib.sha256).digest())
    assert query["sign"] == expected.decode()  # aiohttp has URL-decoded it already


def verify_feishu(body: dict, secret: str, now: float) -> None:
    """Feishu: the HMAC key is "ts\\nsecret", the message empty; timestamp within an hour."""
    ts = int(body["timestamp"])
    assert abs(now - ts) < 3600
    expected = base64.b64encode(hmac.new(f"{ts}\n{secret}".encode(), b"", hashlib.sha256).digest()).decode()
    assert body["sign"] == expected


async def test_each_channel_message_format_and_signature(hooks, smtp, monkeypatch):
    box, port = smtp
    monkeypatch.setenv("T_DT_SECRET", SECRET_DT)
    monkeypatch.setenv("T_FS_SECRET", SECRET_FS)
    monkeypatch.setenv("T_SMS_TOKEN", "sms-token-1")
    monkeypatch.setenv("T_E1_HOOK", f"{hooks.base}/e1")
    now = time.time()
    chans = {
        "dingtalk": Channel(
            "dt",
            "dingtalk",
            "blue",
            {"url": f"{hooks.base}/dingtalk?access_token=abc", "secret_env": "T_DT_SECRET", "secret": "ignored"},
        ),
        "feishu": Channel("fs", "feishu", "blue", {"url": f"{hooks.base}/feishu", "secret_env": "T_FS_SECRET"}),
        "wecom": Channel("wc", "wecom", "blue", {"url": f"{hooks.base}/wecom"}),
        "webhook": Channel("wh", "webhook", "blue", {"url": f"{hooks.base}/webhook"}),
        "sms": Channel(
            "sms",
            "sms",
            "blue",
            {
                "url": f"{hooks.base}/sms",
                "token_env": "T_SMS_TOKEN",
                "to": ["13600000000"],
                "to_on_duty": True,
                "to_enterprise": True,
            },
        ),
        "e1": Channel("e1", "webhook", "blue", {"url": "http://unused", "to_enterprise": True}),
        "email": Channel(
            "mail",
            "email",
            "blue",
            {
                "host": "127.0.0.1",
                "port": port,
                "from": "warning@bureau.cn",
                "to": ["duty@bureau.cn"],
                "to_on_duty": True,
            },
        ),
    }
    async with aiohttp.ClientSession() as session:
        sender = Sender(session, lambda: now)
        for ch in chans.values():
            if ch.id != "e1":
                assert await sender.send(ch, payload(), "ev123") is None, ch.id
        assert "no url" in await sender.send(chans["e1"], payload(), "ev124")  # this enterprise has no hook
        p = payload()
        p["contact"] = {"webhook_env": "T_E1_HOOK"}
        assert await sender.send(chans["e1"], p, "ev124") is None

    dt = hooks.on("/dingtalk")[0]
    assert dt["query"]["access_token"] == "abc"
    verify_dingtalk(dt["query"], SECRET_DT, now)
    assert dt["body"]["msgtype"] == "markdown" and dt["body"]["markdown"]["title"].startswith("[红色(一级)报警 发布]")
    assert "料斗温度 75.0 °C，超过红色限值 70 °C" in dt["body"]["markdown"]["text"]
    assert "https://warning.example.gov.cn/alert/a1b2c3" in dt["body"]["markdown"]["text"]

    fs = hooks.on("/feishu")[0]["body"]
    verify_feishu(fs, SECRET_FS, now)
    assert (
        fs["msg_type"] == "text"
        and "苏州汇通木制品有限公司 (E1) / DC1 / 料斗温度 (hopper_temp)" in fs["content"]["text"]
    )

    wc = hooks.on("/wecom")[0]["body"]
    assert wc["msgtype"] == "markdown" and "红色(一级)报警 发布" in wc["markdown"]["content"]
    assert "值班：zhang.san" in wc["markdown"]["content"]
    assert "责任人：duty officer: zhang.san" in wc["markdown"]["content"]
    assert (
        "[https://warning.example.gov.cn/alert/a1b2c3](https://warning.example.gov.cn/alert/a1b2c3)"
        in (wc["markdown"]["content"])
    )

    wh = hooks.on("/webhook")[0]
    assert wh["body"]["type"] == "alert_event" and wh["body"]["event_id"] == "ev123"
    assert wh["headers"]["Idempotency-Key"] == "ev123"

    sms = hooks.on("/sms")[0]
    assert sms["headers"]["Authorization"] == "Bearer sms-token-1"
    assert sms["body"]["to"] == ["13600000000", "13800000001", "13700000001"]  # fixed, on duty, enterprise
    assert sms["body"]["text"].startswith("[红色(一级)报警 发布]") and len(sms["body"]["text"]) <= 300
    assert sms["body"]["text"].endswith(" https://warning.example.gov.cn/alert/a1b2c3")  # the link is kept whole

    assert hooks.on("/e1")[0]["body"]["event_id"] == "ev123"  # one-code push to the enterprise's own hook

    await wait_for(lambda: box.messages, timeout=5)
    mail_from, rcpt, content = box.messages[0]
    assert mail_from == "warning@bureau.cn" and rcpt == ["duty@bureau.cn", "zs@example.cn"]
    assert "X-Warning-Notification: ev123" in content
    import email
    import email.header

    mail = email.message_from_bytes(content.encode())
    assert str(email.header.make_header(email.header.decode_header(mail["Subject"]))).startswith(
        "[红色(一级)报警 发布]"
    )
    assert "详情：料斗温度 75.0 °C，超过红色限值 70 °C" in mail.get_payload(decode=True).decode()


async def test_robot_error_codes_and_missing_secrets_are_failures(hooks):
    async def bad(request):
        return web.json_response({"errcode": 310000, "errmsg": "sign not match"})

    app = web.Application()
    app.router.add_post("/x", bad)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/x"
    try:
        async with aiohttp.ClientSession() as session:
            sender = Sender(session, time.time)
            err = await sender.send(Channel("dt", "dingtalk", "blue", {"url": url}), payload(), "k")
            assert err and "310000" in err
            err = await sender.send(
                Channel("dt", "dingtalk", "blue", {"url_env": "T_NOT_SET_ANYWHERE"}), payload(), "k"
            )
            assert err and "no url" in err
            err = await sender.send(
                Channel("s", "sms", "blue", {"url": url}), payload() | {"recipient": {}, "contact": {}}, "k"
            )
            assert err and "no phone" in err
    finally:
        await runner.cleanup()


def channel_site(kinds, hooks, smtp_port, dead_port):
    raw = site_dict(
        channels=[
            {"id": "duty-dt", "type": "dingtalk", "url": f"{hooks.base}/dingtalk", "secret_env": "T_DT_SECRET"},
            {"id": "duty-fs", "type": "feishu", "url": f"{hooks.base}/feishu", "secret_env": "T_FS_SECRET"},
            {"id": "duty-wc", "type": "wecom", "url": f"{hooks.base}/wecom"},
            {"id": "lifecycle", "type": "webhook", "url": f"{hooks.base}/webhook"},
            {"id": "leader-sms", "type": "sms", "url": f"{hooks.base}/sms", "to_on_duty": True},
            {"id": "mail", "type": "email", "host": "127.0.0.1", "port": smtp_port, "to": ["duty@bureau.cn"]},
            {"id": "broken", "type": "webhook", "url": f"http://127.0.0.1:{dead_port}/gone", "min_severity": "red"},
        ]
    )
    raw["policy"] = {
        "escalation": {
            "tiers": [
                {"name": "duty officer", "channels": ["duty-dt", "duty-fs", "duty-wc", "mail"]},
                {"name": "shift leader", "channels": ["leader-sms"], "roster": "leaders"},
            ],
            "after": {"red": 2},
        },
        "rosters": {"leaders": [{"who": "wang.wu", "phone": "13900000001"}]},
        "noise": {"group_interval": 30},
    }
    return parse_site(raw, kinds)


async def test_reading_to_every_channel_escalation_ack_resolve_and_dead_letter(
    kinds, machine_db, hooks, smtp, monkeypatch
):
    box, smtp_port = smtp
    monkeypatch.setenv("T_DT_SECRET", SECRET_DT)
    monkeypatch.setenv("T_FS_SECRET", SECRET_FS)
    import warning.notify.outbox as ob

    monkeypatch.setattr(ob, "backoff", lambda attempt, **kw: 0.1)
    srv = Server(channel_site(kinds, hooks, smtp_port, free_port()), Settings(port=0, database=machine_db))
    await srv.start()
    srv.runtime.outbox.max_attempts = 2
    srv.runtime.outbox.poll_interval = 0.1
    try:
        await overheat(srv.port)
        await wait_for(lambda: all(hooks.on(p) for p in ("/dingtalk", "/feishu", "/wecom", "/webhook")), timeout=10)
        await wait_for(lambda: box.messages, timeout=10)
        verify_dingtalk(hooks.on("/dingtalk")[0]["query"], SECRET_DT, time.time())
        verify_feishu(hooks.on("/feishu")[0]["body"], SECRET_FS, time.time())
        raised = hooks.on("/webhook")[0]["body"]
        aid = raised["alert"]["id"]
        # nobody signs: after 2 s the red alert escalates to the shift leader's SMS, to the person on shift
        sms = await wait_for(lambda: hooks.on("/sms"), timeout=10)
        assert sms[0]["body"]["to"] == ["13900000001"] and "升级" in sms[0]["body"]["text"]
        # the broken channel's message becomes a dead letter, which raises an alert of its own
        conn = await asyncpg.connect(machine_db)
        try:
            dead = await wait_for(
                lambda: conn.fetchrow("SELECT * FROM alerts WHERE rule = 'dead_letter' AND point = 'broken'"),
                timeout=15,
            )
            assert dead["enterprise"] == "_system" and dead["state"] == "active"
            failed = await conn.fetchval("SELECT count(*) FROM outbox WHERE channel = 'broken' AND state = 'failed'")
            assert failed >= 1
        finally:
            await conn.close()
        await wait_for(
            lambda: any(s["body"].get("alert", {}).get("rule") == "dead_letter" for s in hooks.on("/webhook")),
            timeout=10,
        )
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{srv.port}", headers={"Authorization": f"Bearer {OFFICER_TOKEN}"}
        ) as api:
            r = await api.post(f"/api/v1/alerts/{aid}/ack", json={"note": "on it"})
            assert r.status_code == 200
            await wait_for(lambda: any(s["body"]["kind"] == "acknowledged" for s in hooks.on("/webhook")))
            robots_before = len(hooks.on("/dingtalk")) + len(hooks.on("/sms"))
            r = await api.post(f"/api/v1/alerts/{aid}/resolve", json={"note": "cooled down, sensor checked"})
            assert r.status_code == 200
            await wait_for(lambda: any(s["body"]["kind"] == "resolved" for s in hooks.on("/webhook")))
            await asyncio.sleep(2.5)  # past the next escalation step: nothing more after the sign
            assert len(hooks.on("/dingtalk")) + len(hooks.on("/sms")) == robots_before
            log = (await api.get("/api/v1/notifications", params={"alert": aid})).json()
            assert {n["channel"] for n in log} >= {"duty-dt", "duty-fs", "duty-wc", "lifecycle", "mail", "leader-sms"}
            assert all(n["state"] in ("sent", "cancelled") for n in log if n["channel"] != "broken")
        keys = [(s["path"], s["headers"]["Idempotency-Key"]) for s in hooks.seen]
        assert len(keys) == len(set(keys))  # no channel heard anything twice
    finally:
        await srv.stop()


async def test_a_slow_channel_does_not_hold_up_the_others(kinds, machine_db, hooks):
    raw = site_dict(
        channels=[
            {"id": "slow", "type": "webhook", "url": f"{hooks.base}/slow"},
            {"id": "fast", "type": "wecom", "url": f"{hooks.base}/fast"},
        ]
    )
    srv = Server(parse_site(raw, kinds), Settings(port=0, database=machine_db))
    await srv.start()
    try:
        await overheat(srv.port)
        await wait_for(lambda: hooks.on("/fast"), timeout=5)  # the slow receiver now sleeps 3 s on its copy
        t0 = time.time()
        await push(
            srv.port, orjson.dumps([{"device": "DC1", "ts": int(t0 * 1000), "values": {"vent_open": True}}]), "E2"
        )  # another enterprise: not grouped with the first
        second = await wait_for(lambda: hooks.on("/fast")[1:], timeout=5)
        assert second[0]["at"] - t0 < 1.5 and not hooks.on("/slow")  # not queued behind the slow delivery
        await wait_for(lambda: len(hooks.on("/slow")) == 2, timeout=15)
    finally:
        await srv.stop()
