"""The project's NAB scorer (detectors.evaluation.nab_score) against the reference scorer
beside the project (../shared/bench/nab_score.py), on the NAB files shipped in tests/data/nab
and on a synthetic NAB-layout corpus, with random detectors. Prints both figures per profile
and exits 1 on any difference over 1e-9.

    .venv/bin/python bench/nab_scorer_check.py [--scorer ../shared/bench/nab_score.py] [--rounds 5]

A benchmark, not a test: the reference scorer lives outside the repository, and the suite
must pass on a clone with nothing beside it (tests/test_detector_nab.py checks the score's
definition on the shipped files instead).
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import os
import random
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from detectors.evaluation import PROFILES, nab_score  # noqa: E402

NAB = ROOT / "tests" / "data" / "nab"
FORMAT = "%Y-%m-%d %H:%M:%S"


def _load(path: str):
    spec = importlib.util.spec_from_file_location("nab_score", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load the reference scorer from {path}")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def shipped(rng: random.Random) -> tuple[dict, dict]:
    """(windows by key, {key: (timestamps as text, scores)}) of the shipped files, random scores."""
    windows = json.loads((NAB / "labels" / "combined_windows.json").read_text())
    data = {}
    for key in windows:
        with open(NAB / "data" / key, newline="") as fh:
            stamps = [row["timestamp"] for row in csv.DictReader(fh)]
        data[key] = (stamps, [rng.random() ** 8 for _ in stamps])
    return windows, data


def synthetic(rng: random.Random, files: int = 4, n: int = 1500) -> tuple[dict, dict]:
    t0 = datetime(2024, 3, 1)
    windows, data = {}, {}
    for f in range(files):
        key = f"cat{f % 2}/series_{f}.csv"
        times = [t0 + timedelta(minutes=5 * i) for i in range(n)]
        wins = []
        for a in sorted(rng.sample(range(300, n - 100), 2)):
            wins.append([times[a].strftime(FORMAT + ".%f"), times[a + 40].strftime(FORMAT + ".%f")])
        if wins[1][0] <= wins[0][1]:
            wins = wins[:1]
        windows[key] = wins
        data[key] = ([t.strftime(FORMAT) for t in times], [rng.random() ** 8 for _ in times])
    return windows, data


def compare(ref, windows: dict, data: dict, threshold: float | None) -> float:
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "windows.json")
        with open(path, "w") as fh:
            json.dump(windows, fh)
        corpus = ref.Corpus(path)
        theirs = corpus.score(data, fixed_threshold=threshold)
    ours = nab_score(
        {
            k: ([_epoch(s) for s in stamps], scores, [(_epoch(a), _epoch(b)) for a, b in windows[k]])
            for k, (stamps, scores) in data.items()
        },
        threshold=threshold,
    )
    worst = 0.0
    for p in PROFILES:
        diff = abs(ours[p]["score"] - theirs[p]["score"])
        worst = max(worst, diff)
        print(f"  {p:20s} ours {ours[p]['score']:10.4f}  reference {theirs[p]['score']:10.4f}  diff {diff:.2e}")
    return worst


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scorer", default=str(ROOT.parent / "shared" / "bench" / "nab_score.py"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args(argv)
    ref = _load(args.scorer)
    rng = random.Random(args.seed)
    worst = 0.0
    for r in range(args.rounds):
        for name, make in (("shipped NAB files", shipped), ("synthetic corpus", synthetic)):
            windows, data = make(rng)
            for thr in (None, 0.5):
                print(f"round {r} {name}, threshold {'optimised' if thr is None else thr}:")
                worst = max(worst, compare(ref, windows, data, thr))
    print(f"largest difference {worst:.2e}")
    return 0 if worst < 1e-9 else 1


if __name__ == "__main__":
    sys.exit(main())
