"""Scenario files, the added faults, the sampling plan, the scoring rules and
``simulators.evaluate.main``: pure, no server, no event loop."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import pytest

from simulators.faults import (
    Drift,
    Dropout,
    FanFailure,
    InertingLoss,
    Overheat,
    SparkBurst,
    VentOpen,
    WaterLoss,
)
from simulators.plant import BagFilter, WetCollector
from simulators.run import RunResult, run_scenario, sample_plan
from simulators.scenarios import ScenarioError, load_scenario, parse_scenario, seconds
from simulators.score import score_fault, score_run
from simulators.stepper import SiteModel

ROOT = Path(__file__).resolve().parent.parent
LIBRARY = sorted((ROOT / "config" / "scenarios").glob("*.toml"))
T0 = 1_780_272_000.0  # Monday 2026-06-01 08:00 +08:00


def small(**head) -> dict:
    return {
        "scenario": {"start": T0, "duration": "1h", "interval": 5, "schedule": "always", **head},
        "site": {"enterprises": 2, "collectors": 2, "seed": 3},
    }


# ---------------------------------------------------------------- files


def test_durations():
    assert seconds(90) == 90 and seconds("90s") == 90 and seconds("30m") == 1800
    assert seconds("1h30m") == 5400 and seconds("7d") == 7 * 86400 and seconds("2.5m") == 150
    for bad in ("", "h", "1x", "m30", "1h 30"):
        with pytest.raises(ScenarioError):
            seconds(bad + ("" if bad != "1h 30" else "q"))


def test_every_library_file_loads_with_labelled_faults():
    assert len(LIBRARY) >= 6
    names = set()
    for path in LIBRARY:
        sc = load_scenario(path)
        names.add(sc.name)
        assert sc.duration > 0 and sc.interval > 0 and sc.site["enterprises"]
        ids = {(e["id"], d["id"]) for e in sc.site["enterprises"] for d in e["devices"]}
        for f in sc.faults:
            assert (f.enterprise, f.device) in ids
            label = f.label()
            assert label["onset"] >= sc.start and label["severity"] in ("blue", "yellow", "orange", "red")
    assert {"hazards-fast", "normal-week", "district-month", "sensor-faults"} <= names
    kinds = {f.kind for p in LIBRARY for f in load_scenario(p).faults}
    assert {
        "overheat",
        "spark_burst",
        "vent_open",
        "fan_failure",
        "airlock_jam",
        "airflow_loss",
        "bag_blinding",
        "bag_break",
        "inerting_loss",
        "water_loss",
        "stuck",
        "drift",
        "dropout",
        "spike",
        "offline",
    } <= kinds


def test_fault_specs_are_checked():
    raw = small()
    raw["faults"] = [{"type": "vent_open", "enterprise": "E001", "device": "DC1", "at": "10m", "duration": "2m"}]
    sc = parse_scenario(raw)
    (f,) = sc.faults
    assert isinstance(f, VentOpen) and f.start == T0 + 600 and f.duration == 120
    for bad, why in (
        ({"type": "meteor"}, "unknown fault type"),
        ({"type": "vent_open", "enterprise": "E999"}, "unknown enterprise"),
        ({"type": "vent_open", "device": "DC9"}, "no device"),
        ({"type": "overheat", "speed": 3}, "bad parameters"),
    ):
        with pytest.raises(ScenarioError, match=why):
            parse_scenario({**small(), "faults": [bad]})
    with pytest.raises(ScenarioError, match="multiple"):
        parse_scenario(small(background_interval=7))


def test_fault_goes_to_a_device_that_has_its_points():
    raw = {
        **small(),
        "site": {"enterprises": 5, "collectors": 1, "seed": 6, "inerting": ["E002"]},
        "faults": [{"type": "water_loss"}, {"type": "inerting_loss"}],
    }
    sc = parse_scenario(raw)
    water, inert = sorted(sc.faults, key=lambda f: f.kind)[::-1]
    ents = {e["id"]: e for e in sc.site["enterprises"]}
    assert water.device == "WC1" and ents[water.enterprise]["dust"] == "aluminium"
    assert inert.enterprise == "E002" and "o2" in ents["E002"]["devices"][0]["points"]


# ---------------------------------------------------------------- added faults


def series(model, fault, n, step=1.0, t0=T0):
    out = []
    for k in range(n):
        t = t0 + k * step
        v = model.sample(t)
        out.append((t, fault.apply(t, v)))
    return out


def test_fan_failure_trips_the_flag_and_runs_the_fan_down():
    f = FanFailure(enterprise="E", device="D", start=T0 + 60, duration=300)
    rows = series(BagFilter(3, fan_fault=True), f, 600)
    before, during, after = rows[30][1], rows[60 + 120][1], rows[-1][1]
    assert before["fan_fault"] == 0 and before["running"] == 1 and before["air_speed"] > 17
    assert during["fan_fault"] == 1 and during["running"] == 0 and during["air_speed"] < 0.5 and during["dp"] < 100
    assert after["fan_fault"] == 0 and after["air_speed"] > 17
    t16 = next(t for t, v in rows if v["air_speed"] < 16)
    assert abs(t16 - f.hazard_time()) <= 2 and f.label()["severity"] == "orange"
    assert "fan_fault" not in BagFilter(3).sample(T0)  # only devices that have the point send it


def test_inerting_and_water_loss_reach_their_hazard_at_the_labelled_time():
    inert = InertingLoss(enterprise="E", device="D", start=T0 + 60, tau=600)
    rows = series(BagFilter(4, inerting=True), inert, 1200, step=2.0)
    t_loc = next(t for t, v in rows if v["o2"] >= 10.0)
    assert abs(t_loc - inert.hazard_time()) < 60 and inert.deserved() == "red"
    water = WaterLoss(enterprise="E", device="W", start=T0 + 60, rate=2.0, duration=3600)
    rows = series(WetCollector(4, level=70.0), water, 1200, step=2.0)
    t_dry = next(t for t, v in rows if v["water_level"] <= 10.0)
    assert abs(t_dry - water.hazard_time()) < 200  # the level wanders ±~5 % around its 70 % nominal
    assert min(v["water_level"] for _, v in rows) >= 0


def test_drift_and_dropout_are_sensor_faults_that_reproduce():
    drift = Drift(enterprise="E", device="D", start=T0, point="hopper_temp", pct_per_day=4.0)
    healthy = BagFilter(5).sample(T0 + 86400)
    assert drift.apply(T0 + 86400, healthy)["hopper_temp"] == pytest.approx(healthy["hopper_temp"] * 1.04, abs=0.01)
    drop = Dropout(enterprise="E", device="D", start=T0, duration=1000, p=0.3, seed=4)
    lost = [drift.start + k for k in range(1000) if drop.apply(T0 + k, {"dp": 1.0}) is None]
    assert 240 < len(lost) < 360
    assert lost == [drift.start + k for k in range(1000) if drop.apply(T0 + k, {"dp": 1.0}) is None]
    assert drift.label()["hazard_time"] is None and drop.label()["severity"] == "blue"


def test_a_short_spark_burst_is_latched_into_the_next_coarse_sample():
    site = parse_scenario(small()).site
    burst = SparkBurst(enterprise="E001", device="DC1", start=T0 + 12, duration=3, count=2)
    model = SiteModel(site, [burst], seed=1)
    seen = {t: model.values(("E001", "DC1"), t)["spark"] for t in (T0, T0 + 10, T0 + 20, T0 + 30)}
    assert seen == {T0: 0, T0 + 10: 0, T0 + 20: 2, T0 + 30: 0}
    fine = SiteModel(site, [burst], seed=1)
    assert [fine.values(("E001", "DC1"), T0 + k)["spark"] for k in range(10, 18)] == [0, 0, 2, 2, 2, 0, 0, 0]


# ---------------------------------------------------------------- sampling plan and runs


def test_sample_plan_is_fine_around_faults_and_coarse_elsewhere():
    raw = small(duration="6h", interval=10, background_interval=600)
    raw["faults"] = [{"type": "vent_open", "enterprise": "E001", "device": "DC1", "at": "3h", "duration": "5m"}]
    sc = parse_scenario(raw)
    plan = list(sample_plan(sc))
    times = [t for t, _ in plan]
    assert times == sorted(times) and len(set(times)) == len(times)
    everyone = [t for t, due in plan if due is None]
    assert len(everyone) == 36 and all((t - T0) % 600 == 0 for t in everyone)
    fine = [t for t, due in plan if due is not None]
    assert all(due == [("E001", "DC1")] for _, due in plan if due is not None)
    assert min(fine) == T0 + 3 * 3600 - 300 and max(fine) >= T0 + 3 * 3600 + 300 + 900 - 10
    sc.background_interval = None
    assert sum(1 for _ in sample_plan(sc)) == 6 * 360


def test_runs_reproduce_and_a_vent_opening_is_caught_at_once():
    raw = small(duration="40m", interval=5)
    raw["faults"] = [{"type": "vent_open", "enterprise": "E002", "device": "DC2", "at": "20m", "duration": "5m"}]
    one, two = run_scenario(parse_scenario(raw)), run_scenario(parse_scenario(raw))
    assert one.events == two.events and one.readings == two.readings > 0
    report = score_run(one)
    (vent,) = report["faults"]
    assert vent["detected"] and vent["severity_reached"] == "red" and vent["passed"]
    assert vent["time_to_orange"] == 0 and vent["instantaneous"]
    assert "vent_open:threshold" in vent["rules"]


# ---------------------------------------------------------------- scoring rules (fabricated events)


def ev(at, level, point="hopper_temp", kind="raised", device="DC1", enterprise="E001", rule="threshold"):
    names = {1: "blue", 2: "yellow", 3: "orange", 4: "red"}
    return {
        "kind": kind,
        "at": at,
        "enterprise": enterprise,
        "device": device,
        "point": point,
        "rule": rule,
        "severity": names[level],
        "level": level,
    }


def test_margin_is_the_share_of_warning_time_left():
    f = Overheat(enterprise="E001", device="DC1", start=T0, rate=2.0, from_temp=30.0)  # 70 °C at +20 min
    hazard = f.hazard_time() - T0
    r = score_fault(f, [ev(T0 + 60, 1), ev(T0 + 300, 3, rule="rate", kind="raised")], T0 + 7200, 5)
    assert r["detected"] and r["severity_reached"] == "orange" and r["time_to_detect"] == 60
    assert r["margin"] == pytest.approx((hazard - 300) / hazard) and r["passed"]
    late = score_fault(f, [ev(T0 + hazard + 10, 4)], T0 + 7200, 5)
    assert not late["passed"] and late["margin"] < 0
    other_point = score_fault(f, [ev(T0 + 300, 3, point="dp")], T0 + 7200, 5)
    assert not other_point["detected"]
    assert not score_fault(f, [ev(T0 + 300, 3, device="DC2")], T0 + 7200, 5)["detected"]


def test_sensor_faults_fail_only_on_process_colours():
    from simulators.faults import Stuck

    f = Stuck(enterprise="E001", device="DC1", start=T0, point="hopper_temp", duration=600)
    assert score_fault(f, [ev(T0 + 600, 1, rule="stuck")], T0 + 3600, 5)["passed"]
    assert not score_fault(f, [ev(T0 + 700, 3, rule="rate")], T0 + 3600, 5)["passed"]


def test_false_alarms_are_the_unattributed_raises_per_fault_free_enterprise_day():
    sc = parse_scenario(
        {
            **small(duration="2d"),
            "faults": [{"type": "vent_open", "enterprise": "E001", "device": "DC1", "at": "1d", "duration": "1h"}],
        }
    )
    events = [
        ev(T0 + 86400 + 60, 4, point="vent_open"),  # the fault's
        ev(T0 + 86400 + 60, 3, point="air_speed", kind="updated"),  # not a raise
        ev(T0 + 3600, 2, point="dp", device="DC2"),  # false
        ev(T0 + 7200, 1, point="air_speed", enterprise="E002", rule="anomaly"),
    ]  # false
    report = score_run(RunResult(sc, events))
    window = 3600 + 900  # the fault plus SETTLE
    assert report["false_alarms"] == 2
    assert report["fault_free_enterprise_days"] == pytest.approx(4 - window / 86400, abs=1e-3)
    assert report["false_alarms_per_enterprise_week"] == pytest.approx(2 / (4 - window / 86400) * 7, rel=1e-3)
    assert {(s["point"], s["rule"]) for s in report["false_alarm_sources"]} == {
        ("dp", "threshold"),
        ("air_speed", "anomaly"),
    }


# ---------------------------------------------------------------- the entry point


def test_evaluate_main_prints_a_table_and_writes_json_and_png(tmp_path, capsys):
    from simulators.evaluate import main

    path = tmp_path / "mini.toml"
    path.write_text(f"""
