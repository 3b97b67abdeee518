"""Compact readings (issue 16): lossless packing, both forms read as one, rollups equal a
recomputation from raw, retention drops partitions. Real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import numpy as np
import pytest

from warning.store import codec, history, packing, readings, retention, stats, timeparts
from warning.store.db import migrate

H = packing.HOUR_MS
T0 = 1_780_000_000_000 // H * H  # an hour in 2026


@pytest.fixture
async def conn(machine_db):
    c = await asyncpg.connect(machine_db)
    await migrate(c)
    await timeparts.ensure_ahead(c, datetime.fromtimestamp(T0 / 1000, UTC))
    yield c
    await c.close()


EXTREMES = [
    0.0,
    -0.0,
    1e-300,
    -1e300,
    5e-324,
    1.7976931348623157e308,
    float("inf"),
    float("-inf"),
    float("nan"),
    0.1,
    0.30000000000000004,
    123456.789,
    -7.25,
]


def test_codec_round_trip_is_bit_exact():
    rng = np.random.default_rng(7)
    for n in (0, 1, 2, 3, 360, 5000):
        ts = np.sort(rng.integers(-(2**62), 2**62, n))
        for v in (rng.normal(size=n), np.round(rng.normal(100, 5, n), 2), np.resize(np.array(EXTREMES), n)):
            t2, v2 = codec.decode("tf", codec.encode("tf", ts, v))
            assert np.array_equal(t2, ts)
            assert np.array_equal(v2.view(np.uint64), v.view(np.uint64))


async def insert(conn, rows):
    await conn.copy_records_to_table("readings", columns=("batch", "point_id", "ts_ms", "value"), records=rows)


async def test_packing_is_lossless_with_repeats_extremes_and_late_readings(conn):
    rows = []
    for k in range(360):
        rows.append((-1, 1, T0 + k * 10_000, round(20 + (k % 17) * 0.1, 1)))
    rows += [(-1, 1, T0 + 5_000, v) for v in EXTREMES]  # repeated timestamps, extreme values
    rows += [(-2, 2, T0 + H + k * 997, float(k)) for k in range(50)]
    await insert(conn, rows)
    before = await history.raw(conn, [1, 2], T0, T0 + 2 * H)
    done = await packing.pack(conn, T0 + 3 * H)
    assert done.readings == len(rows)
    assert await conn.fetchval("SELECT count(*) FROM readings") == 0
    assert await conn.fetchval("SELECT count(*) FROM readings_packed") == 2
    after = await history.raw(conn, [1, 2], T0, T0 + 2 * H)
    for p in (1, 2):
        assert np.array_equal(before[p][0], after[p][0])
        assert sorted(before[p][1].view(np.uint64).tolist()) == sorted(after[p][1].view(np.uint64).tolist())
    # a late reading lands in the sealed hour: read at once (raw), then merged by the next pass
    await insert(conn, [(-3, 1, T0 + 1234, 99.5)])
    mid = await history.raw(conn, [1], T0, T0 + H)
    assert mid[1][0].size == 360 + len(EXTREMES) + 1 and 99.5 in mid[1][1]
    assert np.all(np.diff(mid[1][0]) >= 0)
    await packing.pack(conn, T0 + 3 * H)
    assert await conn.fetchval("SELECT count(*) FROM readings") == 0
    late = await history.raw(conn, [1], T0, T0 + H)
    assert np.array_equal(late[1][0], mid[1][0])
    # a sub-range inside a packed hour
    part = await history.raw(conn, [1], T0 + 100_000, T0 + 200_000)
    assert part[1][0].tolist() == [T0 + k * 10_000 for k in range(10, 20)]


async def test_checkpoint_horizon_keeps_replayable_rows_raw(conn):
    await conn.execute(
        "INSERT INTO checkpoints (name, batch, state) VALUES ('pipeline/0', 5, ''), ('pipeline/1', 7, '')"
    )
    await insert(conn, [(4, 1, T0, 1.0), (5, 1, T0 + 1, 2.0), (6, 1, T0 + 2, 3.0)])
    await packing.pack(conn, T0 + 3 * H)
    assert [r["batch"] for r in await conn.fetch("SELECT batch FROM readings")] == [6]


async def test_rollups_equal_a_recomputation_from_raw(conn):
    rng = np.random.default_rng(3)
    ts = T0 + np.sort(rng.integers(0, 3 * H, 4000))
    vals = np.round(rng.normal(50, 10, ts.size), 2)
    ts[10:20] = ts[10]  # equal times with different values
    order = rng.permutation(ts.size)  # arriving in any order, in three passes
    for i, chunk in enumerate(np.array_split(order, 3)):
        await insert(conn, [(-(i + 1), 9, int(ts[j]), float(vals[j])) for j in chunk])
        await packing.pack(conn, T0 + 4 * H)
    await insert(conn, [(-9, 9, int(T0 + 30), 1000.0)])  # one left raw: read beside the rollups
    ts = np.append(ts, T0 + 30)
    vals = np.append(vals, 1000.0)
    for step in (packing.MINUTE_MS, H, 5 * packing.MINUTE_MS):
        got = (await history.summary(conn, [9], T0, T0 + 3 * H, step))[9]
        want = stats.reduce(stats.of_readings(ts // step * step, ts, vals))
        assert got.bucket.tolist() == want.bucket.tolist()
        assert got.n.tolist() == want.n.tolist()
        assert got.lo.tolist() == want.lo.tolist() and got.hi.tolist() == want.hi.tolist()
        assert got.last.tolist() == want.last.tolist() and got.last_ts.tolist() == want.last_ts.tolist()
        assert np.allclose(got.total, want.total, rtol=1e-12)
        # and against plain SQL arithmetic over the same readings, not our reducer
        for b, n, lo, hi in zip(want.bucket[:5], want.n[:5], want.lo[:5], want.hi[:5], strict=True):
            sel = (ts >= b) & (ts < b + step)
            assert (n, lo, hi) == (sel.sum(), vals[sel].min(), vals[sel].max())


async def test_retention_drops_whole_partitions(conn):
    old = T0 - 400 * 86_400_000
    await insert(conn, [(-1, 1, old + k * 10_000, 1.0) for k in range(10)])
    await insert(conn, [(-1, 1, T0 + k * 10_000, 2.0) for k in range(10)])
    await packing.pack(conn, T0 + 2 * H)
    await conn.execute(
        "INSERT INTO messages (enterprise, msg_id, batch, day) VALUES ('E', 'm-old', 1, $1), ('E', 'm-new', 2, $2)",
        (datetime.fromtimestamp(T0 / 1000, UTC) - timedelta(days=20)).date(),
        datetime.fromtimestamp(T0 / 1000, UTC).date(),
    )
    now = datetime.fromtimestamp(T0 / 1000, UTC)
    await timeparts.ensure_ahead(conn, now, adopt=True)  # the stray day in the default gets its partition
    dropped = await retention.retain(conn, now, retention.Policy())
    names = {p.name for p in dropped}
    old_month = timeparts.month_start(timeparts.day_of_ms(old))
    assert f"readings_packed_{old_month:%Y%m}" in names
    assert f"rollups_{old_month:%Y%m}" not in names  # rollups are kept for ever by default
    assert await conn.fetchval("SELECT count(*) FROM readings_packed") == 1
    assert await conn.fetchval("SELECT count(*) FROM rollups") == 2
    assert [r["msg_id"] for r in await conn.fetch("SELECT msg_id FROM messages")] == ["m-new"]
    assert not any(p.table == "messages" and p.name.endswith("default") for p in dropped)


KILL_SCRIPT = """
import asyncio, sys, asyncpg
from warning.store import packing
async def main():
    conn = await asyncpg.connect(sys.argv[1])
    print("packing", flush=True)
    await packing.pack(conn, int(sys.argv[2]), group=2)
