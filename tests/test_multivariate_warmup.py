"""A frozen warm-up judged by what it can know: each component by its effective number of
rows (detectors/multivariate.py). A short warm-up holds a slowly wandering load only a few
times; the next wander of that load is normal, a broken correlation is not."""

from __future__ import annotations

import random

import numpy as np
import pytest

from detectors import checks
from detectors.multivariate import HotellingT2, integrated_time


def _line(seed: int, n: int, *, leak_from: int | None = None) -> list[dict[str, float]]:
    """A fan line: one slow load (a 200-row time constant) drives air speed and pressure
    difference together, beside each sensor's fast noise; a leak lowers the pressure
    difference while the air speed stays (each within its range, together impossible)."""
    rng = random.Random(seed)
    load, rows = 0.0, []
    for i in range(n):
        load += -0.005 * load + 0.1 * rng.gauss(0, 1)  # stationary, sd about 1
        speed = 20.0 - 1.5 * load + rng.gauss(0, 0.15)
        dp = 1100.0 + 120.0 * load + rng.gauss(0, 12.0)
        if leak_from is not None and i >= leak_from:
            dp -= 150.0
        rows.append({"speed": speed, "dp": dp})
    return rows


def test_integrated_time_of_white_noise_and_of_an_autoregression():
    rng = np.random.default_rng(3)
    white = rng.normal(size=20_000)
    ar = np.empty(20_000)
    ar[0] = 0.0
    for i in range(1, len(ar)):
        ar[i] = 0.9 * ar[i - 1] + rng.normal()
    tau = integrated_time(np.column_stack([white, ar, np.full(20_000, 7.0)]))
    assert tau[0] == pytest.approx(1.0, abs=0.1)
    assert tau[1] == pytest.approx((1 + 0.9) / (1 - 0.9), rel=0.15)  # an AR(1)'s 19 rows
    assert tau[2] == 1.0  # a constant column: no information either way, no division by zero


def test_the_next_wander_of_a_slow_load_is_not_a_fault():
    """400 warm-up rows hold the 200-row load about once: the plain chi-square law (the
    covariance taken as known, as the old frozen T² did) flags 3 % of the later normal rows
    (475 of 15,600); judged by its effective rows (8-13 here), the load's component asks for a
    larger excursion (60 of them, all in one seed's wide wander)."""
    false_rows = plain_false = scored = 0
    for seed in range(6):
        rows = _line(seed, 3000)
        det = HotellingT2(freeze=True)
        det.learn(rows[:400])
        assert det.n_eff is not None and min(det.n_eff) < 40 < max(det.n_eff)  # slow and fast
        plain = HotellingT2(freeze=True)
        plain.learn(rows[:400])
        plain.basis = None  # the plain law on the same warm-up
        for i, r in enumerate(rows[400:]):
            false_rows += det.score(float(i), r) >= 0.5
            plain_false += plain.score(float(i), r) >= 0.5
            scored += 1
    assert plain_false > 0.02 * scored  # the stress is real
    assert false_rows < 0.01 * scored, f"{false_rows} of {scored} normal rows flagged"


def test_a_broken_correlation_is_still_caught_at_once_and_held():
    for seed in range(6):
        rows = _line(seed, 1200, leak_from=800)
        det = HotellingT2(freeze=True)
        det.learn(rows[:400])
        flags = [det.score(float(i), r) >= 0.5 for i, r in enumerate(rows)]
        assert flags[800], f"seed {seed}: the leak's first row is not flagged"
        assert sum(flags[800:]) >= 0.95 * 400, f"seed {seed}: the leak is not held"


def test_a_frozen_warm_up_keeps_the_detector_contract():
    def factory() -> HotellingT2:
        det = HotellingT2(freeze=True)
        det.learn([checks._obs(True, 50.0 + (i % 13) - 6.0, i) for i in range(500)])
        assert det.basis is not None
        return det

    checks.check_detector(factory, multivariate=True, rows=(4_000, 16_000))
