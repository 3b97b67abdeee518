"""The risk model (warning/risk): config, score, explanation, hysteresis, snapshot."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from warning.risk.config import RiskConfigError, default, from_dict, parse
from warning.risk.model import AlarmChange, RiskModel, Standing, WarningKind

ROOT = Path(__file__).resolve().parent.parent
T0 = 1_780_000_000.0


def ch(at, alert, level, *, point="hopper_temp", kind="hopper_temp", rule="threshold", device="DC1", e="E1"):
    return AlarmChange(at, alert, e, device, point, rule, level, kind, raised=level > 0)


def test_the_shipped_file_is_the_defaults():
    assert from_dict(tomllib.loads((ROOT / "config/risk.toml").read_text(encoding="utf-8"))) == default()


@pytest.mark.parametrize(
    "text, word",
    [
        ("[levels]\nblue = 50.0", "rise strictly"),
        ("[levels]\nbleu = 5.0", "bleu"),
        ("[nope]\n", "nope"),
        ("[severity]\nred = -1", "severity.red"),
        ("[loop]\ntiers = []", "tiers"),
        ("not toml [", "not TOML"),
    ],
)
def test_bad_files_are_refused_by_name(text, word):
    with pytest.raises(RiskConfigError, match=word):
        parse(text)


def test_one_warning_per_enterprise_rising_and_explained():
    m = RiskModel(default())
    ev = m.observe(ch(T0, "a1", 3))  # orange hopper temperature: 40 × 1.25 = 50 -> orange
    assert [e.kind for e in ev] == [WarningKind.ISSUED] and ev[0].warning.level == 3
    ev = m.observe(ch(T0 + 10, "a2", 4, point="spark", kind="spark"))  # a red spark on the same device
    assert [e.kind for e in ev] == [WarningKind.RAISED] and ev[0].warning.level == 4
    w = ev[0].warning
    assert w.id == m.current("E1").id and len(m.warnings()) == 1
    groups = {f.group for f in w.factors}
    assert groups == {"alarm", "device"}
    assert abs(sum(f.share for f in w.factors) - 1.0) < 1e-9
    assert {f.alert for f in w.factors if f.group == "alarm"} == {"a1", "a2"}


def test_a_yellow_alarm_alone_is_no_warning_until_something_corroborates_it():
    """A brief yellow stays an alarm; the score crosses blue only when it lasts, or with the ledger."""
    c = default()
    m = RiskModel(c)
    assert m.observe(ch(T0, "y", 2)) == []  # yellow hopper temperature: 18.75 < blue 20
    ev = m.tick(T0 + 600)  # standing 10 min: 18.75 × (1 + 0.5 × 600/3600) = 20.3 -> blue
    assert [e.kind for e in ev] == [WarningKind.ISSUED] and ev[0].warning.level == 1
    m2 = RiskModel(c)
    assert m2.observe(ch(T0, "y", 2, point="air_speed", kind="air_speed")) == []  # 15
    assert m2.tick(T0 + 1800) == []  # 15 × 1.25 = 18.75: still an alarm only
    assert [e.kind for e in m2.tick(T0 + 2400)] == [WarningKind.ISSUED]  # 40 min: 20
    st = Standing(explosion_classes=("St3",), dust_workers=50, dry_collectors=2, risk_grade="orange")
    m3 = RiskModel(c, {"E1": st})  # the same yellow where the dust is St3 and 50 work with it: 15 × 1.5
    assert [e.kind for e in m3.observe(ch(T0, "y", 2, point="air_speed", kind="air_speed"))] == [WarningKind.ISSUED]


def test_hazard_class_weighs_a_stuck_transmitter_less():
    m = RiskModel(default())
    m.observe(ch(T0, "s", 3, rule="stuck"))
    assert m.current("E1") is None  # an orange stuck transmitter: 40 × 0.25 = 10 < the blue cut-off
    s1, _ = m.score("E1", T0)
    m2 = RiskModel(default())
    m2.observe(ch(T0, "t", 3))  # the same severity on the same hopper's temperature itself
    s2, _ = m2.score("E1", T0)
    assert s2 == pytest.approx(5 * s1) and m2.current("E1").level == 3


def test_the_ceiling_corroboration_confirms_it_does_not_invent_a_colour():
    c = default()
    # two symptoms of one clogged filter (an orange air speed, an orange dp) for an hour: orange,
    # though the score (60 + 30 + device 27 = 117) passes red; the explanation says why
    m = RiskModel(c)
    m.observe(ch(T0, "v", 3, point="air_speed", kind="air_speed"))
    m.observe(ch(T0, "p", 3, point="dp", kind="dp"))
    m.tick(T0 + 3600)
    w = m.current("E1")
    assert w.level == 3 and w.score == pytest.approx(117.0)
    assert [f.group for f in w.factors if f.points == 0] == ["ceiling"]
    # an ignition source corroborated may go one colour up: a hot hopper with sparks makes red
    m = RiskModel(c)
    m.observe(ch(T0, "t", 3))
    ev = m.observe(ch(T0 + 5, "s", 3, point="spark", kind="spark"))
    assert ev[-1].warning.level == 4 and not any(f.group == "ceiling" for f in ev[-1].warning.factors)
    # a transmitter that went silent (red nodata), repeating for a day, never passes blue
    m = RiskModel(c, {"E1": Standing(("St3",), 100, 3, "red")})
    for i in range(4):
        m.observe(ch(T0 + i * 7200, f"n{i}", 4, rule="nodata"))
        m.tick(T0 + i * 7200 + 3600)
        if i < 3:
            m.observe(ch(T0 + i * 7200 + 3600, f"n{i}", 0, rule="nodata"))
    assert m.current("E1").level == 1
    assert c.ceiling([(4, "sensor")]) == 1 and c.ceiling([(3, "ignition")]) == 4 and c.ceiling([]) == 4


def test_standing_risk_and_context_add_named_terms():
    st = Standing(explosion_classes=("St2",), dust_workers=50, dry_collectors=2, risk_grade="orange")
    m = RiskModel(default(), {"E1": st})
    m.observe(ch(T0, "a", 3, point="fan_fault", kind="fan_fault"))
    m.set_context("E1", T0, overdue_areas=2, unclosed=1)
    score, factors = m.score("E1", T0)
    names = {f.group for f in factors}
    assert names == {"alarm", "standing", "context", "ceiling"}
    # 40 × (1 + .1 + .1 + .1 + .1) + 16 + 3 = 75: past red, but an orange process alarm allows orange
    assert score == pytest.approx(40 * 1.4 + 16 + 3)
    assert m.current("E1").level == 3


def test_hysteresis_holds_then_clears_with_due_times():
    c = default()
    m = RiskModel(c)
    m.observe(ch(T0, "a", 4))
    assert m.current("E1").level == 4
    m.observe(ch(T0 + 60, "a", 0))  # resolved: score 0
    assert m.tick(T0 + 60 + c.clear_hold - 1) == []
    assert m.current("E1").level == 4  # no flapping down and up
    # the alarm comes back within the hold: still the same warning, no new one
    ev = m.observe(ch(T0 + 120, "b", 4))
    assert ev == [] and m.current("E1").level == 4
    m.observe(ch(T0 + 180, "b", 0))
    ev = m.tick(T0 + 180 + c.clear_hold + 500)
    assert [e.kind for e in ev] == [WarningKind.CLEARED]
    assert ev[0].at == T0 + 180 + c.clear_hold  # the due time, not the tick's
    assert m.current("E1") is None


def test_lowering_needs_the_hold():
    c = default()
    m = RiskModel(c)
    m.observe(ch(T0, "r", 4))
    m.observe(ch(T0, "y", 3, point="airlock_fault", kind="airlock_fault"))
    m.observe(ch(T0 + 1, "r", 0))  # left: an orange airlock 40 -> orange floor
    assert m.tick(T0 + c.hold_down - 10) == []
    ev = m.tick(T0 + 1 + c.hold_down)
    assert [e.kind for e in ev] == [WarningKind.LOWERED] and ev[0].warning.level == 3


def test_repeats_and_duration_raise_the_score():
    c = default()
    m = RiskModel(c)
    for i in range(3):
        m.observe(ch(T0 + i * 100, f"a{i}", 2))
        m.observe(ch(T0 + i * 100 + 50, f"a{i}", 0))
    m.observe(ch(T0 + 400, "a9", 2))
    s, _ = m.score("E1", T0 + 400)
    assert s == pytest.approx(15 * 1.25 * (1 + 3 * c.repeat_bonus))
    s_late, _ = m.score("E1", T0 + 400 + c.duration_full)
    assert s_late == pytest.approx(s * (1 + c.duration_bonus))


def test_same_input_same_events_and_snapshot_round_trip():
    def feed(m):
        out = m.observe(ch(T0, "a", 3))
        out += m.observe(ch(T0 + 5, "b", 4, point="spark", kind="spark"))
        return out

    a, b = RiskModel(default()), RiskModel(default())
    assert [e.id for e in feed(a)] == [e.id for e in feed(b)]
    c = RiskModel(default())
    c.restore(a.snapshot())
    for m in (a, c):
        m.observe(ch(T0 + 9, "a", 0))
        m.observe(ch(T0 + 9, "b", 0, point="spark", kind="spark"))
    assert [e.id for e in a.tick(T0 + 99999)] == [e.id for e in c.tick(T0 + 99999)] != []


def test_a_cleared_condition_is_no_longer_live_risk_and_its_return_is_a_repeat():
    """An alarm whose condition cleared stays open for a person to sign (issue 13), but it no
    longer scores: the warning ends after the clear hold; the condition coming back counts as a repeat."""
    c = default()
    m = RiskModel(c)
    m.observe(ch(T0, "a", 3))  # orange hopper temperature: 40 × 1.25 = 50 -> orange
    assert m.current("E1").level == 3
    m.observe(AlarmChange(T0 + 60, "a", "E1", "DC1", "hopper_temp", "threshold", 0, "hopper_temp"))  # cleared
    assert m.score("E1", T0 + 60)[0] == 0
    ev = m.tick(T0 + 60 + c.clear_hold + 1)
    assert [e.kind for e in ev] == [WarningKind.CLEARED] and m.current("E1") is None
    back = T0 + 60 + c.clear_hold + 120
    m.observe(AlarmChange(back, "a", "E1", "DC1", "hopper_temp", "threshold", 3, "hopper_temp"))  # "updated"
    score, factors = m.score("E1", back)
    assert score == pytest.approx(50 * (1 + c.repeat_bonus))  # the earlier raise is a repeat now


def _ent(**kw):
    from warning.site import Collectors, Dust, Enterprise

    base = dict(
        dusts=(Dust("wood", "St1"), Dust("aluminium", "St3")),
        dust_workers=42,
        collectors=Collectors(3, False, "布袋"),
        risk_grade="orange",
    )
    base.update(kw)
    return Enterprise("E7", "七号", (), **base)


def test_ledger_fields_become_the_standing_risk():
    from warning.risk.standing import standing_of

    st = standing_of(_ent(), default())
    assert st == Standing(("St1", "St3"), 42, 3, "orange")
    from warning.site import Collectors

    assert standing_of(_ent(collectors=Collectors(2, True)), default()).dry_collectors == 0  # wet ones add nothing


@pytest.mark.parametrize(
    "kw, word",
    [
        ({"dusts": ()}, None),
        ({"risk_grade": "high"}, "risk_grade 'high'"),
        ({"dust_workers": -3}, "dust_workers -3"),
        ({"dust_workers": True}, "dust_workers True"),
        ({"collectors": "three"}, None),
    ],
)
def test_bad_ledger_fields_are_refused_by_name_not_defaulted(kw, word):
    from warning.risk.standing import StandingError, standing_of, standings
    from warning.site import Collectors, Dust

    if kw == {"dusts": ()}:  # not recorded: fine, adds nothing
        assert standing_of(_ent(**kw), default()).explosion_classes == ()
        with pytest.raises(StandingError, match=r"E7: dusts\[0\].explosion_class 'St4'"):
            standing_of(_ent(dusts=(Dust("wood", "St4"),)), default())
        return
    if kw == {"collectors": "three"}:
        with pytest.raises(StandingError, match=r"collectors.count 2.5"):
            standing_of(_ent(collectors=Collectors(2.5, False)), default())  # type: ignore[arg-type]
        with pytest.raises(StandingError, match=r"collectors.wet 'no'"):
            standing_of(_ent(collectors=Collectors(2, "no")), default())  # type: ignore[arg-type]
        return
    with pytest.raises(StandingError, match=word):
        standing_of(_ent(**kw), default())
    with pytest.raises(StandingError, match="E7"):
        standings([_ent(), _ent(**kw)], default())


def test_the_site_file_refuses_coerced_ledger_values():
    from warning.config import ConfigError, parse_site

    def site(col, workers=3):
        ent = {"id": "E1", "name": "一", "token_sha256": [], "collectors": col, "dust_workers": workers}
        return {"site": {"name": "s"}, "enterprises": [ent]}

    with pytest.raises(ConfigError, match="collectors.wet"):
        parse_site(site({"count": 2, "wet": "false"}), {})
    with pytest.raises(ConfigError, match="dust_workers"):
        parse_site(site({"count": 2}, 3.7), {})
    assert parse_site(site({"count": 2, "wet": True}), {}).enterprises["E1"].collectors.wet is True


def test_warning_run_refuses_a_ledger_value_the_model_cannot_weigh(tmp_path):
    """Before anything starts: the enterprise and the field named, exit status 2."""
    import subprocess
    import sys

    site = tmp_path / "site.toml"
    site.write_text(
        '[site]\nname = "s"\n\n[[enterprises]]\nid = "E1"\nname = "一号"\nrisk_grade = "high"\n'
        '[[enterprises.devices]]\nid = "DC1"\ntype = "bag_filter"\npoints = ["dp"]\n',
        encoding="utf-8",
    )
    out = subprocess.run(
        [sys.executable, "-m", "warning.cli", "run", "--site", str(site), "--port", "0"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert out.returncode == 2, out.stderr
    assert "E1" in out.stderr and "risk_grade 'high'" in out.stderr
