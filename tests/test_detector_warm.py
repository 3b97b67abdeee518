"""A cold start warmed from stored history follows the running state as the live run did: the
gated detectors learn only what they would have judged, and the devices whose running is
inferred re-learn their usual stop times (kept in snapshots only until now), so a cold start
does not take the first evening's stop for a fan trip (issue 12, detectors/device.py)."""

from __future__ import annotations

import asyncio
import math
import pickle
import random

import numpy as np

from warning.config import load_kinds, parse_site
from warning.model import EventKind
from warning.pipeline import SHARDS, Pipeline
from warning.runtime import warmup
from warning.step import Step
from warning.store import stats

START = 1767571200.0  # Monday 2026-01-05 00:00 UTC
STEP = 10.0
H = 3600.0
POINTS = ("air_speed", "dp", "hopper_temp")


def _site():
    raw = {
        "site": {"name": "t"},
        "enterprises": [{"id": "E", "name": "E", "devices": [{"id": "D", "points": list(POINTS)}]}],
    }
    return parse_site(raw, load_kinds())


def _pipeline():
    site = _site()
    return Pipeline(dict(enumerate(site.points)), site.offline_after, policy=site.alert_policy())


def _line(t0: float, t1: float, trip: float | None = None, seed: int = 5):
    """Readings (pid, t, value) of a line whose fan and process stop together (no purge: at its
    first sample the stop is a fan trip to the chain): weekdays 07:30-19:30, the fan coasting
    with a 30 s time constant; ``trip``: a trip at that time (s), restarted 20 min later."""
    rng = random.Random(seed)
    index = {p.ref.point: pid for pid, p in enumerate(_site().points)}
    fan, out = 0.0, []
    for i in range(int((t1 - t0) / STEP)):
        t = t0 + i * STEP
        hour = ((t - START) % 86400) / H
        on = 7.5 <= hour < 19.5 and not (trip is not None and trip <= t < trip + 1200)
        fan += ((1.0 if on else 0.0) - fan) * (1 - math.exp(-STEP / 30.0))
        v = {
            "air_speed": max(0.0, fan * (20.0 + rng.gauss(0, 0.15)) + rng.gauss(0, 0.05)),
            "dp": max(0.0, 25 + fan * 1050 + rng.gauss(0, 8)),
            "hopper_temp": 30 + rng.gauss(0, 0.1),
        }
        out += [(index[k], t, v[k]) for k in POINTS]
    return out


def _raised(pipe: Pipeline, readings) -> list[tuple[float, str]]:
    """(hour of the day, rule) of each raise or re-activation, fed live one sample at a time."""
    out = []
    by_t: dict[float, list] = {}
    for r in readings:
        by_t.setdefault(r[1], []).append(r)
    for t, batch in by_t.items():
        for e in pipe.process(batch, now=t):
            if e.kind in (EventKind.RAISED, EventKind.UPDATED) and e.alert.condition_active:
                out.append((round(((t - START) % 86400) / H, 3), e.alert.rule))
    return out


class _Pool:
    """Stands in for the asyncpg pool: warmup.warm only acquires a connection to pass on."""

    def acquire(self):
        return _Conn()


class _Conn:
    async def __aenter__(self):
        return None

    async def __aexit__(self, *exc):
        return False


