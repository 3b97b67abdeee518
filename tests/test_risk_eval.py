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


def test_loop_items_join_a_rise_while_the_enterprise_item_is_open():
    """The service's count: a warning issued again while the enterprise's item is not yet closed
    (closed at the earliest when the condition is over and the reply limit of its peak passed)."""
    from simulators.risk_eval import loop_items

    c = default()
    red = c.reply_within["red"]
    events = [
        _we("issued", 0, 4, wid="a"),
        _we("cleared", 600, 0, wid="a"),
        _we("issued", red - 60, 3, wid="b"),  # before the red reply limit: the same loop item
        _we("cleared", red + 600, 0, wid="b"),
        _we("issued", red + 7200, 2, wid="c"),  # condition over and the limit passed: a new item
        _we("issued", 100, 1, e="E2", wid="d"),
    ]
    assert loop_items(events, c) == 3


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
