"""The one step every runtime takes (warning/step.py), without a runtime: no database, no
broker, no event loop, no clock."""

from __future__ import annotations

import pytest

from tests.conftest import site_dict
from warning.config import parse_site
from warning.model import Reading, Severity
from warning.pipeline import Pipeline
from warning.policy.silences import Silence
from warning.step import Batch, Command, DeadLetter, Effects, SilenceChange, Step, SystemFinding, Tick, admit

T0 = 1_800_000_000.0


@pytest.fixture()
def fresh(kinds):
    site = parse_site(site_dict(channels=[{"id": "log", "type": "log"}]), kinds)
    points = {i + 1: p for i, p in enumerate(site.points)}

    def make() -> tuple[Step, dict]:
        return Step(Pipeline(points, site.offline_after, policy=site.alert_policy(), channels=site.channels)), points

    return make


def pid(points, ent, dev, point) -> int:
    return next(i for i, p in points.items() if (p.ref.enterprise, p.ref.device, p.ref.point) == (ent, dev, point))


def test_the_message_id_rule():
    r = [Reading(1, 1.0, 0.0)]
    taken: set = set()
    got, new, dups = admit("E1", [("a", r), ("b", r), ("a", r), (None, r)], {"b": 7}, taken)
    assert (len(got), new, dups) == (2, ["a"], 2) and taken == {("E1", "a")}
    assert admit("E2", [("a", r)], {}, taken)[1] == ["a"]  # ids are per enterprise
    # a replay takes a message only if the store says this very batch stored it
    got, new, dups = admit("E1", [("a", r), ("b", r), (None, r)], {"a": 5, "b": 7}, set(), replay_code=5)
    assert (len(got), new, dups) == (2, [], 0)


def test_routing_runs_on_the_inputs_own_time(fresh):
    """The same batch routed inside a silence is muted, outside it is sent: the time that
    decides is the batch's, never a clock."""
    quiet = Silence("s1", {"enterprise": "E1"}, T0, T0 + 100, "duty", "maintenance")
    sent = {}
    for at in (T0 + 50, T0 + 200):
        step, points = fresh()
        step.apply(SilenceChange([quiet], at))
        vent = pid(points, "E1", "DC1", "vent_open")
        out = step.apply(Batch([("m1", [Reading(vent, at, 1.0)])], at, "E1", code=-1))
        assert [e.kind.value for e in out.events] == ["raised"] and out.ids == [("E1", "m1", -1)]
        sent[at] = len(out.notifications)
    assert sent[T0 + 50] == 0 and sent[T0 + 200] >= 1
    # and a replay of the same input rebuilds state without returning effects
    step, points = fresh()
    vent = pid(points, "E1", "DC1", "vent_open")
    out = step.apply(Batch([("m1", [Reading(vent, T0, 1.0)])], T0, "E1", code=-1, known={"m1": -1}), replay=True)
    assert out.events == [] and out.notifications == [] and out.rows == [] and out.ids == []
    assert [a.point for a in step.open_alerts()] == ["vent_open"]


def test_commands_replies_and_a_poison_command(fresh):
    step, points = fresh()
    vent = pid(points, "E1", "DC1", "vent_open")
    aid = step.apply(Batch([(None, [Reading(vent, T0, 1.0)])], T0)).events[0].alert.id
    out = step.apply(Command("c0", "acknowledge", aid, "duty", "bad\u0000note", T0 + 1))
    assert out.replies == [
        {"reply": "c0", "ok": False, "error": out.replies[0]["error"], "not_found": False, "invalid": True}
    ]
    assert "note" in out.replies[0]["error"] and out.events == []
    assert [p.source for p in out.poison] == ["command"]
    assert [(f.device, f.point, f.rule, f.severity) for f in out.ops] == [
        ("pipeline", "commands", "poison", Severity.ORANGE)
    ]
    assert step.alert(aid).state.value == "active"  # changed nothing
    out = step.apply(Command("c1", "acknowledge", aid, "duty", "seen", T0 + 2))
    assert out.replies[0]["ok"] and out.replies[0]["alert"]["state"] == "acknowledged"
    out = step.apply(Command("c2", "resolve", "nope", "duty", "x", T0 + 3))
    assert out.replies == [
        {
            "reply": "c2",
            "ok": False,
            "error": out.replies[0]["error"],
            "not_found": True,
            "msgid": "no open alert with id {id}",
            "params": {"id": repr("nope")},
        }
    ]


def test_system_findings_and_dead_letters_are_alerts_like_any_other(fresh):
    step, _ = fresh()
    out = Effects()
    f = SystemFinding("watchdog", "partition-3", "stalled", Severity.ORANGE, 31.0, "no progress for 31 s", T0)
    assert SystemFinding.from_json(f.to_json()) == f
    step.apply(f, out)
    step.apply(
        DeadLetter({"id": 9, "attempts": 8, "event_id": "e1", "channel": "log", "last_error": "refused"}, T0), out
    )
    assert sorted((e.alert.enterprise, e.alert.device, e.alert.rule) for e in out.events) == [
        ("_system", "outbox", "dead_letter"),
        ("_system", "watchdog", "stalled"),
    ]
    assert out.dead_letters == [9]
    aid = next(e.alert.id for e in out.events if e.alert.rule == "stalled")
    assert step.apply(Command("c", "acknowledge", aid, "duty", None, T0 + 5)).replies[0]["ok"]
    cleared = step.apply(SystemFinding("watchdog", "partition-3", "stalled", None, 0.0, "moving", T0 + 9))
    assert [e.kind.value for e in cleared.events] == ["cleared"]  # issue 13: cleared, a person lifts it
    assert step.apply(Tick(T0 + 10)).events == []
