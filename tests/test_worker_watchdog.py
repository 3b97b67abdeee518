"""The worker in-process against a real broker and PostgreSQL: the progress watchdog (ticks
that nobody applies mark their partitions stalled, ``/readyz`` fails on it, and an
operations alert is raised; applying them clears both), and records no gateway wrote."""

from __future__ import annotations

import asyncio
import time

import orjson
import pytest

from tests.conftest import drop_database, fresh_database, wait_for
from tests.support import kafka_and_producer
from warning.metrics import Metrics
from warning.runtime import records
from warning.runtime.kafka import read_range
from warning.runtime.tansu import Tansu
from warning.runtime.worker import Worker, WorkerOptions
from warning.store.db import connect_pool


@pytest.fixture(scope="module")
def broker():
    with Tansu() as b:
        yield b


async def test_stalled_partitions_then_a_record_no_gateway_wrote(broker, site):
    dsn, db = await fresh_database()
    pool = await connect_pool(dsn)
    kafka, prod = await kafka_and_producer(broker.bootstrap, "wd", 2)
    try:
        w = Worker(
            site, pool, kafka, producer=prod, metrics=Metrics(), owner="wd", options=WorkerOptions(stall_after=0.5)
        )
        await w.start()
        await w.assign({0, 1})
        assert set(w.states) == {0, 1} and w.stalled == set()
        await w.tick()  # written, and nothing consumes the topic
        await asyncio.sleep(0.7)
        await w.tick()
        assert w.stalled == {0, 1}
        # The findings are records of the _system partition (0 of 2): its owner applies them
        # through the same step as everything else. Nothing is stored before that.
        sys_k = records.partition_of(records.SYSTEM, 2)
        assert sys_k == 0
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT count(*) FROM alerts WHERE rule = 'stalled'") == 0
        recs = await read_range(kafka, kafka.readings_topic, 0, 0, 3)  # two ticks, then the two findings
        assert [orjson.loads(v)["k"] for _, v in recs] == ["t", "t", "o", "o"]
        assert await w.handle([(0, off, v) for off, v in recs]) == {(0, off) for off, _ in recs}
        async with pool.acquire() as conn:
            open_ = await conn.fetch(
                "SELECT enterprise, device, point, state, severity FROM alerts WHERE rule = 'stalled'"
            )
        assert sorted(r["point"] for r in open_) == ["partition-0", "partition-1"]
        assert {(r["enterprise"], r["device"], r["state"]) for r in open_} == {("_system", "watchdog", "active")}
        assert {a.point for a in w.states[0].step.open_alerts()} == {"partition-0", "partition-1"}

        recs = await read_range(kafka, kafka.readings_topic, 1, 0, 1)  # now the other partition moves
        assert await w.handle([(1, off, v) for off, v in recs]) == {(1, 0), (1, 1)}
        await w.tick()
        assert w.stalled == set()
        recs = await read_range(kafka, kafka.readings_topic, 0, 4, 6)  # a tick, then both cleared
        assert [orjson.loads(v)["k"] for _, v in recs] == ["t", "o", "o"]
        await w.handle([(0, off, v) for off, v in recs])
        async with pool.acquire() as conn:
            states = await conn.fetch("SELECT state, condition_active FROM alerts WHERE rule = 'stalled'")
            written = await conn.fetch("SELECT partition, written FROM partition_state ORDER BY partition")
        # cleared, not lifted: an operations alert too waits for a person (issue 13)
        assert {(r["state"], r["condition_active"]) for r in states} == {("active", False)}
        assert [(r["partition"], r["written"]) for r in written] == [(0, 6), (1, 1)]

        # a record no gateway wrote is kept in dead_letters and skipped: the partition goes on
        meta = await (await prod.send(kafka.readings_topic, b'{"k": "c", "now": 1}', partition=0))
        recs = await read_range(kafka, kafka.readings_topic, 0, 7, meta.offset)
        done = await w.handle([(0, off, v) for off, v in recs])
        assert done == {(0, off) for off, _ in recs} and (0, meta.offset) in done
        async with pool.acquire() as conn:
            dead = await conn.fetch("SELECT source, topic, payload, reason FROM dead_letters")
            assert await conn.fetchval("SELECT written FROM partition_state WHERE partition = 0") == meta.offset
        assert [(d["source"], d["topic"], bytes(d["payload"])) for d in dead] == [
            ("kafka", f"{kafka.readings_topic}[0]@{meta.offset}", b'{"k": "c", "now": 1}')
        ]
        assert "lacks" in dead[0]["reason"]
    finally:
        await prod.stop()
        await pool.close()
        await drop_database(db)


