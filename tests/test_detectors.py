"""The first detector set, without an event loop: behaviour and the contract
(determinism, snapshot round trip, hostile input, bounded state)."""

from __future__ import annotations

import itertools
import math
import pickle
import random

import pytest

from detectors.anomaly import RiverAnomaly
from detectors.base import Severity
from detectors.chain import build
from detectors.rules import BaselineDeviation, RateOfChange, Stuck, Threshold


def feed(det, series, t0=0.0, dt=1.0):
    return [(i, f) for i, x in enumerate(series) if (f := det.update(t0 + i * dt, x)) is not None]


def test_threshold_levels_hysteresis_and_duration():
    th = Threshold([(55, "yellow"), (70, "red")], deadband=2, duration=3)
    out = feed(th, [50, 56, 56, 56, 56, 71, 71, 71, 71, 54, 54, 54, 54, 52, 52, 52, 52])
    assert [(i, f.severity) for i, f in out] == [
        (4, Severity.YELLOW),
        (8, Severity.RED),
        (12, Severity.YELLOW),
        (16, None),
    ]
    assert "above the red limit 70" in out[1][1].message


def test_threshold_does_not_flap_inside_deadband():
    th = Threshold([(55, "yellow")], deadband=2)
    out = feed(th, [56, 54, 56, 53.5, 56, 54])
    assert [f.severity for _, f in out] == [Severity.YELLOW]  # raised once, held inside 53..55


def test_threshold_low_direction_and_clear_duration():
    th = Threshold([(16, "orange")], direction="low", deadband=1, duration=0, clear_duration=2)
    out = feed(th, [20, 15, 18, 18, 18])
    assert [(i, f.severity) for i, f in out] == [(1, Severity.ORANGE), (4, None)]


def test_rate_of_change_rising_temperature():
    det = RateOfChange(2.0, window=60, severity="orange", title="hopper temperature")
    rising = [30 + 0.025 * i for i in range(120)] + [33 + 0.1 * i for i in range(120)]  # 1.5 then 6 degC/min
    out = feed(det, rising)
    assert len(out) == 1 and out[0][1].severity is Severity.ORANGE
    assert 120 <= out[0][0] <= 150 and "rising" in out[0][1].message


def test_stuck_sensor_raises_then_clears():
    det = Stuck(window=60, min_samples=10)
    out = feed(det, [5.0 + 0.1 * (i % 2) for i in range(30)] + [7.0] * 70 + [7.5])
    assert [(i, f.severity) for i, f in out] == [(90, Severity.BLUE), (100, None)]


def test_stuck_judges_only_a_point_that_moves_on_most_samples():
    """A slow process read coarsely repeats its value on most samples, and its still runs
    grow past twice the longest one seen: with ``moving`` it is not called frozen, while a
    noisy transmitter that freezes still is."""
    rng = random.Random(7)
    wander, coarse = 0.0, []
    for _ in range(3000):
        wander += -0.005 * wander + 0.02 * rng.gauss(0, 1)
        coarse.append(round((20.0 + wander) / 0.3) * 0.3)
    runs = [len(list(g)) for _, g in itertools.groupby(coarse)]
    assert len(runs) < 0.5 * len(coarse)  # it repeats its value on most samples
    judged = feed(Stuck(window=0, min_samples=20, relative=2.0), coarse)
    assert judged and judged[0][1].severity is Severity.BLUE  # without ``moving``: a false fault
    assert feed(Stuck(window=0, min_samples=20, relative=2.0, moving=0.5), coarse) == []
    noisy = [20.0 + rng.gauss(0, 0.2) for _ in range(400)] + [20.3] * 30
    out = feed(Stuck(window=0, min_samples=20, relative=2.0, moving=0.5), noisy)
    assert [(i, f.severity) for i, f in out] == [(419, Severity.BLUE)]


def test_baseline_deviation_ignores_cleaning_sawtooth_but_catches_blinding():
    det = BaselineDeviation(pct=20, baseline=1100, smoothing=120, duration=30)
    saw = [1100 + 150 - (i % 120) * 2.5 if i % 120 else 850 for i in range(3600)]  # pulse every 2 min
    assert feed(det, saw) == []
    det2 = BaselineDeviation(pct=20, baseline=1100, smoothing=120, duration=30)
    blinding = [1100 + i * 0.5 for i in range(1800)]  # +900 Pa over 30 min
    out = feed(det2, blinding)
    assert out and out[0][1].severity is Severity.YELLOW


def test_river_anomaly_flags_a_spike_after_warmup():
    rng = random.Random(3)
    det = RiverAnomaly(threshold=8, warmup=100)
    series = [20 + rng.gauss(0, 0.2) for _ in range(300)]
    series[200] = 40
    out = feed(det, series)
    assert out and out[0][0] == 200 and out[0][1].severity is Severity.BLUE


SPECS = [
    {"type": "threshold", "levels": [[55, "yellow"], [70, "red"]], "deadband": 2, "duration": 5},
    {"type": "rate", "limit": 2.0, "window": 60},
    {"type": "stuck", "window": 60, "min_samples": 5},
    {"type": "baseline", "pct": 20, "learn": 100},
    {"type": "anomaly", "threshold": 6, "warmup": 50},
]


def _series(n=2000, seed=1):
    rng = random.Random(seed)
    xs = [40 + 10 * math.sin(i / 50) + rng.gauss(0, 1) for i in range(n)]
    for i in range(0, n, 97):
        xs[i] *= 2
    return xs


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s["type"])
def test_contract_deterministic_and_snapshot_round_trip(spec):
    xs = _series()
    a, b = build(spec), build(spec)
    assert [f for _, f in feed(a, xs)] == [f for _, f in feed(b, xs)]
    c = build(spec)
    feed(c, xs[:1000])
    d = build(spec)
    d.restore(c.snapshot())
    tail_c = [(i, f) for i, x in enumerate(xs[1000:]) if (f := c.update(1000 + i, x))]
    tail_d = [(i, f) for i, x in enumerate(xs[1000:]) if (f := d.update(1000 + i, x))]
    assert tail_c == tail_d
    assert pickle.loads(c.snapshot())  # snapshots are plain bytes


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s["type"])
def test_contract_survives_hostile_input(spec):
    det = build(spec)
    hostile = [math.nan, math.inf, -math.inf, 1e308, -1e308, 0.0, 0.0, 5.0]
    times = [0, 0, 5, 3, 3, 1e9, -1e9, 2e9]  # repeated, out of order, huge gaps
    for t, x in zip(times, hostile):
        det.update(t, x)
    for i in range(500):
        det.update(2e9 + i, 5.0)  # constant series


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s["type"])
def test_contract_state_stays_bounded(spec):
    det = build(spec)
    rng = random.Random(2)
    for i in range(20_000):
        det.update(float(i), rng.gauss(50, 5))
    size_20k = len(det.snapshot())
    for i in range(20_000, 100_000):
        det.update(float(i), rng.gauss(50, 5))
    assert len(det.snapshot()) <= size_20k * 1.1 + 64


def test_rate_of_change_with_a_hold_ignores_a_single_spike_but_not_a_real_rise():
    det = RateOfChange(0.8, window=600, duration=60)
    flat = [30.0] * 700
    flat[650] = 90.0  # one spiky sample: a sensor fault, not a fire
    assert feed(det, flat) == []
    det = RateOfChange(0.8, window=600, duration=60)
    rise = [30.0] * 300 + [30.0 + 0.02 * i for i in range(900)]  # 1.2 degC/min, sustained
    out = feed(det, rise)
    assert len(out) == 1 and out[0][1].severity is Severity.ORANGE
