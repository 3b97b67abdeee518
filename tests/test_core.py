"""The pure core without an event loop: ingest parsing, the alert engine, the pipeline."""

from __future__ import annotations

import pickle

import pytest

from warning.alerts import AlertEngine, AlertError, AlertNotFound
from warning.ingest import IngestError, parse
from warning.model import AlertState, EventKind, Finding, PointRef, Reading, Severity
from warning.pipeline import Pipeline
from warning.site import Channel

REF = PointRef("E1", "DC1", "hopper_temp")
NOW = 1_800_000_000.0


def f(sev, t, value=1.0, rule="threshold"):
    return Finding(rule, sev, t, value, f"{sev}")


# -- alert engine ------------------------------------------------------------------------------
def test_one_alert_per_key_through_its_lifecycle():
    eng = AlertEngine()
    raised = eng.observe(REF, f(Severity.YELLOW, 10))
    assert [e.kind for e in raised] == [EventKind.RAISED]
    aid = raised[0].alert.id
    assert eng.observe(REF, f(Severity.YELLOW, 11)) == []  # same verdict: nothing new
    up = eng.observe(REF, f(Severity.RED, 12))
    assert up[0].kind is EventKind.UPDATED and up[0].alert.id == aid and up[0].alert.severity is Severity.RED
    ack = eng.acknowledge(aid, "duty", "on my way", 13)
    assert ack[0].alert.state is AlertState.ACKNOWLEDGED and ack[0].actor == "duty" and ack[0].note == "on my way"
    assert eng.acknowledge(aid, "duty", "again", 14) == []  # signing twice is a no-op
    down = eng.observe(REF, f(Severity.YELLOW, 15))
    assert down[0].alert.state is AlertState.ACKNOWLEDGED  # still held by duty
    assert down[0].alert.peak_severity is Severity.RED and down[0].alert.message == f"{Severity.RED}"  # worst kept
    gone = eng.observe(REF, f(None, 16))
    # issue 13: a clearing is an event of its own; the alert stays open until a person lifts it
    assert gone[0].kind is EventKind.CLEARED and gone[0].alert.state is AlertState.ACKNOWLEDGED
    assert not gone[0].alert.condition_active and gone[0].alert.message == f"{Severity.RED}"
    assert [a.id for a in eng.open_alerts()] == [aid]
    eng.resolve(aid, "duty", None, 17)
    assert eng.open_alerts() == []
    again = eng.observe(REF, f(Severity.BLUE, 20))
    assert again[0].kind is EventKind.RAISED and again[0].alert.id != aid  # a new alert


def test_manual_resolve_needs_a_reason_while_condition_active():
    eng = AlertEngine()
    aid = eng.observe(REF, f(Severity.ORANGE, 10))[0].alert.id
    with pytest.raises(AlertError, match="reason"):
        eng.resolve(aid, "duty", "", 11)
    ev = eng.resolve(aid, "duty", "sensor replaced", 12)[0]
    assert ev.alert.state is AlertState.RESOLVED and ev.alert.resolved_by == "duty"
    with pytest.raises(AlertNotFound):
        eng.acknowledge(aid, "duty", None, 13)


def test_event_ids_are_stable_and_snapshot_round_trips():
    def run(eng):
        evs = eng.observe(REF, f(Severity.YELLOW, 10)) + eng.observe(REF, f(Severity.RED, 11))
        return evs + eng.acknowledge(evs[0].alert.id, "duty", "n", 12)

    a, b = run(AlertEngine()), run(AlertEngine())
    assert [e.id for e in a] == [e.id for e in b] and len({e.id for e in a}) == 3
    eng = AlertEngine()
    run(eng)
    copy = AlertEngine()
    copy.restore(eng.snapshot())
    assert copy.observe(REF, f(None, 20)) == eng.observe(REF, f(None, 20))


# -- ingest ------------------------------------------------------------------------------------
DEVICES = {"DC1": {"dp": 1, "vent_open": 2}}


def test_parse_accepts_numbers_bools_and_iso_times():
    body = (
        b'[{"device":"DC1","ts":1800000000000,"values":{"dp":1100,"vent_open":true},"id":"a"},'
        b'{"device":"DC1","ts":"2027-01-15T08:00:00+08:00","values":{"dp":1.5}}]'
    )
    p = parse(body, DEVICES, NOW)
    assert p.count == 3
    assert p.messages[0] == ("a", [Reading(1, 1_800_000_000.0, 1100.0), Reading(2, 1_800_000_000.0, 1.0)])
    assert p.messages[1][0] is None


