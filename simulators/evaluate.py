"""``warning evaluate --scenarios FILE...``: run scenario files through the pipeline
in-process and report, per fault, whether and how early it was caught, and the false
alarms of the fault-free stretches.

Entry point :func:`main` takes an argparse namespace (``warning/cli/evaluate.py``
dispatches ``--scenarios`` here). Attributes read, with defaults:

* ``scenarios``: list of scenario TOML paths (required);
* ``out``: directory for ``evaluation.json`` and one PNG per scenario (``evaluation``);
* ``plot``: draw PNGs (True); ``interval``: override every scenario's sampling interval;
* ``kinds``: a point-kinds file to evaluate instead of ``config/kinds.toml`` (tuning: try
  a chain on the whole library before changing the default);
* ``json``: where to write the JSON (default ``out/evaluation.json``).

Returns 0 when every scenario meets the targets (see :data:`TARGETS`), 1 otherwise, so
CI can gate on it. Also ``python -m simulators.evaluate --scenarios ...``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from simulators import risk_eval
from simulators.plot import draw, panels_for
from simulators.run import run_scenario
from simulators.scenarios import load_scenario
from simulators.score import score_run
from warning.risk.config import RiskConfig
from warning.risk.config import default as risk_default
from warning.risk.config import parse as parse_risk

TARGETS = {"mean_margin": 0.5, "false_alarms_per_enterprise_week": 1.0}


def _fmt_s(x: float | None) -> str:
    if x is None:
        return "-"
    if abs(x) >= 3600:
        return f"{x / 3600:.1f}h"
    if abs(x) >= 120:
        return f"{x / 60:.1f}m"
    return f"{x:.0f}s"


def _row(r: dict) -> list[str]:
    margin = "-" if r["margin"] is None else f"{100 * r['margin']:.0f}%"
    if r.get("instantaneous"):
        margin = "at onset"
    return [
        r["type"],
        f"{r['enterprise']}/{r['device']}",
        r["severity"],
        "yes" if r["detected"] else "no",
        r["severity_reached"] or "-",
        _fmt_s(r["time_to_detect"]),
        _fmt_s(r["time_to_orange"]),
        _fmt_s(r["hazard_in"]),
        margin,
        "PASS" if r["passed"] else "FAIL",
    ]


def table(report: dict, max_rows: int = 40) -> str:
    head = ["fault", "where", "deserves", "detected", "reached", "detect", "orange+", "hazard in", "margin", ""]
    rows = [_row(r) for r in report["faults"]]
    shown = rows if len(rows) <= max_rows else [r for r in rows if r[-1] == "FAIL"][:max_rows]
    widths = [max(len(h), *(len(r[i]) for r in shown)) if shown else len(h) for i, h in enumerate(head)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    out = [
        f"== {report['scenario']}: {report['enterprises']} enterprises, {report['devices']} devices, "
        f"{report['duration_s'] / 86400:.2f} days at {report['interval_s']:g} s "
        f"({report['readings']:,} readings in {report['wall_s']:.1f} s wall, {report['cpu_s']:.1f} s CPU, "
        f"{report['readings_per_s'] or 0:,} readings/s)",
        line(head),
    ]
    out += [line(r) for r in shown]
    if len(rows) > len(shown):
        passed = sum(1 for r in report["faults"] if r["passed"])
        out.append(f"... {len(rows)} faults, {passed} passed; the failures are listed above")
    mm = report["mean_margin"]
    out.append(
        f"hazardous caught at orange/red in time: {report['hazardous_caught']}/{report['hazardous']}; "
        f"mean margin {'-' if mm is None else f'{100 * mm:.0f}%'} over {report['margins_counted']}"
    )
    rate = report["false_alarms_per_enterprise_week"]
    out.append(
        f"false alarms: {report['false_alarms']} in {report['fault_free_enterprise_days']:.2f} fault-free "
        f"enterprise-days = {'-' if rate is None else f'{rate:.2f}'} per enterprise-week"
    )
    if report.get("false_alarms_while_stopped") is not None:
        out.append(
            f"    of which {report['false_alarms_while_stopped']} while the plant is stopped or within "
            "10 min of its start (shift changes)"
        )
    for s in report["false_alarm_sources"][:6]:
        out.append(f"    {s['count']:>6}  {s['point']}:{s['rule']} ({s['severity']})")
    return "\n".join(out)


def verdict(report: dict) -> list[str]:
    """What misses a target, as sentences (empty: all met)."""
    why = []
    if report["hazardous_caught"] < report["hazardous"]:
        why.append(f"{report['hazardous'] - report['hazardous_caught']} hazardous faults not caught in time")
    mm = report["mean_margin"]
    if mm is not None and mm < TARGETS["mean_margin"]:
        why.append(f"mean margin {100 * mm:.0f}% < 50%")
    fa = report["false_alarms_per_enterprise_week"]
    if fa is not None and fa > TARGETS["false_alarms_per_enterprise_week"]:
        why.append(f"{fa:.2f} false alarms per enterprise-week > 1")
    bad_sensor = [r for r in report["faults"] if r["sensor_fault"] and not r["passed"]]
    if bad_sensor:
        why.append(f"{len(bad_sensor)} sensor faults raised orange/red")
    bad_other = [r for r in report["faults"] if not r["sensor_fault"] and r["hazard_time"] is None and not r["passed"]]
    if bad_other:
        why.append(f"{len(bad_other)} non-hazardous process faults below their deserved severity")
    return why


def evaluate(
    paths: list[Path],
    out: Path | None,
    *,
    plot: bool = True,
    interval: float | None = None,
    kinds: dict | None = None,
    risk: RiskConfig | None = None,
    echo=print,
) -> list[dict]:
    """Every scenario's alarms scored, and beside them the risk warnings of ``risk`` (default: the defaults)."""
    risk = risk or risk_default()
    reports = []
    for path in paths:
        sc = load_scenario(path)
        if interval:
            sc.interval = float(interval)
        record = set(panels_for(sc.faults)) if plot and out is not None else None
        run = run_scenario(sc, record=record, kinds=kinds)
        report = score_run(run)
        report["verdict"] = verdict(report)
        report["risk"] = risk_eval.score_warnings(run, risk)
        report["risk"]["verdict"] = risk_eval.verdict(report["risk"])
        if record and out is not None:
            png = draw(
                out / f"{sc.name}.png",
                f"{sc.name}: {sc.description}"[:120],
                run.series,
                sc.faults,
                run.events,
                sc.start,
            )
            report["png"] = None if png is None else str(png)
        echo(table(report))
        echo("targets: " + ("met" if not report["verdict"] else "MISSED: " + "; ".join(report["verdict"])))
        echo(risk_eval.line(report["risk"]))
        rv = report["risk"]["verdict"]
        echo("risk targets: " + ("met" if not rv else "MISSED: " + "; ".join(rv)))
        echo("")
        reports.append(report)
    return reports


