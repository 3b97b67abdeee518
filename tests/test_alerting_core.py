"""Duty-officer alerting, pure core, without an event loop: cron, policies, the lifecycle,
escalation and flap timers, and the notification router (tiers, grouping, silences,
inhibition, throttling, one-code push). Time is injected as data everywhere."""

from __future__ import annotations

import pytest

from warning.alerts import AlertEngine, AlertError
from warning.model import AlertState, EventKind, Finding, PointRef, Severity
from warning.policy.cron import Cron, CronError
from warning.policy.policies import PolicyError, parse_policy
from warning.policy.router import Router
from warning.policy.silences import Silence, SilenceError, validate
from warning.site import Channel
from warning.times import parse_iso

REF = PointRef("E1", "DC1", "hopper_temp")


def at(text: str, zone_name: str = "Asia/Shanghai") -> float:
    """Wall-clock time in ``zone_name`` (China time by default) -> epoch seconds."""
    return parse_iso(text, zone_name=zone_name)


T0 = at("2026-11-28T10:00:00")  # a Saturday


def f(sev, t, rule="threshold", value=1.0):
    return Finding(rule, sev, t, value, f"{sev}")


POLICY = {
    "escalation": {
        "tiers": [
            {"name": "duty officer", "channels": ["robot"], "roster": "duty"},
            {"name": "shift leader", "channels": ["leader-sms"], "roster": "leaders"},
            {"name": "bureau leader", "channels": ["bureau-mail"]},
        ],
        "after": {"red": 60, "orange": 300},
        "repeat": 1,
    },
    "rosters": {
        "duty": [
            {"who": "zhang.san", "phone": "13800000001", "days": "*", "from": "08:00", "to": "20:00"},
            {"who": "li.si", "phone": "13800000002", "days": "*", "from": "20:00", "to": "08:00"},
        ],
        "leaders": [{"who": "wang.wu", "phone": "13900000001", "email": "wang@example.cn"}],
    },
    "contacts": {"E1": {"phone": "13700000001", "webhook_env": "E1_HOOK"}},
    "noise": {"group_interval": 60, "flap_window": 60, "flap_changes": 3},
    "maintenance": [
        {
            "id": "sat-night",
            "cron": "0 2 * * sat",
            "duration": 7200,
            "match": {"enterprise": "E2"},
            "reason": "weekly bag change",
        }
    ],
}
CHANNELS = [
    Channel("robot", "wecom", "blue", {"url": "http://x"}),
    Channel("leader-sms", "sms", "orange", {"url": "http://x", "to_on_duty": True}),
    Channel("bureau-mail", "email", "red", {"host": "x", "to": ["bureau@example.cn"]}),
    Channel("hook", "webhook", "blue", {"url": "http://x"}),
    Channel("e-sms", "sms", "yellow", {"url": "http://x", "to_enterprise": True}),
]


def policy():
    return parse_policy(POLICY, {c.id for c in CHANNELS})


# -- cron and rosters ------------------------------------------------------------------------
def test_cron_matches_minutes_days_and_windows():
    c = Cron("0 2 * * 6")  # Saturdays 02:00 China time
    assert c.matches(at("2026-11-28T02:00:30")) and not c.matches(at("2026-11-28T02:01:00"))
    assert not c.matches(at("2026-11-27T02:00:00"))  # a Friday
    assert c.active(at("2026-11-28T03:59:00"), 7200) and not c.active(at("2026-11-28T04:00:00"), 7200)
    assert not c.active(at("2026-11-28T01:59:00"), 7200)
    steps = Cron("*/15 8-17 * * mon-fri")
    assert steps.matches(at("2026-11-30T08:45:00")) and not steps.matches(at("2026-11-30T08:50:00"))
    assert not steps.matches(at("2026-11-29T08:45:00"))  # Sunday
    either = Cron("0 0 1 * mon")  # classic cron: day-of-month OR weekday when both are set
    assert either.matches(at("2026-12-01T00:00:00")) and either.matches(at("2026-11-30T00:00:00"))
    for bad in ("* * * *", "61 * * * *", "*/0 * * * *", "a * * * *", "5-1 * * * *"):
        with pytest.raises(CronError):
            Cron(bad)


def test_roster_finds_the_person_on_shift_across_midnight():
    p = policy()
    assert p.on_duty("duty", at("2026-11-28T09:00:00"))["name"] == "zhang.san"
    assert p.on_duty("duty", at("2026-11-28T23:30:00"))["name"] == "li.si"
    assert p.on_duty("duty", at("2026-11-29T03:00:00"))["name"] == "li.si"  # the shift began the day before
    assert p.holder(0, at("2026-11-28T09:00:00")) == "duty officer: zhang.san"
    assert p.holder(2, T0) == "bureau leader"  # no roster: the tier's name