@pytest.mark.parametrize(
    "body, status, reason",
    [
        (b'{"device":"DC1","ts":1,"values":{"dp":1}', 400, "malformed JSON"),
        (b'{"device":"DC1","ts":1e999,"values":{"dp":1}}', 400, "malformed JSON"),
        (b'[{"device":"DC1","ts":1800000000000,"values":{"dp":null}}]', 400, "number or a boolean"),
        (b'[{"device":"DC1","ts":1800000000000,"values":{}}]', 400, "non-empty"),
        (b'[{"device":"DC1","ts":"2027-01-15T08:00:00","values":{"dp":1}}]', 400, "time zone"),
        (b'[{"device":"DC1","ts":1,"values":{"dp":1}}]', 400, "outside the accepted range"),
        (b'[{"device":"DC1","ts":1800000000000,"values":{"dp":1},"extra":1}]', 400, "unknown field"),
        (b'[{"device":"DC9","ts":1800000000000,"values":{"dp":1}}]', 403, "not registered"),
        (b'"hello"', 400, "array"),
        (b"[]", 400, "empty"),
    ],
)
def test_parse_rejects_with_a_reason(body, status, reason):
    with pytest.raises(IngestError) as info:
        parse(body, DEVICES, NOW)
    assert info.value.status == status
    assert reason in str(info.value.body)


def test_repeated_ids_within_a_request_are_ignored():
    body = (
        b'[{"device":"DC1","ts":1800000000000,"values":{"dp":1},"id":"x"},'
        b'{"device":"DC1","ts":1800000000001,"values":{"dp":2},"id":"x"}]'
    )
    assert parse(body, DEVICES, NOW).count == 1


# -- pipeline ----------------------------------------------------------------------------------
def _pipeline(site):
    return Pipeline(dict(enumerate(site.points)), offline_after=60)


def _pid(site, device, point, enterprise="E1"):
    return site.point_index()[(enterprise, device, point)]


def test_pipeline_raises_and_resolves_from_readings(site):
    p = _pipeline(site)
    tid = _pid(site, "DC1", "hopper_temp")
    events = []
    for i, temp in enumerate([30] * 10 + [60] * 10 + [75] * 10 + [40] * 20):
        events += p.process([Reading(tid, NOW + i, float(temp))], NOW + i)
    kinds = [(e.kind, e.alert.rule, e.alert.severity) for e in events if e.alert.rule == "threshold"]
    assert kinds == [
        (EventKind.RAISED, "threshold", Severity.YELLOW),
        (EventKind.UPDATED, "threshold", Severity.RED),
        (EventKind.CLEARED, "threshold", Severity.RED),
    ]  # cleared, still open (issue 13)
    assert any(e.alert.rule == "rate" for e in events)  # 30 -> 75 in 20 s is a fast rise


def test_pipeline_offline_is_raised_by_the_timer_not_a_reading(site):
    p = _pipeline(site)
    p.watch_devices(site.devices(), NOW)
    did = _pid(site, "DC1", "dp")
    p.process([Reading(did, NOW, 1100.0)], NOW)
    assert p.tick(NOW + 30) == []
    events = p.tick(NOW + 61)
    offline = {(e.alert.enterprise, e.alert.device) for e in events if e.alert.rule == "offline"}
    assert ("E1", "DC1") in offline and len(offline) == len(site.devices())
    back = p.process([Reading(did, NOW + 70, 1100.0)], NOW + 70)
    assert [(e.kind, e.alert.device) for e in back] == [(EventKind.CLEARED, "DC1")]


def test_pipeline_snapshot_restores_identical_future(site):
    tid = _pid(site, "DC1", "hopper_temp")
    series = [30 + (i % 7) for i in range(200)] + [80] * 20 + [30] * 50
    a = _pipeline(site)
    for i, x in enumerate(series[:150]):
        a.process([Reading(tid, NOW + i, float(x))], NOW + i)
    b = _pipeline(site)
    b.restore(a.snapshot())
    out_a = [
        e.id for i, x in enumerate(series[150:], 150) for e in a.process([Reading(tid, NOW + i, float(x))], NOW + i)
    ]
    out_b = [
        e.id for i, x in enumerate(series[150:], 150) for e in b.process([Reading(tid, NOW + i, float(x))], NOW + i)
    ]
    assert out_a and out_a == out_b


