"""Record breakout: the default anomaly scorer (NAB standard 76.5 on the shared corpus).

Why this works: a value that leaves everything seen before is the one signal that is
comparable across every kind of series without knowing its units, noise or shape. The
scorer watches four views of the series and asks, for each, how far the newest value
lies *beyond* the (slowly forgetting) range of all earlier values, measured in units of
that range:

* ``x``: the value itself (spikes, steps to a new level);
* ``l``: a slow exponential mean of the value (``alpha_level``): a sustained shift that
  stays inside the spiky raw range still moves the smoothed level to a new extreme;
* ``q``: a slow exponential mean of ``|x - x_prev|`` (``alpha_vol``): the series gets
  rougher (or, at the low end, freezes) in a way it never did before;
* ``u``: a slow exponential mean (``alpha_vol``) of ``|x - profile|``, where the profile is
  the usual value at this time of day (``season_bins`` bins over a UTC day, each learned
  at ``season_rate`` per day): a missing daily peak, a flat day, a lower plateau.

The largest excess ``e`` wins. Once ``e`` reaches ``alert`` the scorer reports once and
then stays quiet for ``refractory`` rows (a breakout is one event, not one per row while
the series keeps climbing). The score is ``e / (e + alert)``: 0 for nothing new, 0.5
exactly at the operational threshold, tending to 1 for huge excursions; so the one
threshold 0.5 means "beyond the known range by ``alert`` of its width" on every point.

The ranges forget slowly (``decay`` of their width per row), so one freak value does not
blind the point for ever.

Rows and time: every per-row constant (``alpha_level``, ``alpha_vol``, ``decay``,
``refractory``, ``min_history``) is per row for rows ``ref_interval`` (300 s) apart or
more, and per ``ref_interval`` of time for faster points (the typical interval is
tracked): a 1 Hz hopper thermometer smooths over hours, keeps quiet for 2.5 h after a
report and learns for 8.3 h before its first score, like a 5-minute series. Without
times (``ts`` None) everything is per row.

Breaks: a time step longer than ``gap`` (10) typical intervals is a break, not a sample
interval: a plant stopped overnight (its rules are gated while it stands), an outage. The
typical interval does not learn from it, and the jump across it is no step of the series
(the roughness view skips it). Without this, every morning's first value, compared with
last evening's, looked like the roughest moment ever, and a night's gap swelled the
typical interval so that the next rows counted as five-minute rows.

Direction: ``direction = "high"`` or ``"low"`` scores only the side that matters on a
point whose danger has a direction (a hopper too hot, a duct too slow): the value and the
level beyond their ranges on that side, roughness and off-profile only "more than ever".

False-alarm budget: ``budget = B`` (reports per point per week, instead of ``alert``)
sets the excess from record statistics (:func:`alert_for_budget`), spread over the views,
for the worst week: the first after commissioning.

Fast path: :func:`run` is one tight module-level loop over lists of values and times; the
one-at-a-time path calls the very same function with one value, so the two are equal by
construction, and a test proves it across arbitrary chunking and snapshots.

Sharp edges:
* times feed only the typical interval and the daily profile's bin (UTC time of day):
  gaps, repeated or out-of-order timestamps do not break anything;
* values are clipped to +-1e100 so that differences and ranges stay finite; NaN and inf
  are skipped (score 0, state untouched);
* a young point (the first ``min_history`` reference rows) only learns; ``learn()`` on
  known-normal data ends that at once;
* on pure noise new records keep coming, rarer and rarer (about 2 ln n in n rows): a
  fresh point raises a few false alerts in its first days.
"""

from __future__ import annotations

import math
import pickle

from .base import Detector, Finding, gated
from .rules import Threshold

CLIP = 1e100

# state layout (a flat list of floats, pickled as is); the daily profile is a second list
N, XP, LVL, VOL, HX, LX, HL, LL, HQ, LQ, COOL, SEA, HS, LS, DT, TP, AGE = range(17)
STATE_LEN = 17
DAY = 86400.0