def test_rosters_and_windows_follow_the_sites_zone_across_a_daylight_saving_change(kinds):
    """A roster written for a site in Europe/London is matched on London's wall clock, before and
    after the clocks go back (BST -> GMT on Sunday 2026-10-25): 07:30 UTC is 08:30 on Saturday
    (the day shift) and 07:30 on Monday (still the night shift). Read as a fixed UTC+8, both are
    15:30 in the afternoon; read as a fixed offset, one of the two days is wrong."""
    from tests.conftest import site_dict
    from warning.config import parse_site

    london = "Europe/London"
    raw = site_dict()
    raw["site"]["timezone"] = london
    raw["policy"] = {k: POLICY[k] for k in ("rosters", "maintenance")}
    raw["policy"]["escalation"] = {"tiers": [{"name": "duty officer", "roster": "duty"}]}
    pol = parse_site(raw, kinds).alert_policy()
    assert pol.timezone == london
    saturday, monday = at("2026-10-24T07:30:00+00:00"), at("2026-10-26T07:30:00+00:00")
    assert at("2026-10-24T08:30:00", london) == saturday and at("2026-10-26T07:30:00", london) == monday
    assert pol.on_duty("duty", saturday)["name"] == "zhang.san"
    assert pol.on_duty("duty", monday)["name"] == "li.si"
    assert pol.on_duty("duty", at("2026-10-26T20:00:00", london))["name"] == "li.si"
    # the holder an alert names is the person on shift on the site's clock
    eng = AlertEngine(pol)
    assert eng.observe(REF, f(Severity.ORANGE, saturday))[0].alert.holder == "duty officer: zhang.san"
    # the maintenance window "0 2 * * sat" (2 h) opens at 02:00 London time, in summer time too
    win = pol.windows[0]
    assert win.cron.active(at("2026-10-24T03:30:00", london), win.duration, london)
    assert not win.cron.active(at("2026-10-24T03:30:00", "Asia/Shanghai"), win.duration, london)

    def to_robot(t: float) -> list:
        raised = AlertEngine(pol).observe(PointRef("E2", "DC1", "hopper_temp"), f(Severity.YELLOW, t))
        return [n for n in Router(pol, CHANNELS).route(raised, t) if n.channel == "robot"]

    assert to_robot(at("2026-10-24T03:30:00", london)) == []  # muted: inside the window
    assert len(to_robot(at("2026-10-24T03:30:00", "Asia/Shanghai"))) == 1  # Friday evening in London
    # a Site built directly with a zone hands its policy that zone (one zone per site)
    from warning.site import Site

    assert Site("s", 60.0, {}, (), {}, (), policy(), timezone=london).alert_policy().timezone == london


@pytest.mark.parametrize(
    "patch, needle",
    [
        ({"escalation": {"tiers": [{"name": "x", "channels": ["nope"]}]}}, "unknown channels"),
        ({"escalation": {"tiers": [{"name": "x", "roster": "ghosts"}]}}, "unknown roster"),
        ({"escalation": {"after": {"purple": 5}}}, "severity"),
        ({"rosters": {"duty": [{"who": "a", "from": "25:99"}]}}, "time"),
        ({"rosters": {"duty": [{"from": "08:00"}]}}, "who"),
        ({"maintenance": [{"cron": "0 2 * *", "reason": "r"}]}, "cron"),
        ({"maintenance": [{"cron": "0 2 * * *"}]}, "reason"),
    ],
)
def test_bad_policy_fails_with_a_reason(patch, needle):
    with pytest.raises(PolicyError, match=needle):
        parse_policy({**POLICY, **patch}, {c.id for c in CHANNELS})