def _stored(readings):
    """The store's two readers over ``readings``: raw rows and summaries, as warning.store.history."""
    by: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for pid in sorted({r[0] for r in readings}):
        rs = [r for r in readings if r[0] == pid]
        by[pid] = (np.array([round(r[1] * 1000) for r in rs], np.int64), np.array([r[2] for r in rs]))
    asked: list[tuple] = []

    async def raw(conn, pids, lo, hi):
        asked.append(("raw", tuple(pids), lo, hi))
        return {p: (t[(t >= lo) & (t < hi)], v[(t >= lo) & (t < hi)]) for p, (t, v) in by.items() if p in pids}

    async def summary(conn, pids, lo, hi, step_ms):
        asked.append(("summary", tuple(pids), lo, hi, step_ms))
        out = {}
        for p in pids:
            t, v = by[p]
            keep = (t >= lo // step_ms * step_ms) & (t < hi)
            s = stats.reduce(stats.of_readings(t[keep] // step_ms * step_ms, t[keep], v[keep]))
            out[p] = stats.Summary(*(col[(s.bucket >= lo) & (s.bucket < hi)] for col in s))
        return out

    return raw, summary, asked


def _warm_from(history, now: float, stops_s: float, monkeypatch) -> tuple[Pipeline, list]:
    raw, summary, asked = _stored(history)
    monkeypatch.setattr(warmup.history, "raw", raw)
    monkeypatch.setattr(warmup.history, "summary", summary)
    pipe = _pipeline()
    fed = asyncio.run(warmup.warm(Step(pipe), _Pool(), set(range(SHARDS)), now, 2 * H, stops_s))
    assert fed > 0
    return pipe, asked


def test_a_cold_start_relearns_the_usual_stop_times_from_history(monkeypatch):
    """Monday and Tuesday are stored; the runtime starts cold on Wednesday at 12:00. Warmed with
    the devices' stop history (8 days asked, two there), Wednesday's 19:30 stop is expected and
    raises nothing; warmed with the last 2 h only (no stop history, as before), it is a fan
    trip. A trip at 14:00 raises at its first sample either way."""
    now = START + 2 * 86400 + 12 * H
    line = _line(START, now + 9 * H, trip=START + 2 * 86400 + 14 * H)
    history, live = [r for r in line if r[1] < now], [r for r in line if r[1] >= now]
    pipe, asked = _warm_from(history, now, 8 * 86400.0, monkeypatch)
    run = pipe.runs[("E", "D")]
    # Monday's and Tuesday's stops, timed by the last reading of each 5 minutes: at most 5 min late
    assert len(run.stops) == 2 and all(19.5 <= ((s - START) % 86400) / H <= 19.5 + 5 / 60 for s in run.stops)
    signals = tuple(pipe.running_signals())
    assert [p.ref.point for p in (pipe.points[s] for s in signals)] == ["air_speed", "dp"]
    assert asked[0] == ("summary", signals, round((now - 8 * 86400) * 1000), round((now - 2 * H) * 1000), 300_000)
    assert asked[1][0] == "raw" and asked[1][2] == round((now - 2 * H) * 1000)
    warmed = _raised(pipe, live)
    assert warmed and all(14.0 <= h <= 14.0 + 2 * STEP / H for h, _ in warmed)  # the trip only
    assert "drop" in {r for _, r in warmed}

    cold, _ = _warm_from(history, now, 0.0, monkeypatch)  # no stop history: the old warm-up
    assert cold.runs[("E", "D")].stops == ()
    before = _raised(cold, live)
    assert {r for h, r in before if abs(h - 19.5) < 0.01} >= {"drop"}  # the evening stop reads as a trip
    assert any(14.0 <= h <= 14.0 + 2 * STEP / H for h, _ in before)


def test_warm_judges_as_live_minus_the_alerts():
    """Warming on history leaves every detector and the running state exactly as processing the
    same readings live does (the gated air-speed rules never see the night's 0 m/s), and raises
    nothing."""
    history = _line(START, START + 86400 + 10 * H)
    live, warm = _pipeline(), _pipeline()
    by_t: dict[float, list] = {}
    for r in history:
        by_t.setdefault(r[1], []).append(r)
    raised = [e for t, batch in by_t.items() for e in live.process(batch, now=t)]
    assert any(e.kind is EventKind.RAISED for e in raised)  # Monday's evening, live
    assert warm.warm(history) == len(history)
    assert list(warm.engine.open_alerts()) == []
    for pid, chain in live.chains.items():
        assert pickle.dumps(warm.chains[pid].detectors) == pickle.dumps(chain.detectors), warm.points[pid].ref.point
    a, b = live.runs[("E", "D")], warm.runs[("E", "D")]
    assert (a.since, a.stopped_at, a.stops) == (b.since, b.stopped_at, b.stops)
    assert len(b.stops) == 1 and 0 < b.stops[0] - (START + 19.5 * H) <= 60  # when the coasting fan fell below 8 m/s


def test_the_warm_up_reads_a_device_s_points_together():
    """History is read in groups of points; a device's points never straddle two groups (its
    running state follows all of them in time order)."""
    raw = {
        "site": {"name": "t"},
        "enterprises": [
            {"id": "E", "name": "E", "devices": [{"id": d, "points": list(POINTS)} for d in ("A", "B", "C")]}
        ],
    }
    site = parse_site(raw, load_kinds())
    pipe = Pipeline(dict(enumerate(site.points)))
    chunks = list(warmup.by_device(pipe, set(range(SHARDS)), size=4))
    assert [len(c) for c in chunks] == [6, 3]
    for c in chunks:
        devices = {pipe.points[p].ref.device for p in c}
        assert all(sum(pipe.points[p].ref.device == d for p in c) == len(POINTS) for d in devices)


async def test_a_cold_start_relearns_stop_times_from_the_real_store(machine_db):
    """The same cold start against PostgreSQL itself: Monday's readings packed into hours (the
    rollups' minute summaries), Tuesday's still raw rows, both read through warning.store.history
    by the warm-up. Both evenings' stops are learned from the two forms alike, and Wednesday's
    19:30 stop raises nothing while a trip at 14:00 still raises at once."""
    from warning.model import Reading
    from warning.store import db, packing, registry
    from warning.store import readings as reading_store

    now = START + 2 * 86400 + 12 * H
    line = _line(START, now + 9 * H, trip=START + 2 * 86400 + 14 * H)
    site = _site()
    pool = await db.connect_pool(machine_db, min_size=1, max_size=2)
    try:
        async with pool.acquire() as conn:
            points = await registry.sync_points(conn, site)
            id_of = {p.ref: pid for pid, p in points.items()}
            to_db = {k: id_of[p.ref] for k, p in enumerate(site.points)}
            stored = [Reading(to_db[k], t, v) for k, t, v in line if t < now]
            for day in range(3):  # one batch a day, Wednesday's up to the start
                lo, hi = START + day * 86400, START + (day + 1) * 86400
                await reading_store.copy_readings(
                    conn, await reading_store.next_batch(conn), [r for r in stored if lo <= r.t < hi]
                )
            packed = 0
            for hour in range(24):  # Monday only: then both forms hold the stop history
                n, _ = await packing.pack_hour(conn, round((START + hour * H) * 1000), sorted(points), 2**62)
                packed += n
            assert packed == sum(1 for r in stored if r.t < START + 86400)
            assert await conn.fetchval("SELECT count(*) FROM readings") == len(stored) - packed
        pipe = Pipeline(points, site.offline_after, policy=site.alert_policy())
        fed = await warmup.warm(Step(pipe), pool, set(range(SHARDS)), now, 2 * H, 8 * 86400.0)
    finally:
        await pool.close()
    assert fed == sum(1 for r in stored if r.t >= now - 2 * H)
    run = pipe.runs[("E", "D")]
    assert len(run.stops) == 2 and all(19.5 <= ((s - START) % 86400) / H <= 19.5 + 5 / 60 for s in run.stops)
    live = [(to_db[k], t, v) for k, t, v in line if t >= now]
    warmed = _raised(pipe, live)
    assert warmed and all(14.0 <= h <= 14.0 + 2 * STEP / H for h, _ in warmed)  # the trip only
