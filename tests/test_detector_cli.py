"""``warning score`` and ``warning evaluate`` end to end on small files made here."""

from __future__ import annotations

import csv
import json
import random
from datetime import UTC, datetime, timedelta

from detectors.evaluation import event_metrics, nab_score
from warning.cli import main


def _write_series(path, n=1500, spike=1200, sep=",", extra=False):
    rng = random.Random(7)
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh, delimiter=sep)
        w.writerow(["timestamp", "value"] + (["other"] if extra else []))
        for i in range(n):
            x = 10 + rng.gauss(0, 1) + (40 if i == spike else 0)
            row = [(t0 + timedelta(minutes=5 * i)).strftime("%Y-%m-%d %H:%M:%S"), f"{x:.3f}"]
            if extra:
                row.append(f"{5 + rng.gauss(0, 0.1):.3f}")
            w.writerow(row)
    return t0


def _read(path):
    with open(path) as fh:
        return list(csv.DictReader(fh))


def test_score_writes_timestamp_score_alert(tmp_path):
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    _write_series(src)
    assert main(["score", str(src), "-o", str(out)]) == 0
    rows = _read(out)
    assert list(rows[0]) == ["timestamp", "anomaly_score", "alert", "active"]
    assert all(r["active"] == "1" for r in rows if r["alert"] == "1")  # an onset opens the condition
    assert len(rows) == 1500
    assert all(0.0 <= float(r["anomaly_score"]) <= 1.0 for r in rows)
    alerts = [i for i, r in enumerate(rows) if r["alert"] == "1"]
    # the spike; i.i.d. noise also sets a few new records in its first day or two while the
    # ranges are young (docs/detectors.md: use --warmup-rows)
    assert 1200 in alerts and len(alerts) <= 10 and [i for i in alerts if i > 800] == [1200]
    assert all((float(r["anomaly_score"]) >= 0.5) == (r["alert"] == "1") for r in rows)


def test_score_is_online_prefix_gives_same_scores(tmp_path):
    """No look-ahead: scoring a prefix of the file gives the same scores for those rows."""
    src, out, src2, out2 = (tmp_path / n for n in ("a.csv", "a_out.csv", "b.csv", "b_out.csv"))
    _write_series(src)
    lines = open(src).read().splitlines()
    open(src2, "w").write("\n".join(lines[:1300]) + "\n")
    main(["score", str(src), "-o", str(out)])
    main(["score", str(src2), "-o", str(out2)])
    assert _read(out)[:1299] == _read(out2)


def test_score_semicolons_several_columns_warmup_and_profile(tmp_path):
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    _write_series(src, sep=";", extra=True)
    assert main(["score", str(src), "-o", str(out), "--warmup-rows", "400", "--profile", "quiet"]) == 0
    rows = _read(out)
    assert len(rows) == 1500
    assert all(r["anomaly_score"] == "0.000000" for r in rows[:400])
    assert rows[1200]["alert"] == "1"
    assert main(["score", str(src), "--profile", "nonsense"]) == 2


def test_evaluate_prints_nab_and_event_figures(tmp_path, capsys):
    src, out, labels = tmp_path / "in.csv", tmp_path / "out.csv", tmp_path / "labels.csv"
    t0 = _write_series(src)
    main(["score", str(src), "-o", str(out)])
    start, end = t0 + timedelta(minutes=5 * 1190), t0 + timedelta(minutes=5 * 1230)
    # written like the series (no zone): both are read in the same (site) zone, warning.times
    fmt = "%Y-%m-%d %H:%M:%S"
    labels.write_text(f"start,end\n{start.strftime(fmt)},{end.strftime(fmt)}\n")
    capsys.readouterr()
    assert main(["evaluate", str(out), "--labels", str(labels), "--json", str(tmp_path / "r.json")]) == 0
    text = capsys.readouterr().out
    assert "NAB windowed score" in text and "recall 1.000" in text and "false alarms per day" in text
    res = json.loads((tmp_path / "r.json").read_text())
    assert res["nab"]["standard"]["score"] > 50
    assert res["events"]["median_time_to_detect"] == 3000.0  # 10 rows of 5 min after the window start


def test_evaluate_scenarios_without_the_module_says_so(tmp_path, capsys, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "simulators.evaluate", None)  # make the import fail
    assert main(["evaluate", "--scenarios", str(tmp_path)]) == 2
    assert "simulators.evaluate" in capsys.readouterr().err


def test_nab_score_rules_on_a_hand_made_file():
    times = list(range(1000))
    windows = [(500, 599)]
    early = [0.0] * 1000
    early[500] = 1.0  # first row of the window: full reward
    res = nab_score({"f": (times, early, windows)})["standard"]
    assert abs(res["score"] - 100.0) < 1e-6 * 100 + 0.2
    late = [0.0] * 1000
    late[599] = 1.0
    assert nab_score({"f": (times, late, windows)})["standard"]["score"] < 60
    fp = [0.0] * 1000
    fp[300] = 1.0  # outside: the optimiser prefers to detect nothing
    r = nab_score({"f": (times, fp, windows)})["standard"]
    assert r["score"] == 0.0 and r["threshold"] == float("inf")
    m = event_metrics(times, [1 if i in (300, 301, 550) else 0 for i in times], windows)
    assert (m["events"], m["true_events"], m["false_events"], m["recall"]) == (2, 1, 1, 1.0)
    assert m["time_to_detect"] == [50.0]


