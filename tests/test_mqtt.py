"""MQTT ingest against a real Mosquitto (the suite's own, see ``mqtt_broker``): same payload and
validation as HTTP, per-enterprise topics checked against the token, dead letters for
everything refused, and readings stored once."""

from __future__ import annotations

import secrets
import time

import aiomqtt
import asyncpg
import orjson
import pytest

from tests.conftest import TOKENS, wait_for
from warning.ingest import IngestError
from warning.server import Server, Settings
from warning.sources.mqtt import MqttSettings, Refused, unpack


# -- the pure part -----------------------------------------------------------------------------
def test_unpack_envelope_fills_device_from_topic():
    body = orjson.dumps({"token": "t", "telemetry": [{"ts": 1, "values": {"dp": 1}}]})
    ent, dev, tok, tel = unpack("telemetry/E1/DC1", body, "telemetry")
    assert (ent, dev, tok) == ("E1", "DC1", "t") and tel[0]["device"] == "DC1"


def test_unpack_takes_an_mqtt5_token_property():
    ent, _, tok, tel = unpack("telemetry/E1/DC1", b'{"ts": 1, "values": {"dp": 1}}', "telemetry", "tok")
    assert (ent, tok, tel["device"]) == ("E1", "tok", "DC1")


@pytest.mark.parametrize(
    "topic, body, needle",
    [
        ("telemetry/E1", b"{}", "topic must be"),
        ("other/E1/DC1", b"{}", "topic must be"),
        ("telemetry/E1/DC1", b'[{"ts": 1}]', "payload must be"),
        ("telemetry/E1/DC1", b'{"token": 5, "telemetry": []}', "token"),
        ("telemetry/E1/DC1", b'{"token": "t", "telemetry": [{"device": "DC2", "ts": 1, "values": {}}]}', "differs"),
    ],
)
def test_unpack_refuses_with_a_reason(topic, body, needle):
    with pytest.raises(Refused, match=needle):
        unpack(topic, body, "telemetry")


def test_unpack_malformed_json_is_an_ingest_error():
    with pytest.raises(IngestError, match="malformed"):
        unpack("telemetry/E1/DC1", b"{nope", "telemetry")


# -- through the real broker -------------------------------------------------------------------
@pytest.fixture
async def mqtt_server(site, machine_db, mqtt_broker):
    prefix = "t" + secrets.token_hex(4)  # our own topics on the session's broker
    settings = MqttSettings(
        host=mqtt_broker.host, port=mqtt_broker.port, prefix=prefix, client_id="warning-test-" + secrets.token_hex(4)
    )
    srv = Server(site, Settings(port=0, database=machine_db, mqtt=settings))
    await srv.start()
    srv.dsn, srv.prefix, srv.broker = machine_db, prefix, mqtt_broker
    await wait_for(lambda: srv.mqtt.connected, timeout=10)
    yield srv
    await srv.stop()


def envelope(enterprise: str, items: list[dict], token: str | None = None) -> bytes:
    return orjson.dumps({"token": token or TOKENS[enterprise], "telemetry": items})


async def publish(broker, topic: str, payload: bytes) -> None:
    async with aiomqtt.Client(broker.host, broker.port) as c:
        await c.publish(topic, payload, qos=1)


async def scalar(dsn, sql, *args):
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


async def equals(dsn, sql, n) -> bool:
    return await scalar(dsn, sql) == n


async def test_mqtt_readings_are_stored_once_and_refusals_dead_lettered(mqtt_server):
    srv, p = mqtt_server, mqtt_server.prefix
    now = int(time.time() * 1000)
    good = envelope("E1", [{"ts": now, "values": {"dp": 1101.0, "hopper_temp": 30}, "id": "m1"}])
    await publish(srv.broker, f"{p}/E1/DC1", good)
    await publish(srv.broker, f"{p}/E1/DC1", good)  # a redelivery: same id, stored once
    await wait_for(lambda: equals(srv.dsn, "SELECT count(*) FROM readings", 2), timeout=10)

    # Cross-enterprise: E2's token on E1's topic, and E1 on a device it does not have.
    # One at a time: the subscriber handles messages concurrently, so the dead letters of a
    # burst may be written in any order; the reasons below are checked in publishing order.
    refused = [
        (f"{p}/E1/DC1", envelope("E2", [{"ts": now, "values": {"dp": 1}}])),
        (f"{p}/E2/DC2", envelope("E2", [{"ts": now, "values": {"dp": 1}}])),
        (f"{p}/E1/DC1", b'{"token": "x", "telemetry": [{"ts": 1, "values": {"dp": NaN}}]}'),
        (f"{p}/E1/DC1", envelope("E1", [{"ts": now, "values": {"dp": "high"}}])),
    ]
    for n, (topic, payload) in enumerate(refused, start=1):
        await publish(srv.broker, topic, payload)
        await wait_for(lambda n=n: equals(srv.dsn, "SELECT count(*) FROM dead_letters", n), timeout=10)
    conn = await asyncpg.connect(srv.dsn)
    reasons = [r["reason"] for r in await conn.fetch("SELECT reason FROM dead_letters ORDER BY id")]
    stored = await conn.fetchval("SELECT count(*) FROM readings")
    await conn.close()
    # each reason exactly once
    for needle in ("cross-enterprise", "not registered", "malformed JSON", "number or a boolean"):
        assert sum(needle in r for r in reasons) == 1, (needle, reasons)
    assert stored == 2  # nothing from the refused messages
    assert TOKENS["E2"] not in " ".join(reasons)  # reasons never echo a secret


