"""Leave-one-category-out on the shared NAB corpus: the procedure that chooses the defaults.

    nice -n 10 .venv/bin/python bench/nab_loco.py [--jobs 2] [--cache DIR]
        [--data ../shared/data/nab] [--scorer ../shared/bench/nab_score.py]

For each of the six categories of the shared corpus: choose the configuration from a small
grid on the other five, then score the held-out one with it (at the threshold optimised on
the five, and at the fixed operational threshold 0.5, the ``alert`` column). Prints the six
held-out scores beside the in-sample ones and their means and minimum, then the choice on
all six (what the default should be) and its corpus scores.

The grid is small on purpose and in the scorer's own units (``docs/detectors.md``):
``alert`` (how far beyond the known range, as a share of its width: 1.4 / 2.8 / 5.6 %),
``refractory`` (quiet time after a report, in 5-minute reference rows: 75 min / 2.5 h / 5 h)
and the daily profile (off / 288 bins). Selection criterion: the mean over the training
categories of each category's own standard score at the fixed threshold 0.5, each category
weighing the same (a category with many files does not carry the choice), so the choice
favours settings that hold everywhere at the threshold production uses.

Per-file detector outputs are cached (``--cache``, keyed by the spec, the file and the
scorer's source), so a rerun or a larger grid only computes what is new. Scores come from
the shared, validated scorer (``../shared/bench/nab_score.py``), one Corpus per subset.
The corpus holds no ``realKnownCause`` (held out): it is neither read nor expected here.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import itertools
import json
import os
import sys
from multiprocessing import Pool

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
# ../shared beside the checkout (a worktree sits one level deeper: /work/wt/NAME)
SHARED = next(
    (
        p
        for p in (
            os.path.join(os.path.dirname(ROOT), "shared"),
            os.path.join(os.path.dirname(os.path.dirname(ROOT)), "shared"),
        )
        if os.path.isdir(p)
    ),
    os.path.join(os.path.dirname(ROOT), "shared"),
)
HELD_OUT = "realKnownCause"  # never read, fetched or tuned on

GRID = {"alert": (0.014, 0.028, 0.056), "refractory": (15, 30, 60), "season_bins": (0, 288), "decay": (1e-5, 1e-4)}


def grid() -> list[dict]:
    names = list(GRID)
    return [{"type": "breakout", **dict(zip(names, vals))} for vals in itertools.product(*GRID.values())]


def _load_scorer(path):
    spec = importlib.util.spec_from_file_location("nab_score", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _code_digest() -> str:
    h = hashlib.sha1()
    for name in ("breakout.py", "rules.py", "base.py"):
        with open(os.path.join(ROOT, "detectors", name), "rb") as fh:
            h.update(fh.read())
    return h.hexdigest()[:10]


def _score_file(job):
    path, spec, cache = job
    import pandas as pd

    from detectors.chain import build

    key = hashlib.sha1(json.dumps([spec, os.path.basename(path), _code_digest()], sort_keys=True).encode()).hexdigest()
    dest = os.path.join(cache, key + ".npy") if cache else None
    if dest and os.path.exists(dest):
        return np.load(dest)
    df = pd.read_csv(path)
    ts = pd.to_datetime(df["timestamp"]).to_numpy(dtype="datetime64[ns]").astype("int64") / 1e9
    scores = np.asarray(build(spec).score_many(ts, df["value"].to_numpy(dtype=float)), dtype=float)
    if dest:
        np.save(dest, scores)
    return scores


class Scorer:
    """The shared scorer over any subset of categories."""

    def __init__(self, mod, windows_json: str):
        self.mod = mod
        with open(windows_json) as fh:
            self.windows = {k: v for k, v in json.load(fh).items() if not k.startswith(HELD_OUT + "/")}
        self.keys = sorted(self.windows)
        self.categories = sorted({k.split("/")[0] for k in self.keys})
        self._corpora: dict = {}

    def corpus(self, cats: tuple[str, ...]):
        if cats not in self._corpora:
            c = self.mod.Corpus.__new__(self.mod.Corpus)
            c.windows = {k: v for k, v in self.windows.items() if k.split("/")[0] in cats}
            c.keys = sorted(c.windows)
            c._parts = {}
            self._corpora[cats] = c
        return self._corpora[cats]

    def score(self, data: dict, cats, threshold: float | None = None) -> dict:
        c = self.corpus(tuple(sorted(cats)))
        return c.score({k: data[k] for k in c.keys}, fixed_threshold=threshold)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=os.path.join(SHARED, "data", "nab"))
    ap.add_argument("--scorer", default=os.path.join(SHARED, "bench", "nab_score.py"))
    ap.add_argument("--cache", default=os.path.join(os.path.expanduser("~"), ".cache", "warning-nab-loco"))
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args(argv)
    os.makedirs(a.cache, exist_ok=True)
    import pandas as pd

    sc = Scorer(_load_scorer(a.scorer), os.path.join(a.data, "labels", "combined_windows.json"))
    specs = grid()
    times = {k: pd.read_csv(os.path.join(a.data, "data", k))["timestamp"].to_numpy() for k in sc.keys}
    jobs = [(os.path.join(a.data, "data", k), s, a.cache) for s in specs for k in sc.keys]
    with Pool(max(1, min(2, a.jobs))) as pool:
        flat = pool.map(_score_file, jobs, chunksize=8)
    outs = [{k: (times[k], flat[i * len(sc.keys) + j]) for j, k in enumerate(sc.keys)} for i in range(len(specs))]
    cats = sc.categories
    # each configuration's own score per category: optimised threshold and fixed 0.5
    # a category without windows (artificialNoAnomaly) has no normalised score of its own: it
    # counts in the training corpora (its false alarms cost there) but is not held out alone
    cats = [c for c in cats if any(sc.windows[k] for k in sc.keys if k.startswith(c + "/"))]
    own = [
        {c: (sc.score(d, (c,))["standard"]["score"], sc.score(d, (c,), 0.5)["standard"]["score"]) for c in cats}
        for d in outs
    ]
    every = sc.categories

    def choose(train) -> int:
        return max(range(len(specs)), key=lambda i: sum(own[i][c][1] for c in train) / len(train))

    def label(spec):
        return ", ".join(f"{k}={spec[k]}" for k in GRID)

    print(
        f"grid: {len(specs)} configurations x {len(sc.keys)} files; criterion: mean per-category standard "
        "score at 0.5 over the training categories"
    )
    print(
        "%-22s %-40s %9s %9s %9s %9s"
        % ("held-out category", "chosen on the other five", "held-out", "at 0.5", "in-sample", "at 0.5")
    )
    held, held_fixed, ins, ins_fixed = [], [], [], []
    best_all = choose(cats)
    for h in cats:
        train = [c for c in cats if c != h]
        i = choose(train)
        thr = sc.score(outs[i], [c for c in every if c != h])["standard"]["threshold"]  # the threshold the five chose
        ho = sc.score(outs[i], (h,), thr)["standard"]["score"]
        hof = own[i][h][1]
        isa, isf = own[best_all][h]
        held.append(ho)
        held_fixed.append(hof)
        ins.append(isa)
        ins_fixed.append(isf)
        print("%-22s %-40s %9.2f %9.2f %9.2f %9.2f" % (h, label(specs[i]), ho, hof, isa, isf))
    print(
        "%-22s %-40s %9.2f %9.2f %9.2f %9.2f"
        % ("mean", "", np.mean(held), np.mean(held_fixed), np.mean(ins), np.mean(ins_fixed))
    )
    print("%-22s %-40s %9.2f %9.2f %9.2f %9.2f" % ("minimum", "", min(held), min(held_fixed), min(ins), min(ins_fixed)))
    allc = sc.score(outs[best_all], every)
    fixed = sc.score(outs[best_all], every, 0.5)
    print(f"\nchosen on all six: {label(specs[best_all])}")
    for p in allc:
        print("  %-20s %7.2f (at 0.5: %7.2f)" % (p, allc[p]["score"], fixed[p]["score"]))
    print("\nevery configuration, per category at 0.5 (mean / min):")
    for i, s in enumerate(specs):
        v = [own[i][c][1] for c in cats]
        print("  %-40s %6.2f / %6.2f" % (label(s), np.mean(v), min(v)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
