"""More raw scorers, a likelihood layer and river's drift detectors, all behind the contract.

Every scorer here has ``raw(t, x)`` (an unbounded raw score, e.g. a z value; updates
the state), ``score(t, x)`` (the raw score squashed into [0, 1], 0.5 at the scorer's
``alert`` level) and ``update(t, x)`` (a :class:`Finding` when ``score`` crosses
``threshold``, through a :class:`Threshold` gate with a hold time before clearing).

* :class:`RobustZ`: distance from the rolling median in rolling MADs (spikes, robust to
  outliers in the window itself);
* :class:`HoltError`: error of a one-step Holt (level + trend) forecast, additive
  seasonal when ``period`` (rows) is configured, in units of its running RMS;
* :class:`Likelihood`: wraps any of them and turns its raw score into a tail
  probability of recent behaviour (Numenta's anomaly likelihood idea: a short average of
  the raw score compared with its long-run mean and spread), so that one threshold means
  the same thing on every point; the score is ``L / (L + L_alert)`` with ``L = -log10(tail)``,
  0.5 exactly at the tail probability ``p_alert``;
* :class:`Drift`: river's ADWIN, PageHinkley or KSWIN: score 1 on the row where a change
  of distribution is detected, else 0.

Sharp edges: NaN and inf are skipped (score 0, state untouched); time is not used
(rows are assumed in order); values are clipped to +-1e100.
"""

from __future__ import annotations

import math
import pickle
from collections import deque
from collections.abc import Callable

from .base import Detector, Finding, gated
from .rules import Threshold

CLIP = 1e100


def _clip(x: float) -> float:
    return CLIP if x > CLIP else (-CLIP if x < -CLIP else x)


class _Scorer(Detector):
    """Shared gate and squash; subclasses implement ``raw``."""

    alert = 1.0

    def _gate_init(self, threshold, severity, clear_duration, rule, title, what):
        self.rule = rule
        self.last = 0.0
        self.threshold = float(threshold)
        self.gate = Threshold(
            [(self.threshold, severity)], clear_duration=clear_duration, rule=rule, title=f"{title} {what}"
        )

    def raw(self, t: float, x: float) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def squash(self, r: float) -> float:
        return r / (r + self.alert) if r > 0.0 else 0.0

    def score(self, t: float, x: float) -> float:
        s = self.squash(self.raw(t, x)) if math.isfinite(x) else 0.0
        self.last = s
        return s

    def score_many(self, ts, xs) -> list[float]:
        """Batch path: the same loop as calling :meth:`score` row by row."""
        xs = xs.tolist() if hasattr(xs, "tolist") else list(xs)
        ts = [0.0] * len(xs) if ts is None else (ts.tolist() if hasattr(ts, "tolist") else list(ts))
        score = self.score
        return [score(t, x) for t, x in zip(ts, xs)]

    def learn(self, xs, ts=None) -> None:
        for x in xs:
            if math.isfinite(x):
                self.raw(0.0, x)

    def update(self, t: float, x: float) -> Finding | None:
        s = self.score(t, x)
        if not math.isfinite(x):
            return None
        return gated(
            self.gate,
            self.rule,
            t,
            x,
            s,
            "unusual value {x:g} ({rule} score {score:.2f})",
            "value {x:g} back to usual behaviour",
        )


