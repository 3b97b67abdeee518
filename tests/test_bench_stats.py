"""The benchmarks' p99 interval (bench/common.py): what it claims, checked against its law."""

from __future__ import annotations

import math
import random

from bench.common import quantile_interval


def test_a_p99_interval_needs_368_samples_to_have_an_upper_end():
    xs = [float(i) for i in range(1, 151)]
    lo, hi = quantile_interval(xs, 0.99)
    assert hi == math.inf and lo == 146.0  # P(K <= 145) = 0.018 <= 2.5 %, P(K <= 146) = 0.065 > it
    assert quantile_interval([float(i) for i in range(367)], 0.99)[1] == math.inf  # 0.99**367 > 2.5 %
    assert quantile_interval([float(i) for i in range(368)], 0.99)[1] == 367.0  # 0.99**368 <= 2.5 %: the max
    assert all(math.isnan(end) for end in quantile_interval([], 0.99))  # no samples, no interval


def test_the_interval_covers_the_true_quantile_about_95_times_in_100():
    rnd = random.Random(7)
    for n, q in ((400, 0.99), (101, 0.5)):
        trials = 600
        hits = 0
        for _ in range(trials):
            lo, hi = quantile_interval([rnd.random() for _ in range(n)], q)
            hits += lo <= q <= hi  # uniform samples: the true q quantile is q
        assert 0.93 <= hits / trials <= 0.995, (n, q, hits / trials)


def test_the_interval_of_several_runs_pooled():
    """Pooled runs (``dashboard_bench.py --pool``) give thousands of samples, past where
    comb(n, k) * q**k overflows a float: the law is summed in logs, and agrees with exact
    integer arithmetic where both can be computed."""
    xs = [float(i) for i in range(1, 2001)]
    lo, hi = quantile_interval(xs, 0.99)
    exact, below = [], 0
    for k in range(2001):  # the same law in exact integers: comb(n, k) * 99**k * 1**(n-k) / 100**n
        below += math.comb(2000, k) * 99**k
        exact.append(below / 100**2000)
    want_lo = max(j for j in range(1, 2001) if exact[j - 1] <= 0.025)
    want_hi = min(j for j in range(1, 2001) if 1 - exact[j - 1] <= 0.025)
    assert (lo, hi) == (float(want_lo), float(want_hi)) and lo < 1980 < hi