async def test_watchdog_alert_escalates_and_is_signed_for_through_the_api(broker, kinds):
    """Distributed mode, end to end: a wedged partition's "stalled" alert lives in the
    ``_system`` partition's pipeline, so its ticks escalate it when nobody signs for it, and
    an officer's sign-for through the dashboard gateway's API reaches it (2xx, not 409)."""
    import httpx
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from tests.conftest import OFFICER_TOKEN, free_port, site_dict
    from warning.config import parse_site
    from warning.server import Server, Settings

    raw = site_dict()
    raw["policy"] = {"escalation": {"tiers": [{"name": "duty"}, {"name": "leader"}], "after": {"orange": 60}}}
    site = parse_site(raw, kinds)
    dsn, db = await fresh_database()
    pool = await connect_pool(dsn)
    kafka, prod = await kafka_and_producer(broker.bootstrap, "wa", 2)
    now = [time.time()]
    w = Worker(
        site,
        pool,
        kafka,
        producer=prod,
        metrics=Metrics(),
        owner="wd",
        clock=lambda: now[0],
        options=WorkerOptions(stall_after=5.0),
    )
    wedged = 1 - records.partition_of(records.SYSTEM, 2)  # the other partition: its records are never applied
    consumer = AIOKafkaConsumer(
        bootstrap_servers=broker.bootstrap, group_id=None, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    server = Server(site, Settings(port=free_port(), database=dsn, roles={"dashboard"}, kafka=kafka))

    async def agent() -> None:  # what faust's agent does, for every partition but the wedged one
        while True:
            got = await consumer.getmany(timeout_ms=200)
            chunk = [(m.partition, m.offset, m.value) for msgs in got.values() for m in msgs if m.partition != wedged]
            if chunk:
                await w.handle(chunk)

    await w.start()
    await w.assign({0, 1})
    await consumer.start()
    consumer.assign([TopicPartition(kafka.readings_topic, k) for k in range(2)])
    task = asyncio.create_task(agent())
    await server.start()
    try:

        async def stalled_alert() -> dict | None:
            async with pool.acquire() as conn:
                row = await conn.fetchrow(
                    "SELECT id, state, tier, holder FROM alerts WHERE rule = 'stalled' AND point = $1",
                    f"partition-{wedged}",
                )
            return None if row is None else dict(row)

        await w.tick()
        await wait_for(lambda: w.states[1 - wedged].written >= 0)  # the agent applied and stored the _system tick
        now[0] += 6
        await w.tick()
        assert w.stalled == {wedged}
        alert = await wait_for(stalled_alert, timeout=10)
        assert alert["state"] == "active" and alert["tier"] == 0 and alert["holder"] == "duty"
        now[0] += 61  # nobody signs: the _system partition's own ticks escalate it
        await w.tick()
        alert = await wait_for(lambda: _escalated(stalled_alert), timeout=10)
        assert alert["tier"] == 1 and alert["holder"] == "leader"

        api = {"Authorization": f"Bearer {OFFICER_TOKEN}"}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}", timeout=20) as c:
            r = await c.post(f"/api/v1/alerts/{alert['id']}/ack", json={"note": "partition restarted"}, headers=api)
            assert r.status_code == 200, r.text
            assert r.json()["state"] == "acknowledged" and r.json()["acknowledged_by"] == "duty"
        assert (await stalled_alert())["state"] == "acknowledged"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await server.stop()
        await consumer.stop()
        await prod.stop()
        await pool.close()
        await drop_database(db)


async def _escalated(read) -> dict | None:
    a = await read()
    return a if a is not None and a["tier"] >= 1 else None


async def test_a_record_the_store_refuses_is_dead_lettered_and_the_others_stored(broker, site):
    """A batch whose message id the store refuses (U+0000) is isolated from its chunk: the
    other records are stored, it is kept in dead_letters, its partition moves past it, an
    operations finding goes to the _system partition, and a new owner's catch-up skips it."""
    from warning.model import Reading

    dsn, db = await fresh_database()
    pool = await connect_pool(dsn)
    kafka, prod = await kafka_and_producer(broker.bootstrap, "wp", 1)
    try:
        w = Worker(site, pool, kafka, producer=prod, metrics=Metrics(), owner="wp")
        await w.start()
        await w.assign({0})
        dp = next(
            pid
            for pid, p in w.points[0].items()
            if (p.ref.enterprise, p.ref.device, p.ref.point) == ("E2", "DC1", "dp")
        )
        now = time.time()
        values = [
            records.encode_batch("r1", "E2", [("m1", [Reading(dp, now, 1000.0)])], now),
            records.encode_batch("r2", "E1", [("bad\u0000id", [Reading(dp, now, 1.0)])], now),
            records.encode_batch("r3", "E2", [("m3", [Reading(dp, now + 1, 1001.0)])], now),
        ]
        offs = [(await (await prod.send(kafka.readings_topic, v, partition=0))).offset for v in values]
        done = await w.handle([(0, off, v) for off, v in zip(offs, values)])
        assert done == {(0, off) for off in offs}
        async with pool.acquire() as conn:
            ids = [r["msg_id"] for r in await conn.fetch("SELECT msg_id FROM messages ORDER BY msg_id")]
            dead = await conn.fetch("SELECT source, topic, reason FROM dead_letters")
            written = await conn.fetchval("SELECT written FROM partition_state WHERE partition = 0")
        assert ids == ["m1", "m3"] and written == offs[-1]
        assert [(d["source"], d["topic"]) for d in dead] == [("kafka", f"{kafka.readings_topic}[0]@{offs[1]}")]
        assert "store refused" in dead[0]["reason"] and "CharacterNotInRepertoireError" in dead[0]["reason"]
        after = await read_range(kafka, kafka.readings_topic, 0, offs[-1] + 1, offs[-1] + 1)
        assert [orjson.loads(v)["k"] for _, v in after] == ["o"]  # the finding, for the _system partition
        assert orjson.loads(after[0][1])["f"]["rule"] == "poison"

        heir = Worker(site, pool, kafka, producer=prod, metrics=Metrics(), owner="heir")
        await heir.start()
        await heir.assign({0})  # catch-up from the start: the refused record is skipped again
        assert heir.states[0].processed == offs[-1]
        assert await heir.handle(list((0, off, v) for off, v in after)) == {(0, after[0][0])}
        assert [a.rule for a in heir.states[0].step.open_alerts() if a.enterprise == "_system"] == ["poison"]
    finally:
        await prod.stop()
        await pool.close()
        await drop_database(db)