SIDES = {"both": 0.0, "high": 1.0, "low": -1.0}  #: ``direction`` -> the ``side`` of ``run``'s params
WEEK_ROWS = 7 * 288  #: reference rows (300 s) in a week of continuous operation


def expected_breakouts(alert: float, warm: float, rows: float) -> float:
    """Expected reports of one view, one side, on independent Gaussian noise, from reference
    row ``warm`` to ``warm + rows``: the false-alarm cost of an ``alert`` excess.

    After n rows the range of Gaussian noise spans about ``±sqrt(2 ln n)`` σ; a report needs
    a value ``alert`` of the range beyond the extreme, i.e. beyond ``(1 + 2 alert) sqrt(2 ln n)``
    σ, which the next row does with probability about ``n ** -(1 + 2 alert) ** 2``. Summed
    (integrated) over the rows: ``(warm ** -c - (warm + rows) ** -c) / c``, ``c = (1 + 2
    alert) ** 2 - 1``. Plain records (``alert`` 0) come ``ln(n1 / n0)`` times; the excess makes
    the sum converge."""
    c = (1.0 + 2.0 * alert) ** 2 - 1.0
    n0, n1 = max(float(warm), 2.0), max(float(warm), 2.0) + float(rows)
    return (n0**-c - n1**-c) / c


def alert_for_budget(budget: float, *, warm: float = 100.0, rows: float = WEEK_ROWS) -> float:
    """The smallest ``alert`` whose :func:`expected_breakouts` over ``rows`` reference rows
    (default: a week, from a cold start after ``warm`` rows) is at most ``budget``.

    Why: a duty officer's false-alarm budget (reports per point per week) is what a site
    can state; the excess that meets it follows. The first week after commissioning is the
    worst (ranges are young), so it is the one budgeted. Bisection; monotone in ``alert``."""
    if not budget > 0.0:
        raise ValueError("budget must be > 0 reports per point per week")
    lo, hi = 1e-6, 10.0
    if expected_breakouts(hi, warm, rows) > budget:
        return hi
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if expected_breakouts(mid, warm, rows) > budget:
            lo = mid
        else:
            hi = mid
    return hi


def new_state() -> list[float]:
    st = [0.0] * STATE_LEN
    st[TP] = math.nan
    return st


