"""A frozen warm-up judged by what it can know (detectors/multivariate.py): a short warm-up
holds a slowly wandering load only a few times and a warming process only its first stretch,
so the slow components are judged by their steps and the fast ones by their level. The next
wander of the load and the trend's next stretch are normal; a broken correlation is not, nor
is a slow sensor's jump. Beside the T², ``warning score``'s joint path judges a column's own
breakout only where the column is fast."""

from __future__ import annotations

import random

import numpy as np
import pytest

from detectors import checks
from detectors.multivariate import HotellingT2, integrated_time


def _line(
    seed: int, n: int, *, leak_from: int | None = None, warming: bool = False, jump_at: int | None = None
) -> list[dict[str, float]]:
    """A fan line: one slow load (a 200-row time constant) drives air speed and pressure
    difference together, beside each sensor's fast noise; a leak lowers the pressure
    difference while the air speed stays (each within its range, together impossible).
    ``warming``: a smooth thermocouple beside it warms 2 °C every 1,000 rows (0.01 °C noise);
    ``jump_at``: from that row it reads 0.5 °C higher."""
    rng = random.Random(seed)
    load, rows = 0.0, []
    for i in range(n):
        load += -0.005 * load + 0.1 * rng.gauss(0, 1)  # stationary, sd about 1
        speed = 20.0 - 1.5 * load + rng.gauss(0, 0.15)
        dp = 1100.0 + 120.0 * load + rng.gauss(0, 12.0)
        if leak_from is not None and i >= leak_from:
            dp -= 150.0
        row = {"speed": speed, "dp": dp}
        if warming:
            row["water"] = (
                20.0 + 0.002 * i + rng.gauss(0, 0.01) + (0.5 if jump_at is not None and i >= jump_at else 0.0)
            )
        rows.append(row)
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
    (475 of 15,600); with the load's component judged by its steps, none."""
    false_rows = plain_false = scored = 0
    for seed in range(6):
        rows = _line(seed, 3000)
        det = HotellingT2(freeze=True)
        det.learn(rows[:400])
        assert det.slow is not None and det.slow.tolist() == [False, True]  # the noise, the load
        plain = HotellingT2(freeze=True)
        plain.learn(rows[:400])
        plain.basis = None  # the plain law on the same warm-up
        for i, r in enumerate(rows[400:]):
            false_rows += det.score(float(i), r) >= 0.5
            plain_false += plain.score(float(i), r) >= 0.5
            scored += 1
    assert plain_false > 0.02 * scored  # the stress is real
    assert false_rows <= 0.001 * scored, f"{false_rows} of {scored} normal rows flagged"


def test_a_trend_that_goes_on_after_the_warm_up_is_not_a_fault_but_a_jump_is():
    """The warm-up holds 0.8 °C of a warming that reaches 6 °C: the plain law flags nearly
    every later row (14,111 of 15,600); judged by its steps, 146 (under 1 %: what of the trend the
    fast component took in over the warm-up), and a 0.5 °C jump (50 times its noise, within
    the trend's own range) is flagged on its row."""
    false_rows = plain_false = scored = 0
    for seed in range(6):
        rows = _line(seed, 3000, warming=True)
        det = HotellingT2(freeze=True)
        det.learn(rows[:400])
        plain = HotellingT2(freeze=True)
        plain.learn(rows[:400])
        plain.basis = None
        for i, r in enumerate(rows[400:]):
            false_rows += det.score(float(i), r) >= 0.5
            plain_false += plain.score(float(i), r) >= 0.5
            scored += 1
        jumped = _line(seed, 1200, warming=True, jump_at=900)
        det = HotellingT2(freeze=True)
        det.learn(jumped[:400])
        flags = [det.score(float(i), r) >= 0.5 for i, r in enumerate(jumped)]
        assert flags[900] and not any(flags[400:900]), f"seed {seed}: the jump is missed or the trend flagged"
    assert plain_false > 0.5 * scored  # the stress is real
    assert false_rows < 0.02 * scored, f"{false_rows} of {scored} normal rows flagged"


