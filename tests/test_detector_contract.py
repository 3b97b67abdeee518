"""The detector contract, run against EVERY detector type in ``chain.FACTORIES`` (plus the
multivariate detector and the combiner): deterministic, pure, snapshot round trip gives
an identical future, survives hostile input, bounded state."""

from __future__ import annotations

import math
import pickle
import random
import time

import pytest

from detectors.base import Finding, Severity
from detectors.breakout import Breakout
from detectors.chain import FACTORIES, build
from detectors.combine import Combiner

SPECS = {
    "threshold": {"type": "threshold", "levels": [[55, "yellow"], [70, "red"]], "deadband": 2, "duration": 5},
    "rate": {"type": "rate", "limit": 2.0, "window": 60},
    "rate_steps": {"type": "rate", "limit": 2.0, "window": 60, "step_share": 0.5},
    "rate_frozen": {"type": "rate", "limit": 2.0, "window": 60, "frozen": 30, "frozen_samples": 10},
    "drop": {"type": "drop", "window": 60, "learn": 100},
    "stuck": {"type": "stuck", "window": 60, "min_samples": 5},
    "baseline": {"type": "baseline", "pct": 20, "learn": 100},
    "anomaly": {"type": "anomaly", "threshold": 6, "warmup": 50},
    "anomaly_hst": {"type": "anomaly", "model": "hst", "threshold": 0.8, "warmup": 50},
    "breakout": {"type": "breakout", "ref_interval": 1.0},  # the tests' rows are 1 s apart
    "hotelling": {"type": "hotelling"},
    "robust_z": {"type": "robust_z"},
    "holt": {"type": "holt", "period": 100},
    "likelihood": {"type": "likelihood", "of": {"type": "holt"}},
    "drift": {"type": "drift", "model": "page_hinkley"},
    "drift_adwin": {"type": "drift", "model": "adwin"},
    "drift_kswin": {"type": "drift", "model": "kswin"},
}
MULTI = {"hotelling"}


def test_every_factory_has_a_contract_spec():
    assert set(FACTORIES) == {s["type"] for s in SPECS.values()}


def _obs(kind, x, i=0):
    """Univariate value, or a two-sensor mapping for multivariate detectors."""
    if kind in MULTI:
        return {"a": x, "b": 0.5 * x + (i % 7) * 0.1 if math.isfinite(x) else x}
    return x


def _series(n=3000, seed=1):
    rng = random.Random(seed)
    xs = [40 + 10 * math.sin(i / 50) + rng.gauss(0, 1) for i in range(n)]
    for i in range(300, n, 397):
        xs[i] *= 3
    for i in range(2000, min(n, 2400)):
        xs[i] += 30  # a sustained step
    for i in range(2500, min(n, 2600)):
        xs[i] = 42.0  # a frozen sensor
    return xs


def _run(det, kind, xs, t0=0):
    out = []
    for i, x in enumerate(xs):
        f = det.update(float(t0 + i), _obs(kind, x, t0 + i))
        out.append(f)
        s = getattr(det, "last", None)
        if s is not None:
            out.append(s)
    return out


@pytest.mark.parametrize("kind", sorted(SPECS))
def test_deterministic_and_pure(kind, monkeypatch):
    xs = _series()
    copy = list(xs)
    # no clock reads: make every clock raise while detectors run
    for name in ("time", "monotonic", "perf_counter"):
        monkeypatch.setattr(time, name, lambda: (_ for _ in ()).throw(AssertionError("clock read")))
    a, b = build(SPECS[kind]), build(SPECS[kind])
    ra, rb = _run(a, kind, xs), _run(b, kind, xs)
    assert ra == rb
    assert xs == copy  # input untouched
    assert any(isinstance(f, Finding) for f in ra), "the series has anomalies every detector should see"


@pytest.mark.parametrize("kind", sorted(SPECS))
@pytest.mark.parametrize("cut", [1, 777, 2000])
def test_snapshot_round_trip_gives_identical_future(kind, cut):
    xs = _series()
    a = build(SPECS[kind])
    _run(a, kind, xs[:cut])
    data = a.snapshot()
    assert isinstance(data, bytes)
    b = build(SPECS[kind])
    b.restore(data)
    assert _run(a, kind, xs[cut:], cut) == _run(b, kind, xs[cut:], cut)


@pytest.mark.parametrize("kind", sorted(SPECS))
def test_survives_hostile_input(kind):
    det = build(SPECS[kind])
    hostile = [math.nan, math.inf, -math.inf, 1e308, -1e308, 0.0, 0.0, 5.0, 1e-300, -1e300]
    times = [0, 0, 5, 3, 3, 1e9, -1e9, 2e9, 2e9, 1]  # repeated, out of order, huge gaps
    for t, x in zip(times, hostile):
        det.update(t, _obs(kind, x))
    for i in range(500):
        assert det.update(2e9 + i, _obs(kind, 5.0)) is None or True  # constant series: no exception
    if hasattr(det, "last"):
        assert 0.0 <= det.last <= 1.0
    for i in range(200):  # and it still works afterwards
        det.update(3e9 + i, _obs(kind, 5.0 + (i % 3)))
    restored = build(SPECS[kind])
    restored.restore(det.snapshot())
    tail = [5.0 + (i % 11) for i in range(100)] + [1e6]
    assert _run(restored, kind, tail, 4000) == _run(det, kind, tail, 4000)