def _write_device(path, n=1200, fault=(800, 950), hz=1.0):
    """A 1 Hz device of three correlated sensors; from ``fault`` the pressure difference rises
    while air speed falls (each inside its own normal range), and air speed then freezes."""
    rng = random.Random(11)
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    load = 0.0
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["timestamp", "air", "dp", "current", "label"])
        for i in range(n):
            load += -0.02 * load + rng.gauss(0, 0.1)
            air = 20 + load + rng.gauss(0, 0.1)
            dp = 1000 + 30 * load + rng.gauss(0, 3)
            cur = 50 + 2 * load + rng.gauss(0, 0.2)
            bad = fault[0] <= i < fault[1]
            if bad:
                air, dp = air - 1.0, dp + 40
            if fault[0] + 100 <= i < fault[1]:
                air = 19.0  # frozen transmitter
            w.writerow(
                [(t0 + timedelta(seconds=i / hz)).isoformat(), f"{air:.4f}", f"{dp:.4f}", f"{cur:.4f}", int(bad)]
            )


def test_score_fast_device_warmup_joint_active_and_evaluate_rows(tmp_path, capsys):
    """1 Hz, 400 warm-up rows: scored from row 401 on (not after 8.3 h), the columns judged
    jointly; ``active`` holds through the fault; ``warning evaluate`` reports per-row F1,
    FAR and MAR of ``active``."""
    src, out = tmp_path / "dev.csv", tmp_path / "out.csv"
    _write_device(src)
    assert main(["score", str(src), "-o", str(out), "--warmup-rows", "400"]) == 0
    rows = _read(out)
    assert list(rows[0]) == ["timestamp", "anomaly_score", "alert", "active"]
    assert all(r["active"] == "0" and r["alert"] == "0" for r in rows[:400])
    fault = [r for r in rows[800:950]]
    assert sum(r["active"] == "1" for r in fault) >= 0.8 * len(fault)  # held open through the fault
    assert "1" in {r["alert"] for r in rows[800:810]}  # a detection starts at once
    normal = rows[400:800] + rows[1000:]
    assert sum(r["active"] == "1" for r in normal) <= 0.13 * len(normal)
    # the label column of the input, carried into the results for evaluate
    with open(src) as fh:
        labels = [r["label"] for r in csv.DictReader(fh)]
    with open(out) as fh:
        recs = list(csv.DictReader(fh))
    with open(tmp_path / "scored.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["timestamp", "anomaly_score", "alert", "active", "label"])
        for r, lab in zip(recs, labels):
            w.writerow([r["timestamp"], r["anomaly_score"], r["alert"], r["active"], lab])
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "scored.csv"), "--json", str(tmp_path / "r.json")]) == 0
    text = capsys.readouterr().out
    assert "rows of the active column" in text and "FAR" in text and "MAR" in text
    res = json.loads((tmp_path / "r.json").read_text())["rows"]
    assert res["f1"] >= 0.8 and res["far"] <= 0.13 and res["tp"] + res["fn"] == 150
    # --separate: each column alone (no joint model) is a different, weaker judgement
    assert main(["score", str(src), "-o", str(tmp_path / "sep.csv"), "--warmup-rows", "400", "--separate"]) == 0


def test_one_hz_single_column_is_scored_right_after_the_warmup(tmp_path):
    """A 1 Hz point with --warmup-rows 400 is judged from row 401 (with the 5-minute reference
    row it would wait 8.3 h); the reference row follows the warm-up: 400 s / 100 rows = 4 s."""
    from warning.cli.score import reference_interval

    assert reference_interval([float(i) for i in range(400)], 100) == 4.0
    assert reference_interval([300.0 * i for i in range(400)], 100) == 300.0  # never above 5 min
    assert reference_interval([0.0], 100) == 300.0
    rng = random.Random(3)
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    src, out = tmp_path / "fast.csv", tmp_path / "out.csv"
    with open(src, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["timestamp", "value"])
        for i in range(900):
            w.writerow(
                [(t0 + timedelta(seconds=i)).isoformat(), f"{10 + rng.gauss(0, 1) + (30 if i == 850 else 0):.4f}"]
            )
    assert main(["score", str(src), "-o", str(out), "--warmup-rows", "400"]) == 0
    rows = _read(out)
    assert all(r["anomaly_score"] == "0.000000" for r in rows[:400])
    assert any(float(r["anomaly_score"]) > 0.0 for r in rows[400:410])  # judged at once
    assert rows[850]["alert"] == "1" and rows[850]["active"] == "1"
    # young ranges still set a record now and then (docs/detectors.md, sharp edges); each
    # report is followed by 30 reference rows (here 2 min) of quiet
    assert sum(r["alert"] == "1" for r in rows[400:]) <= 4