# -- lifecycle -------------------------------------------------------------------------------
def test_lifecycle_issued_signed_handling_feedback_lifted_with_holders():
    eng = AlertEngine(policy())
    raised = eng.observe(REF, f(Severity.ORANGE, T0))[0]
    aid = raised.alert.id
    assert raised.alert.holder == "duty officer: zhang.san"  # nobody signed: the person on shift holds it
    with pytest.raises(AlertError, match="sign for"):
        eng.handle(aid, "duty", "go", T0 + 1)
    with pytest.raises(AlertError, match="sign for"):
        eng.feedback(aid, "duty", "x", T0 + 1)
    ack = eng.acknowledge(aid, "zhao", "seen", T0 + 2)[0]
    assert ack.alert.holder == "zhao" and ack.alert.state is AlertState.ACKNOWLEDGED
    h = eng.handle(aid, "qian", "team sent", T0 + 3)[0]
    assert h.kind is EventKind.HANDLING and h.alert.holder == "qian" and h.alert.handled_by == "qian"
    with pytest.raises(AlertError, match="note or attachments"):
        eng.feedback(aid, "qian", " ", T0 + 4)
    files = [{"name": "hopper.jpg", "type": "image/jpeg", "size": 12345, "url": "https://files/1"}]
    fb = eng.feedback(aid, "qian", "smouldering put out", T0 + 5, files)[0]
    assert fb.kind is EventKind.FEEDBACK and fb.data == {"attachments": files} and fb.alert.feedback_count == 1
    fb2 = eng.feedback(aid, "qian", "temperature back to 30", T0 + 6)[0]
    assert fb2.alert.feedback_count == 2 and fb2.id != fb.id and fb2.alert.state is AlertState.FEEDBACK
    with pytest.raises(AlertError, match="reason"):
        eng.resolve(aid, "zhao", None, T0 + 7)  # condition still active: a reason is required
    done = eng.resolve(aid, "zhao", "cleared on site", T0 + 8)[0]
    assert done.alert.state is AlertState.RESOLVED and done.alert.resolved_by == "zhao"
    # the same actions again give the same ids (what a restart's re-application relies on)
    again = AlertEngine(policy())
    a2 = again.observe(REF, f(Severity.ORANGE, T0))[0].alert.id
    ids = [
        again.acknowledge(a2, "zhao", "seen", T0 + 2)[0].id,
        again.handle(a2, "qian", "x", T0 + 3)[0].id,
        again.feedback(a2, "qian", "smouldering put out", T0 + 5, files)[0].id,
    ]
    assert ids == [ack.id, h.id, fb.id]


def test_feedback_verdict_is_a_field_of_its_own_and_the_old_attachment_form_still_reads():
    """Issue 13: the verdict (属实/误报/检修) is the feedback's own field, kept as the event's
    ``data.verdict``; a command written before (the verdict as an attachment entry of type
    ``verdict``) reads the same, and the entry never shows among the attachments."""
    from warning.runtime import records
    from warning.step import Command

    eng = AlertEngine(policy())
    aid = eng.observe(REF, f(Severity.ORANGE, T0))[0].alert.id
    eng.acknowledge(aid, "zhao", "seen", T0 + 1)
    files = [{"name": "vent.jpg", "type": "image/jpeg", "size": 10, "url": "https://files/2"}]
    fb = eng.feedback(aid, "qian", "vent replaced", T0 + 2, files, verdict="maintenance")[0]
    assert fb.data == {"attachments": files, "verdict": "maintenance"}
    only = eng.feedback(aid, "qian", None, T0 + 3, None, "confirmed")[0]  # a verdict alone is feedback enough
    assert only.data == {"verdict": "confirmed"}
    old = eng.feedback(aid, "qian", "x", T0 + 4, [{"name": "verdict", "type": "verdict", "url": "false_alarm"}])[0]
    assert old.data == {"verdict": "false_alarm"}
    # the Kafka command record carries it as "v"; a record without it reads as no verdict
    rec = records.decode(records.encode_command("c1", "feedback", aid, "qian", "n", None, 1.0, "confirmed"))
    assert rec["v"] == "confirmed"
    assert "v" not in records.decode(records.encode_command("c2", "feedback", aid, "qian", "n", None, 1.0))
    assert Command("c", "feedback", aid, "qian", None, 1.0).verdict is None


# -- escalation ------------------------------------------------------------------------------
def test_escalation_climbs_tiers_on_the_severity_timer_repeats_and_stops_on_ack():
    eng = AlertEngine(policy())
    aid = eng.observe(REF, f(Severity.RED, T0))[0].alert.id
    assert eng.tick(T0 + 59.9) == []
    e1 = eng.tick(T0 + 60.4)
    assert [e.kind for e in e1] == [EventKind.ESCALATED]
    assert e1[0].at == T0 + 60 and e1[0].alert.tier == 1 and e1[0].data["tier_name"] == "shift leader"
    assert e1[0].alert.holder == "shift leader: wang.wu"
    assert eng.tick(T0 + 61) == []
    assert eng.tick(T0 + 120)[0].alert.tier == 2
    rep = eng.tick(T0 + 180)[0]
    assert rep.alert.tier == 2 and rep.data["repeat"] and rep.data["step"] == 3
    assert eng.tick(T0 + 1000) == []  # tiers (2 steps) + 1 repeat: done
    # the event time is the due time, so a late tick gives the same id
    other = AlertEngine(policy())
    other.observe(REF, f(Severity.RED, T0))
    assert other.tick(T0 + 60.9)[0].id == e1[0].id
    # signing for it stops the climb
    eng2 = AlertEngine(policy())
    a2 = eng2.observe(PointRef("E1", "DC2", "spark"), f(Severity.RED, T0))[0].alert.id
    eng2.acknowledge(a2, "duty", None, T0 + 30)
    assert eng2.tick(T0 + 500) == []
    # severities without a timer never escalate
    eng3 = AlertEngine(policy())
    eng3.observe(REF, f(Severity.YELLOW, T0))
    assert eng3.tick(T0 + 10_000) == []
    assert aid


