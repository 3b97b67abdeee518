"""The project's NAB scorer on NAB files shipped in tests/data/nab (MIT, see its README): the
score's definition (a detector at each window's start is 100, silence is 0, alarms outside
windows cost), ``warning evaluate`` on a NAB-layout directory gives the library's figures, and
the configured kinds run the default chain. The comparison with the reference scorer beside
the project is a benchmark (bench/nab_scorer_check.py), not a test: it reads outside the repo."""

from __future__ import annotations

import csv
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from detectors.evaluation import nab_score
from detectors.profiles import DEFAULT
from warning.cli import main
from warning.config import load_kinds

NAB = Path(__file__).resolve().parent / "data" / "nab"


def _epoch(text: str) -> float:
    """NAB writes UTC times without a zone."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def _shipped() -> dict[str, tuple[list[float], list[tuple[float, float]]]]:
    """{key: (row times, windows)} of the shipped NAB files."""
    labels = json.loads((NAB / "labels" / "combined_windows.json").read_text())
    out = {}
    for key, wins in labels.items():
        with open(NAB / "data" / key, newline="") as fh:
            times = [_epoch(row["timestamp"]) for row in csv.DictReader(fh)]
        out[key] = (times, [(_epoch(a), _epoch(b)) for a, b in wins])
    return out


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


def test_shipped_nab_files_are_there_with_their_licence():
    files = _shipped()
    assert len(files) == 3 and sum(len(w) for _, w in files.values()) == 2
    assert all(len(t) > 3000 for t, _ in files.values())
    assert "Numenta" in (NAB / "LICENSE.txt").read_text()


def test_nab_score_definition_on_shipped_files():
    files = _shipped()

    def at(rule):
        return {k: (t, [rule(i, x, w) for i, x in enumerate(t)], w) for k, (t, w) in files.items()}

    first_rows = {k: {min(i for i, x in enumerate(t) if a <= x <= b) for a, b in w} for k, (t, w) in files.items()}
    perfect = {k: (t, [1.0 if i in first_rows[k] else 0.0 for i in range(len(t))], w) for k, (t, w) in files.items()}
    silent = at(lambda i, x, w: 0.0)
    late = {
        k: (t, [1.0 if any(b - 3600 <= x <= b for a, b in w) else 0.0 for x in t], w) for k, (t, w) in files.items()
    }
    noisy = {k: (t, [1.0 if i % 97 == 0 else 0.0 for i in range(len(t))], w) for k, (t, w) in files.items()}
    for profile in ("standard", "reward_low_FP_rate", "reward_low_FN_rate"):
        assert abs(nab_score(perfect, threshold=0.5)[profile]["score"] - 100.0) < 1e-9
        assert nab_score(perfect, threshold=0.5)[profile]["windows_detected"] == 2
        assert nab_score(silent, threshold=0.5)[profile]["score"] == 0.0
        late_score = nab_score(late, threshold=0.5)[profile]["score"]
        assert 0.0 < late_score < 100.0  # caught, but late: less than at the start
        assert nab_score(noisy, threshold=0.5)[profile]["score"] < 0.0  # alarms outside the windows cost
    # one optimised threshold never does worse than a fixed one
    assert nab_score(noisy)["standard"]["score"] >= nab_score(noisy, threshold=0.5)["standard"]["score"]


def test_evaluate_a_results_directory_gives_the_library_score(tmp_path, capsys):
    windows, data = _corpus(tmp_path)
    out = tmp_path / "r.json"
    assert (
        main(["evaluate", str(tmp_path / "results"), "--labels", str(tmp_path / "windows.json"), "--json", str(out)])
        == 0
    )
    res = json.loads(out.read_text())
    ours = nab_score(
        {
            k: (
                [t.replace(tzinfo=UTC).timestamp() for t in ts],
                [float(f"{x:.6f}") for x in sc],
                [tuple(datetime.fromisoformat(x).replace(tzinfo=UTC).timestamp() for x in w) for w in windows[k]],
            )
            for k, (ts, sc) in data.items()
        }
    )
    for p in ("standard", "reward_low_FP_rate", "reward_low_FN_rate"):
        assert abs(res["nab"][p]["score"] - ours[p]["score"]) < 1e-9
    assert "event precision" in capsys.readouterr().out


def test_configured_kinds_run_the_default_anomaly_chain():
    kinds = load_kinds()
    anomaly = [d for k in kinds.values() for d in k.get("detectors", []) if d.get("id") == "anomaly"]
    assert anomaly and all(d["type"] == DEFAULT["type"] for d in anomaly)
