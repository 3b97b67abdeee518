"""Scoring detector output against labelled anomaly windows (``warning evaluate``).

Pure functions over lists/arrays, no I/O. Two views an engineer needs to tune a site:

* :func:`nab_score`: the NAB v1.1 windowed score (Lavin & Ahmad 2015), written from the
  published rules: early detections inside a window earn up to A_TP, each detection row
  outside a window costs up to A_FP (less shortly after a window), a missed window costs
  A_FN, the first 15 % (at most 750 rows) of each file is probationary. One threshold is
  optimised over all files together (or a fixed one is given).
* :func:`event_metrics`: what a duty officer lives with at one threshold: alert events
  (runs of consecutive alerting rows), event precision and recall, time to detect, and
  false alarms per day.

A window is a pair ``(start, end)`` of epoch seconds, inclusive.

Sharp edge: rows are taken in the order given; timestamps must be increasing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

PROFILES = {
    "standard": dict(tp=1.0, fp=0.11, fn=1.0),
    "reward_low_FP_rate": dict(tp=1.0, fp=0.22, fn=1.0),
    "reward_low_FN_rate": dict(tp=1.0, fp=0.11, fn=2.0),
}


def _sig(y: np.ndarray | float) -> np.ndarray:
    """NAB's scaled sigmoid: 2/(1+e^(5y)) - 1, and -1 beyond y = 3."""
    y = np.asarray(y, dtype=float)
    return np.where(y > 3.0, -1.0, 2.0 / (1.0 + np.exp(5.0 * np.minimum(y, 50.0))) - 1.0)


@dataclass
class FileGeometry:
    """Per-row facts of one file that do not depend on the scores."""

    scorable: np.ndarray  #: bool, outside the probationary period
    window: np.ndarray  #: window index per row, -1 outside
    tp_unit: np.ndarray  #: reward of a detection at this row, as a fraction of A_TP
    fp_unit: np.ndarray  #: cost of a detection at this row, as a fraction of A_FP (<= 0)
    n_windows: int
    scorable_windows: list


def geometry(times, windows) -> FileGeometry:
    t = np.asarray(times, dtype=float)
    n = len(t)
    prob = min(math.floor(0.15 * n), 750)
    idx = np.arange(n)
    wid = np.full(n, -1)
    tpu = np.zeros(n)
    fpu = np.full(n, -1.0)
    max_tp = float(_sig(-1.0))
    prev = None
    cursor = 0
    for k, (a, b) in enumerate(windows):
        lo = int(np.searchsorted(t, a, side="left"))
        hi = int(np.searchsorted(t, b, side="right")) - 1
        if prev is not None and cursor < lo:
            seg = idx[cursor:lo]
            fpu[cursor:lo] = _sig((seg - prev[0]) / max(prev[1] - 1, 1))
        w = hi - lo + 1
        if w > 0:
            seg = idx[lo : hi + 1]
            wid[lo : hi + 1] = k
            tpu[lo : hi + 1] = _sig(-(hi - seg + 1) / w) / max_tp
            prev, cursor = (hi, w), hi + 1
    if prev is not None and cursor < n:
        seg = idx[cursor:]
        fpu[cursor:] = _sig((seg - prev[0]) / max(prev[1] - 1, 1))
    scorable = idx >= prob
    swin = sorted(set(wid[scorable & (wid >= 0)].tolist()))
    return FileGeometry(scorable, wid, tpu, fpu, len(windows), swin)


def nab_score(files: dict, threshold: float | None = None, profiles: dict = PROFILES) -> dict:
    """``files``: {name: (times, scores, windows)}. Returns {profile: {score, threshold, ...}}.

    With ``threshold`` None the threshold maximising each profile's corpus score is
    chosen; a row detects when its score >= threshold.
    """
    S, G, TPU, FPU = [], [], [], []
    n_windows = n_scorable = 0
    for name in sorted(files):
        times, scores, windows = files[name]
        geo = geometry(times, windows)
        sc = np.nan_to_num(np.asarray(scores, dtype=float), nan=-np.inf)
        if len(sc) != len(geo.scorable):
            raise ValueError(f"{name}: {len(sc)} scores for {len(geo.scorable)} rows")
        remap = {k: n_scorable + j for j, k in enumerate(geo.scorable_windows)}
        m = geo.scorable
        g = np.array([remap.get(k, -1) if k >= 0 else -1 for k in geo.window[m]], dtype=int)
        S.append(sc[m])
        G.append(g)
        TPU.append(geo.tp_unit[m])
        FPU.append(geo.fp_unit[m])
        n_windows += geo.n_windows
        n_scorable += len(geo.scorable_windows)
    s = np.concatenate(S) if S else np.zeros(0)
    g = np.concatenate(G) if G else np.zeros(0, int)
    tpu = np.concatenate(TPU) if TPU else np.zeros(0)
    fpu = np.concatenate(FPU) if FPU else np.zeros(0)
    order = np.argsort(-s, kind="mergesort")
    s, g, tpu, fpu = s[order], g[order], tpu[order], fpu[order]
    out = {}
    for pname, A in profiles.items():
        base = -A["fn"] * n_scorable
        best_in = np.full(max(n_scorable, 1), -A["fn"])
        total = base
        totals = np.empty(len(s))
        gl, tl, fl = g.tolist(), tpu.tolist(), fpu.tolist()
        for i in range(len(s)):
            k = gl[i]
            if k < 0:
                total += A["fp"] * fl[i]
            else:
                v = A["tp"] * tl[i]
                if v > best_in[k]:
                    total += v - best_in[k]
                    best_in[k] = v
            totals[i] = total
        last = np.r_[s[1:] != s[:-1], True] if len(s) else np.zeros(0, bool)
        if threshold is None:
            cand = np.flatnonzero(last & np.isfinite(s))
            k = int(cand[np.argmax(totals[cand])]) if len(cand) else -1
            if k < 0 or totals[k] <= base:
                k, thr, raw = -1, math.inf, base
            else:
                thr, raw = float(s[k]), float(totals[k])
        else:
            thr = float(threshold)
            k = int(np.searchsorted(-s, -thr, side="right")) - 1
            raw = float(totals[k]) if k >= 0 else base
        det = np.zeros(len(s), bool)
        det[: k + 1] = True
        perfect = A["tp"] * n_windows
        denom = perfect - base
        out[pname] = dict(
            score=100.0 * (raw - base) / denom if denom else 0.0,
            raw=raw,
            threshold=thr,
            windows=n_windows,
            windows_detected=len(set(g[det & (g >= 0)].tolist())),
            fp_rows=int((det & (g < 0)).sum()),
        )
    return out