[scenario]
name = "mini"
start = {T0}
duration = "45m"
interval = 5
schedule = "always"
[site]
enterprises = 2
collectors = 1
[[faults]]
type = "spark_burst"
enterprise = "E002"
at = "20m"
duration = 4
[[faults]]
type = "overheat"
enterprise = "E001"
at = "10m"
rate = 6.0
from_temp = 30.0
duration = "15m"
""")
    code = main(argparse.Namespace(scenarios=[str(path)], out=str(tmp_path / "out")))
    text = capsys.readouterr().out
    assert "== mini" in text and "spark_burst" in text and "overheat" in text and "false alarms" in text
    data = json.loads((tmp_path / "out" / "evaluation.json").read_text())
    (report,) = data["scenarios"]
    assert report["hazardous"] == 2 and len(report["faults"]) == 2
    assert (code == 0) == (not report["verdict"])
    png = tmp_path / "out" / "mini.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    spark = next(f for f in report["faults"] if f["type"] == "spark_burst")
    assert spark["passed"] and spark["severity_reached"] == "orange"
    hot = next(f for f in report["faults"] if f["type"] == "overheat")
    assert hot["hazard_in"] == pytest.approx(400) and hot["detected"] and not math.isnan(hot["time_to_detect"])


def test_warning_evaluate_scenarios_dispatches_here(tmp_path, monkeypatch, capsys):
    from warning.cli import main

    path = tmp_path / "tiny.toml"
    path.write_text(f"""
