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

A frozen warm-up is short beside a plant's slow behaviour: 400 rows at 1 Hz hold a load
that wanders over minutes only a few times, and a warming process only its first stretch.
The chi-square law takes the covariance as known and calls the next wander, or the trend's
next stretch, a fault. So a frozen warm-up is split into uncorrelated components ordered
by slowness (slow feature analysis: the generalised eigenvectors of the lag-1
autocovariance against the covariance; each has unit variance over the warm-up, and its
eigenvalue is its lag-1 autocorrelation), as process monitoring with slow features does:

* a **slow** component (its autocorrelation is significant: above ``SLOW_Z / sqrt(n)``, 3
  standard errors of white noise) says where the operating point is, which the warm-up cannot
  bound; it is judged by its *steps*, row to row, against the warm-up's steps (their own
  empirical tail, the normal tail's shape beyond the largest one: ``half_tail_steps``), so an
  operating point that moves at its usual pace raises nothing, nor does a coarsely read
  sensor's tick, and a slow sensor that jumps does;
* a **fast** component is judged by its level, with Student's t on the warm-up's *effective*
  number of rows ``n / tau`` (``tau``: its integrated autocorrelation time, Sokal's window
  ``M >= 5 tau``; near ``n`` for a fast one, so nearly the plain law). A broken correlation
  between sensors lives here, and is held as long as it lasts.

Each term's two-sided tail is turned back into a chi-square(1) term, and their sum is scored
as T² with ``k`` degrees of freedom, so the score's scale is unchanged. An adaptive model (no
freeze) keeps the plain T². Sharp edge: a fault that only moves the slow components, slower
than their usual steps, is not this detector's to see (the per-column breakouts beside it in
``warning score`` see a new level); a step across a gap of skipped rows counts as one step.

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
from scipy import linalg, special

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
        "basis",
        "n_eff",
        "slow",
        "step_sd",
        "step_top",
        "warm_steps",
        "prev",
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
        self.basis: np.ndarray | None = None  #: a frozen warm-up's components (columns), or None
        self.n_eff: np.ndarray | None = None  #: each component's effective warm-up rows
        self.warm_steps = 0.0  #: how many steps the warm-up made (rows - 1): a slow component's tail
        self.slow: np.ndarray | None = None  #: which components are slow (judged by their steps)
        self.step_sd: np.ndarray | None = None  #: each component's row-to-row step spread in the warm-up
        self.step_top: np.ndarray | None = None  #: the warm-up's largest steps (STEP_TOP rows, largest first)
        self.prev: np.ndarray | None = None  #: the components of the last row scored
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

    def _regularised(self, cov: np.ndarray) -> np.ndarray:
        scale = np.maximum(np.diag(cov), 0.0)
        return (
            cov
            + np.diag(self.ridge * (scale + 1e-12) + 1e-300)
            + np.eye(len(cov)) * self.ridge * (float(scale.mean()) + 1e-12)
        )

    def _t2(self, v: np.ndarray) -> float:
        """The row's plain T² (the covariance taken as known)."""
        if self.mean is None or self.cov is None:
            return 0.0  # nothing learnt yet: no distance
        d = v - self.mean
        try:
            return float(d @ np.linalg.solve(self._regularised(self.cov), d))
        except np.linalg.LinAlgError:
            return 0.0

    def _split_t2(self, u: np.ndarray) -> float:
        """T² of a frozen warm-up's components ``u`` of a row (module docstring): the slow ones
        by their step from the last row scored, the fast ones by their level."""
        assert self.slow is not None and self.n_eff is not None and self.prev is not None
        assert self.step_sd is not None and self.step_top is not None
        half = half_tail_t(u, self.n_eff)
        step = np.abs(u - self.prev)
        for j in np.nonzero(self.slow)[0]:
            half[j] = half_tail_steps(float(step[j]), self.step_top[:, j], float(self.step_sd[j]), self.warm_steps)
        return chi2_terms(half)

    def _components(self, block: np.ndarray) -> None:
        """Split a frozen warm-up into slow and fast components, with each one's law
        (module docstring). Too short a block keeps the plain T²."""
        n, k = block.shape
        if n < max(self.min_history, 4 * k) or self.mean is None or self.cov is None:
            return
        d = block - self.mean
        lag1 = d[1:].T @ d[:-1] / n
        try:
            rho, basis = linalg.eigh((lag1 + lag1.T) / 2.0, self._regularised(self.cov))
        except (linalg.LinAlgError, ValueError):
            return
        u = d @ basis
        self.slow = rho > SLOW_Z / math.sqrt(n)
        steps = np.abs(np.diff(u, axis=0))
        self.step_sd = np.sqrt(np.mean(steps**2, axis=0)) + 1e-12  # a still component: any step is news
        self.step_top = -np.sort(-steps, axis=0)[: min(STEP_TOP, len(steps))]
        self.n_eff = n / integrated_time(u)
        self.warm_steps = n - 1.0
        self.prev = u[-1]
        self.basis = basis

    def score_of_t2(self, t2: float, k: float | None = None) -> float:
        if k is None:
            k = len(self.variables or ())
        c = 2.0 / (9.0 * k)
        z = ((max(t2, 0.0) / k) ** (1.0 / 3.0) - (1.0 - c)) / math.sqrt(c)
        return z / (z + self.z_alert) if z > 0 and math.isfinite(z) else (1.0 if z == math.inf else 0.0)

    def learn(self, rows) -> None:
        """Warm up on known-normal rows; with ``freeze`` the statistics stop there, and the
        rows' slow and fast components get their own laws (module docstring)."""
        block = []
        for x in rows:
            v = self._vector(x)
            if v is not None:
                self._learn(v)
                block.append(v)
        if self.freeze:
            self.frozen = True
            if block:
                self._components(np.array(block))

    def score(self, t: float, x) -> float:
        v = self._vector(x)
        if v is None:
            return 0.0
        s = 0.0
        if self.mean is not None and self.n >= self.min_history:
            if self.basis is not None and self.slow is not None:
                u = self.basis.T @ (v - self.mean)
                t2 = self._split_t2(u)
                self.prev = u  # the next row's step is from here (scored rows only: a gap is one step)
            else:
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