def test_a_broken_correlation_is_still_caught_at_once_and_held():
    for seed in range(6):
        rows = _line(seed, 1200, leak_from=800)
        det = HotellingT2(freeze=True)
        det.learn(rows[:400])
        flags = [det.score(float(i), r) >= 0.5 for i, r in enumerate(rows)]
        assert flags[800], f"seed {seed}: the leak's first row is not flagged"
        assert sum(flags[800:]) >= 0.95 * 400, f"seed {seed}: the leak is not held"


def test_a_slow_sensor_read_coarsely_ticks_without_alarm():
    """A thermometer that wanders 0.2 °C over minutes, read to 0.3 °C: most rows step by 0,
    a few by one whole tick, which a normal law on the steps calls 4-5 deviations. Judged by
    the warm-up's own largest steps, a tick is what the warm-up did (1 false row of 15,600;
    102 with a normal law on the steps); three ticks at once are not."""
    false_rows = scored = 0
    for seed in range(6):
        rng = random.Random(100 + seed)
        rows, wander = _line(seed, 3000), 0.0
        for r in rows:
            wander += -0.005 * wander + 0.02 * rng.gauss(0, 1)
            r["water"] = round((20.0 + wander) / 0.3) * 0.3
        det = HotellingT2(freeze=True)
        det.learn(rows[:400])
        assert det.slow is not None and det.slow.sum() >= 2  # the load and the thermometer
        for i, r in enumerate(rows[400:]):
            false_rows += det.score(float(i), r) >= 0.5
            scored += 1
        det.score(0.0, dict(rows[-1], water=rows[-1]["water"] + 0.9))
        assert det.last >= 0.5, f"seed {seed}: a jump of three ticks is not flagged"
    assert false_rows < 0.005 * scored, f"{false_rows} of {scored} normal rows flagged"


def test_a_frozen_warm_up_keeps_the_detector_contract():
    def factory() -> HotellingT2:
        det = HotellingT2(freeze=True)
        det.learn([checks._obs(True, 50.0 + (i % 13) - 6.0, i) for i in range(500)])
        assert det.basis is not None
        return det

    checks.check_detector(factory, multivariate=True, rows=(4_000, 16_000))


def test_warning_score_judges_the_columns_own_breakouts_only_where_the_warm_up_bounds_them(monkeypatch):
    """Through ``warning score``'s joint path: a slow column's record is the operating point
    moving past what 400 rows saw, not a fault (with every column's breakout judged, as
    before, the load's wander raises 122 rows over these 12 recordings); a fast column beside
    it keeps its own breakout."""
    from detectors.multivariate import slow_columns
    from detectors.profiles import profile
    from warning.cli.score import score_rows

    def recording(seed: int) -> list[dict[str, float]]:
        rng, fast = random.Random(seed), random.Random(1000 + seed)
        load, rows = 0.0, []
        for _ in range(1400):
            load += -0.01 * load + 0.05 * rng.gauss(0, 1)  # a 100-row load, sd about 0.35
            rows.append(
                {
                    "speed": 20.0 - 1.5 * load + rng.gauss(0, 0.15),
                    "temp": 35.0 + load + rng.gauss(0, 0.2),
                    "noise": fast.gauss(5.0, 0.5),  # a fast column: independent noise
                }
            )
        return rows

    def active(table: list[dict[str, float]]) -> int:
        names = list(table[0])
        feed = ((str(i), float(i), [r[n] for n in names]) for i, r in enumerate(table))
        return sum(a for _, _, _, a in score_rows(feed, len(names), profile("default"), 400, names))

    tables = [recording(seed) for seed in range(12)]
    assert all(slow_columns([list(r.values()) for r in t[:400]]) == [True, True, False] for t in tables)
    assert sum(active(t) for t in tables) == 0
    with monkeypatch.context() as m:  # every column's breakout judged, as before
        m.setattr("detectors.multivariate.slow_columns", lambda block: [False] * 3)
        assert sum(active(t) for t in tables) > 0
    jumped = [dict(r, noise=r["noise"] + 6.0 if i >= 1000 else r["noise"]) for i, r in enumerate(tables[0])]
    assert active(jumped) >= 390  # the fast column's new level, held
