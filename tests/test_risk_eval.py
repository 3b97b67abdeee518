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
