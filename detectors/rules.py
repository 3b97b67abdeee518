"""Rule detectors: limits with hysteresis and duration, rate of change, stuck sensor,
deviation from a recorded baseline.

Each one reports a :class:`~detectors.base.Finding` only when its verdict changes.
"""

from __future__ import annotations

import math
from collections import deque

from .base import Detector, Finding, Severity, is_finite

_NONE = "none"  # no candidate level (distinct from None, which is the "cleared" level)


class Threshold(Detector):
    """Multi-level limit with hysteresis (a deadband) and minimum durations.

    ``levels`` are ``(limit, severity)`` pairs. With ``direction="high"`` a value at or
    above a limit reaches that level; with ``"low"``, at or below. A level is entered
    once the value has stayed there for ``duration`` seconds, and left once the value
    has stayed beyond ``limit -/+ deadband`` for ``clear_duration`` seconds, so a value
    hovering at the limit does not flap.
    """

    __slots__ = (
        "levels",
        "high",
        "deadband",
        "duration",
        "clear_duration",
        "rule",
        "title",
        "current",
        "candidate",
        "since",
    )

    def __init__(
        self,
        levels,
        *,
        direction: str = "high",
        deadband: float = 0.0,
        duration: float = 0.0,
        clear_duration: float | None = None,
        rule: str = "threshold",
        title: str = "value",
    ):
        if direction not in ("high", "low"):
            raise ValueError(f"direction must be 'high' or 'low', not {direction!r}")
        parsed = [(float(limit), Severity.parse(sev)) for limit, sev in levels]
        if not parsed:
            raise ValueError("threshold needs at least one level")
        self.high = direction == "high"
        # Sorted by severity so that the last level reached is the highest.
        self.levels = tuple(sorted(parsed, key=lambda p: p[1]))
        self.deadband = float(deadband)
        self.duration = float(duration)
        self.clear_duration = self.duration if clear_duration is None else float(clear_duration)
        self.rule = rule
        self.title = title
        self.current: Severity | None = None  #: the level in force
        self.candidate: Severity | None | str = _NONE  #: a different level (or None: clear) the value moved to
        self.since = 0.0  #: when the value moved to ``candidate``

    def _level(self, x: float) -> Severity | None:
        """The level the value asks for, holding the current level inside the deadband."""
        up = keep = None
        high, band, current = self.high, self.deadband, self.current
        for limit, sev in self.levels:
            if (x >= limit) if high else (x <= limit):
                up = sev
            if current is not None and sev <= current:
                if (x >= limit - band) if high else (x <= limit + band):
                    keep = sev
        if up is None:
            return keep
        if keep is None:
            return up
        return up if up > keep else keep

    def update(self, t: float, x: float) -> Finding | None:
        if not is_finite(x):
            return None
        target = self._level(x)
        if target == self.current:
            self.candidate = _NONE
            return None
        if target != self.candidate:
            self.candidate, self.since = target, t
        needed = (
            self.duration
            if (target is not None and (self.current is None or target > self.current))
            else self.clear_duration
        )
        if t - self.since < needed:
            return None
        self.current, self.candidate = target, _NONE
        return Finding(self.rule, target, t, x, self._message(target, x))

    def _message(self, sev: Severity | None, x: float) -> str:
        if sev is None:
            return f"{self.title} back to normal ({x:g})"
        limit = next(lim for lim, s in self.levels if s == sev)
        word = "above" if self.high else "below"
        return f"{self.title} {x:g} {word} the {sev.label} limit {limit:g}"