def main(args) -> int:
    paths = [Path(p) for p in getattr(args, "scenarios", None) or []]
    if not paths:
        print("evaluate: give --scenarios FILE...", file=sys.stderr)
        return 2
    out = Path(getattr(args, "out", None) or "evaluation")
    kinds_path = getattr(args, "kinds", None)
    kinds = None
    if kinds_path:
        from warning.config import load_kinds

        kinds = load_kinds(Path(kinds_path))
    risk_path = getattr(args, "risk", None)
    risk = parse_risk(Path(risk_path).read_text(encoding="utf-8")) if risk_path else None
    reports = evaluate(
        paths, out, plot=getattr(args, "plot", True), interval=getattr(args, "interval", None), kinds=kinds, risk=risk
    )
    out.mkdir(parents=True, exist_ok=True)
    json_path = Path(getattr(args, "json", None) or out / "evaluation.json")
    json_path.write_text(
        json.dumps({"targets": TARGETS, "scenarios": reports}, indent=1, default=str), encoding="utf-8"
    )
    total = sum(r["wall_s"] for r in reports)
    print(f"{len(reports)} scenarios in {total:.1f} s of pipeline time; JSON and PNGs in {out}/")
    return 0 if all(not r["verdict"] for r in reports) else 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m simulators.evaluate", description=__doc__.split("\n")[0])
    ap.add_argument("--scenarios", nargs="+", required=True)
    ap.add_argument("--out", default="evaluation")
    ap.add_argument("--no-plot", dest="plot", action="store_false")
    ap.add_argument("--interval", type=float, default=None)
    ap.add_argument("--kinds", default=None, help="evaluate this point-kinds file instead of config/kinds.toml")
    ap.add_argument("--risk", default=None, help="a risk-model file (default: the defaults, as config/risk.toml)")
    ap.add_argument("--json", default=None, help="where to write the JSON (default OUT/evaluation.json)")
    return ap.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main(parse_args()))
