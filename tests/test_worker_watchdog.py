"""The worker in-process against a real broker and PostgreSQL: the progress watchdog (ticks
that nobody applies mark their partitions stalled, ``/readyz`` fails on it, and an
operations alert is raised; applying them clears both), and records no gateway wrote."""

from __future__ import annotations

import asyncio
import os

import pytest

from tests.conftest import drop_database, fresh_database
from warning.metrics import Metrics
from warning.runtime.kafka import KafkaSettings, ensure_topics, producer, read_range
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
    kafka = KafkaSettings(bootstrap=broker.bootstrap, prefix="wd" + os.urandom(3).hex(), partitions=2,
                          idempotent=False)
    await ensure_topics(kafka)
    prod = producer(kafka)
    await prod.start()
    try:
        w = Worker(site, pool, kafka, producer=prod, metrics=Metrics(), owner="wd",
                   options=WorkerOptions(stall_after=0.5))
        await w.start()
        await w.assign({0, 1})
        assert set(w.states) == {0, 1} and w.stalled == set()
        await w.tick()  # written, and nothing consumes the topic
        await asyncio.sleep(0.7)
        await w.tick()
        assert w.stalled == {0, 1}
        async with pool.acquire() as conn:
            open_ = await conn.fetch("SELECT point, state, severity FROM alerts WHERE rule = 'stalled'")
        assert sorted(r["point"] for r in open_) == ["partition-0", "partition-1"]
        assert {r["state"] for r in open_} == {"active"}

        for k in (0, 1):  # now apply what is in the log, as the agent would
            recs = await read_range(kafka, kafka.readings_topic, k, 0, 1)
            done = await w.handle([(k, off, v) for off, v in recs])
            assert done == {(k, 0), (k, 1)}
        await w.tick()
        assert w.stalled == set()
        async with pool.acquire() as conn:
            states = await conn.fetch("SELECT state, condition_active FROM alerts WHERE rule = 'stalled'")
            written = await conn.fetch("SELECT partition, written FROM partition_state ORDER BY partition")
        # cleared, not lifted: an operations alert too waits for a person (issue 13)
        assert {(r["state"], r["condition_active"]) for r in states} == {("active", False)}
        assert [(r["partition"], r["written"]) for r in written] == [(0, 1), (1, 1)]

        # a record no gateway wrote is kept in dead_letters and skipped: the partition goes on
        meta = await (await prod.send(kafka.readings_topic, b'{"k": "c", "now": 1}', partition=0))
        recs = await read_range(kafka, kafka.readings_topic, 0, 2, meta.offset)  # the last tick, then it
        done = await w.handle([(0, off, v) for off, v in recs])
        assert done == {(0, off) for off, _ in recs} and (0, meta.offset) in done
        async with pool.acquire() as conn:
            dead = await conn.fetch("SELECT source, topic, payload, reason FROM dead_letters")
            assert await conn.fetchval("SELECT written FROM partition_state WHERE partition = 0") == meta.offset
        assert [(d["source"], d["topic"], bytes(d["payload"])) for d in dead] == [
            ("kafka", f"{kafka.readings_topic}[0]@{meta.offset}", b'{"k": "c", "now": 1}')]
        assert "lacks" in dead[0]["reason"]
    finally:
        await prod.stop()
        await pool.close()
        await drop_database(db)
