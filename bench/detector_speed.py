"""Speed and state size of the default detector chain vs river's HalfSpaceTrees, one run.

    .venv/bin/python bench/detector_speed.py [--n 1000000] [--n-river 20000]

Same series for all (a noisy sine with spikes). Measures points/s on one core for:
the default chain's batch path (``Breakout.score_many``), its one-at-a-time path
(``Breakout.score``), and river ``MinMaxScaler | HalfSpaceTrees(n_trees=10, height=8)``
(score_one + learn_one per point); and the pickled state size of each per point.
"""

from __future__ import annotations

import argparse
import math
import os
import pickle
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def series(n, seed=1):
    rng = random.Random(seed)
    return [50 + 10 * math.sin(i / 300) + rng.gauss(0, 1) + (30 if i % 10007 == 0 else 0) for i in range(n)]


def main(argv=None):
    from river import anomaly, preprocessing

    from detectors.breakout import Breakout

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--n-river", type=int, default=20_000)
    a = ap.parse_args(argv)
    xs = series(a.n)
    ts = [1.7e9 + i for i in range(a.n)]  # 1 Hz

    det = Breakout()
    t0 = time.perf_counter()
    det.score_many(ts, xs)
    batch = a.n / (time.perf_counter() - t0)
    state = len(det.snapshot())

    det1 = Breakout()
    m = min(a.n, 300_000)
    score = det1.score
    t0 = time.perf_counter()
    for i in range(m):
        score(ts[i], xs[i])
    single = m / (time.perf_counter() - t0)

    model = preprocessing.MinMaxScaler() | anomaly.HalfSpaceTrees(n_trees=10, height=8, seed=42)
    k = a.n_river
    t0 = time.perf_counter()
    for i in range(k):
        x = {"x": xs[i]}
        model.score_one(x)
        model.learn_one(x)
    river_rate = k / (time.perf_counter() - t0)
    river_state = len(pickle.dumps(model))

    print(f"{'detector':52s} {'points/s':>12s} {'state bytes':>12s}")
    print(f"{'default chain (Breakout), batch path score_many':52s} {batch:12,.0f} {state:12d}")
    print(f"{'default chain (Breakout), one at a time score':52s} {single:12,.0f} {state:12d}")
    print(f"{'river MinMaxScaler | HalfSpaceTrees(10 trees, h 8)':52s} {river_rate:12,.0f} {river_state:12d}")
    print(
        f"batch path is {batch / river_rate:.0f}x river HST; state {state} B per point "
        f"(river HST {river_state / 1024:.0f} KB)"
    )


if __name__ == "__main__":
    main()
