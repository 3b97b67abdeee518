"""Score the default detector chain (or a named profile) on the NAB corpus.

    .venv/bin/python bench/nab_bench.py [--profile NAME] [--out DIR] [--jobs 2] [--per-file]
        [--data ../shared/data/nab] [--scorer ../shared/bench/nab_score.py]

Each file runs through a fresh detector, strictly online, exactly as ``warning score``
does with no options (no per-file tuning, no warm-up option: NAB's probationary 15 % is
simply not counted by the scorer). Prints the three NAB profile scores from the shared
scorer (one threshold optimised over the corpus), plus the score at the fixed
operational threshold 0.5 (the ``alert`` column). ``--out DIR`` also writes one
``timestamp,anomaly_score`` CSV per file, so that ``python ../shared/bench/nab_score.py
DIR`` gives the same figures.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from multiprocessing import Pool

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
SHARED = os.path.join(os.path.dirname(ROOT), "shared")


def _load_scorer(path):
    spec = importlib.util.spec_from_file_location("nab_score", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _score_file(job):
    path, spec = job
    import pandas as pd

    from detectors.chain import build

    df = pd.read_csv(path)
    det = build(spec)
    t0 = time.perf_counter()
    ts = pd.to_datetime(df["timestamp"]).to_numpy(dtype="datetime64[ns]").astype("int64") / 1e9
    scores = det.score_many(ts, df["value"].to_numpy(dtype=float))
    return df["timestamp"].to_numpy(), scores, time.perf_counter() - t0


def main(argv=None):
    from detectors.profiles import profile

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--profile", default="default")
    ap.add_argument("--data", default=os.path.join(SHARED, "data", "nab"))
    ap.add_argument("--scorer", default=os.path.join(SHARED, "bench", "nab_score.py"))
    ap.add_argument("--out", default=None)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--per-file", action="store_true")
    a = ap.parse_args(argv)
    spec = profile(a.profile)
    scorer = _load_scorer(a.scorer)
    corpus = scorer.Corpus(os.path.join(a.data, "labels", "combined_windows.json"))
    jobs = [(os.path.join(a.data, "data", key), spec) for key in corpus.keys]
    t0 = time.perf_counter()
    with Pool(a.jobs) as pool:
        results = pool.map(_score_file, jobs)
    wall = time.perf_counter() - t0
    data = {key: (ts, sc) for key, (ts, sc, _) in zip(corpus.keys, results)}
    rows = sum(len(sc) for _, sc in data.values())
    det_s = sum(r[2] for r in results)
    if a.out:
        import pandas as pd

        for key, (ts, sc) in data.items():
            dest = os.path.join(a.out, key)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            pd.DataFrame({"timestamp": ts, "anomaly_score": sc}).to_csv(dest, index=False)
    res = scorer.Corpus.score(corpus, data, per_file=a.per_file)
    fixed = scorer.Corpus.score(corpus, data, fixed_threshold=0.5)
    print(f"profile {a.profile}: {spec}")
    print(
        f"{len(data)} files, {rows} rows; detector time {det_s:.2f} s ({rows / det_s:,.0f} rows/s), wall {wall:.1f} s"
    )
    print(
        "%-20s %8s %10s %8s %8s   %s"
        % ("NAB profile", "score", "threshold", "windows", "fp_rows", "score at 0.5 (alert column)")
    )
    for p, r in res.items():
        f = fixed[p]
        print(
            "%-20s %8.2f %10.4g %4d/%-3d %8d   %8.2f (%d/%d windows, %d fp rows)"
            % (
                p,
                r["score"],
                r["threshold"],
                r["windows_detected"],
                r["windows"],
                r["fp_rows"],
                f["score"],
                f["windows_detected"],
                f["windows"],
                f["fp_rows"],
            )
        )
    if a.per_file:
        for k, v in sorted(res["standard"]["per_file"].items(), key=lambda kv: kv[1]):
            print("  %-60s %8.3f" % (k, v))
    return res


if __name__ == "__main__":
    main()
