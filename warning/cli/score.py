"""``warning score INPUT.csv [-o OUTPUT.csv]``: run the configured detector chain over a
recorded series, strictly online (one row at a time, in file order, no second pass).

Input: a ``timestamp`` (or ``datetime``) column and one or more numeric columns, comma-
or semicolon-separated. Output: ``timestamp,anomaly_score,alert``; the score is in
[0, 1] and ``alert`` is the decision at the operational threshold (0.5 for every
profile). With several numeric columns each gets its own detector and the row's score is
the largest of them.

Sharp edges: the rows are taken in file order (a recording is assumed sorted); empty or
non-numeric cells count as missing (score 0 for that column); ``--warmup-rows`` rows are
learned as known-normal and written with score 0.
"""

from __future__ import annotations

import csv
import math
import sys
from pathlib import Path

from .. import times

THRESHOLD = 0.5


def register(sub) -> None:
    p = sub.add_parser("score", help="score a recorded series with the detector chain (online)")
    p.add_argument("input", type=Path, help="CSV with a timestamp (or datetime) column and numeric columns")
    p.add_argument("-o", "--output", type=Path, default=None, help="output CSV (default: standard output)")
    p.add_argument("--warmup-rows", type=int, default=0, help="learn the first N rows (known normal) unscored")
    p.add_argument("--profile", default="default", help="detector chain profile (default, quiet, sensitive)")
    p.set_defaults(func=main)


def parse_time(text: str) -> float:
    """Epoch seconds from a number or an ISO 8601 date-time; a time without a zone is read in
    the default site zone (Asia/Shanghai): :func:`warning.times.parse_time`. Files and their
    labels are read the same way, so the zone does not move a NAB score (UTC-naive files): the
    daily profile's default 288 bins divide the eight hours between the zones."""
    return times.parse_time(text)


def _number(text: str) -> float:
    try:
        return float(text.replace(",", ".")) if text.strip() else math.nan
    except ValueError:
        return math.nan


def read_table(path: Path):
    """(time column name, value column names, row iterator of (raw time, t, values))."""
    fh = open(path, newline="", encoding="utf-8-sig")
    head = fh.readline()
    delim = ";" if head.count(";") > head.count(",") else ","
    names = next(csv.reader([head], delimiter=delim))
    lower = [n.strip().lower() for n in names]
    tcol = next((i for i, n in enumerate(lower) if n in ("timestamp", "datetime")), None)
    if tcol is None:
        fh.close()
        raise ValueError(f"{path}: no 'timestamp' or 'datetime' column in {names}")
    vcols = [i for i in range(len(names)) if i != tcol and lower[i] not in ("label", "alert", "anomaly_score")]
    if not vcols:
        fh.close()
        raise ValueError(f"{path}: no value columns")

    def rows():
        with fh:
            for rec in csv.reader(fh, delimiter=delim):
                if not rec or len(rec) <= tcol:
                    continue
                raw = rec[tcol]
                yield raw, parse_time(raw), [_number(rec[i]) if i < len(rec) else math.nan for i in vcols]

    return names[tcol], [names[i].strip() for i in vcols], rows()


def score_rows(rows, ncols: int, spec: dict, warmup_rows: int = 0):
    """Yield (raw time, score, alert) per row: the online core of ``warning score``."""
    from detectors.chain import build

    dets = [build(spec) for _ in range(ncols)]
    for i, (raw, t, values) in enumerate(rows):
        if i < warmup_rows:
            for det, x in zip(dets, values):
                det.learn([x], [t])
            yield raw, 0.0, 0
            continue
        s = 0.0
        for det, x in zip(dets, values):
            v = det.score(t, x)
            if v > s:
                s = v
        yield raw, s, int(s >= THRESHOLD)


def main(args) -> int:
    from detectors.profiles import profile

    try:
        spec = profile(args.profile)
        _, vnames, rows = read_table(args.input)
    except (ValueError, OSError) as exc:
        print(f"warning score: {exc}", file=sys.stderr)
        return 2
    out = open(args.output, "w", newline="") if args.output else sys.stdout
    try:
        w = csv.writer(out, lineterminator="\n")
        w.writerow(["timestamp", "anomaly_score", "alert"])
        for raw, s, alert in score_rows(rows, len(vnames), spec, args.warmup_rows):
            w.writerow([raw, f"{s:.6f}", alert])
    except ValueError as exc:
        print(f"warning score: {exc}", file=sys.stderr)
        return 2
    finally:
        if args.output:
            out.close()
    return 0
