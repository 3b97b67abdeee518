"""Detection on the scenario bench (issue 4): the pieces that took the default chain to its
targets, each tested on its own small case (the whole library runs in `warning evaluate`,
too slow for the suite)."""

from __future__ import annotations

import math
import random
import tomllib
from pathlib import Path

import pytest

from detectors.base import Severity
from detectors.breakout import DT, Breakout, alert_for_budget, expected_breakouts
from detectors.chain import build
from detectors.rules import Drop, RateOfChange
from simulators.faults import AirflowLoss, FanFailure
from simulators.plant import BagFilter, production_on
from simulators.scenario import recurring
from simulators.scenarios import RUN_UP, parse_scenario
from simulators.score import score_fault

ROOT = Path(__file__).resolve().parent.parent
KINDS = tomllib.loads((ROOT / "config" / "kinds.toml").read_text())["kinds"]
T0 = 1_780_272_000.0  # Monday 2026-06-01 08:00 +08:00


def chain(kind: str, rule: str):
    """The default detector of ``kind`` whose id (or type) is ``rule``, without the pipeline's gate."""
    spec = next(s for s in KINDS[kind]["detectors"] if s.get("id", s["type"]) == rule)
    return build({k: v for k, v in spec.items() if k != "when_running"})


def raised(det, ts, xs) -> list:
    out = []
    for t, x in zip(ts, xs):
        f = det.update(t, x)
        if f is not None and f.severity is not None:
            out.append(f)
    return out


# ---------------------------------------------------------------- fan trip and airflow loss


def test_fan_trip_flag_is_orange_on_the_first_sample():
    det = chain("fan_fault", "threshold")
    assert det.update(T0, 0.0) is None
    f = det.update(T0 + 10, 1.0)
    assert f is not None and f.severity == Severity.ORANGE


def test_an_instantaneous_hazard_must_be_caught_by_the_first_sample_after_onset():
    trip = FanFailure(enterprise="E001", device="DC1", start=T0 + 3, duration=120)
    assert trip.hazard_time() - trip.start == pytest.approx(30 * math.log(20 / 16))  # ~6.7 s

    def ev(at):
        return {
            "kind": "raised",
            "at": at,
            "enterprise": "E001",
            "device": "DC1",
            "point": "fan_fault",
            "rule": "threshold",
            "severity": "orange",
            "level": 3,
        }

    first = score_fault(trip, [ev(T0 + 10)], T0 + 3600, 10)
    assert first["instantaneous"] and first["passed"]
    second = score_fault(trip, [ev(T0 + 20)], T0 + 3600, 10)  # one sample late: the old 3 s hold
    assert not second["passed"]


def _air(seed: int, fault=None, start=T0, minutes=40, step=10.0):
    plant = BagFilter(seed)  # always running
    ts, xs = [], []
    for k in range(int(minutes * 60 / step)):
        t = start + k * step
        v = plant.sample(t)
        if fault is not None:
            v = fault.apply(t, v)
        ts.append(t)
        xs.append(v["air_speed"])
    return ts, xs


@pytest.mark.parametrize("to", [0.5, 0.6, 0.7])
def test_drop_rule_catches_a_one_minute_airflow_loss_before_the_minimum_at_10_s(to):
    margins = []
    for seed, offset in ((1, 1.0), (2, 4.0), (3, 7.0), (4, 9.5)):  # onsets anywhere between two samples
        loss = AirflowLoss(enterprise="E", device="D", start=T0 + 1800 + offset, to=to, ramp=60, duration=240)
        ts, xs = _air(seed, loss)
        found = raised(chain("air_speed", "drop"), ts, xs)
        assert found and found[0].t > loss.start  # nothing before the onset
        hazard = loss.hazard_time()
        assert found[0].t <= hazard
        margins.append((hazard - found[0].t) / (hazard - loss.start))
    assert sum(margins) / len(margins) >= 0.3


def test_drop_rule_is_quiet_on_noise_spikes_and_a_slow_sag():
    ts, xs = _air(7, minutes=12 * 60)  # twelve running hours
    det = chain("air_speed", "drop")
    assert raised(det, ts, xs) == []
    spiky = list(xs)
    for i in range(200, len(spiky), 500):
        spiky[i] *= 6.0  # a single-sample spike, and the sample after it is back to normal
    assert raised(chain("air_speed", "drop"), ts, spiky) == []
    sag = [x * (1 - 0.1 * i / len(xs)) for i, x in enumerate(xs)]  # 10 % over 12 h (bags blinding)
    assert raised(chain("air_speed", "drop"), ts, sag) == []


def test_drop_band_widens_with_the_points_own_noise():
    rng = random.Random(3)
    quiet, noisy = Drop(pct=1.0, sigmas=5.0, learn=0), Drop(pct=1.0, sigmas=5.0, learn=0)
    for k in range(2000):
        quiet.update(k * 10.0, 20 + rng.gauss(0, 0.05))
        noisy.update(k * 10.0, 20 + rng.gauss(0, 1.0))
    # a 3 m/s step: far outside the quiet point's band, inside the noisy one's (5 sigma ~ 5-7 m/s)
    assert quiet.update(20000.0, 17.0).severity == Severity.ORANGE
    assert noisy.update(20000.0, 17.0) is None


# ---------------------------------------------------------------- one-step jumps are not rates


