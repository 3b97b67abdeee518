"""The worker in-process against a real broker and PostgreSQL: records faust did not deliver
are not lost. After a rebalance faust can drop a partition's first records (a read offset left
behind by a fetch that spanned the rebalance) and hand over the ones after them; the worker
reads the missing ones back from the log and applies everything in order."""

from __future__ import annotations

import time

from tests.conftest import drop_database, fresh_database
from tests.support import kafka_and_producer
from warning.metrics import Metrics
from warning.runtime import records
from warning.runtime.kafka import read_range
from warning.runtime.tansu import Tansu
from warning.runtime.worker import Worker
from warning.store.db import connect_pool


async def test_records_faust_skipped_are_read_back_and_applied_in_order(site):
    dsn, db = await fresh_database()
    pool = await connect_pool(dsn)
    with Tansu() as broker:
        kafka, prod = await kafka_and_producer(broker.bootstrap, "gap", 2)
        try:
            metrics = Metrics()
            w = Worker(site, pool, kafka, producer=prod, metrics=metrics, owner="gap")
            await w.start()
            await w.assign({0, 1})
            k = next(k for k, pts in w.points.items() if pts)  # the test site's enterprises
            pid, point = next(iter(w.points[k].items()))
            ent = point.ref.enterprise
            now = time.time()
            for i in range(8):
                value = records.encode_batch(f"rec-{i}", ent, [(f"msg-{i}", [(pid, now + i, 20.0 + i)])], now + i)
                await (await prod.send(kafka.readings_topic, value, partition=k))
            log = await read_range(kafka, kafka.readings_topic, k, 0, 7)
            assert [off for off, _ in log] == list(range(8))

            # faust hands over 3..5 only (0..2 dropped), then 7 (6 dropped): the records read
            # back are stored with them (and named among the stored ones)
            chunk = [(k, off, v) for off, v in log if off in (3, 4, 5)]
            assert await w.handle(chunk) == {(k, off) for off in range(6)}
            assert await w.handle([(k, 7, log[7][1])]) == {(k, 6), (k, 7)}

            async with pool.acquire() as conn:
                stored = await conn.fetch("SELECT msg_id FROM messages ORDER BY msg_id")
                readings = await conn.fetchval("SELECT count(*) FROM readings")
                written = await conn.fetchval("SELECT written FROM partition_state WHERE partition = $1", k)
            assert [r["msg_id"] for r in stored] == [f"msg-{i}" for i in range(8)]
            assert readings == 8 and written == 7
            assert w.states[k].processed == 7
            assert metrics.records_refetched._value.get() == 4

            # redelivered records (the group offset behind ``written``) change nothing
            assert await w.handle([(k, off, v) for off, v in log]) == {(k, off) for off in range(8)}
            async with pool.acquire() as conn:
                assert await conn.fetchval("SELECT count(*) FROM readings") == 8
            assert metrics.records_refetched._value.get() == 4
        finally:
            await prod.stop()
            await pool.close()
            await drop_database(db)