def test_router_stops_notifying_after_acknowledgement():
    from warning.policy.policies import Policy
    from warning.policy.router import Router

    eng = AlertEngine()
    r = Router(
        Policy(),
        [
            Channel("robot", "wecom", "yellow", {"url": "http://x"}),
            Channel("hook", "webhook", "blue", {"url": "http://x"}),
        ],
    )

    def channels(events, now):
        return sorted({n.channel for n in r.route(events, now) + r.tick(now)})

    raised = eng.observe(REF, f(Severity.YELLOW, 1))
    assert channels(raised, 1) == ["hook", "robot"]
    ack = eng.acknowledge(raised[0].alert.id, "duty", None, 2)
    assert channels(ack, 2) == ["hook"]  # lifecycle sync only
    up = eng.observe(REF, f(Severity.RED, 3))
    assert channels(up, 3) == ["hook"]  # nothing repeats to people; the lifecycle webhook hears every step
    blue = eng.observe(PointRef("E1", "DC2", "dp"), f(Severity.BLUE, 400))
    assert channels(blue, 400) == ["hook"]  # below the robot's minimum


# -- configuration -----------------------------------------------------------------------------
def test_example_and_demo_site_files_load():
    from warning.config import config_dir, load_site

    example = load_site(config_dir() / "site.example.toml")
    assert len(example.points) == 7 and example.users["zhang.san"].role == "officer"
    demo = load_site(config_dir() / "demo" / "site.toml")
    assert len(demo.enterprises) >= 20 and all(len(e.devices) >= 3 for e in demo.enterprises.values())


@pytest.mark.parametrize(
    "patch, needle",
    [
        ({"users": [{"name": "x", "role": "root"}]}, "role"),
        ({"channels": [{"id": "c", "type": "pager", "url": "http://x"}]}, "type"),
        ({"channels": [{"id": "c", "type": "webhook"}]}, "url"),
        ({"channels": [{"id": "c", "type": "log", "min_severity": "purple"}]}, "severity"),
    ],
)
def test_bad_site_config_fails_with_a_reason(kinds, patch, needle):
    from tests.conftest import site_dict
    from warning.config import ConfigError, parse_site

    with pytest.raises(ConfigError, match=needle):
        parse_site({**site_dict(), **patch}, kinds)


def test_unknown_point_kind_or_detector_fails_at_start(kinds):
    from tests.conftest import site_dict
    from warning.config import ConfigError, parse_site

    raw = site_dict()
    raw["enterprises"][0]["devices"][0]["points"].append("flux_capacitor")
    with pytest.raises(ConfigError, match="unknown point kind"):
        parse_site(raw, kinds)
    raw = site_dict()
    raw["enterprises"][0]["devices"][0]["overrides"] = {"dp": {"baseline": {"pcnt": 3}}}
    with pytest.raises(ConfigError, match="bad parameters"):
        parse_site(raw, kinds)


def test_shard_snapshots_carry_only_their_enterprises(site):
    from warning.pipeline import shard_of

    p = _pipeline(site)
    t1, t2 = _pid(site, "DC1", "vent_open"), _pid(site, "DC1", "vent_open", "E2")
    p.process([Reading(t1, NOW, 1.0), Reading(t2, NOW, 1.0)], NOW)
    assert {a.enterprise for a in p.engine.open_alerts()} == {"E1", "E2"}
    s1 = shard_of("E1")
    assert shard_of("E2") != s1  # the fixture's two enterprises land in different shards
    q = _pipeline(site)
    q.restore(p.snapshot(s1))
    assert {a.enterprise for a in q.engine.open_alerts()} == {"E1"} and t1 in q.chains and t2 not in q.chains
    q.restore(p.snapshot(shard_of("E2")))
    assert {a.id for a in q.engine.open_alerts()} == {a.id for a in p.engine.open_alerts()}
    # Restoring a shard again replaces that shard only.
    p.process([Reading(t1, NOW + 20, 0.0), Reading(t1, NOW + 31, 0.0)], NOW + 31)  # clears after 10 s
    q.restore(p.snapshot(s1))
    # the E1 vent cleared but nobody signed: still open, now cleared (issue 13); E2's untouched
    assert {(a.enterprise, a.condition_active) for a in q.engine.open_alerts()} == {("E1", False), ("E2", True)}


