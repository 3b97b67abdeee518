"""``warning score --kinds`` runs the runtime's chain: the same readings through the runtime's
Pipeline (built from a site file, as the embedded runtime builds it) and through the command
give the same alerts; running is inferred from air speed and dp when there is no
``running`` point; the columns ``active`` and ``severity``."""

from __future__ import annotations

import csv
import math
from datetime import UTC, datetime

from detectors.device import RunState, build_point_chain
from simulators import faults as F
from simulators.plant import BagFilter, production_on
from warning.cli import main
from warning.config import load_kinds, parse_site
from warning.model import EventKind
from warning.pipeline import Pipeline

START = datetime(2026, 1, 5, tzinfo=UTC).timestamp()  # a Monday
STEP = 10.0
COLS = {"dp_pa": "dp", "hopper_temp_c": "hopper_temp", "airflow_ms": "air_speed", "spark_count": "spark"}


def _recording(path, hours=30):
    """A bag filter at 10 s from Monday 00:00, production 07:30-19:30, no running column; a
    hopper smoulders at 11:00, sparks at 14:00, the hopper thermometer freezes at 16:00."""
    plant = BagFilter(
        5, schedule=lambda t: production_on(t, utc_offset_h=0.0, start_h=7.5, end_h=19.5), utc_offset_h=0.0
    )
    faults = [
        F.Overheat(enterprise="E", device="D", start=START + 11 * 3600 + 3, rate=2.0, from_temp=40.0, duration=1200),
        F.SparkBurst(enterprise="E", device="D", start=START + 14 * 3600 + 3, count=3.0, duration=5.0),
        F.Stuck(enterprise="E", device="D", start=START + 16 * 3600 + 3, point="hopper_temp", duration=3600),
    ]
    rows, prev = [], None
    for i in range(int(hours * 3600 / STEP)):
        t = START + i * STEP
        v = plant.sample(t)
        for f in faults:
            v = f.apply_since(prev, t, v) if isinstance(f, F.SparkBurst) else f.apply(t, v)
        prev = t
        rows.append((t, v))
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["timestamp", *COLS])
        for t, v in rows:
            w.writerow(
                [
                    datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S+00:00"),
                    *(f"{v[k]:g}" for k in COLS.values()),
                ]
            )
    return rows


def _site():
    raw = {
        "site": {"name": "t"},
        "enterprises": [{"id": "E", "name": "E", "devices": [{"id": "D", "points": list(COLS.values())}]}],
    }
    return parse_site(raw, load_kinds())


def test_score_kinds_gives_the_runtime_pipelines_alerts(tmp_path):
    src, out = tmp_path / "dust.csv", tmp_path / "out.csv"
    rows = _recording(src)
    kinds = ",".join(f"{c}={k}" for c, k in COLS.items())
    assert main(["score", str(src), "--kinds", kinds, "-o", str(out)]) == 0
    with open(out) as fh:
        scored = list(csv.DictReader(fh))
    assert list(scored[0]) == ["timestamp", "anomaly_score", "alert", "active", "severity"]
    assert len(scored) == len(rows)

    # the runtime: the site's points, the pipeline as the embedded runtime builds it
    site = _site()
    pipe = Pipeline(dict(enumerate(site.points)), site.offline_after, policy=site.alert_policy())
    index = {p.ref.point: pid for pid, p in enumerate(site.points)}
    raised_rows, active_rows, severities = [], [], []
    for i, (t, v) in enumerate(rows):
        events = pipe.process([(index[k], t, v[k]) for k in COLS.values() if math.isfinite(v[k])], now=t)
        if any(e.kind is EventKind.RAISED for e in events):
            raised_rows.append(i)
        top = max((int(a.severity) for a in pipe.engine.open_alerts() if a.condition_active), default=0)
        active_rows.append(int(top > 0))
        severities.append(top)
    assert [i for i, r in enumerate(scored) if r["alert"] == "1"] == raised_rows
    assert [int(r["active"]) for r in scored] == active_rows
    labels = {0: "", 1: "blue", 2: "yellow", 3: "orange", 4: "red"}
    assert [r["severity"] for r in scored] == [labels[s] for s in severities]

    # and what it found: smouldering at orange/red, sparks at orange, the frozen thermometer
    def active_between(h0, h1, level="blue"):
        order = ["blue", "yellow", "orange", "red"]
        return any(
            r["severity"] and order.index(r["severity"]) >= order.index(level)
            for (t, _), r in zip(rows, scored)
            if START + h0 * 3600 <= t <= START + h1 * 3600
        )

    assert active_between(11, 11.34, "orange")  # before 70 °C (15 min at 2 °C/min from 40 °C)
    assert active_between(14, 14 + STEP / 3600, "orange")  # the first sample after the burst
    assert active_between(16, 16.5)  # stuck: blue within 30 min
    # running inferred from air speed / dp: the night before the shift raises nothing
    night = [r for (t, _), r in zip(rows, scored) if t < START + 7.5 * 3600]
    assert all(r["alert"] == "0" and r["active"] == "0" for r in night)
    assert all(0.0 <= float(r["anomaly_score"]) <= 1.0 for r in scored)
    assert all((float(r["anomaly_score"]) >= 0.5) >= (r["active"] == "1") for r in scored)


def test_running_inferred_from_signals_gates_and_lifts():
    """No running point: air speed above 8 m/s is running; the airflow threshold (gated,
    120 s run-up) judges only then, and a stop lifts it."""
    site = _site()
    pipe = Pipeline(dict(enumerate(site.points)))
    air = next(pid for pid, p in enumerate(site.points) if p.ref.point == "air_speed")
    events = []
    for i in range(30):  # stopped: 0 m/s is no airflow loss
        events += pipe.process([(air, float(i), 0.0)], now=float(i))
    assert events == [] and pipe.running_since[("E", "D")] is None
    for i in range(30, 200):  # runs, but slowly: after the 120 s run-up, an orange airflow alert
        events += pipe.process([(air, float(i), 12.0)], now=float(i))
    assert pipe.running_since[("E", "D")] == 30.0
    assert [(e.kind, e.alert.rule) for e in events if e.alert.point == "air_speed"] == [(EventKind.RAISED, "threshold")]
    stop = pipe.process([(air, 200.0, 0.5)], now=200.0)
    assert [(e.kind, e.alert.rule) for e in stop] == [(EventKind.CLEARED, "threshold")]  # issue 13: not lifted


def test_chain_builder_gates_and_signal():
    specs = load_kinds()["air_speed"]["detectors"]
    chain = build_point_chain(specs, title="air")
    assert chain.signal is not None and chain.signal.above == 8.0
    assert "running" not in {type(d).__name__.lower() for d in chain.detectors}
    assert chain.gated and len(chain.run_ups) == len(chain.detectors)
    ungated = build_point_chain(specs, title="air", gated=False)
    assert not ungated.gated
    run = RunState()
    assert run.judged(5.0, 120.0)  # never reported: judged
    assert run.observe(10.0, False) is False and not run.judged(11.0, 0.0)
    assert run.observe(20.0, True) is True and not run.judged(100.0, 120.0) and run.judged(140.0, 120.0)
