"""``warning evaluate``: score detector output against labels, to tune a site.

    warning evaluate RESULTS [--labels LABELS] [--threshold 0.5] [--json OUT]
    warning evaluate --scenarios PATH...     (simulated scenarios, see simulators.evaluate)

RESULTS is one CSV written by ``warning score`` (``timestamp,anomaly_score[,alert]``) or
a directory of them (NAB layout: ``<category>/<name>.csv``). LABELS is either NAB's
windows JSON (``{"category/name.csv": [[start, end], ...]}``), or a CSV of windows with
``start,end`` columns (one results file); without it, a ``label`` column (0/1 per row) in
the results marks the anomalous rows (each run of 1s is one window).

Prints the NAB windowed score (threshold optimised over all files, and at the given
threshold), event precision and recall, time to detect and false alarms per day at the
given threshold (default: the ``alert`` column if present, else score >= 0.5).
"""

from __future__ import annotations

import csv
import json
import math
import os
import sys
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("evaluate", help="score detector output against labelled anomaly windows")
    p.add_argument("results", nargs="?", type=Path, help="a `warning score` CSV or a directory of them")
    p.add_argument("--labels", type=Path, default=None, help="NAB windows JSON, or a CSV with start,end columns")
    p.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="decision threshold on anomaly_score (default: the alert column, else 0.5)",
    )
    p.add_argument("--json", type=Path, default=None, help="also write the figures as JSON here")
    p.add_argument(
        "--scenarios",
        nargs="+",
        type=Path,
        default=None,
        help="evaluate simulated scenarios instead (delegates to simulators.evaluate)",
    )
    p.add_argument("--out", default=None, help="with --scenarios: directory for the JSON and PNGs")
    p.add_argument("--no-plot", dest="plot", action="store_false", help="with --scenarios: no PNGs")
    p.add_argument("--interval", type=float, default=None, help="with --scenarios: sampling interval (s)")
    p.add_argument(
        "--risk", default=None, help="with --scenarios: a risk-model file for the warnings (default: the defaults)"
    )
    p.set_defaults(func=main)


def _time(text: str) -> float:
    from .score import parse_time

    return parse_time(text)


def read_results(path: Path):
    """(times, scores, alerts or None, label column or None, active or None) of one results CSV."""
    with open(path, newline="", encoding="utf-8-sig") as fh:
        head = fh.readline()
        delim = ";" if head.count(";") > head.count(",") else ","
        names = [n.strip().lower() for n in next(csv.reader([head], delimiter=delim))]
        ti = next((i for i, n in enumerate(names) if n in ("timestamp", "datetime")), 0)
        si = names.index("anomaly_score") if "anomaly_score" in names else 1
        ai = names.index("alert") if "alert" in names else None
        li = names.index("label") if "label" in names else None
        ci = names.index("active") if "active" in names else None
        t, s, a, lab, act = [], [], [], [], []
        for rec in csv.reader(fh, delimiter=delim):
            if not rec:
                continue
            t.append(_time(rec[ti]))
            s.append(float(rec[si]) if rec[si].strip() else math.nan)
            if ai is not None:
                a.append(int(float(rec[ai])))
            if li is not None:
                lab.append(int(float(rec[li])))
            if ci is not None:
                act.append(int(float(rec[ci])))
    return t, s, (a if ai is not None else None), (lab if li is not None else None), (act if ci is not None else None)


def windows_from_labels(times, labels):
    out, start = [], None
    for i, v in enumerate(labels):
        if v and start is None:
            start = times[i]
        if start is not None and (not v or i == len(labels) - 1):
            out.append((start, times[i] if v else times[i - 1]))
            start = None
    return out


def _load_windows(path: Path):
    if path.suffix.lower() == ".json":
        with open(path) as fh:
            raw = json.load(fh)
        return {k: [(_time(a), _time(b)) for a, b in v] for k, v in raw.items()}
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    return {None: [(_time(r["start"]), _time(r["end"])) for r in rows]}