class RobustZ(_Scorer):
    """|x - median| / (1.4826 MAD) over the last ``window`` values (the value itself excluded)."""

    __slots__ = ("buf", "alert", "min_history", "gate", "rule", "last", "threshold")

    def __init__(
        self,
        *,
        window: int = 64,
        alert: float = 6.0,
        min_history: int = 16,
        threshold: float = 0.5,
        severity="blue",
        clear_duration: float = 30.0,
        rule: str = "robust_z",
        title: str = "value",
    ):
        if int(window) < 4:
            raise ValueError("window must be at least 4")
        self.buf: deque = deque(maxlen=int(window))
        self.alert = float(alert)
        self.min_history = int(min_history)
        self._gate_init(threshold, severity, clear_duration, rule, title, "robust z score")

    def raw(self, t: float, x: float) -> float:
        if not math.isfinite(x):
            return 0.0
        x = _clip(x)
        buf = self.buf
        z = 0.0
        if len(buf) >= self.min_history:
            s = sorted(buf)
            m = len(s)
            med = s[m // 2] if m % 2 else 0.5 * (s[m // 2 - 1] + s[m // 2])
            dev = sorted(abs(v - med) for v in s)
            mad = dev[m // 2] if m % 2 else 0.5 * (dev[m // 2 - 1] + dev[m // 2])
            if mad == 0.0:  # quantised or mostly constant: fall back to the mean absolute deviation
                mad = sum(dev) / m * 0.8453  # so that 1.4826 * mad is 1.2533 * mean |dev| (normal)
            scale = 1.4826 * mad + 1e-9 * (abs(med) + 1.0)
            z = abs(x - med) / scale
        buf.append(x)
        return z


class HoltError(_Scorer):
    """One-step Holt forecast error in units of its exponentially weighted RMS."""

    __slots__ = (
        "a",
        "b",
        "g",
        "var_a",
        "period",
        "season",
        "level",
        "trend",
        "var",
        "n",
        "alert",
        "min_history",
        "gate",
        "rule",
        "last",
        "threshold",
    )

    def __init__(
        self,
        *,
        alpha: float = 0.1,
        beta: float = 0.02,
        gamma: float = 0.3,
        period: int = 0,
        var_alpha: float = 0.01,
        alert: float = 6.0,
        min_history: int = 30,
        threshold: float = 0.5,
        severity="blue",
        clear_duration: float = 30.0,
        rule: str = "holt",
        title: str = "value",
    ):
        for name, v in (("alpha", alpha), ("beta", beta), ("gamma", gamma), ("var_alpha", var_alpha)):
            if not 0.0 <= float(v) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1]")
        if not 0 <= int(period) <= 10_000:
            raise ValueError("period must be in 0..10000 rows")
        self.a, self.b, self.g = float(alpha), float(beta), float(gamma)
        self.var_a = float(var_alpha)
        self.period = int(period)
        self.season = [0.0] * self.period
        self.level = math.nan
        self.trend = 0.0
        self.var = 0.0
        self.n = 0
        self.alert = float(alert)
        self.min_history = int(min_history)
        self._gate_init(threshold, severity, clear_duration, rule, title, "forecast error")

    def raw(self, t: float, x: float) -> float:
        if not math.isfinite(x):
            return 0.0
        x = _clip(x)
        self.n += 1
        if self.level != self.level:
            self.level = x
            return 0.0
        k = (self.n - 1) % self.period if self.period else 0
        s = self.season[k] if self.period else 0.0
        forecast = self.level + self.trend + s
        err = x - forecast
        sd = math.sqrt(self.var) + 1e-9 * (abs(self.level) + 1.0)
        z = abs(err) / sd if self.n > self.min_history else 0.0
        va = max(self.var_a, 1.0 / self.n)
        self.var = (1.0 - va) * (self.var + va * err * err)
        new_level = self.level + self.trend + self.a * (x - s - self.level - self.trend)
        self.trend += self.b * (new_level - self.level - self.trend)
        self.level = new_level
        if self.period:
            self.season[k] = s + self.g * (x - new_level - s)
        return z


class Likelihood(_Scorer):
    """Tail probability of a wrapped scorer's recent raw scores (see the module docstring)."""

    __slots__ = (
        "inner",
        "short",
        "a_short",
        "a_long",
        "mean",
        "var",
        "n",
        "p_alert",
        "alert",
        "min_history",
        "gate",
        "rule",
        "last",
        "threshold",
    )

    def __init__(
        self,
        *,
        of: dict | None = None,
        short: int = 5,
        long_alpha: float = 0.002,
        p_alert: float = 1e-4,
        min_history: int = 100,
        threshold: float = 0.5,
        severity="blue",
        clear_duration: float = 30.0,
        rule: str = "likelihood",
        title: str = "value",
    ):
        spec = dict(of or {"type": "robust_z"})
        kind = spec.pop("type", None)
        if kind not in RAW_SCORERS:  # looked up here, not in chain.FACTORIES: no import circle
            raise ValueError(f"a likelihood layer wraps a raw scorer ({', '.join(RAW_SCORERS)}), not {kind!r}")
        spec.pop("id", None)
        self.inner = RAW_SCORERS[kind](title=title, **spec)
        self.a_short = 2.0 / (int(short) + 1.0)
        self.a_long = float(long_alpha)
        self.short = 0.0
        self.mean = 0.0
        self.var = 0.0
        self.n = 0
        self.p_alert = float(p_alert)
        self.alert = -math.log10(self.p_alert)
        self.min_history = int(min_history)
        self._gate_init(threshold, severity, clear_duration, rule, title, "anomaly likelihood")

    def raw(self, t: float, x: float) -> float:
        """-log10 of the tail probability of the recent raw scores."""
        if not math.isfinite(x):
            return 0.0
        r = self.inner.raw(t, x)
        r = min(r, 1e6) if math.isfinite(r) else 1e6
        self.n += 1
        self.short += self.a_short * (r - self.short)
        out = 0.0
        if self.n > self.min_history:
            sd = math.sqrt(self.var) + 1e-9
            z = (self.short - self.mean) / sd
            tail = 0.5 * math.erfc(z / math.sqrt(2.0))
            out = -math.log10(max(tail, 1e-300))
        a = max(self.a_long, 1.0 / self.n)
        d = r - self.mean
        self.mean += a * d
        self.var = (1.0 - a) * (self.var + a * d * d)
        return out

    def snapshot(self) -> bytes:
        st = self._state()
        st["inner"] = self.inner.snapshot()
        return pickle.dumps(st, protocol=pickle.HIGHEST_PROTOCOL)

    def restore(self, data: bytes) -> None:
        st = pickle.loads(data)
        inner = st.pop("inner")
        for k, v in st.items():
            if k != "inner":
                setattr(self, k, v)
        self.inner.restore(inner)


DRIFTS = ("adwin", "page_hinkley", "kswin")


def _drift_model(model: str, params: dict):
    from river import drift

    if model == "adwin":
        return drift.ADWIN(**params)
    if model == "page_hinkley":
        return drift.PageHinkley(**params)
    if model == "kswin":
        # a smaller window than river's default (100) keeps the state under 4 KB
        return drift.KSWIN(**{"seed": 1, "window_size": 60, "stat_size": 20, **params})
    raise ValueError(f"unknown drift model {model!r}; known: {', '.join(DRIFTS)}")


class Drift(_Scorer):
    """A river drift detector: score 1 on the row where it detects a change, else 0.

    Sharp edge: the river model is pickled with the detector (river 0.26.1 pinned); its
    state is bounded by the model (ADWIN's buckets grow with log(n)).
    """

    __slots__ = ("model", "kind", "alert", "gate", "rule", "last", "threshold")

    def __init__(
        self,
        *,
        model: str = "adwin",
        params: dict | None = None,
        threshold: float = 0.5,
        severity="blue",
        clear_duration: float = 60.0,
        rule: str = "drift",
        title: str = "value",
    ):
        self.kind = model
        self.model = _drift_model(model, dict(params or {}))
        self.alert = 1.0
        self._gate_init(threshold, severity, clear_duration, rule, title, f"change ({model})")

    def raw(self, t: float, x: float) -> float:
        if not math.isfinite(x):
            return 0.0
        self.model.update(_clip(x))
        return 1.0 if self.model.drift_detected else 0.0

    def squash(self, r: float) -> float:
        return r


#: the scorers with a raw score that :class:`Likelihood` can wrap (by their ``type``)
RAW_SCORERS: dict[str, Callable[..., _Scorer]] = {"robust_z": RobustZ, "holt": HoltError, "drift": Drift}