async def test_mqtt_metrics_count_outcomes(mqtt_server):
    import httpx

    srv, p = mqtt_server, mqtt_server.prefix
    await publish(srv.broker, f"{p}/E1/DC1", envelope("E1", [{"ts": int(time.time() * 1000), "values": {"dp": 1}}]))
    await publish(srv.broker, f"{p}/E1/DC1", b"garbage")
    await wait_for(lambda: equals(srv.dsn, "SELECT count(*) FROM dead_letters", 1), timeout=10)
    # the two messages are handled concurrently: the refusal may be stored before the reading
    await wait_for(lambda: equals(srv.dsn, "SELECT count(*) FROM readings", 1), timeout=10)
    async with httpx.AsyncClient() as c:
        text = (await c.get(f"http://127.0.0.1:{srv.port}/metrics")).text
    assert 'warning_mqtt_messages_total{outcome="accepted"} 1.0' in text
    assert 'warning_mqtt_messages_total{outcome="dead_letter"} 1.0' in text


async def test_poison_messages_are_dead_lettered_once_and_never_block_others(mqtt_server, monkeypatch):
    """A NUL or lone surrogate in a message id, and a message whose data the store itself
    refuses, are each dead-lettered once with their reason and acknowledged (the slot is
    free again), while good messages around them are stored."""
    import asyncpg as _asyncpg

    srv, p = mqtt_server, mqtt_server.prefix
    now = int(time.time() * 1000)
    await publish(srv.broker, f"{p}/E1/DC1", envelope("E1", [{"ts": now, "values": {"dp": 1.0}, "id": "bad\x00id"}]))
    await publish(srv.broker, f"{p}/E1/DC1", envelope("E1", [{"ts": now, "values": {"dp": 1.0}, "id": "ok-1"}]))
    await publish(
        srv.broker,
        f"{p}/E1/DC1",
        b'{"token": "' + TOKENS["E1"].encode() + b'", "telemetry": '
        b'[{"ts": %d, "values": {"dp": 1.0}, "id": "\\ud800"}]}' % now,
    )
    await wait_for(lambda: equals(srv.dsn, "SELECT count(*) FROM dead_letters", 2), timeout=10)
    await wait_for(lambda: equals(srv.dsn, "SELECT count(*) FROM readings", 1), timeout=10)
    reasons = " | ".join(await _reasons(srv.dsn))
    assert "U+0000" in reasons and "U+D800" in reasons, reasons

    real_submit = srv.runtime.submit

    async def store_refuses(enterprise, parsed):  # what the store raises for data it cannot hold
        if any(m == "poison" for m, _ in parsed.messages):
            raise _asyncpg.CharacterNotInRepertoireError('invalid byte sequence for encoding "UTF8": 0x00')
        return await real_submit(enterprise, parsed)

    monkeypatch.setattr(srv.runtime, "submit", store_refuses)
    await publish(srv.broker, f"{p}/E1/DC1", envelope("E1", [{"ts": now, "values": {"dp": 2.0}, "id": "poison"}]))
    await publish(srv.broker, f"{p}/E1/DC1", envelope("E1", [{"ts": now, "values": {"dp": 3.0}, "id": "ok-2"}]))
    await wait_for(lambda: equals(srv.dsn, "SELECT count(*) FROM dead_letters", 3), timeout=10)
    await wait_for(lambda: equals(srv.dsn, "SELECT count(*) FROM readings", 2), timeout=10)
    assert sum("store refused" in r for r in await _reasons(srv.dsn)) == 1
    await wait_for(lambda: srv.mqtt._slots._value == srv.mqtt.settings.max_inflight, timeout=5)


async def _reasons(dsn) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        return [r["reason"] for r in await conn.fetch("SELECT reason FROM dead_letters ORDER BY id")]
    finally:
        await conn.close()
