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
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from warning.site import PointDef

from .. import times

THRESHOLD = 0.5


def register(sub) -> None:
    p = sub.add_parser("score", help="score a recorded series with the detector chain (online)")
    p.add_argument("input", type=Path, help="CSV with a timestamp (or datetime) column and numeric columns")
    p.add_argument("-o", "--output", type=Path, default=None, help="output CSV (default: standard output)")
    p.add_argument("--warmup-rows", type=int, default=0, help="learn the first N rows (known normal) unscored")
    p.add_argument("--profile", default="default", help="detector chain profile (default, quiet, sensitive)")
    p.add_argument(
        "--kinds",
        default=None,
        metavar="COLUMN=KIND,...",
        help="run the production chain of these point kinds (config/kinds.toml) as the runtime does",
    )
    p.add_argument(
        "--kinds-file", type=Path, default=None, help="another point-kinds file (default: config/kinds.toml)"
    )
    p.add_argument(
        "--separate", action="store_true", help="several columns: score each alone (no joint multivariate model)"
    )
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


ANOMALY_LEVEL = {1: 0.5, 2: 0.8, 3: 0.95, 4: 1.0}  #: the combiner's levels: severity -> least score


def reference_interval(ts: list[float], min_history: int, default: float = 300.0) -> float:
    """The breakout scorer's reference row for a recording with a warm-up at times ``ts``:
    the warm-up's span shared over ``min_history`` reference rows, between one sampling
    interval and ``default`` (300 s). So time constants follow the sampling interval and the
    warm-up: 400 warm-up rows at 1 Hz make a 4 s reference row (refractory 2 min, not 2.5 h)."""
    finite = [t for t in ts if math.isfinite(t)]
    if len(finite) < 2 or not finite[-1] > finite[0]:
        return default
    step = (finite[-1] - finite[0]) / (len(finite) - 1)
    return min(default, max(step, len(finite) * step / max(1, min_history)))  # n rows cover n intervals


def _spec_for_warmup(spec: dict, warm_ts: list[float]) -> dict:
    spec = dict(spec)
    if spec.get("type") == "breakout" and warm_ts and "ref_interval" not in spec:
        spec["ref_interval"] = reference_interval(warm_ts, int(spec.get("min_history", 100)))
    return spec


def _take(rows: Iterable, n: int) -> tuple[list, Iterator]:
    """The first ``n`` rows as a list (the warm-up: bounded by what the caller asked for), and the rest."""
    it = iter(rows)
    head = []
    for row in it:
        head.append(row)
        if len(head) >= n:
            break
    return head, it


#: several columns: each column's record breakout at the plant points' false-alarm budget
#: (reports per point per week, docs/detectors.md): the device's budget is shared by its points
COLUMN_BUDGET = 0.1
#: several columns: a frozen transmitter is a value held 20 samples and twice as long as the
#: column ever held one before (detectors.rules.Stuck ``relative``), in a column that moves
#: on most samples (``moving``: in one that mostly repeats itself a frozen transmitter reads
#: like a steady one); no time window, so it follows the sampling interval
STUCK = {"type": "stuck", "window": 0.0, "min_samples": 20, "relative": 2.0, "moving": 0.5}


def score_rows(rows, ncols: int, spec: dict, warmup_rows: int = 0, names: list[str] | None = None, joint: bool = True):
    """Yield (raw time, score, alert, active) per row: the online core of ``warning score``.

    One column: the profile's detector. Two or more columns (unless not ``joint``): the
    device's points judged together, a Hotelling T² over the row (learned on the warm-up
    rows and frozen there when a warm-up is given), beside each column's record breakout at
    a false-alarm budget (with a warm-up, only for the columns it shows fast: a slow column's
    record is the operating point moving, ``slow_columns``) and a frozen-transmitter rule.
    The row's score is the largest;
    ``alert`` is 1 on a row where a detection starts (a detector raises), ``active`` while
    any detector holds its condition open."""
    from detectors.base import Scoring
    from detectors.chain import build
    from detectors.multivariate import HotellingT2, slow_columns
    from detectors.rules import Stuck

    names = names or [f"c{i}" for i in range(ncols)]
    head, rest = _take(rows, warmup_rows) if warmup_rows > 0 else ([], iter(rows))
    spec = _spec_for_warmup(spec, [t for _, t, _ in head])
    several = joint and ncols >= 2
    if several and spec.get("type") == "breakout" and "alert" not in spec and "budget" not in spec:
        spec["budget"] = COLUMN_BUDGET
    dets = [cast(Scoring, build(spec)) for _ in range(ncols)]
    stuck = [cast(Stuck, build(STUCK)) for _ in range(ncols)] if several else []
    multi = HotellingT2(variables=names, freeze=bool(head)) if several else None
    judged = [True] * ncols  #: which columns' own breakouts are judged
    if head:
        ts = [t for _, t, _ in head]
        slow = slow_columns([v for _, _, v in head]) if several else []
        if len(slow) == ncols:
            judged = [not x for x in slow]
        for j, det in enumerate(dets):
            det.learn([v[j] for _, _, v in head], ts)
        for j, rule in enumerate(stuck):  # learns the column's usual still runs
            for _, t, v in head:
                rule.update(t, v[j])
        if multi is not None:
            multi.learn([dict(zip(names, v)) for _, _, v in head if all(math.isfinite(x) for x in v)])
        for raw, _, _ in head:
            yield raw, 0.0, 0, 0
    gates = [d.gate for d, judge in zip(dets, judged) if judge] + ([multi.gate] if multi is not None else [])
    for raw, t, values in rest:
        s = 0.0
        raised = False
        for det, x, judge in zip(dets, values, judged):
            if not judge:
                continue
            f = det.update(t, x)
            raised = raised or (f is not None and f.severity is not None)
            v = det.last if math.isfinite(x) else 0.0
            if v > s:
                s = v
        for rule, x in zip(stuck, values):
            f = rule.update(t, x)
            raised = raised or (f is not None and f.severity is not None)
        if multi is not None:
            f = multi.update(t, dict(zip(names, values)))
            raised = raised or (f is not None and f.severity is not None)
            if multi.last > s:
                s = multi.last
        active = any(g.current is not None for g in gates) or any(d.active for d in stuck)
        if stuck and active:
            s = max(s, THRESHOLD)  # a frozen transmitter has no score of its own: at least the threshold
        yield raw, s, int(raised), int(active)


