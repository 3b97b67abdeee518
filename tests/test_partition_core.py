"""The distributed runtime's pure parts: record codec and one partition's state machine.
No broker, no database, no event loop."""

from __future__ import annotations

import pickle

import pytest

from tests.conftest import site_dict
from warning.config import parse_site
from warning.model import Reading
from warning.pipeline import Pipeline
from warning.runtime import records
from warning.runtime.gateway import split_messages
from warning.runtime.partition import Effects, PartitionState


@pytest.fixture()
def points(kinds):
    site = parse_site(site_dict(), kinds)
    return {i + 1: p for i, p in enumerate(site.points)}, site


def pid_of(points, ent, dev, point):
    return next(i for i, p in points.items() if (p.ref.enterprise, p.ref.device, p.ref.point) == (ent, dev, point))


def state(points, site, written=-1):
    pipe = Pipeline(points, site.offline_after, policy=site.alert_policy(), channels=site.channels)
    return PartitionState(0, pipe, epoch=1, written=written, processed=-1)


def vent(points, t, mid, value=1.0, rid=None):
    pid = pid_of(points, "E1", "DC1", "vent_open")
    return records.decode(records.encode_batch(rid or f"r-{mid}", "E1", [(mid, [Reading(pid, t, value)])], t))


def test_codec_round_trip_and_garbage_refused():
    b = records.decode(records.encode_batch("r1", "E1", [("m1", [Reading(3, 1.5, 2.0)]), (None, [])], 9.0))
    assert b == records.Batch("r1", "E1", [("m1", [Reading(3, 1.5, 2.0)]), (None, [])], 9.0)
    assert records.decode(records.encode_tick(4.0)) == {"k": "t", "now": 4.0}
    for bad in (
        b"",
        b"{}",
        b"[1]",
        b'{"k": "zz", "now": 1}',
        b'{"k": "b", "e": "E1"}',
        b'{"k": "t"}',
        b'{"k": "t", "now": "soon"}',
        b'{"k": "c", "id": "x", "now": 1}',
        b'{"k": "d", "row": 3, "now": 1}',
    ):
        with pytest.raises(ValueError):
            records.decode(bad)


def test_partition_of_is_stable_and_spreads():
    parts = {records.partition_of(f"E{i:03d}", 16) for i in range(200)}
    assert records.partition_of("E001", 16) == records.partition_of("E001", 16)
    assert len(parts) == 16
    assert records.batch_code(0, 0) == -1 and records.batch_code(1, 0) != records.batch_code(0, (1 << 40) - 1)


def test_new_records_store_once_and_raise_once(points):
    pts, site = points
    st = state(pts, site)
    out = Effects()
    st.apply(0, vent(pts, 100.0, "m1"), {}, out)
    st.apply(1, vent(pts, 101.0, "m1"), {}, out)  # same message id in the same chunk: a repeat
    st.apply(2, vent(pts, 102.0, "m2", rid="r-m1"), {}, out)  # same record id: a producer retry
    st.apply(0, vent(pts, 100.0, "m1"), {}, out)  # redelivered offset
    assert len(out.rows) == 1 and out.ids == [("E1", "m1", records.batch_code(0, 0))]
    assert [e.kind.value for e in out.events] == ["raised"] and out.events[0].alert.severity.label == "red"
    st.committed()
    assert st.written == st.processed == 2
    out2 = Effects()
    st.apply(3, vent(pts, 103.0, "m1", rid="r-again"), {"m1": records.batch_code(0, 0)}, out2)  # stored before
    assert out2.rows == [] and out2.events == []


def test_replay_rebuilds_state_without_effects(points):
    """Records up to ``written`` rebuild the state; message-id decisions come from the store."""
    pts, site = points
    live = state(pts, site)
    out = Effects()
    snap = live.snapshot()
    recs = [(0, vent(pts, 100.0, "a")), (1, vent(pts, 101.0, "dup-of-a", rid="x")), (2, vent(pts, 130.0, "c", 0.0))]
    known_live = {"dup-of-a": records.batch_code(0, 99)}  # stored by an older record: a repeat
    for off, v in recs:
        live.apply(off, v, known_live, out)
    live.committed()
    # A new owner restores the snapshot taken before offset 0 and replays 0..2 (written = 2).
    heir = state(pts, site, written=2)
    heir.restore(snap)
    replay_out = Effects()
    stored = {"a": records.batch_code(0, 0), "dup-of-a": records.batch_code(0, 99), "c": records.batch_code(0, 2)}
    for off, v in recs:
        heir.apply(off, v, stored, replay_out)
    assert replay_out.rows == [] and replay_out.events == [] and replay_out.ids == []
    assert pickle.loads(heir.snapshot())[1] == pickle.loads(live.snapshot())[1]
    assert [a.id for a in heir.pipeline.engine.open_alerts()] == [a.id for a in live.pipeline.engine.open_alerts()]
    # and the next record behaves identically on both: the silence timers were rebuilt too
    o1, o2 = Effects(), Effects()
    live.apply(3, records.decode(records.encode_tick(5000.0)), {}, o1)
    heir.apply(3, records.decode(records.encode_tick(5000.0)), {}, o2)
    assert [e.id for e in o1.events] == [e.id for e in o2.events] and len(o1.events) >= 1


def test_commands_reply_and_ticks_route(points):
    pts, site = points
    st = state(pts, site)
    out = Effects()
    st.apply(0, vent(pts, 100.0, "m1"), {}, out)
    aid = out.events[0].alert.id
    cmd = records.decode(records.encode_command("c1", "acknowledge", aid, "duty", "seen", None, 105.0))
    st.apply(1, cmd, {}, out)
    st.apply(2, records.decode(records.encode_command("c2", "acknowledge", "nope", "duty", None, None, 106.0)), {}, out)
    st.apply(3, cmd, {}, out)  # the same command twice (producer retry): applied once
    assert (
        out.replies[0]["reply"] == "c1" and out.replies[0]["ok"] and out.replies[0]["alert"]["state"] == "acknowledged"
    )
    assert out.replies[1] == {
        "reply": "c2",
        "ok": False,
        "error": out.replies[1]["error"],
        "not_found": True,
        "msgid": "no open alert with id {id}",
        "params": {"id": repr("nope")},
    }
    assert len(out.replies) == 2
    quiet = Effects()
    st.apply(4, records.decode(records.encode_tick(100.0 + site.offline_after + 1)), {}, quiet)
    assert {e.alert.rule for e in quiet.events} == {"offline"}


def test_large_requests_split_into_records_without_splitting_a_message():
    msgs = [(f"m{i}", [Reading(1, float(j), 0.0) for j in range(n)]) for i, n in enumerate([3, 4, 2, 9, 1])]
    parts = split_messages(msgs, 6)
    assert [[m for m, _ in p] for p in parts] == [["m0"], ["m1", "m2"], ["m3"], ["m4"]]
    assert [m for p in parts for m in p] == msgs  # nothing lost, order kept
    assert split_messages(msgs, 100) == [msgs]