def test_rate_rule_ignores_a_stuck_sensor_resuming_but_catches_smouldering():
    ts = [T0 + 5 * k for k in range(2000)]
    # the transmitter froze at 31.6 °C for an hour while the hopper warmed; it resumes ~2.9 °C higher
    stuck = [30.0 + 0.004 * k if not 400 <= k < 1120 else 31.6 for k in range(2000)]
    assert stuck[1120] - stuck[1119] > 2.0
    for rule in ("rate", "slow_rate"):
        assert raised(chain("hopper_temp", rule), ts, stuck) == []
        plain = RateOfChange(
            2.0 if rule == "rate" else 0.8, window=60 if rule == "rate" else 600, duration=10 if rule == "rate" else 60
        )
        if rule == "rate":  # without `frozen` the jump reads as a fast rise: what the option fixes
            assert raised(plain, ts, stuck)
        steps = RateOfChange(2.0 if rule == "rate" else 0.8, window=60 if rule == "rate" else 600, step_share=0.5)
        assert raised(steps, ts, stuck) == []  # the general option: a rise carried by one step
    smoulder = [35.0 + (max(0.0, (k - 1000) * 5 / 60 * 5.0) if k >= 1000 else 0.0) for k in range(2000)]
    (f, *_) = raised(chain("hopper_temp", "rate"), ts, smoulder)
    assert f.severity == Severity.ORANGE and f.t - ts[1000] <= 60
    (g, *_) = raised(RateOfChange(2.0, window=60, step_share=0.5), ts, smoulder)
    assert g.t - ts[1000] <= 60
    # a rise straight out of a short flat stretch (not frozen long enough) is still a rise
    short = [30.0] * 10 + [60.0] * 10 + [75.0] * 10 + [76.0] * 40
    assert raised(chain("hopper_temp", "rate"), [T0 + k for k in range(70)], short)


# ---------------------------------------------------------------- the anomaly rule's budget


def test_budget_sets_the_excess_and_the_expected_reports_meet_it():
    for budget in (1.0, 0.3, 0.1, 0.03):
        a = alert_for_budget(budget)
        assert expected_breakouts(a, 100, 7 * 288) == pytest.approx(budget, rel=1e-3)
    assert alert_for_budget(0.1) > alert_for_budget(0.3) > alert_for_budget(1.0) > 0.028
    # NAB's default excess 0.028 costs about 1.5 reports per view and side in a cold week
    weekly = expected_breakouts(0.028, 100, 7 * 288)
    assert weekly > 1.0 and weekly < 2.0
    with pytest.raises(ValueError):
        alert_for_budget(0.0)


def test_one_sided_breakout_on_gaussian_noise_stays_near_its_budget():
    rng = random.Random(5)
    reports = 0
    for _ in range(60):
        det = Breakout(budget=0.1, direction="high", season_bins=0)  # views: value, level, roughness
        scores = det.score_many(None, [rng.gauss(0, 1) for _ in range(100 + 7 * 288)])
        reports += sum(1 for s in scores if s >= 0.5)
    assert reports / 60 < 0.3  # a week from a cold start, per point (budget 0.1; measured ~0.15)


def test_direction_scores_only_the_side_that_matters():
    rng = random.Random(2)
    xs = [rng.gauss(20, 0.3) for _ in range(600)]
    for direction, to, seen in (
        ("low", 15.0, True),
        ("low", 25.0, False),
        ("high", 25.0, True),
        ("high", 15.0, False),
        ("both", 15.0, True),
    ):
        det = Breakout(direction=direction, season_bins=0)
        det.score_many(None, xs)
        # a smooth walk to a level never seen (steps far below the noise: no roughness record)
        walk = [20 + (to - 20) * k / 300 + rng.gauss(0, 0.3) for k in range(1, 301)]
        assert (max(det.score_many(None, walk)) >= 0.5) is seen, (direction, to)
    with pytest.raises(ValueError):
        Breakout(direction="up")


def test_a_nightly_gap_is_a_break_not_a_step():
    def days(gap):
        det = Breakout(gap=gap)
        rng, found, morning = random.Random(4), 0, []
        for day in range(10):
            t0 = T0 + day * 86400
            level = 30 + 3 * (day % 2)  # each morning starts where last evening did not end
            ts = [t0 + 10 * k for k in range(4000)]
            xs = [level + 0.002 * k + rng.gauss(0, 0.1) for k in range(4000)]
            found += sum(1 for s in det.score_many(ts[:30], xs[:30]) if s >= 0.5)
            morning.append(det.st[DT])  # the typical interval 5 min into the day
            found += sum(1 for s in det.score_many(ts[30:], xs[30:]) if s >= 0.5)
        return morning, found

    morning, with_breaks = days(10.0)
    assert all(dt == pytest.approx(10.0, rel=0.05) for dt in morning[1:])  # still 10 s after a night
    swollen, without = days(0.0)
    assert min(swollen[1:]) > 100.0  # the nights swelled it: rows counted as five-minute rows
    assert with_breaks < without


# ---------------------------------------------------------------- random faults on a settled plant


def test_random_rounds_start_after_the_fans_run_up():
    raw = {
        "scenario": {"start": T0 - 8 * 3600, "duration": "3d", "interval": 10, "schedule": "day_shift"},
        "site": {"enterprises": 6, "collectors": 3, "seed": 2},
        "recurring": {"every": "20m", "seed": 3},
    }
    sc = parse_scenario(raw)
    assert len(sc.faults) > 20
    for f in sc.faults:
        assert production_on(f.start - RUN_UP) and production_on(f.start)
    everything = recurring(sc.site["enterprises"], sc.start, every=1200, horizon=sc.duration, seed=3)
    assert any(production_on(f.start) and not production_on(f.start - RUN_UP) for f in everything)