asyncio.run(main())
"""


async def test_a_process_killed_while_packing_loses_and_doubles_nothing(conn, machine_db):
    import asyncio
    import os
    import signal
    import sys

    hours = 48
    rows = [(-1, p, T0 + k * 10_000, round(k * 0.1, 1)) for p in range(1, 9) for k in range(hours * 360)]
    await insert(conn, rows)
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        KILL_SCRIPT,
        machine_db,
        str(T0 + (hours + 1) * H),
        stdout=asyncio.subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None
    await proc.stdout.readline()
    for _ in range(500):  # until some, not all, hours are packed
        packed = await conn.fetchval("SELECT count(*) FROM readings_packed")
        if packed >= 10:
            break
        await asyncio.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    await proc.wait()
    raw_left = await conn.fetchval("SELECT count(*) FROM readings")
    in_blocks = await conn.fetchval("SELECT coalesce(sum(n), 0) FROM readings_packed")
    assert 0 < raw_left < len(rows) and raw_left + in_blocks == len(rows)
    assert await conn.fetchval("SELECT coalesce(sum(n), 0) FROM rollups") == in_blocks
    got = await history.raw(conn, list(range(1, 9)), T0, T0 + hours * H)
    assert sum(t.size for t, _ in got.values()) == len(rows)
    await packing.pack(conn, T0 + (hours + 1) * H)  # the next pass carries on
    assert await conn.fetchval("SELECT count(*) FROM readings") == 0
    got = await history.raw(conn, [3], T0, T0 + hours * H)
    assert got[3][0].tolist() == [T0 + k * 10_000 for k in range(hours * 360)]
    assert got[3][1].tolist() == [round(k * 0.1, 1) for k in range(hours * 360)]


async def test_upkeep_runs_once_across_processes(conn, machine_db):
    """Two processes on one database (gateways of the distributed mode, or `warning store`
    beside `warning run`): while one holds the upkeep lock, the other's pass skips."""
    from warning.store import maintenance
    from warning.store.retention import Policy

    other = await asyncpg.connect(machine_db)
    try:
        assert await other.fetchval("SELECT pg_try_advisory_lock($1)", packing.LOCK_ID)
        skipped = await maintenance.run_pass(conn, Policy(), now=T0 / 1000)
        assert not skipped.ran
        await other.execute("SELECT pg_advisory_unlock($1)", packing.LOCK_ID)
        assert (await maintenance.run_pass(conn, Policy(), now=T0 / 1000)).ran
    finally:
        await other.close()


