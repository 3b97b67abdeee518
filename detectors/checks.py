"""The detector contract as one call: ``check_detector(factory)``.

Like river's ``check_estimator``, a new detector is checked with one call instead of a
copy of the tests: ``factory`` builds a fresh detector (``lambda: Breakout(...)``), and
:func:`check_detector` runs every part of the contract of :mod:`detectors.base` on it,
raising ``AssertionError`` naming the part that fails:

* **deterministic and pure**: two fresh detectors fed the same series give the same
  findings and scores; the input is untouched; no clock is read (``time.time``,
  ``time.monotonic`` and ``time.perf_counter`` raise while it runs); the series'
  spikes, step and frozen stretch produce at least one finding;
* **snapshot round trip**: restoring a snapshot taken at any of ``cuts`` gives exactly the
  same future as the original;
* **hostile input**: NaN, inf, huge values, repeated, out-of-order and far-apart times do
  not raise; a score stays in [0, 1]; it still works and restores afterwards;
* **bounded state**: the snapshot does not grow with the stream and stays under
  ``state_limit`` bytes (4 KB per point by default).

``multivariate=True`` feeds two-variable mappings instead of numbers. ``rows`` scales the
bounded-state run (slow detectors pass a smaller one).

Sharp edge: the clock check patches the ``time`` module for the duration of the call, so
do not run it beside code that needs the clock in another thread.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable

from .base import Finding

HOSTILE_X = (math.nan, math.inf, -math.inf, 1e308, -1e308, 0.0, 0.0, 5.0, 1e-300, -1e300)
HOSTILE_T = (0.0, 0.0, 5.0, 3.0, 3.0, 1e9, -1e9, 2e9, 2e9, 1.0)  #: repeated, out of order, huge gaps


def contract_series(n: int = 3000, seed: int = 1) -> list[float]:
    """A slow wave with noise, spikes every 397 rows, a sustained step and a frozen stretch:
    something every detector type should find."""
    rng = random.Random(seed)
    xs = [40 + 10 * math.sin(i / 50) + rng.gauss(0, 1) for i in range(n)]
    for i in range(300, n, 397):
        xs[i] *= 3
    for i in range(2000, min(n, 2400)):
        xs[i] += 30
    for i in range(2500, min(n, 2600)):
        xs[i] = 42.0
    return xs


def _obs(multivariate: bool, x: float, i: int = 0):
    if multivariate:
        return {"a": x, "b": 0.5 * x + (i % 7) * 0.1 if math.isfinite(x) else x}
    return x


def _run(det, multivariate: bool, xs, t0: int = 0) -> list:
    """Findings and (for scorers) the last score after each update: the observable output."""
    out: list = []
    for i, x in enumerate(xs):
        out.append(det.update(float(t0 + i), _obs(multivariate, x, t0 + i)))
        s = getattr(det, "last", None)  # a scorer's score; rules have none
        if s is not None:
            out.append(s)
    return out


class _NoClock:
    """Make every clock raise while a detector runs: detectors get time as data only."""

    NAMES = ("time", "monotonic", "perf_counter")

    def __enter__(self):
        self.saved = {n: getattr(time, n) for n in self.NAMES}
        for n in self.NAMES:
            setattr(time, n, self._raise)
        return self

    @staticmethod
    def _raise():
        raise AssertionError("a detector read the clock")

    def __exit__(self, *exc):
        for n, f in self.saved.items():
            setattr(time, n, f)
        return False


def check_deterministic_and_pure(factory: Callable, multivariate: bool = False, findings: bool = True) -> None:
    xs = contract_series()
    copy = list(xs)
    with _NoClock():
        ra, rb = _run(factory(), multivariate, xs), _run(factory(), multivariate, xs)
    assert ra == rb, "two fresh detectors fed the same series disagree"
    assert xs == copy, "the detector changed its input"
    if findings:
        assert any(isinstance(f, Finding) for f in ra), (
            "no finding on a series with spikes, a step and a frozen stretch"
        )


def check_snapshot_round_trip(factory: Callable, multivariate: bool = False, cuts=(1, 777, 2000)) -> None:
    xs = contract_series()
    for cut in cuts:
        a = factory()
        _run(a, multivariate, xs[:cut])
        data = a.snapshot()
        assert isinstance(data, bytes), "snapshot() must return bytes"
        b = factory()
        b.restore(data)
        assert _run(a, multivariate, xs[cut:], cut) == _run(b, multivariate, xs[cut:], cut), (
            f"restored at row {cut}, the detector's future differs"
        )


def check_hostile_input(factory: Callable, multivariate: bool = False) -> None:
    det = factory()
    for t, x in zip(HOSTILE_T, HOSTILE_X):
        det.update(t, _obs(multivariate, x))
    for i in range(500):
        det.update(2e9 + i, _obs(multivariate, 5.0))
    s = getattr(det, "last", None)
    if s is not None:
        assert 0.0 <= s <= 1.0, f"score {s} outside [0, 1] after hostile input"
    for i in range(200):
        det.update(3e9 + i, _obs(multivariate, 5.0 + (i % 3)))
    restored = factory()
    restored.restore(det.snapshot())
    tail = [5.0 + (i % 11) for i in range(100)] + [1e6]
    assert _run(restored, multivariate, tail, 4000) == _run(det, multivariate, tail, 4000), (
        "after hostile input a restored detector's future differs"
    )


def check_state_bounded(
    factory: Callable, multivariate: bool = False, rows: tuple[int, int] = (20_000, 80_000), state_limit: int = 4096
) -> None:
    det = factory()
    rng = random.Random(2)
    n1, n2 = rows
    for i in range(n1):
        det.update(float(i), _obs(multivariate, rng.gauss(50, 5), i))
    first = len(det.snapshot())
    for i in range(n1, n2):
        det.update(float(i), _obs(multivariate, rng.gauss(50, 5) * (10 if i % 5000 == 0 else 1), i))
    size = len(det.snapshot())
    assert size <= first * 1.1 + 64, f"state grows with the stream: {first} -> {size} bytes"
    assert size <= state_limit, f"state {size} bytes over the limit {state_limit}"


def check_detector(
    factory: Callable,
    *,
    multivariate: bool = False,
    rows: tuple[int, int] = (20_000, 80_000),
    state_limit: int = 4096,
    findings: bool = True,
) -> None:
    """Run the whole contract on detectors built by ``factory``; AssertionError on the first
    part that fails (see the module docstring). ``findings=False`` for a detector that by
    design reports nothing (a running signal)."""
    check_deterministic_and_pure(factory, multivariate, findings)
    check_snapshot_round_trip(factory, multivariate)
    check_hostile_input(factory, multivariate)
    check_state_bounded(factory, multivariate, rows, state_limit)