def test_escalation_state_survives_a_snapshot():
    eng = AlertEngine(policy())
    eng.observe(REF, f(Severity.RED, T0))
    eng.tick(T0 + 60)
    copy = AlertEngine(policy())
    copy.restore(eng.snapshot())
    assert copy.tick(T0 + 90) == []  # step 1 already taken
    assert [e.id for e in copy.tick(T0 + 120)] == [e.id for e in eng.tick(T0 + 120)]


# -- flapping --------------------------------------------------------------------------------
def test_flapping_condition_is_held_as_one_alert_and_closes_when_stable():
    eng = AlertEngine(policy())
    raised = []
    t = T0
    first = eng.observe(REF, f(Severity.YELLOW, t))
    raised += [e for e in first if e.kind is EventKind.RAISED]
    # 2 changes: a clearing of its own; the alert stays open (issue 13: nobody signed yet)
    assert eng.observe(REF, f(None, t + 5))[0].kind is EventKind.CLEARED
    third = eng.observe(REF, f(Severity.YELLOW, t + 10))  # 3rd change in a minute: flapping
    raised += [e for e in third if e.kind is EventKind.RAISED]
    assert third[0].kind is EventKind.UPDATED and third[0].alert.flapping
    aid = third[0].alert.id
    for k in range(10):  # it keeps coming and going: one alert, no new raises, no closes
        for e in eng.observe(REF, f(None, t + 15 + 4 * k)) + eng.observe(REF, f(Severity.YELLOW, t + 17 + 4 * k)):
            assert e.kind is EventKind.UPDATED and e.alert.id == aid and not e.data
    assert len(raised) == 1 and len(eng.open_alerts()) == 1
    last = t + 17 + 4 * 9
    held = eng.observe(REF, f(None, last + 1))[0]
    assert held.kind is EventKind.UPDATED and not held.alert.condition_active and held.alert.flapping
    assert eng.tick(last + 30) == []
    closed = eng.tick(last + 61 + 0.5)  # stayed clear a whole window: cleared, not lifted
    assert [e.kind for e in closed] == [EventKind.CLEARED] and closed[0].alert.id == aid
    assert [(a.id, a.flapping, a.state) for a in eng.open_alerts()] == [(aid, False, AlertState.ACTIVE)]
    copy_src = AlertEngine(policy())  # the change history is part of the snapshot
    copy_src.observe(REF, f(Severity.YELLOW, t))
    copy_src.observe(REF, f(None, t + 5))
    copy = AlertEngine(policy())
    copy.restore(copy_src.snapshot())
    assert copy.observe(REF, f(Severity.YELLOW, t + 10))[0].alert.flapping


# -- router ----------------------------------------------------------------------------------
def router():
    return Router(policy(), CHANNELS)


def test_tiers_route_raise_and_escalations_to_their_channels_with_the_person_on_shift():
    eng, r = AlertEngine(policy()), router()
    ev = eng.observe(REF, f(Severity.RED, T0))
    out = r.route(ev, T0)
    assert {n.channel for n in out} == {"robot", "hook", "e-sms"}  # tier 0 + untiered + enterprise contact
    robot = next(n for n in out if n.channel == "robot")
    assert robot.payload["recipient"]["name"] == "zhang.san" and robot.items == ((ev[0].id, ev[0].alert.id),)
    esms = next(n for n in out if n.channel == "e-sms")
    assert esms.payload["contact"]["phone"] == "13700000001"
    up = r.route(eng.tick(T0 + 60), T0 + 60)
    assert {n.channel for n in up} == {"leader-sms", "hook", "e-sms"}
    assert next(n for n in up if n.channel == "leader-sms").payload["recipient"]["phone"] == "13900000001"
    up2 = r.route(eng.tick(T0 + 120), T0 + 120)
    assert "bureau-mail" in {n.channel for n in up2} and "leader-sms" not in {n.channel for n in up2}
    # E2 has no contact: the one-code-push channel stays quiet for it
    e2 = eng.observe(PointRef("E2", "DC1", "spark"), f(Severity.RED, T0 + 200))
    assert "e-sms" not in {n.channel for n in r.route(e2, T0 + 200)}


def test_flood_from_one_enterprise_gives_one_message_per_group_interval_per_channel():
    eng, r = AlertEngine(policy()), router()
    sent: dict[str, list[float]] = {}
    covered: dict[str, set] = {}
    raised = []
    for i in range(1000):  # 1,000 alerts in one minute from E1
        now = T0 + i * 0.06
        # yellow: grouping holds back blue and yellow only (issue 13: orange and red never wait)
        ev = eng.observe(PointRef("E1", f"DC{i}", "spark"), f(Severity.YELLOW, now, rule="threshold"))
        raised += ev
        for n in r.route(ev, now) + r.tick(now):
            sent.setdefault(n.channel, []).append(now)
            covered.setdefault(n.channel, set()).update(e for e, _ in n.items)
    for k in range(1, 400):  # the next minutes: ticks only
        now = T0 + 60 + k * 0.25
        for n in r.tick(now):
            sent.setdefault(n.channel, []).append(now)
            covered.setdefault(n.channel, set()).update(e for e, _ in n.items)
            assert n.kind == "group" and n.payload["count"] == 999 and len(n.payload["events"]) == 20
    for ch, times in sent.items():
        assert all(b - a >= 60 for a, b in zip(times, times[1:])), ch
        assert len(times) == 2, (ch, len(times))  # the first at once, the rest as one group
        assert covered[ch] == {e.id for e in raised}, ch  # nobody lost


