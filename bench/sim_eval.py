"""Evaluation speed: how long ``warning evaluate`` takes for a 30-day simulation of 100
enterprises (config/scenarios/district-month.toml), and what the sampling plan costs.

    python bench/sim_eval.py [--scenario config/scenarios/district-month.toml] [--uniform S]

Prints wall and CPU seconds of the run (plant stepping + the real pipeline), readings,
device samples, and the same for ``--uniform S``: every device every S seconds (no fine
windows), for comparison. Wall time on a shared machine is noisy; CPU time is what this
process used.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from simulators.run import run_scenario  # noqa: E402
from simulators.scenarios import load_scenario  # noqa: E402
from simulators.score import score_run  # noqa: E402


def once(sc, label: str) -> None:
    t0 = time.perf_counter()
    run = run_scenario(sc)
    report = score_run(run)
    total = time.perf_counter() - t0
    print(
        f"{label}: {run.readings:,} readings, {run.device_samples:,} device samples, {run.steps:,} steps; "
        f"run {run.wall:.1f} s wall / {run.cpu:.1f} s CPU, with scoring {total:.1f} s; "
        f"{len(report['faults'])} faults, hazardous caught {report['hazardous_caught']}/{report['hazardous']}, "
        f"false alarms/enterprise-week {report['false_alarms_per_enterprise_week']:.2f}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenario", default=str(ROOT / "config" / "scenarios" / "district-month.toml"))
    ap.add_argument("--uniform", type=float, default=None, help="also run with every device every S seconds")
    args = ap.parse_args()
    sc = load_scenario(args.scenario)
    print(
        f"{sc.name}: {len(sc.enterprise_ids())} enterprises, {sc.duration / 86400:g} days, "
        f"interval {sc.interval:g} s, background {sc.background_interval or sc.interval:g} s"
    )
    once(sc, "planned")
    if args.uniform:
        sc = load_scenario(args.scenario)
        sc.interval, sc.background_interval = args.uniform, None
        once(sc, f"uniform {args.uniform:g} s")


if __name__ == "__main__":
    main()