#: Sokal's window for the integrated autocorrelation time: sum lags up to M >= C * tau
SOKAL_C = 5.0
#: a component is slow when its lag-1 autocorrelation is this many standard errors of white
#: noise (1 / sqrt(n)) above zero
SLOW_Z = 3.0
#: how many of the warm-up's largest steps a slow component keeps for its empirical tail
#: (below the last of them the tail is at least STEP_TOP / n: no alarm on its own)
STEP_TOP = 16


def integrated_time(u: np.ndarray) -> np.ndarray:
    """Each column's integrated autocorrelation time ``tau = 1 + 2 sum rho(m)`` over
    ``m <= M``, with the smallest window ``M >= SOKAL_C * tau``: how many rows one
    independent value is worth. At least 1; a constant column gives 1."""
    n = len(u)
    out = np.ones(u.shape[1])
    if n < 4:
        return out  # no lag to sum: each row counts as one
    d = u - u.mean(axis=0)
    f = np.fft.rfft(d, 2 * n, axis=0)
    ac = np.fft.irfft(f * np.conj(f), axis=0)[:n]
    var = ac[0]
    for j in range(u.shape[1]):
        if not var[j] > 0:
            continue
        taus = 1.0 + 2.0 * np.cumsum(ac[1 : n // 2, j] / var[j])
        ok = np.nonzero(np.arange(1, len(taus) + 1) >= SOKAL_C * taus)[0]
        out[j] = max(1.0, float(taus[ok[0]] if len(ok) else taus[-1]))
    return out


def slow_columns(rows) -> list[bool]:
    """Which columns of known-normal rows are slow: their lag-1 autocorrelation above
    ``SLOW_Z / sqrt(n)``, as for the components. A slow column's level is the operating
    point's, which rows this few cannot bound (the module docstring); non-finite cells are
    left out of their column."""
    block = np.array(rows, dtype=float)
    out = []
    for col in block.T if block.ndim == 2 else []:
        x = col[np.isfinite(col)]
        d = x - x.mean() if len(x) else x
        var = float(d @ d)
        out.append(len(x) >= 4 and var > 0 and float(d[1:] @ d[:-1]) / var > SLOW_Z / math.sqrt(len(x)))
    return out


def half_tail_t(u: np.ndarray, n_eff: np.ndarray) -> np.ndarray:
    """Each level's one-sided tail ``P(T > |u|)`` under Student's t with ``n_eff - 1`` degrees
    of freedom and the predictive scale of a new row (``sqrt(1 + 1/n_eff)``: the warm-up's
    mean is itself uncertain); accurate far into the tail."""
    n = np.maximum(n_eff, 2.0)
    return special.stdtr(n - 1.0, -np.abs(u) / np.sqrt(1.0 + 1.0 / n))


def half_tail_steps(step: float, top: np.ndarray, sd: float, n: float) -> float:
    """One half of the two-sided tail of a slow component's step ``|step|`` against the
    warm-up's ``n`` steps, of which ``top`` are the largest (largest first). Where the warm-up
    has steps as large, the empirical (conformal) tail ``(c + 1) / (n + 1)``, and no less than
    the normal one below the last of ``top``: a sensor read to a coarse resolution ticks by
    whole steps that a normal law would call many deviations. Beyond the largest step, the
    normal tail's shape anchored there (``1 / (n + 1)`` at the largest step)."""
    if not n > 0 or len(top) == 0:
        return 0.5
    c = int(np.count_nonzero(top >= step))
    if c >= len(top):
        return 0.5 * max(float(special.ndtr(-step / sd)) * 2.0, (c + 1.0) / (n + 1.0))
    if c > 0:
        return 0.5 * (c + 1.0) / (n + 1.0)
    # beyond every step the warm-up made: log tails, so that a jump of many deviations stays finite
    log_p = special.log_ndtr(-step / sd) - special.log_ndtr(-float(top[0]) / sd) - math.log(n + 1.0)
    return 0.5 * math.exp(log_p)


def chi2_terms(half: np.ndarray) -> float:
    """The sum of chi-square(1) terms with the given one-sided tails: the normal deviate with
    the same tail, squared (an underflowed tail counts as infinitely far)."""
    z = -special.ndtri(half)
    return float(np.sum(np.where(np.isfinite(z), np.where(z > 0, z * z, 0.0), np.inf)))