SLOW = {"drift_kswin": (2_000, 8_000), "hotelling": (4_000, 16_000),  # per-row KS test / linear solve
        "anomaly_hst": (2_000, 8_000)}  # 10 trees of height 8
#: river's KSWIN keeps a Mersenne Twister (about 3.8 KB pickled) and HalfSpaceTrees 10 trees
#: (about 170 KB): the documented exceptions to 4 KB per point; neither is in the default chain
STATE_LIMIT = {"drift_kswin": 6144, "anomaly_hst": 256 * 1024}


@pytest.mark.parametrize("kind", sorted(SPECS))
def test_state_stays_bounded(kind):
    det = build(SPECS[kind])
    rng = random.Random(2)
    n1, n2 = SLOW.get(kind, (20_000, 80_000))
    for i in range(n1):
        det.update(float(i), _obs(kind, rng.gauss(50, 5), i))
    size_first = len(det.snapshot())
    for i in range(n1, n2):
        det.update(float(i), _obs(kind, rng.gauss(50, 5) * (10 if i % 5000 == 0 else 1), i))
    size = len(det.snapshot())
    assert size <= size_first * 1.1 + 64
    assert size <= STATE_LIMIT.get(kind, 4096), "state must stay under 4 KB per point"


def test_default_scorer_state_after_one_million_updates():
    det = Breakout()
    rng = random.Random(3)
    xs = [rng.gauss(0, 1) for _ in range(1_000_000)]
    det.score_many([float(i) for i in range(len(xs))], xs)
    assert det.st[0] == 1_000_000
    assert len(det.snapshot()) < 4096


# --- batch path -------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [1, 2, 3])
def test_batch_path_equals_one_at_a_time(seed):
    rng = random.Random(seed)
    xs = _series(5000, seed)
    xs[100] = math.nan
    xs[2000:2100] = [xs[1999]] * 100
    xs[3000] = math.inf
    one = Breakout()
    single = [one.score(300.0 * i, x) for i, x in enumerate(xs)]
    batch = Breakout()
    out, i = [], 0
    while i < len(xs):  # arbitrary chunking, with a snapshot/restore between chunks
        k = rng.randint(1, 700)
        out.extend(batch.score_many([300.0 * j for j in range(i, i + k)], xs[i:i + k]))
        fresh = Breakout()
        fresh.restore(batch.snapshot())
        batch = fresh
        i += k
    assert out == single
    assert max(single) > 0.5  # the spikes are found

    import numpy as np

    arr = Breakout()
    assert arr.score_many(300.0 * np.arange(len(xs), dtype=float), np.array(xs)) == single


def test_breakout_scores_in_unit_interval_and_flags_a_spike_once():
    rng = random.Random(5)
    xs = [10 + rng.gauss(0, 1) for _ in range(2000)]
    xs[1500] = 40
    det = Breakout()
    s = det.score_many(None, xs)
    assert all(0.0 <= v < 1.0 for v in s)
    hits = [i for i, v in enumerate(s) if v >= 0.5]
    # the spike, reported once; pure noise still sets a rare new record early on (records
    # get rarer as 1/n), so allow a couple of those
    assert 1500 in hits and len(hits) <= 5
    assert [i for i in hits if i >= 1500] == [1500]


def test_breakout_warmup_learns_without_scoring():
    det = Breakout()
    det.learn([0, 100] + [50] * 200)
    assert det.score(0, 99.0) < 0.5  # inside the learned range
    assert det.score(1, 200.0) > 0.5


# --- multivariate and combiner ------------------------------------------------------------

def test_hotelling_sees_a_broken_correlation_each_sensor_alone_misses():
    from detectors.multivariate import HotellingT2

    rng = random.Random(4)
    rows = []
    for _ in range(1000):
        a = rng.gauss(20, 1)
        rows.append({"speed": a, "dp": 1000 - 20 * a + rng.gauss(0, 2)})
    det = HotellingT2(freeze=True)
    det.learn(rows[:400])
    normal = [det.score(i, r) for i, r in enumerate(rows[400:])]
    assert sum(v >= 0.5 for v in normal) <= 3
    fault = {"speed": 21.5, "dp": 1000 - 20 * 18.5}  # each within its normal range, together impossible
    assert det.score(0, fault) > 0.7


def test_combiner_severity_from_scores_and_rules():
    c = Combiner()
    assert c.update(0, {"x": 0.1}) is None
    f = c.update(1, {"x": 0.6})
    assert f.severity is Severity.BLUE and "0.60" in f.message
    assert c.update(2, {"x": 0.65}) is None  # unchanged: no new finding
    f = c.update(3, {"x": 0.6}, [Finding("threshold", Severity.RED, 3, 71, "hot")])
    assert f.severity is Severity.RED and "threshold" in f.message
    c2 = Combiner()
    c2.restore(c.snapshot())
    f = c2.update(4, {"x": 0.0}, [Finding("threshold", None, 4, 50, "ok")])
    assert f.severity is None
    assert pickle.loads(c.snapshot())