def event_metrics(times, alerts, windows) -> dict:
    """Event-level view of one alert series (0/1 per row) against labelled windows.

    An *alert event* is a run of consecutive alerting rows. It is a true event if it
    overlaps a window. Recall: windows with at least one alerting row / windows.
    Precision: true events / events. Time to detect: first alerting row in a window minus
    the window start (seconds). False alarms per day: false events / days covered.
    """
    t = np.asarray(times, dtype=float)
    a = np.asarray(alerts, dtype=float) > 0.5
    events = []
    start = None
    for i in range(len(a)):
        if a[i] and start is None:
            start = i
        if start is not None and (not a[i] or i == len(a) - 1):
            end = i if a[i] else i - 1
            events.append((t[start], t[end]))
            start = None
    true_events = sum(1 for s, e in events if any(s <= wb and e >= wa for wa, wb in windows))
    detected, delays = 0, []
    for wa, wb in windows:
        inside = np.flatnonzero(a & (t >= wa) & (t <= wb))
        if len(inside):
            detected += 1
            delays.append(float(t[inside[0]] - wa))
    days = (t[-1] - t[0]) / 86400.0 if len(t) > 1 else 0.0
    false_events = len(events) - true_events
    return dict(
        events=len(events),
        true_events=true_events,
        false_events=false_events,
        windows=len(windows),
        windows_detected=detected,
        precision=true_events / len(events) if events else 1.0,
        recall=detected / len(windows) if windows else 1.0,
        time_to_detect=delays,
        days=days,
        false_alarms_per_day=false_events / days if days > 0 else float(false_events),
    )


def combine_events(results: list[dict]) -> dict:
    """Corpus totals of several :func:`event_metrics` results."""
    ev = sum(r["events"] for r in results)
    te = sum(r["true_events"] for r in results)
    w = sum(r["windows"] for r in results)
    wd = sum(r["windows_detected"] for r in results)
    days = sum(r["days"] for r in results)
    fe = sum(r["false_events"] for r in results)
    delays = sorted(d for r in results for d in r["time_to_detect"])
    p = te / ev if ev else 1.0
    rc = wd / w if w else 1.0
    return dict(
        events=ev,
        true_events=te,
        false_events=fe,
        windows=w,
        windows_detected=wd,
        precision=p,
        recall=rc,
        f1=2 * p * rc / (p + rc) if p + rc else 0.0,
        days=days,
        false_alarms_per_day=fe / days if days else float(fe),
        median_time_to_detect=delays[len(delays) // 2] if delays else None,
        mean_time_to_detect=sum(delays) / len(delays) if delays else None,
    )


def row_metrics(times, flags, windows) -> dict:
    """Per-row figures of a 0/1 state column (``active``) against labelled windows: a row is
    anomalous when its time lies in a window. Precision, recall, F1, the false-alarm rate
    (FAR: the share of normal rows flagged) and the missed-alarm rate (MAR: the share of
    anomalous rows not flagged), and the four counts (so files can be pooled)."""
    t = np.asarray(times, dtype=float)
    truth = np.zeros(len(t), dtype=bool)
    for a, b in windows:
        truth |= (t >= a) & (t <= b)
    f = np.asarray(flags, dtype=bool)
    return _rates(int((f & truth).sum()), int((f & ~truth).sum()), int((~f & truth).sum()), int((~f & ~truth).sum()))


def _rates(tp: int, fp: int, fn: int, tn: int) -> dict:
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    return dict(
        tp=tp,
        fp=fp,
        fn=fn,
        tn=tn,
        precision=p,
        recall=r,
        f1=2 * p * r / (p + r) if p + r else 0.0,
        far=fp / (fp + tn) if fp + tn else 0.0,
        mar=fn / (fn + tp) if fn + tp else 0.0,
    )


def combine_rows(results: list[dict]) -> dict:
    """Pool :func:`row_metrics` of several files (counts summed, rates recomputed)."""
    return _rates(*(sum(r[k] for r in results) for k in ("tp", "fp", "fn", "tn")))