def _match(results: Path, key: str) -> Path | None:
    direct = results / key
    if direct.exists():
        return direct
    base = os.path.basename(key)
    for root, _, names in os.walk(results):
        for nm in names:
            if nm == base or nm.endswith("_" + base):
                return Path(root) / nm
    return None


def main(args) -> int:
    if args.scenarios:
        import importlib

        try:
            sim_eval = importlib.import_module("simulators.evaluate")  # optional: the simulators' bench
        except ImportError:
            print("warning evaluate --scenarios: simulators.evaluate is not available in this install", file=sys.stderr)
            return 2
        return sim_eval.main(args)
    if args.results is None:
        print("warning evaluate: give a results CSV or directory (or --scenarios)", file=sys.stderr)
        return 2
    from detectors.evaluation import combine_events, combine_rows, event_metrics, nab_score, row_metrics

    windows = _load_windows(args.labels) if args.labels else None
    files = {}
    if args.results.is_dir():
        if not windows or None in windows:
            print("warning evaluate: a results directory needs --labels windows.json", file=sys.stderr)
            return 2
        for key, wins in windows.items():
            path = _match(args.results, key)
            if path is None:
                print(f"warning evaluate: no results for {key}", file=sys.stderr)
                return 2
            files[key] = (read_results(path), wins)
    else:
        res = read_results(args.results)
        if windows is None:
            if res[3] is None:
                print("warning evaluate: no --labels and no label column", file=sys.stderr)
                return 2
            wins = windows_from_labels(res[0], res[3])
        else:
            wins = windows.get(None) or next(iter(windows.values()))
        files[str(args.results)] = (res, wins)
    thr = args.threshold
    nab_input = {k: (r[0], r[1], w) for k, (r, w) in files.items()}
    best = nab_score(nab_input)
    fixed = nab_score(nab_input, threshold=0.5 if thr is None else thr)
    per = []
    rows_per = []
    for (t, s, a, _, act), w in files.values():
        alerts = a if (thr is None and a is not None) else [int(v >= (0.5 if thr is None else thr)) for v in s]
        per.append(event_metrics(t, alerts, w))
        if act is not None:
            rows_per.append(row_metrics(t, act, w))
    ev = combine_events(per)
    rows = combine_rows(rows_per) if rows_per and len(rows_per) == len(files) else None
    label = (
        "alert column"
        if thr is None and all(r[2] is not None for r, _ in files.values())
        else f"score >= {0.5 if thr is None else thr:g}"
    )
    print(f"{len(files)} file(s), {ev['windows']} labelled window(s), {ev['days']:.1f} days")
    print("NAB windowed score     optimised (threshold)   at fixed threshold")
    for p in best:
        print("  %-20s %8.2f (%-10.4g)   %8.2f" % (p, best[p]["score"], best[p]["threshold"], fixed[p]["score"]))
    print(f"events at {label}:")
    print(f"  alert events {ev['events']} (true {ev['true_events']}, false {ev['false_events']})")
    print(f"  event precision {ev['precision']:.3f}  recall {ev['recall']:.3f}  F1 {ev['f1']:.3f}")
    ttd = ev["median_time_to_detect"]
    print(
        "  time to detect (from window start): "
        + ("none detected" if ttd is None else f"median {ttd:.0f} s, mean {ev['mean_time_to_detect']:.0f} s")
    )
    print(f"  false alarms per day {ev['false_alarms_per_day']:.3f}")
    if rows is not None:
        print("rows of the active column (the condition held open):")
        print(
            f"  precision {rows['precision']:.3f}  recall {rows['recall']:.3f}  F1 {rows['f1']:.3f}  "
            f"FAR {100 * rows['far']:.1f} % of normal rows  MAR {100 * rows['mar']:.1f} % of anomalous rows"
        )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"nab": best, "nab_fixed": fixed, "events": ev, "rows": rows}, fh, indent=1, default=float)
    return 0