def test_group_drops_alerts_signed_for_while_held():
    eng, r = AlertEngine(policy()), router()
    evs = [eng.observe(PointRef("E1", f"DC{i}", "spark"), f(Severity.YELLOW, T0 + i))[0] for i in range(3)]
    for i, e in enumerate(evs):
        r.route([e], T0 + i)
    r.route(eng.acknowledge(evs[1].alert.id, "duty", None, T0 + 5), T0 + 5)
    groups = [n for n in r.tick(T0 + 61) if n.channel == "robot"]
    assert len(groups) == 1 and [e for e, _ in groups[0].items] == [evs[2].id]


def test_red_and_orange_never_wait_behind_a_group_window():
    eng, r = AlertEngine(policy()), router()
    first = eng.observe(PointRef("E1", "DC1", "spark"), f(Severity.ORANGE, T0))
    assert "robot" in {n.channel for n in r.route(first, T0)}
    yellow = eng.observe(PointRef("E1", "DC2", "dp"), f(Severity.YELLOW, T0 + 1, rule="baseline"))
    assert "robot" not in {n.channel for n in r.route(yellow, T0 + 1)}  # yellow waits for the window
    red = eng.observe(PointRef("E1", "DC3", "vent_open"), f(Severity.RED, T0 + 2))
    out = [n for n in r.route(red, T0 + 2) if n.channel == "robot"]
    assert [(n.kind, n.alert_id) for n in out] == [("raised", red[0].alert.id)]  # at once, alone
    rise = eng.observe(PointRef("E1", "DC2", "dp"), f(Severity.ORANGE, T0 + 3, rule="baseline"))
    assert "robot" in {n.channel for n in r.route(rise, T0 + 3)}  # a rise to orange too
    held = [n for n in r.tick(T0 + 61) if n.channel == "robot"]
    assert [n.items for n in held] == [((yellow[0].id, yellow[0].alert.id),)]  # the yellow is not lost


def test_silences_and_maintenance_windows_mute_but_lifecycle_still_syncs():
    eng, r = AlertEngine(policy()), router()
    night = at("2026-11-28T02:30:00")  # inside E2's Saturday window from the configuration
    ev = eng.observe(PointRef("E2", "DC1", "spark"), f(Severity.RED, night))
    assert r.route(ev, night) == [] and r.suppressed["silenced"] == 2  # robot and hook (E2 has no contact)
    r.set_silences([Silence("s1", {"enterprise": "E1", "device": "DC1"}, T0 - 10, T0 + 3600, "duty", "bag change")])
    ev = eng.observe(REF, f(Severity.RED, T0))
    assert r.route(ev, T0) == []
    ack = eng.acknowledge(ev[0].alert.id, "duty", None, T0 + 1)
    assert [n.channel for n in r.route(ack, T0 + 1)] == ["hook"]
    later = eng.observe(PointRef("E1", "DC1", "dp"), f(Severity.RED, T0 + 4000))  # the silence has expired
    assert r.route(later, T0 + 4000)
    recurring = Silence("s2", {"point": "dp"}, T0, T0 + 30 * 86400, "duty", "nightly", "0 22 * * *", 3600)
    assert recurring.active(at("2026-11-29T22:30:00")) and not recurring.active(at("2026-11-29T23:30:00"))


def test_silence_validation_requires_reason_expiry_and_valid_cron():
    ok = validate({"matchers": {"enterprise": "E1"}, "reason": "r", "ends_at": T0 + 60}, now=T0)
    assert ok["starts_at"] == T0 and ok["cron"] is None
    for body, needle in [
        ({"matchers": {}, "reason": "r", "ends_at": T0 + 60}, "matchers"),
        ({"matchers": {"colour": "x"}, "reason": "r", "ends_at": T0 + 60}, "matchers"),
        ({"matchers": {"enterprise": "E1"}, "ends_at": T0 + 60}, "reason"),
        ({"matchers": {"enterprise": "E1"}, "reason": "r"}, "expires"),
        ({"matchers": {"enterprise": "E1"}, "reason": "r", "ends_at": T0 - 1}, "future"),
        ({"matchers": {"enterprise": "E1"}, "reason": "r", "ends_at": T0 + 60, "cron": "x"}, "cron"),
        ({"matchers": {"enterprise": "E1"}, "reason": "r", "ends_at": T0 + 60, "cron": "0 2 * * *"}, "duration"),
    ]:
        with pytest.raises(SilenceError, match=needle):
            validate(body, now=T0)


