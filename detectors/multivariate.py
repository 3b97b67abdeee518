"""Hotelling T²: one score for a device's points together.

Each observation is a mapping ``{point: value}``. The detector keeps an exponentially
weighted mean and covariance of the variables and scores the Mahalanobis distance
``T² = (x - mu)^T S^-1 (x - mu)``. A fault that moves several sensors a little in a
direction they never move together (fan slowing: air speed down *and* pressure
difference up) stands out here while each sensor alone stays in range.

T² is turned into a score in [0, 1] through the Wilson-Hilferty normal approximation of
the chi-square tail with ``k`` degrees of freedom: ``z`` standard deviations, score
``z / (z + z_alert)`` (0.5 exactly at ``z_alert``; 4 means a tail of about 3e-5).

``learn(rows)`` warms the statistics up on known-normal rows; with ``freeze=True`` they
stay fixed afterwards (a testbed with a clean normal period), otherwise they keep
adapting with ``alpha``, but never from rows scored at or above the threshold, so a
fault does not teach the model that it is normal.

``smooth`` k > 1 scores an exponential mean of T² over about k rows as chi-square with k
times the degrees of freedom; that assumes independent rows and over-alarms on
autocorrelated data (14-17 % false rows on the synthetic testbed): prefer 1.

Sharp edges: the variables are fixed by the first observation (or ``variables``); a row
with a missing, NaN or inf variable is skipped (score 0); ``ridge`` keeps the covariance
invertible for constant or collinear sensors.
"""

from __future__ import annotations

import math
import pickle
from collections.abc import Mapping

import numpy as np

from .base import Detector, Finding
from .rules import Threshold


class HotellingT2(Detector):
    __slots__ = (
        "variables",
        "alpha",
        "ridge",
        "z_alert",
        "min_history",
        "freeze",
        "n",
        "mean",
        "cov",
        "frozen",
        "threshold",
        "gate",
        "rule",
        "last",
        "a_smooth",
        "t2s",
    )

    def __init__(
        self,
        *,
        variables=None,
        alpha: float = 0.001,
        ridge: float = 1e-6,
        z_alert: float = 4.0,
        min_history: int = 30,
        freeze: bool = False,
        smooth: int = 1,
        threshold: float = 0.5,
        severity="blue",
        clear_duration: float = 30.0,
        rule: str = "multivariate",
        title: str = "device",
    ):
        if not 0.0 < float(alpha) <= 1.0:
            raise ValueError("alpha must be in (0, 1]")
        self.variables = tuple(variables) if variables else None
        self.alpha = float(alpha)
        self.ridge = float(ridge)
        self.z_alert = float(z_alert)
        self.min_history = int(min_history)
        self.freeze = bool(freeze)
        self.a_smooth = 2.0 / (max(int(smooth), 1) + 1.0)  #: EW smoothing of T² over about ``smooth`` rows
        self.t2s = math.nan
        self.frozen = False
        self.n = 0
        self.mean: np.ndarray | None = None  #: None until the first vector
        self.cov: np.ndarray | None = None
        self.threshold = float(threshold)
        self.rule = rule
        self.last = 0.0
        self.gate = Threshold(
            [(self.threshold, severity)], clear_duration=clear_duration, rule=rule, title=f"{title} multivariate score"
        )

    def _vector(self, x) -> np.ndarray | None:
        if not isinstance(x, Mapping):
            return None  # a lone number (a misconfigured univariate point): nothing to score
        if self.variables is None:
            self.variables = tuple(sorted(x))
        try:
            v = np.array([float(x[k]) for k in self.variables])
        except (KeyError, TypeError, ValueError):
            return None
        if not np.all(np.isfinite(v)) or np.any(np.abs(v) > 1e100):
            return None
        return v

    def _learn(self, v: np.ndarray) -> None:
        self.n += 1
        if self.mean is None or self.cov is None:
            self.mean = v.copy()
            self.cov = np.zeros((len(v), len(v)))
            return
        a = max(self.alpha, 1.0 / self.n)
        d = v - self.mean
        self.mean = self.mean + a * d
        self.cov = (1.0 - a) * (self.cov + a * np.outer(d, d))

    def _t2(self, v: np.ndarray) -> float:
        if self.mean is None or self.cov is None:
            return 0.0  # nothing learnt yet: no distance
        k = len(v)
        scale = np.maximum(np.diag(self.cov), 0.0)
        s = (
            self.cov
            + np.diag(self.ridge * (scale + 1e-12) + 1e-300)
            + np.eye(k) * self.ridge * (float(scale.mean()) + 1e-12)
        )
        d = v - self.mean
        try:
            return float(d @ np.linalg.solve(s, d))
        except np.linalg.LinAlgError:
            return 0.0

    def score_of_t2(self, t2: float, k: float | None = None) -> float:
        if k is None:
            k = len(self.variables or ())
        c = 2.0 / (9.0 * k)
        z = ((max(t2, 0.0) / k) ** (1.0 / 3.0) - (1.0 - c)) / math.sqrt(c)
        return z / (z + self.z_alert) if z > 0 and math.isfinite(z) else (1.0 if z == math.inf else 0.0)

    def learn(self, rows) -> None:
        """Warm up on known-normal rows; with ``freeze`` the statistics stop there."""
        for x in rows:
            v = self._vector(x)
            if v is not None:
                self._learn(v)
        if self.freeze:
            self.frozen = True

    def score(self, t: float, x) -> float:
        v = self._vector(x)
        if v is None:
            return 0.0
        s = 0.0
        if self.mean is not None and self.n >= self.min_history:
            t2 = self._t2(v)
            if self.a_smooth < 1.0:
                # the mean of k independent chi2(p) is chi2(kp)/k: score the smoothed T² with
                # the degrees of freedom that gives (about 2/a - 1 rows)
                self.t2s = t2 if self.t2s != self.t2s else self.t2s + self.a_smooth * (t2 - self.t2s)
                k_eff = 2.0 / self.a_smooth - 1.0
                s = self.score_of_t2(self.t2s * k_eff, len(self.variables or ()) * k_eff)
            else:
                s = self.score_of_t2(t2)
        if not self.frozen and s < self.threshold:
            self._learn(v)
        self.last = s
        return s

    def update(self, t: float, x) -> Finding | None:
        s = self.score(t, x)
        found = self.gate.update(t, s)
        if found is None:
            return None
        msg = (
            f"unusual combination of {', '.join(self.variables or ())} (score {s:.2f})"
            if found.severity is not None
            else "combination back to usual"
        )
        return Finding(self.rule, found.severity, t, s, msg)

    def snapshot(self) -> bytes:
        st = self._state()
        st["gate"] = self.gate.snapshot()
        return pickle.dumps(st, protocol=pickle.HIGHEST_PROTOCOL)

    def restore(self, data: bytes) -> None:
        st = pickle.loads(data)
        gate = st.pop("gate")
        for k, v in st.items():
            setattr(self, k, v)
        self.gate = Threshold([(self.threshold, "blue")])
        self.gate.restore(gate)