class RateOfChange(Detector):
    """Rise (or fall) faster than ``limit`` units per minute over ``window`` seconds, for at
    least ``duration`` seconds.

    The slope is taken between the newest sample and the oldest one kept inside the
    window; it needs at least half a window of history. Samples are kept at most every
    ``window / (max_samples / 2)`` seconds, so memory is bounded whatever the sampling rate
    and a long window still spans its whole length at 1 Hz.

    ``step_share``: a rise carried by one step is a jump, not a rate. When set, a slope over
    the limit counts only if no single step between kept samples (nor the newest one) makes
    more than this share of the window's rise: a sensor that resumes after being stuck, or
    a re-zeroed transmitter, jumps once; a smouldering hopper climbs step after step.

    ``frozen``: a value that sat exactly still for ``frozen`` seconds (and at least
    ``frozen_samples`` samples: what the ``stuck`` rule calls a frozen transmitter) was no
    measurement; when it moves again the window restarts there, so the jump from the frozen
    value to the real one is not read as a rise.
    """

    __slots__ = (
        "window",
        "samples",
        "gate",
        "falling",
        "rule",
        "step",
        "t_last",
        "step_share",
        "limit",
        "frozen",
        "frozen_samples",
        "still",
    )

    def __init__(
        self,
        limit: float,
        *,
        window: float = 60.0,
        severity="orange",
        direction: str = "rise",
        duration: float = 0.0,
        max_samples: int = 128,
        rule: str = "rate",
        title: str = "value",
        unit: str = "",
        step_share: float | None = None,
        frozen: float | None = None,
        frozen_samples: int = 20,
    ):
        if step_share is not None and not 0.0 < float(step_share) <= 1.0:
            raise ValueError(f"step_share must be in (0, 1], not {step_share!r}")
        self.step_share = None if step_share is None else float(step_share)
        self.frozen = None if frozen is None else float(frozen)
        self.frozen_samples = int(frozen_samples)
        self.still = (math.nan, 0.0, 0)  #: (value, since, samples) of the current run of equal values
        self.limit = float(limit)
        self.window = float(window)
        self.falling = direction == "fall"
        self.samples: deque = deque(maxlen=int(max_samples))
        self.step = self.window / max(1, int(max_samples) // 2)  #: seconds between kept samples
        self.t_last = -math.inf  #: time of the newest sample seen
        self.rule = rule
        what = f"{title} {'falling' if self.falling else 'rising'} at"
        # ``duration``: the slope must stay over the limit this long, so one spiky sample (a
        # sensor fault, blue elsewhere) does not read as a fast rise.
        self.gate = Threshold(
            [(float(limit), severity)], deadband=float(limit) / 2, duration=duration, rule=rule, title=what
        )

    def update(self, t: float, x: float) -> Finding | None:
        if not is_finite(x):
            return None
        samples = self.samples
        if t <= self.t_last:
            return None  # repeated or out-of-order time: no slope to take
        self.t_last = t
        if self.frozen is not None:
            v, since, n = self.still
            if x == v:
                self.still = (v, since, n + 1)
            else:
                if n >= self.frozen_samples and t - since >= self.frozen:
                    samples.clear()  # resumed after a frozen stretch: history starts again here
                self.still = (x, t, 1)
        if not samples or t - samples[-1][0] >= self.step:
            samples.append((t, x))
        while len(samples) > 2 and t - samples[1][0] >= self.window:
            samples.popleft()
        t0, x0 = samples[0]
        span = t - t0
        if span < self.window / 2:
            return None
        slope = (x - x0) / span * 60.0
        if self.falling:
            slope = -slope
        if self.step_share is not None and slope >= self.limit and self._one_jump(x, x0):
            slope = 0.0  # a jump: no rate to judge (the gate's hold restarts)
        found = self.gate.update(t, slope)
        if found is None:
            return None
        return Finding(self.rule, found.severity, t, x, found.message + "/min")

    def _one_jump(self, x: float, x0: float) -> bool:
        """True when one step carries more than ``step_share`` of the rise ``x - x0``."""
        rise = x - x0
        prev, top = x0, 0.0
        for _, v in self.samples:
            d = v - prev
            if self.falling:
                d = -d
            if d > top:
                top = d
            prev = v
        d = (x - prev) if not self.falling else (prev - x)
        if d > top:
            top = d
        share = 1.0 if self.step_share is None else self.step_share  # only called when set
        return top > share * abs(rise)


class Stuck(Detector):
    """A sensor whose value has not moved by more than ``epsilon`` for ``window`` seconds
    (and at least ``min_samples`` samples): a frozen transmitter, not a quiet plant.

    ``relative`` R > 0: also longer than R times the longest still run this point has
    shown before (while not stuck). A quantised or slow signal that sits still for 40
    samples as a matter of course then needs 80 (R = 2) before it counts as frozen: the
    limit follows the signal's own behaviour, not a constant.

    ``moving`` S > 0: judge only a point that has moved on at least the share S of its
    samples so far. A point that repeats its value on most samples (a coarse reading of a
    slow process) sits still for stretches that no history bounds, and there nothing tells
    a frozen transmitter from a steady reading; S = 0.5 judges the points where a repeat is
    the exception."""

    __slots__ = (
        "window",
        "min_samples",
        "epsilon",
        "moving",
        "samples",
        "moves",
        "severity",
        "rule",
        "title",
        "anchor",
        "since",
        "count",
        "active",
        "relative",
        "longest",
    )

    def __init__(
        self,
        *,
        window: float = 600.0,
        min_samples: int = 20,
        epsilon: float = 0.0,
        severity="blue",
        relative: float = 0.0,
        moving: float = 0.0,
        rule: str = "stuck",
        title: str = "value",
    ):
        if not float(relative) >= 0.0:
            raise ValueError("relative must be >= 0 (0: off)")
        if not 0.0 <= float(moving) <= 1.0:
            raise ValueError("moving must be a share in [0, 1] (0: off)")
        self.moving = float(moving)
        self.samples = 0  #: finite samples seen
        self.moves = 0  #: of them, how many moved off the value before
        self.window = float(window)
        self.min_samples = int(min_samples)
        self.epsilon = float(epsilon)
        self.severity = Severity.parse(severity)
        self.relative = float(relative)
        self.longest = 0  #: the longest still run seen while not stuck (samples)
        self.rule = rule
        self.title = title
        self.anchor = math.nan  #: the value the sensor is sitting at
        self.since = 0.0  #: when it got there
        self.count = 0  #: samples seen at that value
        self.active = False

    def update(self, t: float, x: float) -> Finding | None:
        if not is_finite(x):
            return None
        self.samples += 1
        if not (abs(x - self.anchor) <= self.epsilon):  # also true for the first sample (NaN anchor)
            self.moves += self.samples > 1
            if not self.active and self.count > self.longest:
                self.longest = self.count
            self.anchor, self.since, self.count = x, t, 1
            if self.active:
                self.active = False
                return Finding(self.rule, None, t, x, f"{self.title} moving again ({x:g})")
            return None
        self.count += 1
        need = max(self.min_samples, self.relative * self.longest) if self.relative else self.min_samples
        if self.moving and self.moves < self.moving * (self.samples - 1):
            return None  # a point that mostly repeats itself: a still run is no sign of a fault
        if not self.active and self.count >= need and t - self.since >= self.window:
            self.active = True
            return Finding(
                self.rule,
                self.severity,
                t,
                x,
                f"{self.title} stuck at {x:g} for {t - self.since:.0f} s (sensor fault?)",
            )
        return None


class BaselineDeviation(Detector):
    """Smoothed value more than ``pct`` % away from its baseline (AQ 4273 for the
    pressure difference: the baseline recorded after install or a bag change).

    The baseline is configured per point, or learned as the smoothed value after the
    first ``learn`` seconds. Smoothing is an exponential moving average with time
    constant ``smoothing`` seconds, taking the time between samples into account, so
    the pulse-jet cleaning sawtooth does not trip it.
    """

    __slots__ = ("baseline", "tau", "learn", "smooth", "t_last", "t_first", "gate", "rule")

    def __init__(
        self,
        *,
        pct: float = 20.0,
        baseline: float | None = None,
        smoothing: float = 120.0,
        learn: float = 600.0,
        severity="yellow",
        duration: float = 30.0,
        rule: str = "baseline",
        title: str = "value",
    ):
        self.baseline = None if baseline is None else float(baseline)
        self.tau = max(float(smoothing), 1e-9)
        self.learn = float(learn)
        self.smooth = math.nan
        self.t_last = math.nan
        self.t_first = math.nan
        self.rule = rule
        pct = float(pct)
        sev = Severity.parse(severity)
        worse = Severity(min(sev + 1, Severity.RED))  # twice the deviation: one level up
        self.gate = Threshold(
            [(pct, sev), (2 * pct, worse)],
            deadband=pct / 4,
            duration=duration,
            rule=rule,
            title=f"{title} deviation from baseline (%)",
        )

    def update(self, t: float, x: float) -> Finding | None:
        if not is_finite(x):
            return None
        if math.isnan(self.smooth):
            self.smooth, self.t_last, self.t_first = x, t, t
        else:
            dt = t - self.t_last
            if dt > 0:
                a = 1.0 - math.exp(-dt / self.tau)
                self.smooth += a * (x - self.smooth)
                self.t_last = t
        if self.baseline is None:
            if t - self.t_first < self.learn:
                return None
            self.baseline = self.smooth
        if self.baseline == 0:
            return None
        dev = abs(self.smooth - self.baseline) / abs(self.baseline) * 100.0
        found = self.gate.update(t, dev)
        if found is None:
            return None
        if found.severity is None:
            msg = f"smoothed value {self.smooth:.0f} back within range of baseline {self.baseline:.0f}"
        else:
            msg = f"smoothed value {self.smooth:.0f} is {dev:.0f} % off baseline {self.baseline:.0f}"
        return Finding(self.rule, found.severity, t, x, msg)


class Drop(Detector):
    """A sudden fall (or rise) of the value below (above) its own recent level: the newest
    sample against the median of the samples of the last ``window`` seconds.

    Why: a limit says where danger begins; a damper slamming shut or a fan belt slipping
    shows minutes earlier as a step away from the level the point just had. The median
    makes one spiky sample in the window harmless, and a spike that has passed leaves the
    reference where it was.

    The deviation must reach both ``pct`` % of the reference and ``sigmas`` times the
    point's own noise (σ̂: 1.25 × an exponential mean, time constant ``noise_tau`` s, of
    |value − reference| while nothing is found): a false-alarm budget rather than a guess,
    since on Gaussian noise a 5 σ one-sided excess comes once in 3.5 million samples. A
    noisy transmitter so gets a wider band by itself. No verdict for the first ``learn``
    seconds, or while fewer than ``min_samples`` samples span half a window.
    """

    __slots__ = (
        "window",
        "pct",
        "sigmas",
        "tau",
        "learn",
        "min_samples",
        "falling",
        "samples",
        "step",
        "t_last",
        "t_first",
        "noise",
        "n_noise",
        "gate",
        "rule",
        "title",
    )

    def __init__(
        self,
        *,
        pct: float = 5.0,
        window: float = 60.0,
        sigmas: float = 5.0,
        noise_tau: float = 3600.0,
        learn: float = 600.0,
        min_samples: int = 3,
        direction: str = "fall",
        severity="orange",
        duration: float = 0.0,
        clear_duration: float = 30.0,
        max_samples: int = 64,
        rule: str = "drop",
        title: str = "value",
    ):
        if direction not in ("fall", "rise"):
            raise ValueError(f"direction must be 'fall' or 'rise', not {direction!r}")
        if not (float(pct) >= 0.0 and float(sigmas) >= 0.0 and float(window) > 0.0 and float(noise_tau) > 0.0):
            raise ValueError("pct and sigmas must be >= 0, window and noise_tau > 0")
        self.window, self.pct, self.sigmas = float(window), float(pct), float(sigmas)
        self.tau, self.learn, self.min_samples = float(noise_tau), float(learn), max(1, int(min_samples))
        self.falling = direction == "fall"
        self.samples: deque = deque(maxlen=int(max_samples))
        self.step = self.window / max(1, int(max_samples) // 2)  #: seconds between kept samples
        self.t_last = -math.inf
        self.t_first = math.nan
        self.noise = math.nan  #: exponential mean of |value - reference| (not yet known: NaN)
        self.n_noise = 0  #: deviations learned so far (a plain mean until the exponential one is slower)
        self.rule, self.title = rule, title
        # the gate judges deviation / band: 1 is the edge; half of it clears
        self.gate = Threshold(
            [(1.0, severity)], deadband=0.5, duration=duration, clear_duration=clear_duration, rule=rule, title=title
        )

    def update(self, t: float, x: float) -> Finding | None:
        if not is_finite(x) or t <= self.t_last:
            return None
        dt = t - self.t_last
        self.t_last = t
        if math.isnan(self.t_first):
            self.t_first = t
        samples = self.samples
        while samples and t - samples[0][0] > self.window:
            samples.popleft()
        ratio = None
        if len(samples) >= self.min_samples and t - samples[0][0] >= self.window / 2:
            ordered = sorted(v for _, v in samples)
            m = len(ordered) // 2
            ref = ordered[m] if len(ordered) % 2 else 0.5 * (ordered[m - 1] + ordered[m])
            dev = (ref - x) if self.falling else (x - ref)
            band = max(
                self.pct / 100.0 * abs(ref), self.sigmas * 1.25 * (self.noise if self.noise == self.noise else 0.0)
            )
            if self.noise != self.noise:
                self.noise, self.n_noise = abs(x - ref), 1
            elif dev < band:  # learn the noise from what is not found
                self.n_noise += 1
                a = max(1.0 / self.n_noise, min(0.05, 1.0 - math.exp(-dt / self.tau)))
                self.noise += a * (abs(x - ref) - self.noise)
            if t - self.t_first >= self.learn and band > 0.0:
                ratio = dev / band
        if not samples or t - samples[-1][0] >= self.step:
            samples.append((t, x))
        if ratio is None:
            return None
        found = self.gate.update(t, ratio)
        if found is None:
            return None
        if found.severity is None:
            return Finding(self.rule, None, t, x, f"{self.title} back to its recent level ({x:g})")
        word = "fell" if self.falling else "rose"
        return Finding(
            self.rule,
            found.severity,
            t,
            x,
            f"{self.title} {word} suddenly to {x:g}, {abs(dev):.3g} from its recent level {ref:.4g}",
        )


class RunningSignal(Detector):
    """A point that says whether its device runs: at or above ``above`` (its own unit).

    No findings of its own; :func:`build_point_chain` lifts it out of the chain as the
    point's running signal. ``hysteresis`` (a fraction of ``above``) keeps a value hovering
    at the limit from toggling the state. ``run_down`` (s): how long a stopping fan takes
    to fall below the limit, as long as the run-up the rules wait for after a start; a
    finding made while a stop is expected waits that long for the stop that explains it
    (``detectors.device``)."""

    __slots__ = ("above", "below", "state", "run_down", "rule")

    def __init__(
        self,
        *,
        above: float,
        hysteresis: float = 0.1,
        run_down: float = 120.0,
        rule: str = "running",
        title: str = "value",
    ):
        if not (math.isfinite(float(above)) and 0.0 <= float(hysteresis) < 1.0):
            raise ValueError("running: above must be a finite value, hysteresis in [0, 1)")
        if not (math.isfinite(float(run_down)) and float(run_down) >= 0.0):
            raise ValueError("running: run_down must be seconds >= 0")
        self.above = float(above)
        self.below = self.above * (1.0 - float(hysteresis)) if self.above > 0 else self.above
        self.state: bool | None = None  #: None until the first finite value
        self.run_down = float(run_down)
        self.rule = rule

    def running(self, x: float) -> bool | None:
        """The device's running verdict from this value (None: no verdict, NaN/inf)."""
        if not math.isfinite(x):
            return self.state
        if self.state is None:
            self.state = x >= self.above
        elif self.state and x < self.below:
            self.state = False
        elif not self.state and x >= self.above:
            self.state = True
        return self.state

    def update(self, t: float, x: float) -> Finding | None:
        self.running(x)
        return None


class LoadSignal(Detector):
    """A point that shows whether the process loads its collector (outlet dust): the process
    has stopped when the mean of the last ``tau`` seconds has stayed below ``share`` of the
    point's usual running level for ``tau`` seconds. No findings of its own;
    :func:`build_point_chain` lifts it out of the chain as the point's load signal.

    Why it matters: an interlocked collector stops *after* its process (先开后停: it purges
    the ducts for some minutes), so a fan that stops once the dust load has ended is a
    controlled stop, and one that stops while the load goes on is a trip. The process's dust
    is what the bags see; when it ends, the outlet falls to the bags' residual, an order of
    magnitude down, so ``share = 0.2`` (a factor 5) lies far below the load's own wander and
    above the residual. ``level`` is an exponential mean over ``level_tau`` seconds of every
    value while the device runs (a gap teaches at most ``tau`` seconds of it); that the low
    mean must last ``tau`` keeps a spiky transmitter (pulse-cleaning puffs between quiet
    minutes) from reading as a stopped process between its spikes."""

    __slots__ = ("share", "tau", "level_tau", "level", "recent", "last_t", "low_since", "rule")

    def __init__(
        self,
        *,
        share: float = 0.2,
        tau: float = 60.0,
        level_tau: float = 3600.0,
        rule: str = "load",
        title: str = "value",
    ):
        if not (0.0 < float(share) < 1.0):
            raise ValueError("load: share must be in (0, 1)")
        if not (0.0 < float(tau) < math.inf and 0.0 < float(level_tau) < math.inf):
            raise ValueError("load: tau and level_tau must be seconds > 0")
        self.share, self.tau, self.level_tau = float(share), float(tau), float(level_tau)
        self.level: float | None = None  #: the usual value while running
        self.recent: float | None = None  #: the mean of the last ``tau`` seconds
        self.last_t: float | None = None
        self.low_since: float | None = None  #: since when ``recent`` is below ``share`` of ``level``
        self.rule = rule

    def observe(self, t: float, x: float, running: bool = True) -> None:
        """Take a value; the usual level learns only while the device runs."""
        if not (math.isfinite(t) and math.isfinite(x)) or x < 0.0:
            return
        dt = 0.0 if self.last_t is None else max(0.0, t - self.last_t)
        self.last_t = t if self.last_t is None else max(self.last_t, t)
        if self.recent is None:
            self.recent = x
        else:
            self.recent += (x - self.recent) * -math.expm1(-dt / self.tau)
        if running:
            if self.level is None:
                if x > 0.0:
                    self.level = x
            else:
                self.level += (x - self.level) * -math.expm1(-min(dt, self.tau) / self.level_tau)
        if self.level is not None and self.recent < self.share * self.level:
            if self.low_since is None:
                self.low_since = self.last_t
        else:
            self.low_since = None

    def off(self) -> bool | None:
        """Whether the process has stopped loading the collector (None: not known yet)."""
        if self.level is None or self.last_t is None:
            return None
        return self.low_since is not None and self.last_t - self.low_since >= self.tau

    def update(self, t: float, x: float) -> Finding | None:
        self.observe(t, x)
        return None