def test_open_vent_inhibits_pressure_and_airflow_of_the_same_collector():
    eng, r = AlertEngine(policy()), router()
    dp_first = eng.observe(PointRef("E1", "DC1", "dp"), f(Severity.ORANGE, T0, rule="baseline"))
    vent = eng.observe(PointRef("E1", "DC1", "vent_open"), f(Severity.RED, T0, rule="flag"))
    out = r.route(dp_first + vent, T0)  # same batch: the vent still wins
    assert {n.alert_id for n in out} == {vent[0].alert.id}
    speed = eng.observe(PointRef("E1", "DC1", "air_speed"), f(Severity.YELLOW, T0 + 1))
    assert r.route(speed, T0 + 1) == [] and r.suppressed["inhibited"] == 6  # 3 channels x 2 alerts
    other = eng.observe(PointRef("E1", "DC2", "dp"), f(Severity.ORANGE, T0 + 2, rule="baseline"))
    assert r.route(other, T0 + 200)  # another collector is not inhibited


def test_throttle_per_channel_holds_and_sends_one_group_later():
    chans = [Channel("sms", "sms", "blue", {"url": "http://x", "to": ["1"], "max_per_minute": 2})]
    pol = parse_policy({"noise": {"group_interval": 0}}, {"sms"})
    eng, r = AlertEngine(pol), Router(pol, chans)
    got = []
    for i in range(5):
        got += r.route(eng.observe(PointRef(f"E{i}", "DC1", "spark"), f(Severity.RED, T0 + i)), T0 + i)
    assert len(got) == 2
    assert r.tick(T0 + 30) == []
    later = r.tick(T0 + 61)
    assert len(later) == 1 and later[0].kind == "group" and later[0].payload["count"] == 3


def test_router_snapshot_keeps_held_groups():
    eng, r = AlertEngine(policy()), router()
    for i in range(3):
        r.route(eng.observe(PointRef("E1", f"DC{i}", "spark"), f(Severity.YELLOW, T0 + i)), T0 + i)
    copy = router()
    copy.restore(r.snapshot())
    a = sorted((n.channel, n.items) for n in r.tick(T0 + 61))
    b = sorted((n.channel, n.items) for n in copy.tick(T0 + 61))
    assert a == b and a


def test_escalation_is_not_held_behind_its_own_raise_in_a_group_window():
    raw = {**POLICY, "escalation": {**POLICY["escalation"], "after": {"red": 10}}}
    pol = parse_policy(raw, {c.id for c in CHANNELS})
    eng, r = AlertEngine(pol), Router(pol, CHANNELS)
    assert {n.channel for n in r.route(eng.observe(REF, f(Severity.RED, T0)), T0)} >= {"robot", "hook"}
    first = r.route(eng.tick(T0 + 10), T0 + 10)  # inside the raise's 60 s window: still at once
    assert {n.channel for n in first} == {"leader-sms", "hook", "e-sms"} and all(n.kind == "escalated" for n in first)
    second = r.route(eng.tick(T0 + 20), T0 + 20)
    assert "bureau-mail" in {n.channel for n in second} and "hook" in {n.channel for n in second}


def test_the_escalation_of_a_red_that_fell_back_is_routed_as_a_red():
    """A red falls to yellow before anyone signs: its escalation keeps the red deadline and is
    news at red, so the orange-and-up leader SMS of tier 1 hears it, and it goes out at once
    beside an orange's escalation of the same enterprise and step instead of waiting in the
    window that one opened, as a yellow's would."""
    pol = policy()
    eng, r = AlertEngine(pol), Router(pol, CHANNELS)
    r.route(eng.observe(PointRef("E1", "DC2", "spark"), f(Severity.ORANGE, T0 - 240)), T0 - 240)  # step 1 at T0 + 60
    red = eng.observe(REF, f(Severity.RED, T0))[0].alert.id  # step 1 at T0 + 60 too
    r.route([], T0)
    r.route(eng.observe(REF, f(Severity.YELLOW, T0 + 5)), T0 + 5)
    steps = eng.tick(T0 + 60.5)
    mine = [e for e in steps if e.alert.id == red]
    assert [(e.kind, e.alert.severity, e.alert.peak_severity) for e in mine] == [
        (EventKind.ESCALATED, Severity.YELLOW, Severity.RED)
    ]
    assert steps[0].alert.id != red  # the orange's escalation first: it opens the step's windows
    sent = r.route(steps, T0 + 60.5)
    assert {n.channel for n in sent if any(aid == red for _, aid in n.items)} == {"leader-sms", "hook", "e-sms"}