async def test_retention_drops_arrival_days_only_behind_every_checkpoint(conn):
    """``batch_times`` (017): a day past the horizon goes whole, but not while a shard's
    checkpoint is older than a batch in it (the replay after a restart reads those times)."""
    now = datetime.fromtimestamp(T0 / 1000, UTC)
    old = T0 / 1000 - 20 * 86_400
    await conn.executemany(
        "INSERT INTO batch_times (batch, at) VALUES ($1, $2)", [(1, old), (2, old + 1), (3, old + 2), (9, T0 / 1000)]
    )
    await conn.execute(
        "INSERT INTO checkpoints (name, batch, state) VALUES ('pipeline/0', 2, ''), ('pipeline/1', 9, '')"
    )
    await timeparts.ensure_ahead(conn, now, adopt=True)  # the old day leaves the default for a partition of its own
    assert await conn.fetchval("SELECT count(*) FROM batch_times_default") == 0
    old_day = f"batch_times_{datetime.fromtimestamp(old, UTC):%Y%m%d}"
    assert old_day not in {p.name for p in await retention.retain(conn, now, retention.Policy())}
    assert await conn.fetchval("SELECT count(*) FROM batch_times") == 4
    await conn.execute("UPDATE checkpoints SET batch = 3 WHERE name = 'pipeline/0'")
    assert old_day in {p.name for p in await retention.retain(conn, now, retention.Policy())}
    assert [r["batch"] for r in await conn.fetch("SELECT batch FROM batch_times")] == [9]
    assert (await readings.arrivals(conn, 0)) == {9: T0 / 1000}


async def test_the_upkeep_process_packs_and_reports(conn, machine_db):
    """``maintenance.Packer``: the pass runs in a spawned process (not under the service's
    interpreter lock) and its result comes back; a process that is gone is noticed."""
    import asyncio

    from warning.store import maintenance
    from warning.store.retention import Policy

    await insert(conn, [(-1, 1, T0 + k * 10_000, 1.5) for k in range(360)])
    packer = maintenance.Packer(machine_db)
    try:
        res = await asyncio.to_thread(packer.run_pass, Policy(), now=(T0 + 2 * H) / 1000, retain=False)
        assert res.ran and res.packed.readings == 360 and packer.alive()
    finally:
        packer.stop()
    assert not packer.alive()
    assert await conn.fetchval("SELECT n FROM readings_packed WHERE point_id = 1") == 360


async def test_two_processes_starting_together_make_the_partitions_once(conn, machine_db):
    """Two gateways (or a gateway and ``warning store``) starting at once on a fresh database
    both make the days ahead: ``CREATE TABLE IF NOT EXISTS … PARTITION OF`` is not safe against
    a concurrent one (DuplicateTableError), so the making is one process at a time."""
    import asyncio

    others = [await asyncpg.connect(machine_db) for _ in range(3)]
    try:
        for k in range(4):  # days and months nobody has made yet
            when = datetime(2031 + k, 3, 1, tzinfo=UTC)
            await asyncio.gather(*(timeparts.ensure_ahead(c, when, adopt=True) for c in [conn, *others]))
            days = await conn.fetchval("SELECT count(*) FROM pg_class WHERE relname LIKE $1", f"messages_{2031 + k}03%")
            assert days >= 8  # the day before to a week on
    finally:
        for c in others:
            await c.close()
