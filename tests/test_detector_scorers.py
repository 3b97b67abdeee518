"""Behaviour of the extra raw scorers, the likelihood layer and the river drift adapter."""

from __future__ import annotations

import math
import random

import pytest

from detectors.chain import build
from detectors.scorers import Drift, HoltError, Likelihood, RobustZ


def _noise(n, seed=1, level=10.0, sd=1.0):
    rng = random.Random(seed)
    return [level + rng.gauss(0, sd) for _ in range(n)]


def test_robust_z_flags_a_spike_not_the_noise():
    xs = _noise(500)
    xs[400] = 30.0
    det = RobustZ()
    s = det.score_many(None, xs)
    assert s[400] > 0.7
    assert sum(v >= 0.5 for v in s[:400]) <= 2


def test_holt_follows_a_trend_and_a_season_but_not_a_break():
    xs = [0.01 * i + 5 * math.sin(2 * math.pi * i / 50) + random.Random(i).gauss(0, 0.1) for i in range(2000)]
    xs[1500] += 4.0  # small against the seasonal swing, large against the forecast error
    det = HoltError(period=50)
    s = det.score_many(None, xs)
    assert s[1500] > 0.6
    assert sum(v >= 0.5 for v in s[500:1500]) <= 3


def test_likelihood_is_calibrated_on_noise_and_fires_on_a_shift_in_behaviour():
    xs = _noise(3000, seed=3)
    for i in range(2500, 2600):
        xs[i] += random.Random(i).choice((-6, 6))  # the series turns erratic
    det = Likelihood(of={"type": "robust_z"})
    s = det.score_many(None, xs)
    false = sum(v >= 0.5 for v in s[200:2500]) / 2300
    assert false < 0.01
    assert max(s[2500:2600]) > 0.5


def test_likelihood_refuses_to_wrap_itself_or_a_rule():
    with pytest.raises(ValueError):
        build({"type": "likelihood", "of": {"type": "likelihood"}})
    with pytest.raises(ValueError):
        build({"type": "likelihood", "of": {"type": "threshold", "levels": [[1, "red"]]}})


@pytest.mark.parametrize("model", ["adwin", "page_hinkley", "kswin"])
def test_river_drift_detectors_catch_a_level_shift(model):
    xs = _noise(1500, seed=4) + _noise(1500, seed=5, level=20.0)
    det = Drift(model=model)
    s = det.score_many(None, xs)
    hits = [i for i, v in enumerate(s) if v >= 0.5]
    assert any(1500 <= i < 1700 for i in hits)


def test_unknown_drift_model_fails_loudly():
    with pytest.raises(ValueError, match="unknown drift model"):
        build({"type": "drift", "model": "nope"})
