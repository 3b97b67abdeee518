"""``warning export`` made with numpy (issue 16): the same text as one row at a time with
``csvio.iso_ms`` and ``repr``, from packed and raw readings alike, read back to the bit."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
import numpy as np
import pytest

from simulators.csvio import HEADER, iso_ms, read_rows
from warning.cli.export import export_csv
from warning.store import csvtext, packing, timeparts
from warning.store.db import migrate

H = packing.HOUR_MS
T0 = 1_780_000_000_000 // H * H

ODD = [
    0.0,
    -0.0,
    float("nan"),
    float("inf"),
    float("-inf"),
    5e-324,
    1e-300,
    1.7976931348623157e308,
    1e-4,
    1e-5,
    0.00012,
    0.1,
    0.3,
    1 / 3,
    100.0,
    -7.25,
    999_999_999_999_999.0,
    1e15,
    123_456_789_012_345.6,
    1e16,
    2.5e-7,
]


def split(buf: bytes) -> list[str]:
    return buf.decode().split("\n")[:-1]


def test_values_are_written_as_repr():
    rng = np.random.default_rng(4)
    v = np.concatenate(
        [
            np.round(rng.normal(0, 1000, 20_000), 2),
            np.round(rng.normal(0, 1, 2_000), 6),
            np.round(rng.normal(0, 1e9, 2_000), 1),
            rng.normal(0, 1, 2_000),
            rng.integers(0, 2**64, 2_000, dtype=np.uint64).view(np.float64),  # any bits at all
            np.array(ODD),
        ]
    )
    assert split(csvtext.rows([csvtext.floats(v)])) == [repr(x) for x in v.tolist()]


def test_times_are_written_as_iso_ms():
    rng = np.random.default_rng(5)
    ts = np.concatenate([rng.integers(-(10**12), 4 * 10**12, 20_000), np.array([0, 1, -1, 951_782_400_000])])
    assert split(csvtext.rows([csvtext.iso_ms(ts)])) == [iso_ms(t) for t in ts.tolist()]
    assert split(csvtext.rows([csvtext.iso_ms(np.array([253_402_300_799_999]))])) == ["9999-12-31T23:59:59.999+00:00"]


@pytest.fixture
async def conn(machine_db):
    c = await asyncpg.connect(machine_db)
    await migrate(c)
    await timeparts.ensure_ahead(c, datetime.fromtimestamp(T0 / 1000, UTC))
    yield c
    await c.close()


async def test_export_writes_packed_and_raw_readings_exactly(conn, tmp_path):
    names = [("E1", "D1", "p,1"), ("E1", "D1", "q"), ("E1", 'D"2', "r"), ("E2", "D1", "p")]
    await conn.executemany("INSERT INTO points (enterprise, device, point, kind) VALUES ($1, $2, $3, 'x')", names)
    pid = {(r["enterprise"], r["device"], r["point"]): r["id"] for r in await conn.fetch("SELECT * FROM points")}
    rng = np.random.default_rng(6)
    rows = []
    for k, key in enumerate(names):
        for j in range(3 * 360):
            rows.append((-1, pid[key], T0 + j * 10_000 + k, round(float(rng.normal(50, 10)), 1 + k % 3)))
        rows += [(-1, pid[key], T0 + 5_000, v) for v in ODD]  # repeated times, odd values
    await conn.copy_records_to_table("readings", columns=("batch", "point_id", "ts_ms", "value"), records=rows)
    await packing.pack(conn, T0 + 2 * H + 600_000)  # the first two hours packed, the third raw
    assert 0 < await conn.fetchval("SELECT count(*) FROM readings") < len(rows)
    out = tmp_path / "e.csv"
    since, until = datetime.fromtimestamp((T0 + 1000) / 1000, UTC), datetime.fromtimestamp((T0 + 3 * H) / 1000, UTC)
    n = await export_csv(conn, since, until, "E1", out)
    # the reference: one row at a time, as csvio writes them, in (time, enterprise, device, point) order
    rank = {key: k for k, key in enumerate(sorted(names[:3]))}
    want = sorted(
        ((t, rank[key], key, v) for key in names[:3] for (_, p, t, v) in rows if p == pid[key] and t >= T0 + 1000),
        key=lambda r: (r[0], r[1]),
    )
    assert n == len(want)
    lines = out.read_text().splitlines()
    assert lines[0] == ",".join(HEADER)
    with open(out, encoding="utf-8", newline="") as fh:
        got = list(read_rows(fh))
    assert [(r.enterprise, r.device, r.point, r.ts_ms) for r in got] == [(*key, t) for t, _, key, _ in want]
    # values to the bit, equal times in storage order (the value bits sort the packed form)
    by_time: dict[tuple, list[int]] = {}
    for r in got:
        by_time.setdefault((r.ts_ms, r.point), []).append(np.float64(r.value).view(np.uint64).item())
    for t, _, key, v in want:
        by_time[(t, key[2])].remove(np.float64(v).view(np.uint64).item())
    assert all(not left for left in by_time.values())
    assert [ln.rsplit(",", 1)[1] for ln in lines[1:]] == [repr(r.value) for r in got]
    assert any(ln.startswith('E1,D1,"p,1",') for ln in lines) and any(ln.startswith('E1,"D""2",r,') for ln in lines)
