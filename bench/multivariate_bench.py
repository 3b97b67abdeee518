"""Hotelling T² on a synthetic multi-sensor testbed (1 Hz, warm-up on 400 normal rows,
one labelled fault per recording).

    .venv/bin/python bench/multivariate_bench.py [--recordings 40] [--seed 1]

Why synthetic: the published testbed of that shape is not in ../shared, so this builds
recordings of the same shape from a dust-collector fan line: a slowly wandering load
drives duct air speed, pressure difference, fan current and outlet temperature together
(with sensor noise). Each recording has 1400 rows: rows 0-399 are known-normal warm-up,
then one fault of 150-300 rows starts between rows 700 and 1000, of one of five kinds:
fan wear (air speed down while pressure difference rises), duct leak (pressure
difference down while air speed rises), temperature sensor drift, fan current noise
burst, and a stuck air-speed transmitter.

``--drift`` makes normal operation move further after the warm-up than within it, as a
plant's does: the outlet temperature warms 1-3 °C over the recording (the process gas
warming up) and the fan current wanders on its own (a 333-row time constant, about 0.26 A
against its 0.3 A noise). A model frozen on the warm-up cannot know those moves are normal:
this is the stress, not the expected case. ``--trend`` adds a fifth column instead, a smooth
thermocouple in the circulating water that warms 1-3 °C over the recording (0.01 °C noise):
a trend that the warm-up shows, but only its first 400 rows of. ``--coarse R`` adds a fifth
column read to R °C: a thermometer wandering about 0.2 °C over minutes (a 200-row time
constant), so that most rows repeat the last value and the rest step by a whole tick.

Figures: event precision / recall / F1 over recordings (an alert event is a run of
alerting rows, merged across gaps under 10 rows; it is true if it overlaps the fault)
and the false-alarm rate as the fraction of normal scored rows that alert. Figures from
this testbed are NOT comparable with published ones on other data.
"""

from __future__ import annotations

import argparse
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

KINDS = ("fan_wear", "leak", "temp_drift", "noise_burst", "stuck_speed")


def recording(seed: int, kind: str, drift: bool = False, trend: bool = False, coarse: float = 0.0):
    rng = random.Random(seed)
    slow = random.Random(seed + 77)  # the drift's own stream: the same recording underneath
    warming = slow.uniform(1.0, 3.0) / 1400 if drift else 0.0
    water = random.Random(seed + 99)  # the trending column's own stream
    thermo, thermo_wander = random.Random(seed + 5), 0.0  # the coarse thermometer's own stream
    warming_water = water.uniform(1.0, 3.0) / 1400
    wander = 0.0
    n = 1400
    onset = rng.randint(700, 1000)
    length = rng.randint(150, 300)
    load = 0.0
    rows, labels = [], []
    temp_bias = 0.0
    stuck = None
    for i in range(n):
        load += -0.01 * load + 0.05 * rng.gauss(0, 1)  # Ornstein-Uhlenbeck, sd about 0.35
        speed = 20.0 - 1.5 * load + rng.gauss(0, 0.15)
        dp = 1100.0 + 120.0 * load + rng.gauss(0, 12.0)
        current = 30.0 + 4.0 * load + rng.gauss(0, 0.3)
        temp = 35.0 + 1.0 * load + rng.gauss(0, 0.2) + warming * i
        if drift:
            wander += -0.003 * wander + 0.02 * slow.gauss(0, 1)
            current += wander
        fault = onset <= i < onset + length
        if fault:
            k = i - onset
            ramp = min(1.0, k / 30.0)
            if kind == "fan_wear":
                speed -= 0.6 * ramp
                dp += 45.0 * ramp
            elif kind == "leak":
                dp -= 50.0 * ramp
                speed += 0.6 * ramp
            elif kind == "temp_drift":
                temp_bias = 0.01 * k
            elif kind == "noise_burst":
                current += rng.gauss(0, 1.2)
            elif kind == "stuck_speed":
                stuck = speed if stuck is None else stuck
                speed = stuck
        row = {"speed": speed, "dp": dp, "current": current, "temp": temp + (temp_bias if fault else 0.0)}
        if trend:
            row["water"] = 20.0 + warming_water * i + water.gauss(0, 0.01)
        if coarse > 0:
            thermo_wander += -0.005 * thermo_wander + 0.02 * thermo.gauss(0, 1)
            row["thermo"] = round((20.0 + thermo_wander) / coarse) * coarse
        rows.append(row)
        labels.append(1 if fault else 0)
    return rows, labels


def events(alerts, merge=10):
    out, start, last = [], None, None
    for i, a in enumerate(alerts):
        if a:
            if start is None or i - last > merge:
                if start is not None:
                    out.append((start, last))
                start = i
            last = i
    if start is not None:
        out.append((start, last))
    return out