def test_nodata_policy_per_point_alerts_or_lifts_and_survives_a_snapshot(site):
    from warning.model import Reading
    from warning.pipeline import Pipeline

    pol = parse_policy(
        {
            "nodata": [
                {
                    "match": {"enterprise": "E1", "device": "DC1", "point": "hopper_temp"},
                    "after": 30,
                    "action": "alert",
                    "severity": "orange",
                },
                {"match": {"kind": "spark"}, "after": 20, "action": "resolve"},
            ]
        }
    )
    pids = {(p.ref.enterprise, p.ref.device, p.ref.point): i for i, p in enumerate(site.points)}
    p = Pipeline(dict(enumerate(site.points)), offline_after=10_000, policy=pol)
    temp, spark = pids[("E1", "DC1", "hopper_temp")], pids[("E1", "DC2", "spark")]
    p.watch_devices([], T0)
    p.process([Reading(temp, T0, 30.0), Reading(spark, T0, 3.0)], T0)
    assert {a.point for a in p.engine.open_alerts()} == {"spark"}
    assert p.tick(T0 + 19) == []
    lifted = p.tick(T0 + 21)  # spark: no data, no evidence: its alert is cleared (a person lifts it)
    assert [(e.kind, e.alert.point) for e in lifted] == [(EventKind.CLEARED, "spark")]
    raised = p.tick(T0 + 31)
    assert [(e.kind, e.alert.rule, e.alert.severity) for e in raised] == [(EventKind.RAISED, "nodata", Severity.ORANGE)]
    copy = Pipeline(dict(enumerate(site.points)), offline_after=10_000, policy=pol)
    copy.restore(p.snapshot())
    assert copy.tick(T0 + 40) == []  # already silent: not raised twice
    back = copy.process([Reading(temp, T0 + 41, 30.0)], T0 + 41)
    assert [(e.kind, e.alert.rule) for e in back] == [(EventKind.CLEARED, "nodata")]
    with pytest.raises(PolicyError, match="action"):
        parse_policy({"nodata": [{"after": 5, "action": "explode"}]})


def test_example_and_demo_policies_parse():
    import tomllib

    from warning.config import config_dir, load_site

    raw = tomllib.loads((config_dir() / "policies.example.toml").read_text(encoding="utf-8"))["policy"]
    p = parse_policy(raw)
    assert [t.name for t in p.tiers][1] == "带班领导 shift leader" and p.after[Severity.RED] == 300
    assert p.contacts["E001"]["webhook_env"] == "WARNING_E001_HOOK" and p.nodata[0].action == "alert"
    demo = load_site(config_dir() / "demo" / "site.toml").alert_policy()  # policies.toml beside the site file
    assert demo.tiers[0].channels == ("duty-log",) and demo.on_duty("duty", T0)["name"] == "officer"


# -- issue 13: no alert ends unsigned ------------------------------------------------------------
def test_a_red_that_clears_unsigned_stays_open_and_keeps_escalating_until_signed():
    eng = AlertEngine(policy())
    raised = eng.observe(REF, f(Severity.RED, T0))[0]
    aid = raised.alert.id
    cleared = eng.observe(REF, f(None, T0 + 10))
    assert [e.kind for e in cleared] == [EventKind.CLEARED]
    a = cleared[0].alert
    assert a.state is AlertState.ACTIVE and not a.condition_active and a.cleared_at == T0 + 10
    assert a.message == raised.alert.message  # the raising message is kept
    steps = eng.tick(T0 + 61)
    assert [(e.kind, e.data["step"]) for e in steps] == [(EventKind.ESCALATED, 1)]  # nobody signed: it climbs
    assert eng.tick(T0 + 10_000)[-1].alert.state is AlertState.ACTIVE  # never lifted by time alone
    eng.acknowledge(aid, "zhao", None, T0 + 10_001)
    assert eng.tick(T0 + 100_000) == []  # signed and cleared: a red still waits for a person
    done = eng.resolve(aid, "zhao", None, T0 + 100_001)[0]  # cleared: no reason needed
    assert done.kind is EventKind.RESOLVED and done.alert.resolved_by == "zhao"
    assert done.alert.peak_severity is Severity.RED


def test_a_red_that_falls_back_unsigned_keeps_its_red_deadline():
    """Escalation is timed by the peak severity: a red that falls to yellow (which has no timer
    in this policy) before anyone signs still climbs at the red pace, and a climb already taken
    does not pause while a slower timer catches up."""
    eng = AlertEngine(policy())
    eng.observe(REF, f(Severity.RED, T0))
    down = eng.observe(REF, f(Severity.YELLOW, T0 + 10))[-1].alert
    assert down.severity is Severity.YELLOW and down.peak_severity is Severity.RED
    steps = eng.tick(T0 + 60.5)
    assert [(e.kind, e.at, e.data["step"]) for e in steps] == [(EventKind.ESCALATED, T0 + 60, 1)]
    assert eng.tick(T0 + 120.5)[0].data["step"] == 2

    climbed = AlertEngine(policy())  # orange at 300 s a step; red at 60
    climbed.observe(REF, f(Severity.RED, T0))
    assert climbed.tick(T0 + 121)[-1].data["step"] == 2
    climbed.observe(REF, f(Severity.ORANGE, T0 + 130))  # on the orange timer, step 2 is due at 600 s
    assert [e.data["step"] for e in climbed.tick(T0 + 181)] == [3]  # the repeat, at the red pace