def run(st: list, prof: list, ts, xs, params: tuple, warm: float, out: list) -> None:
    """Score every value of ``xs`` (times ``ts``, or None) in order, updating ``st`` and
    ``prof`` in place; append the scores to ``out``.

    ``params`` = (alpha_level, alpha_vol, alert, refractory, decay, season_rate, ref_interval,
    side, gap). ``side``: 0 both directions, 1 only above the ranges, -1 only below (the
    roughness and off-profile views count only when they exceed their ranges). ``gap``: a
    time step longer than ``gap`` typical intervals is a break (0: never), see the module notes.
    ``warm``: history (in reference rows, see below) up to which nothing is scored.
    """
    al, aq, alert, refr, decay, prate, ref, side, gapf = params
    n, xp, lv, q, hx, lx, hl, ll, hq, lq, cool, u, hu, lu, dt, tp, age = st
    nb = len(prof)
    width = DAY / nb if nb else 0.0
    keep_day = 1.0 - prate
    isfinite = math.isfinite
    append = out.append
    i = -1
    for x in xs:
        i += 1
        if not isfinite(x):
            append(0.0)
            continue
        if x > CLIP:
            x = CLIP
        elif x < -CLIP:
            x = -CLIP
        n += 1.0
        # the daily profile: the usual value at this time of day, learned at ``prate`` per day
        res = 0.0
        broken = False
        if nb and ts is not None:
            t = ts[i]
            if isfinite(t):
                if tp == tp and t > tp:
                    gap = t - tp
                    if gapf and dt > 0.0 and gap > gapf * dt:
                        # a break (a plant stopped overnight, an outage): it is not a sample
                        # interval, and the jump across it is not a step of the series
                        broken = True
                    else:
                        dt = gap if dt == 0.0 else dt + 0.01 * (gap - dt)
                tp = t
                b = int((t % DAY) / width)
                if b >= nb:
                    b = nb - 1
                p = prof[b]
                if p != p:  # first visit of this bin
                    prof[b] = x
                else:
                    res = x - p
                    k = width / dt if 0.0 < dt < width else 1.0  # samples per bin per day
                    prof[b] = p + (1.0 - keep_day ** (1.0 / k) if k > 1.0 else prate) * res
                    if res < 0.0:
                        res = -res
        # rates are per row for rows ``ref`` seconds (5 minutes) apart or more, and per ``ref``
        # seconds of time for faster points: a point sampled every second forgets, smooths and
        # keeps quiet over the same wall-clock spans as one sampled every five minutes
        sc = dt / ref if 0.0 < dt < ref else 1.0
        age += sc  # history in reference rows: what ``warm`` counts
        if n == 1.0:
            xp = lv = hx = lx = hl = ll = x
            q = hq = lq = u = hu = lu = 0.0
            append(0.0)
            continue
        d = x - xp
        if d < 0.0:
            d = -d
        xp = x
        a = al * sc
        lv += (a if a < 1.0 else 1.0) * (x - lv)
        a = aq * sc
        if a > 1.0:
            a = 1.0
        if not broken:
            q += a * (d - q)
        u += a * (res - u)
        best = 0.0
        if age > warm:
            if side == 0.0:
                r = hx - lx
                if r > 0.0:
                    e = (x - hx) / r if x > hx else (lx - x) / r
                    if e > best:
                        best = e
                r = hl - ll
                if r > 0.0:
                    e = (lv - hl) / r if lv > hl else (ll - lv) / r
                    if e > best:
                        best = e
                r = hq - lq
                if r > 0.0:
                    e = (q - hq) / r if q > hq else (lq - q) / r
                    if e > best:
                        best = e
                r = hu - lu
                if r > 0.0:
                    e = (u - hu) / r if u > hu else (lu - u) / r
                    if e > best:
                        best = e
            else:  # one-sided: only the direction that matters, and only "more than ever" for q, u
                r = hx - lx
                if r > 0.0:
                    e = ((x - hx) if side > 0.0 else (lx - x)) / r
                    if e > best:
                        best = e
                r = hl - ll
                if r > 0.0:
                    e = ((lv - hl) if side > 0.0 else (ll - lv)) / r
                    if e > best:
                        best = e
                r = hq - lq
                if r > 0.0 and (q - hq) / r > best:
                    best = (q - hq) / r
                r = hu - lu
                if r > 0.0 and (u - hu) / r > best:
                    best = (u - hu) / r
        # extend the ranges, then let them forget a little (shrink towards their middle)
        if x > hx:
            hx = x
        elif x < lx:
            lx = x
        if lv > hl:
            hl = lv
        elif lv < ll:
            ll = lv
        if q > hq:
            hq = q
        elif q < lq:
            lq = q
        if u > hu:
            hu = u
        elif u < lu:
            lu = u
        if decay:
            k = decay * sc
            if k > 0.5:
                k = 0.5
            c = (hx - lx) * k
            hx -= c
            lx += c
            c = (hl - ll) * k
            hl -= c
            ll += c
            c = (hq - lq) * k
            hq -= c
            lq += c
            c = (hu - lu) * k
            hu -= c
            lu += c
        if age <= warm:
            append(0.0)
            continue
        if cool > 0.0:
            cool -= sc
            append(0.0)
            continue
        if best >= alert:
            cool = refr
        append(best / (best + alert))
    st[:] = (n, xp, lv, q, hx, lx, hl, ll, hq, lq, cool, u, hu, lu, dt, tp, age)