def parse_kinds(text: str, columns: list[str]) -> dict[str, str]:
    """``COLUMN=KIND,...`` -> {column: kind}; every column named must exist."""
    out: dict[str, str] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        col, sep, kind = part.partition("=")
        col, kind = col.strip(), kind.strip()
        if not sep or not col or not kind:
            raise ValueError(f"--kinds: {part!r} is not COLUMN=KIND")
        if col not in columns:
            raise ValueError(f"--kinds: no column {col!r} in the input (columns: {', '.join(columns)})")
        out[col] = kind
    if not out:
        raise ValueError("--kinds: name at least one COLUMN=KIND")
    return out


def kinds_points(kinds_of: dict[str, str], table: dict[str, dict]) -> dict[int, PointDef]:
    """The point definitions of one device whose points are the given columns, with their
    kinds' default chains: what a site file with these points and kinds gives the runtime."""
    from detectors.chain import merge
    from warning.model import PointRef
    from warning.site import PointDef

    points = {}
    for pid, (col, kind) in enumerate(kinds_of.items(), start=1):
        k = table.get(kind)
        if k is None:
            raise ValueError(f"--kinds: unknown point kind {kind!r} (known: {', '.join(sorted(table))})")
        points[pid] = PointDef(
            PointRef("score", "device", col),
            kind,
            k.get("unit", ""),
            k.get("title", col),
            tuple(merge(k.get("detectors", []), None)),
        )
    return points


def score_kinds(rows, names: list[str], kinds_of: dict[str, str], table: dict[str, dict], warmup_rows: int = 0):
    """Yield (raw time, score, alert, active, severity) per row: the runtime's own pipeline
    (``warning.pipeline.Pipeline``, built from these point kinds) fed one row at a time.

    ``alert`` is 1 on a row where an alert is raised, ``active`` while any alert of the
    device has its condition active, ``severity`` the highest of those; the score is the
    largest anomaly score of the chains, and at least the combiner's level of the open
    severity (0.5 blue ... 1.0 red), so ``score >= 0.5`` exactly while active or scoring.
    Warm-up rows run through the chain (rules learn their baselines) but are written as 0."""
    from detectors.base import Scoring, Severity
    from warning.model import EventKind, Reading
    from warning.pipeline import Pipeline

    points = kinds_points(kinds_of, table)
    col_of = {pid: names.index(p.ref.point) for pid, p in points.items()}
    pipe = Pipeline(points)
    for i, (raw, t, values) in enumerate(rows):
        readings = [Reading(pid, t, values[j]) for pid, j in col_of.items() if math.isfinite(values[j])]
        events = pipe.process(readings, now=t) if math.isfinite(t) else []
        if i < warmup_rows:
            yield raw, 0.0, 0, 0, ""
            continue
        raised = any(e.kind is EventKind.RAISED for e in events)
        top = max((int(a.severity) for a in pipe.engine.open_alerts() if a.condition_active), default=0)
        s = 0.0
        for chain in pipe.chains.values():
            for det in chain.detectors:
                if isinstance(det, Scoring) and det.last > s:  # rules have no score
                    s = det.last
        if top:
            s = max(s, ANOMALY_LEVEL[top])
        yield raw, s, int(raised), int(top > 0), Severity(top).label if top else ""


def main(args) -> int:
    from detectors.profiles import profile

    try:
        spec = profile(args.profile)
        _, vnames, rows = read_table(args.input)
        kinds_of = None
        if args.kinds:
            from warning.config import load_kinds

            kinds_of = parse_kinds(args.kinds, vnames)
            table = load_kinds(args.kinds_file)
            kinds_points(kinds_of, table)  # unknown kinds fail before any output
    except (ValueError, OSError) as exc:
        print(f"warning score: {exc}", file=sys.stderr)
        return 2
    out = open(args.output, "w", newline="") if args.output else sys.stdout
    try:
        w = csv.writer(out, lineterminator="\n")
        if kinds_of is not None:
            w.writerow(["timestamp", "anomaly_score", "alert", "active", "severity"])
            for raw, s, alert, active, sev in score_kinds(rows, vnames, kinds_of, table, args.warmup_rows):
                w.writerow([raw, f"{s:.6f}", alert, active, sev])
        else:
            w.writerow(["timestamp", "anomaly_score", "alert", "active"])
            for raw, s, alert, active in score_rows(
                rows, len(vnames), spec, args.warmup_rows, vnames, joint=not args.separate
            ):
                w.writerow([raw, f"{s:.6f}", alert, active])
    except ValueError as exc:
        print(f"warning score: {exc}", file=sys.stderr)
        return 2
    finally:
        if args.output:
            out.close()
    return 0