def test_peak_severity_keeps_the_worst_moment_and_its_message():
    eng = AlertEngine()
    eng.observe(REF, Finding("threshold", Severity.YELLOW, T0, 56.0, "yellow 56"))
    eng.observe(REF, Finding("threshold", Severity.RED, T0 + 1, 72.0, "red 72"))
    down = eng.observe(REF, Finding("threshold", Severity.YELLOW, T0 + 2, 60.0, "yellow 60"))[0]
    assert down.alert.severity is Severity.YELLOW and down.alert.peak_severity is Severity.RED
    assert down.alert.message == "red 72" and down.message == "yellow 60"
    assert down.alert.to_json()["peak_severity"] == "red" and down.to_json()["message"] == "yellow 60"


def test_blue_and_yellow_lift_themselves_only_by_the_sites_rule_after_signing_and_clearing():
    raw = {**POLICY, "lifting": {"after": {"yellow": 600}}}
    eng = AlertEngine(parse_policy(raw, {c.id for c in CHANNELS}))
    y = eng.observe(REF, f(Severity.YELLOW, T0))[0].alert.id
    o = eng.observe(PointRef("E1", "DC1", "spark"), f(Severity.ORANGE, T0))[0].alert.id
    eng.observe(REF, f(None, T0 + 5))
    eng.observe(PointRef("E1", "DC1", "spark"), f(None, T0 + 5))
    assert [e for e in eng.tick(T0 + 5000) if e.kind is EventKind.RESOLVED] == []  # unsigned: never
    eng.acknowledge(y, "zhao", None, T0 + 6000)
    eng.acknowledge(o, "zhao", None, T0 + 6000)
    assert eng.tick(T0 + 6599) == []
    lifted = eng.tick(T0 + 6601)
    assert [(e.kind, e.alert.id, e.actor) for e in lifted] == [(EventKind.RESOLVED, y, None)]
    assert lifted[0].at == T0 + 6600  # due time, so the id is stable
    assert lifted[0].note == "按本地规则自动解除：已签收且报警条件已消失" and lifted[0].data == {"lifted_by_rule": 600}
    assert [a.id for a in eng.open_alerts()] == [o]  # orange: only a person lifts it
    with pytest.raises(PolicyError, match="person"):
        parse_policy({"lifting": {"after": {"orange": 60}}})


def test_recurrence_of_a_signed_cleared_alert_is_heard_again():
    eng, r = AlertEngine(policy()), router()
    aid = eng.observe(REF, f(Severity.RED, T0))[0].alert.id
    eng.acknowledge(aid, "zhao", None, T0 + 1)
    r.route(eng.observe(REF, f(None, T0 + 2)), T0 + 2)
    back = eng.observe(REF, f(Severity.RED, T0 + 100))
    assert back[0].kind is EventKind.UPDATED and back[0].data == {"recurred": True}
    assert "robot" in {n.channel for n in r.route(back, T0 + 100)}


def test_a_clearing_and_a_fall_carry_their_own_structured_words():
    from warning.config import PointDef
    from warning.messages import Describer, render

    temp = PointDef(
        REF,
        "hopper_temp",
        "°C",
        "hopper temperature",
        ({"type": "threshold", "levels": [[55, "yellow"], [70, "red"]]},),
    )
    eng = AlertEngine(policy(), Describer.of([temp]))
    raised = eng.observe(REF, Finding("threshold", Severity.RED, T0, 72.0, "x"))[0]
    assert raised.alert.message == "料斗温度 72.0 °C，超过红色限值 70 °C"
    fall = eng.observe(REF, Finding("threshold", Severity.YELLOW, T0 + 1, 60.0, "x"))[0]
    assert fall.message == "料斗温度 60.0 °C，超过黄色限值 55 °C" and fall.alert.message == raised.alert.message
    assert render(fall.data["message_data"], "en") == "hopper temperature 60.0 °C, above the yellow limit 55 °C"
    clear = eng.observe(REF, Finding("threshold", None, T0 + 2, 40.0, "x"))[0]
    assert clear.message == "料斗温度恢复正常（40.0 °C）" and clear.to_json()["message"] == clear.message
    assert render(clear.data["message_data"], "en") == "hopper temperature back to normal (40.0 °C)"