def evaluate(
    spec: dict,
    recordings: int,
    seed: int,
    warm: int = 400,
    drift: bool = False,
    trend: bool = False,
    coarse: float = 0.0,
):
    from detectors.chain import build

    tp = fp_events = fn = 0
    normal_rows = false_rows = 0
    per_kind = {k: [0, 0] for k in KINDS}
    for r in range(recordings):
        kind = KINDS[r % len(KINDS)]
        rows, labels = recording(seed * 1000 + r, kind, drift, trend, coarse)
        det = build(spec)
        det.learn(rows[:warm])
        alerts = [0] * warm + [int(det.score(float(i), x) >= 0.5) for i, x in enumerate(rows[warm:], warm)]
        ev = events(alerts)
        hit = any(any(labels[j] for j in range(a, b + 1)) for a, b in ev)
        tp += hit
        fn += not hit
        per_kind[kind][0] += hit
        per_kind[kind][1] += 1
        fp_events += sum(1 for a, b in ev if not any(labels[j] for j in range(a, b + 1)))
        for i in range(warm, len(rows)):
            if not labels[i]:
                normal_rows += 1
                false_rows += alerts[i]
    precision = tp / (tp + fp_events) if tp + fp_events else 1.0
    recall = tp / (tp + fn)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return dict(
        precision=precision,
        recall=recall,
        f1=f1,
        far=false_rows / normal_rows,
        per_kind=per_kind,
        false_events=fp_events,
    )


def per_row(labels: list[int], flags: list[int], warm: int) -> dict:
    """Per-row precision, recall, F1, false-alarm rate (FAR: share of normal rows flagged) and
    missed-alarm rate (MAR: share of fault rows not flagged), rows after the warm-up."""
    tp = fp = fn = tn = 0
    for y, f in zip(labels[warm:], flags[warm:]):
        tp += y and f
        fp += (not y) and f
        fn += y and not f
        tn += (not y) and not f
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    return dict(
        precision=p,
        recall=r,
        f1=2 * p * r / (p + r) if p + r else 0.0,
        far=fp / max(1, fp + tn),
        mar=fn / max(1, fn + tp),
        tp=tp,
        fp=fp,
        fn=fn,
        tn=tn,
    )


def evaluate_score_active(
    recordings: int, seed: int, warm: int = 400, drift: bool = False, trend: bool = False, coarse: float = 0.0
) -> dict:
    """``warning score`` with its defaults (several columns: judged jointly) and
    ``--warmup-rows 400``: per-row figures of the ``active`` column over all recordings."""
    from detectors.profiles import profile
    from warning.cli.score import score_rows

    tot = dict(tp=0, fp=0, fn=0, tn=0)
    for r in range(recordings):
        kind = KINDS[r % len(KINDS)]
        rows, labels = recording(seed * 1000 + r, kind, drift, trend, coarse)
        names = list(rows[0])
        table = ((str(i), float(i), [x[n] for n in names]) for i, x in enumerate(rows))
        flags = [a for _, _, _, a in score_rows(table, len(names), profile("default"), warm, names)]
        m = per_row(labels, flags, warm)
        for k in tot:
            tot[k] += m[k]
    tp, fp, fn, tn = tot["tp"], tot["fp"], tot["fn"], tot["tn"]
    p, rc = tp / max(1, tp + fp), tp / max(1, tp + fn)
    return dict(
        precision=p,
        recall=rc,
        f1=2 * p * rc / (p + rc) if p + rc else 0.0,
        far=fp / max(1, fp + tn),
        mar=fn / max(1, fn + tp),
    )


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--recordings", type=int, default=40)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--drift", action="store_true", help="normal operation drifts after the warm-up (the stress)")
    ap.add_argument(
        "--trend", action="store_true", help="a fifth column: a smooth sensor warming all along (the stress)"
    )
    ap.add_argument(
        "--coarse", type=float, default=0.0, help="a fifth column: a wandering thermometer read to this many °C"
    )
    a = ap.parse_args(argv)
    specs = {
        "hotelling (frozen after warm-up)": {"type": "hotelling", "freeze": True},
        "hotelling (default: adaptive a=0.001)": {"type": "hotelling"},
        "hotelling (adaptive a=0.005)": {"type": "hotelling", "alpha": 0.005},
        "hotelling (frozen, smoothed 10 rows)": {"type": "hotelling", "freeze": True, "smooth": 10},
        "hotelling (frozen, z 5)": {"type": "hotelling", "freeze": True, "z_alert": 5},
        "hotelling (frozen, z 6)": {"type": "hotelling", "freeze": True, "z_alert": 6},
    }
    print(
        f"{a.recordings} recordings, kinds {', '.join(KINDS)}"
        + (", drifting" if a.drift else "")
        + (", with a trending column" if a.trend else "")
        + (f", with a thermometer read to {a.coarse} °C" if a.coarse > 0 else "")
    )
    m = evaluate_score_active(a.recordings, a.seed, drift=a.drift, trend=a.trend, coarse=a.coarse)
    print(
        "warning score defaults, --warmup-rows 400, per row of `active`: precision %.3f recall %.3f F1 %.3f "
        "FAR %.1f%% MAR %.1f%%" % (m["precision"], m["recall"], m["f1"], 100 * m["far"], 100 * m["mar"])
    )
    print(
        "%-40s %9s %7s %6s %9s %8s  %s" % ("detector", "precision", "recall", "F1", "false ev", "FAR", "hits per kind")
    )
    for name, spec in specs.items():
        r = evaluate(spec, a.recordings, a.seed, drift=a.drift, trend=a.trend, coarse=a.coarse)
        kinds = " ".join(f"{k}:{h}/{n}" for k, (h, n) in r["per_kind"].items())
        print(
            "%-40s %9.3f %7.3f %6.3f %9d %7.1f%%  %s"
            % (name, r["precision"], r["recall"], r["f1"], r["false_events"], 100 * r["far"], kinds)
        )


if __name__ == "__main__":
    main()