[scenario]
start = {T0}
duration = "15m"
interval = 10
schedule = "always"
[[faults]]
type = "vent_open"
at = "5m"
duration = "1m"
""")
    monkeypatch.chdir(tmp_path)
    code = main(["evaluate", "--scenarios", str(path), "--json", str(tmp_path / "result.json")])
    assert "== tiny" in capsys.readouterr().out
    (report,) = json.loads((tmp_path / "result.json").read_text())["scenarios"]
    assert report["faults"][0]["type"] == "vent_open" and report["faults"][0]["passed"]
    assert (tmp_path / "evaluation" / "tiny.png").exists() and code in (0, 1)


def test_write_site_gives_a_loadable_site_whose_tokens_match(tmp_path):
    import tomllib

    from warning.cli import main
    from warning.config import load_site
    from warning.security import token_digest

    path = tmp_path / "inert.toml"
    path.write_text(
        '[scenario]\nduration = "1h"\n[site]\nenterprises = 3\ncollectors = 2\nseed = 5\n'
        'inerting = ["E002"]\noffline_after = 900\n'
    )
    assert main(["simulate", "--scenario", str(path), "--write-site", str(tmp_path / "s")]) == 0
    site = load_site(tmp_path / "s" / "site.toml")
    tokens = tomllib.loads((tmp_path / "s" / "credentials.toml").read_text())["tokens"]
    assert site.offline_after == 900 and set(tokens) == set(site.enterprises) == {"E001", "E002", "E003"}
    for eid, ent in site.enterprises.items():
        assert ent.token_digests == (token_digest(tokens[eid]),)
    o2 = {(p.ref.enterprise, p.ref.device) for p in site.points if p.ref.point == "o2"}
    assert o2 == {("E002", "DC1"), ("E002", "DC2")}
    assert main(["simulate", "--write-site", str(tmp_path / "g"), "--enterprises", "4"]) == 0
    assert len(load_site(tmp_path / "g" / "site.toml").enterprises) == 4


def test_timeline_shift_keeps_the_time_of_day_and_the_server_window():
    from warning.cli.simulate import DAY, WEEK, timeline_shift

    now = T0 + 200 * DAY + 5000.0
    for duration, speed in ((6 * 3600, 1.0), (6 * 3600, 60.0), (7 * DAY, 0.0), (20 * DAY, 0.0)):
        shift = timeline_shift(T0, duration, speed, now)
        assert shift % DAY == 0 and (duration > 20 * DAY or shift % WEEK == 0)
        start = T0 + shift
        assert start >= now - 29 * DAY
        # the last reading is sent at now + duration / speed: never ahead of that moment
        assert start + duration <= now + (duration / speed if speed > 0 else 0) + 1e-6
        live = timeline_shift(T0, duration, speed, now, live=True)
        assert T0 + live + duration == pytest.approx(now + (duration / speed if speed > 0 else 0))
    with pytest.raises(SystemExit):
        timeline_shift(T0, 30 * DAY, 0.0, now)
