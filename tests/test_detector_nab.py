"""The project's NAB scorer agrees with the shared one, on a small NAB-layout directory,
through ``warning evaluate``; and the configured kinds run the default chain."""

from __future__ import annotations

import csv
import importlib.util
import json
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

from detectors.evaluation import nab_score
from detectors.profiles import DEFAULT
from warning.cli import main
from warning.config import load_kinds

SHARED = Path(__file__).resolve().parents[2] / "shared"


def _shared_scorer():
    spec = importlib.util.spec_from_file_location("nab_score", SHARED / "bench" / "nab_score.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _corpus(tmp_path, files=3, n=1200):
    rng = random.Random(11)
    t0 = datetime(2024, 3, 1)
    windows, data = {}, {}
    for f in range(files):
        key = f"cat{f % 2}/series_{f}.csv"
        times = [t0 + timedelta(minutes=5 * i) for i in range(n)]
        wins = []
        for a in sorted(rng.sample(range(300, n - 100), 2)):
            wins.append([times[a].strftime("%Y-%m-%d %H:%M:%S.%f"), times[a + 40].strftime("%Y-%m-%d %H:%M:%S.%f")])
        if wins[1][0] <= wins[0][1]:
            wins = wins[:1]
        windows[key] = wins
        scores = [rng.random() ** 8 for _ in range(n)]
        dest = tmp_path / "results" / key
        dest.parent.mkdir(parents=True, exist_ok=True)
        with open(dest, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["timestamp", "anomaly_score", "alert"])
            for t, s in zip(times, scores):
                w.writerow([t.strftime("%Y-%m-%d %H:%M:%S"), f"{s:.6f}", int(s >= 0.5)])
        data[key] = (times, scores)
    (tmp_path / "windows.json").write_text(json.dumps(windows))
    return windows, data


def test_nab_score_matches_the_shared_scorer(tmp_path):
    windows, data = _corpus(tmp_path)
    shared = _shared_scorer()
    corpus = shared.Corpus(str(tmp_path / "windows.json"))
    theirs = corpus.score({k: ([t.strftime("%Y-%m-%d %H:%M:%S") for t in ts], sc) for k, (ts, sc) in data.items()})
    ours = nab_score({k: ([t.replace(tzinfo=timezone.utc).timestamp() for t in ts], sc,
                          [tuple(datetime.fromisoformat(x).replace(tzinfo=timezone.utc).timestamp() for x in w)
                           for w in windows[k]]) for k, (ts, sc) in data.items()})
    for p in ("standard", "reward_low_FP_rate", "reward_low_FN_rate"):
        assert abs(ours[p]["score"] - theirs[p]["score"]) < 1e-9
        assert ours[p]["threshold"] == theirs[p]["threshold"]


def test_evaluate_a_results_directory(tmp_path, capsys):
    _corpus(tmp_path)
    out = tmp_path / "r.json"
    assert main(["evaluate", str(tmp_path / "results"), "--labels", str(tmp_path / "windows.json"),
                 "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    shared = _shared_scorer()
    corpus = shared.Corpus(str(tmp_path / "windows.json"))
    theirs = corpus.score(shared.load_dir(str(tmp_path / "results"), corpus.keys))
    assert abs(res["nab"]["standard"]["score"] - theirs["standard"]["score"]) < 1e-9
    assert "event precision" in capsys.readouterr().out


def test_configured_kinds_run_the_default_anomaly_chain():
    kinds = load_kinds()
    anomaly = [d for k in kinds.values() for d in k.get("detectors", []) if d.get("id") == "anomaly"]
    assert anomaly and all(d["type"] == DEFAULT["type"] for d in anomaly)