def test_a_shard_snapshot_follows_a_ledger_change(site):
    # the snapshot keeps each point's spec digests and each shard's points between snapshots
    # (warning.pipeline._spec_keys, _pids_in): a ledger change must show in the next one
    import dataclasses

    from warning.pipeline import shard_of

    p = _pipeline(site)
    tid = _pid(site, "DC1", "hopper_temp")
    for i in range(30):
        p.process([Reading(tid, NOW + i, 30.0)], NOW + i)
    shard = shard_of("E1")
    assert tid in pickle.loads(p.snapshot(shard))["chains"]  # fills both caches
    changed = dataclasses.replace(p.points[tid], detectors=p.points[tid].detectors[:1])
    new_pid = max(p.points) + 1
    added = dataclasses.replace(p.points[tid], ref=dataclasses.replace(p.points[tid].ref, device="DC9"))
    points = {**p.points, tid: changed, new_pid: added}
    p.reconfigure(points, NOW + 30)
    for i in range(30, 40):
        p.process([Reading(tid, NOW + i, 30.0), Reading(new_pid, NOW + i, 30.0)], NOW + i)
    state = pickle.loads(p.snapshot(shard))
    assert {tid, new_pid} <= state["chains"].keys()
    q = Pipeline(points, offline_after=60)
    q.restore(p.snapshot(shard))  # restored only where the digests match the new specs
    assert tid in q.chains and new_pid in q.chains
    assert len(q.chains[tid].detectors) == len(changed.detectors) < len(site.points[tid].detectors)


def test_times_are_kept_to_the_millisecond_the_store_keeps():
    body = (
        b'[{"device":"DC1","ts":1800000000000.6,"values":{"dp":1}},'
        b'{"device":"DC1","ts":"2027-01-15T08:00:00.123456+08:00","values":{"dp":1}}]'
    )
    p = parse(body, DEVICES, NOW)
    assert p.messages[0][1][0].t == 1_800_000_000.001
    assert p.messages[1][1][0].t * 1000 == round(p.messages[1][1][0].t * 1000)


def test_rules_marked_when_running_pause_while_the_collector_is_stopped(site):
    """Duct air speed low is judged only while the collector runs, 120 s after it started
    (config/kinds.toml); a stop lifts its alert; temperature rules are never gated."""
    p = _pipeline(site)
    run, air, temp = (_pid(site, "DC1", n) for n in ("running", "air_speed", "hopper_temp"))

    def step(t, running, speed, temperature=30.0):
        return p.process(
            [Reading(run, NOW + t, running), Reading(air, NOW + t, speed), Reading(temp, NOW + t, temperature)], NOW + t
        )

    raised = []
    for t in range(0, 60):
        raised += step(t, 1.0, 20.0)
    for t in range(60, 80):  # stopped at night: no airflow alarm
        raised += step(t, 0.0, 0.5)
    for t in range(80, 150):  # started again, still spinning up for 120 s: not judged yet
        raised += step(t, 1.0, 10.0)
    assert [e for e in raised if e.alert.rule == "threshold" and e.alert.point == "air_speed"] == []
    late = []
    for t in range(150, 220):
        late += step(t, 1.0, 10.0)  # past the run-up and still low: a real airflow loss
    assert [
        (e.kind.value, e.alert.severity.label)
        for e in late
        if e.alert.point == "air_speed" and e.alert.rule == "threshold"
    ] == [("raised", "orange")]
    stop = step(220, 0.0, 0.0)
    assert [(e.kind.value, e.alert.point) for e in stop if e.alert.point == "air_speed"] == [("cleared", "air_speed")]
    hot = []
    for t in range(221, 240):
        hot += step(t, 0.0, 0.0, 75.0)  # a hopper can smoulder after shutdown: never gated
    assert any(e.alert.point == "hopper_temp" and e.alert.severity.label == "red" for e in hot)
    q = _pipeline(site)
    q.restore(p.snapshot())
    assert q.running_since == p.running_since


def test_an_alerts_json_is_every_field_as_the_generic_walk_gives_it():
    # Alert.to_json names its fields itself (faster than dataclasses.asdict): it must give what
    # asdict gives, for every field, and the message's data must not be shared with the alert
    import dataclasses

    from warning.model import Alert, AlertState

    values = {
        f.name: {"id": "threshold.above", "params": {"value": 71.5, "limits": [55, 70]}}
        if f.name == "message_data"
        else Severity.RED
        if f.name in ("severity", "peak_severity")
        else AlertState.ACTIVE
        if f.name == "state"
        else (
            f"{f.name}-text"
            if "str" in str(f.type)
            else 1.5
            if "float" in str(f.type)
            else 3
            if "int" in str(f.type)
            else True
        )
        for f in dataclasses.fields(Alert)
    }
    a = Alert(**values)
    want = dataclasses.asdict(a) | {"severity": "red", "peak_severity": "red", "state": "active"}
    got = a.to_json()
    assert got == want and list(got) == list(want)
    got["message_data"]["params"]["limits"].append(99)
    assert a.message_data == values["message_data"] and a.message_data["params"]["limits"] == [55, 70]
