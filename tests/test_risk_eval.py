"""Warnings beside alarms in the scenario evaluation (simulators/risk_eval.py), on a small scenario."""

from __future__ import annotations

from pathlib import Path

from simulators.evaluate import evaluate
from warning.risk.config import default, from_dict

ROOT = Path(__file__).resolve().parent.parent


def test_evaluate_reports_warnings_beside_alarms():
    lines: list[str] = []
    [report] = evaluate([ROOT / "config/scenarios/smouldering-slow.toml"], None, plot=False, echo=lines.append)
    r = report["risk"]
    assert any(x.startswith("risk warnings:") for x in lines)
    assert r["alarms"] > 0
    assert 0 < r["warnings"] <= r["alarms"]
    assert r["hazardous"] == report["hazardous"] and r["hazardous_warned_orange"] == r["hazardous"]
    assert r["false_warnings"] == 0


def test_a_model_that_cannot_reach_orange_is_caught_by_the_evaluation():
    """The figures can fail: with the orange cut-off out of reach no hazard is warned in time."""
    blind = from_dict({"levels": {"orange": 900.0, "red": 1000.0}})
    assert blind != default()
    [report] = evaluate(
        [ROOT / "config/scenarios/smouldering-slow.toml"], None, plot=False, risk=blind, echo=lambda _: None
    )
    assert report["risk"]["hazardous_warned_orange"] == 0 and report["risk"]["verdict"]


def _we(kind, at, level, e="E1", wid="w"):
    from warning.risk.model import Warning, WarningEvent, WarningKind

    w = Warning(wid, e, level, at, at, 0.0, (), level)
    return WarningEvent(f"{wid}{kind}{at}", WarningKind(kind), at, w)


def test_the_scripted_loop_counts_what_the_service_opens():
    """The evaluator's warnings are the service's items (the same ``follow``): a warning issued
    again while the enterprise's item is not yet closed joins it (a ``renewed`` step, pushed);
    closed (condition over, replied at the reply limit of its level), the next is a new item."""
    from simulators.risk_eval import _People
    from warning.risk.model import RiskModel

    c = default()
    red = c.reply_within["red"]
    p = _People(c, RiskModel(c))
    p.take([_we("issued", 0, 4, wid="a"), _we("issued", 100, 1, e="E2", wid="d")])
    p.take([_we("cleared", 600, 0, wid="a")])
    p.people(red - 120)  # not replied yet: the red item stays open
    p.take([_we("issued", red - 60, 3, wid="b")])  # joins item a
    item = p.loop.items["a"]
    assert item.steps[-1].action == "renewed" and item.level == "red" and not item.condition_over
    p.take([_we("cleared", red + 600, 0, wid="b")])
    p.people(red + 660)  # replied at the limit, condition over: closed
    assert "a" not in p.loop.items and "E1" not in p.item_of
    p.take([_we("issued", red + 7200, 2, wid="c")])  # a new item
    assert (p.opened, p.renewed) == (3, 1) and p.peak == {"a": "red", "d": "blue", "c": "yellow"}


def test_nuisance_background_is_drawn_and_checked():
    import pytest

    from simulators.scenarios import ScenarioError, parse_scenario

    raw = {
        "scenario": {"duration": "7d", "schedule": "always"},
        "site": {"enterprises": 2, "collectors": 2, "seed": 1},
        "nuisance": {"per_device_week": 3.0, "seed": 2},
    }
    sc = parse_scenario(raw)
    kinds = {f.kind for f in sc.faults}
    assert 4 <= len(sc.faults) <= 40 and kinds <= {"stuck", "drift", "dropout", "spike", "bag_blinding"}
    assert parse_scenario(raw).faults == sc.faults  # the same seed, the same draw
    with pytest.raises(ScenarioError, match="nuisance.kinds"):
        parse_scenario({**raw, "nuisance": {"kinds": ["meteor"]}})


def test_the_field_variant_keeps_district_months_faults_and_adds_a_background():
    from simulators.faults import SENSOR_FAULTS
    from simulators.scenarios import load_scenario

    base = load_scenario(ROOT / "config/scenarios/district-month.toml")
    field = load_scenario(ROOT / "config/scenarios/field/district-month-field.toml")
    key = [(f.kind, f.enterprise, f.device, f.start) for f in base.faults]
    assert set(key) <= {(f.kind, f.enterprise, f.device, f.start) for f in field.faults}  # the same hazards
    extra = len(field.faults) - len(base.faults)
    assert extra > 300 and all(
        f.label()["hazard_time"] is None for f in field.faults if f.kind in SENSOR_FAULTS | {"bag_blinding"}
    )
