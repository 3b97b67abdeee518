"""A distributed partition without a snapshot warms from stored history as the embedded
runtime's shards do (warning/runtime/warmup.py): the worker in-process against a real broker
and PostgreSQL. Its devices without a ``running`` point re-learn their usual stop times, and
the warm-up stops where the partition's own catch-up begins, so no reading is fed twice."""

from __future__ import annotations

import pickle

from tests.conftest import drop_database, fresh_database
from tests.support import kafka_and_producer
from tests.test_detector_warm import START, H, _line, _site
from warning.model import Reading
from warning.pipeline import SHARDS, Pipeline
from warning.runtime import records, warmup
from warning.runtime.kafka import read_range
from warning.runtime.tansu import Tansu
from warning.runtime.worker import Worker, _earliest
from warning.step import Step
from warning.store import readings as reading_store
from warning.store import registry
from warning.store.db import connect_pool


def _detectors(pipe: Pipeline) -> dict[int, bytes]:
    return {pid: pickle.dumps(chain.detectors) for pid, chain in sorted(pipe.chains.items())}


async def test_a_cold_partition_warms_from_the_store_up_to_its_catch_up():
    now = START + 2 * 86400 + 12 * H  # Wednesday 12:00: Monday's and Tuesday's stops are stored
    site = _site()
    dsn, db = await fresh_database()
    pool = await connect_pool(dsn)
    try:
        async with pool.acquire() as conn:
            points = await registry.sync_points(conn, site)
            to_db = {k: {p.ref: pid for pid, p in points.items()}[p.ref] for k, p in enumerate(site.points)}
            line = [(to_db[k], t, v) for k, t, v in _line(START, now + 600)]
            await reading_store.copy_readings(
                conn, await reading_store.next_batch(conn), [Reading(*r) for r in line if r[1] < now]
            )
        with Tansu() as broker:
            kafka, prod = await kafka_and_producer(broker.bootstrap, "warm", 2)
            try:
                first = Worker(site, pool, kafka, producer=prod, owner="first", clock=lambda: now)
                await first.start()
                await first.assign({0, 1})
                k = next(k for k, pts in first.points.items() if pts)
                pipe = first.states[k].pipeline
                run = pipe.runs[("E", "D")]
                assert len(run.stops) == 2 and all(
                    19.5 <= ((s - START) % 86400) / H <= 19.5 + 5 / 60 for s in run.stops
                )
                alone = Pipeline(points, site.offline_after, policy=site.alert_policy())
                assert await warmup.warm(Step(alone), pool, set(range(SHARDS)), now, 2 * H, 8 * 86400.0) > 0
                assert _detectors(pipe) == _detectors(alone)  # the embedded runtime's warm-up, exactly

                # ten live minutes through the first owner: stored, no snapshot yet (its clock stands)
                live = [r for r in line if r[1] >= now]
                for i in range(0, len(live), 30):
                    value = records.encode_batch(f"rec-{i}", "E", [(f"msg-{i}", live[i : i + 30])], live[i][1])
                    await (await prod.send(kafka.readings_topic, value, partition=k))
                log = await read_range(kafka, kafka.readings_topic, k, 0, len(live) // 30 - 1)
                assert _earliest(log, now + 600) == now
                await first.handle([(k, off, v) for off, v in log])
                async with pool.acquire() as conn:
                    row = await conn.fetchrow("SELECT written, state FROM partition_state WHERE partition = $1", k)
                assert row["written"] == len(log) - 1 and row["state"] is None

                # a second owner takes the partition later: no snapshot, so it warms from the store
                # up to the catch-up's first reading and catches the ten minutes up from the log
                second = Worker(site, pool, kafka, producer=prod, owner="second", clock=lambda: now + 600)
                await second.start()
                await second.assign({k})
                again = second.states[k].pipeline
                assert again.runs[("E", "D")].stops == run.stops
                assert _detectors(again) == _detectors(pipe)  # every reading fed once, in the same order
            finally:
                await prod.stop()
    finally:
        await pool.close()
        await drop_database(db)