class Breakout(Detector):
    """Record-breakout anomaly score with a finding gate; see the module docstring.

    ``score(t, x)`` / ``score_many(ts, xs)`` give the score in [0, 1];
    ``update(t, x)`` gives a :class:`Finding` when the score crosses ``threshold``
    (default 0.5, the operational threshold) or clears after ``clear_duration`` seconds.
    """

    __slots__ = ("st", "prof", "params", "warm", "gate", "rule", "last")

    def __init__(
        self,
        *,
        alpha_level: float = 0.01,
        alpha_vol: float = 0.02,
        alert: float = 0.028,
        refractory: int = 30,
        decay: float = 1e-5,
        min_history: int = 100,
        season_bins: int = 288,
        season_rate: float = 0.3,
        ref_interval: float = 300.0,
        threshold: float = 0.5,
        severity="blue",
        clear_duration: float = 60.0,
        rule: str = "breakout",
        title: str = "value",
        direction: str = "both",
        gap: float = 10.0,
        budget: float | None = None,
    ):
        if direction not in SIDES:
            raise ValueError(f"direction must be one of {', '.join(SIDES)}, not {direction!r}")
        if not float(gap) >= 0.0:
            raise ValueError("gap must be >= 0 typical intervals (0: no breaks)")
        if budget is not None:  # a false-alarm budget sets the excess (see alert_for_budget),
            views = 4 if int(season_bins) else 3  # shared between the views, each a test of its own
            alert = alert_for_budget(float(budget) / views, warm=int(min_history))
        for name, v in (("alpha_level", alpha_level), ("alpha_vol", alpha_vol)):
            if not 0.0 < float(v) <= 1.0:
                raise ValueError(f"{name} must be in (0, 1], not {v!r}")
        if float(alert) <= 0.0 or not 0.0 <= float(decay) < 1.0 or not 0.0 < float(season_rate) <= 1.0:
            raise ValueError("alert must be > 0, decay in [0, 1) and season_rate in (0, 1]")
        if not 0 <= int(season_bins) <= 1440:
            raise ValueError("season_bins must be in 0..1440 (0: no daily profile)")
        self.st = new_state()
        self.prof = [math.nan] * int(season_bins)
        if not float(ref_interval) > 0.0:
            raise ValueError("ref_interval must be > 0 seconds")
        self.params = (
            float(alpha_level),
            float(alpha_vol),
            float(alert),
            float(int(refractory)),
            float(decay),
            float(season_rate),
            float(ref_interval),
            SIDES[direction],
            float(gap),
        )
        self.warm = int(min_history)
        self.rule = rule
        self.last = 0.0
        self.gate = Threshold(
            [(float(threshold), severity)],
            deadband=0.0,
            clear_duration=clear_duration,
            rule=rule,
            title=f"{title} breakout score",
        )

    def learn(self, xs, ts=None) -> None:
        """Learn known-normal values (at times ``ts``) without scoring them (``--warmup-rows``)."""
        xs = list(xs)
        sink: list = []
        run(self.st, self.prof, None if ts is None else list(ts), xs, self.params, self.st[AGE] + len(xs), sink)
        if xs:  # the caller vouches for this history: scoring may start right away
            self.st[AGE] = max(self.st[AGE], float(self.warm))

    def score(self, t: float, x: float) -> float:
        out: list = []
        run(self.st, self.prof, (t,), (x,), self.params, self.warm, out)
        self.last = out[0]
        return out[0]

    def score_many(self, ts, xs) -> list[float]:
        """The batch path: same results as calling :meth:`score` on each value in turn."""
        if hasattr(xs, "tolist"):
            xs = xs.tolist()
        if hasattr(ts, "tolist"):
            ts = ts.tolist()
        out: list = []
        run(self.st, self.prof, ts, xs, self.params, self.warm, out)
        if out:
            self.last = out[-1]
        return out

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
            "value {x:g} beyond its usual range (breakout score {score:.2f})",
            "value {x:g} back inside its usual range",
        )

    def snapshot(self) -> bytes:
        return pickle.dumps(
            (list(self.st), list(self.prof), self.last, self.gate.snapshot()), protocol=pickle.HIGHEST_PROTOCOL
        )

    def restore(self, data: bytes) -> None:
        st, prof, self.last, gate = pickle.loads(data)
        self.st = list(st)
        self.prof = list(prof)
        self.gate.restore(gate)
