"""The ledger's pure parts: the credit code's check character, field checks, streets in the site file."""

from __future__ import annotations

import pytest

from warning.config import ConfigError, parse_site
from warning.ledger import credit
from warning.ledger.check import check_enterprise, check_user
from warning.model import Severity
from warning.site import Street, User
from warning.web.scope import EVERYTHING, scope_for

# Built here by hand: 17 characters and the check character computed with the standard's rule
# written out longhand (not with credit.check_char), so the test does not just repeat the code.
BODY = "91310107MA1G8XY73"  # 9 = 工商, 1 = 企业, 310107 = 上海市普陀区, then an organisation code


def _longhand(body: str) -> str:
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    weights = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
    s = sum(alphabet.index(ch) * w for ch, w in zip(body, weights))
    return alphabet[(31 - s % 31) % 31]


def test_credit_code_check_character():
    code = BODY + _longhand(BODY)
    assert credit.valid(code)
    assert credit.valid("91350100M000100Y43")  # the standard's own example
    wrong = code[:17] + next(c for c in credit.ALPHABET if c != code[17])
    assert "校验码" in str(credit.problem(wrong))
    assert "18" in str(credit.problem(code[:17]))
    assert "字符" in str(credit.problem(code[:16] + "I" + code[17]))  # I, O, S, V, Z are not in the alphabet
    why = credit.problem(wrong)
    assert why is not None and why.render("en") == f"wrong check character: the last should be {code[17]}"
    assert "3-8" in str(credit.problem(code[:2] + "A" + code[3:]))
    swapped = code[0] + code[2] + code[1] + code[3:]  # two characters swapped: the weights catch it
    assert not credit.valid(swapped) or swapped == code


STREETS = {"taopu": Street("taopu", "桃浦镇"), "wanli": Street("wanli", "万里街道")}
KINDS = {"dp", "spark", "running"}


def test_enterprise_record_errors_per_field():
    good = {
        "id": "E1",
        "name": "甲粉体",
        "credit_code": (BODY + _longhand(BODY)).lower(),
        "street": "桃浦镇",
        "dust_workers": "12",
        "risk_grade": "较大风险",
        "contact_phone": "021-6250 1234",
        "dusts": [{"kind": "铝粉", "explosion_class": "St2"}],
        "collectors": {"count": 2, "wet": True, "type": "水浴"},
        "devices": [{"id": "DC1", "points": ["dp", "spark"], "codes": {"dp": "TNM-1"}}],
    }
    out, errors = check_enterprise(good, streets=STREETS, kinds=KINDS)
    assert errors == []
    assert out["street"] == "taopu" and out["risk_grade"] == "orange" and out["dust_workers"] == 12
    assert out["credit_code"] == BODY + _longhand(BODY)
    bad = {
        "id": "E 1",
        "name": "",
        "credit_code": BODY + "0" if _longhand(BODY) != "0" else BODY + "1",
        "street": "nowhere",
        "dust_workers": -3,
        "risk_grade": "purple",
        "contact_phone": "call me",
        "dusts": [{"kind": "铝粉", "explosion_class": "St9"}],
        "collectors": {"count": "x", "wet": "yes"},
        "devices": [{"id": "DC1", "points": ["dp", "dp", "nosuch"]}, {"id": "DC1"}],
    }
    _, errors = check_enterprise(bad, streets=STREETS, kinds=KINDS)
    fields = {e.field for e in errors}
    assert fields >= {
        "id",
        "name",
        "credit_code",
        "street",
        "dust_workers",
        "risk_grade",
        "contact_phone",
        "dusts[0].explosion_class",
        "collectors.count",
        "collectors.wet",
        "devices[0].points[1]",
        "devices[0].points[2]",
        "devices[1].id",
    }, fields
    _, errors = check_enterprise({"id": "E2", "name": "a\x00b"}, streets=STREETS, kinds=KINDS)
    assert [e.field for e in errors] == ["name"]


def test_user_record_streets():
    out, errors = check_user(
        {"name": "tp", "role": "officer", "streets": ["桃浦镇", "wanli"]}, enterprises={"E1"}, streets=STREETS
    )
    assert errors == [] and out["streets"] == ["taopu", "wanli"]
    _, errors = check_user({"name": "tp", "role": "admin", "streets": ["nowhere"]}, enterprises=(), streets=STREETS)
    assert {e.field for e in errors} == {"streets[0]"}
    _, errors = check_user({"name": "tp", "role": "admin", "streets": ["taopu"]}, enterprises=(), streets=STREETS)
    assert {e.field for e in errors} == {"streets"}


def _raw(**extra):
    return {
        "streets": [{"id": "taopu", "name": "桃浦镇"}, {"id": "wanli", "name": "万里街道"}],
        "enterprises": [
            {"id": "A", "street": "taopu", "devices": [{"id": "D", "points": ["dp"]}]},
            {"id": "B", "street": "万里街道"},
            {"id": "C"},
        ],
        **extra,
    }


def test_site_file_streets_and_street_scope(kinds):
    site = parse_site(
        _raw(users=[{"name": "tp", "role": "officer", "streets": ["taopu"]}, {"name": "all", "role": "officer"}]), kinds
    )
    assert site.enterprises["B"].street == "wanli" and site.enterprises["C"].street is None
    assert scope_for(site.users["tp"], site).enterprises == frozenset({"A"})
    assert scope_for(site.users["all"], site) is EVERYTHING
    assert scope_for(User("v", "viewer", None, streets=("taopu", "wanli")), site).enterprises == {"A", "B"}
    with pytest.raises(ConfigError, match="unknown street"):
        parse_site(_raw(users=[{"name": "x", "role": "officer", "streets": ["nowhere"]}]), kinds)
    raw = _raw()
    raw["enterprises"][2]["street"] = "nowhere"
    with pytest.raises(ConfigError, match="unknown street"):
        parse_site(raw, kinds)


def test_streets_without_a_table_come_from_the_enterprises(kinds):
    site = parse_site({"enterprises": [{"id": "A", "street": "桃浦镇"}, {"id": "B", "street": "长征镇"}]}, kinds)
    assert set(site.streets) == {"桃浦镇", "长征镇"} and site.enterprises["A"].street == "桃浦镇"


def test_step_points_change_keeps_state_and_closes_retired_points_alerts(kinds):
    """The live ledger's hook, pure: a PointsChange through the step."""
    from warning.pipeline import Pipeline
    from warning.step import Batch, PointsChange, Step

    site = parse_site({"enterprises": [{"id": "A", "devices": [{"id": "D", "points": ["dp", "vent_open"]}]}]}, kinds)
    points = dict(enumerate(site.points, start=1))  # 1: dp, 2: vent_open
    step = Step(Pipeline(points))
    step.apply(Batch([(None, [(1, 100.0, 1000.0), (2, 100.0, 1.0)])], 100.0))
    chain = step.pipeline.chains[1]
    assert [a.point for a in step.open_alerts()] == ["vent_open"]
    grown = parse_site({"enterprises": [{"id": "A", "devices": [{"id": "D", "points": ["dp", "hopper_temp"]}]}]}, kinds)
    new = {1: grown.points[0], 3: grown.points[1]}
    out = step.apply(PointsChange("c1", new, 200.0, "boss"))
    assert out.replies == [{"reply": "c1", "ok": True, "alert": None}]
    assert [(e.kind.value, e.alert.point, e.actor) for e in out.events] == [("resolved", "vent_open", "boss")]
    assert "台账" in out.events[0].note and step.open_alerts() == []
    assert step.pipeline.chains[1] is chain and 3 not in step.pipeline.chains  # kept; the new one learns on use
    step.apply(Batch([(None, [(3, 210.0, 40.0), (2, 210.0, 1.0)])], 210.0))  # a retired point's reading: ignored
    assert 3 in step.pipeline.chains and step.open_alerts() == []


def test_a_ledger_change_keeps_operations_alerts(kinds):
    """``_system`` alerts (a stalled partition, a dead letter) are not ledger points: a change
    of the point set never closes them."""
    from warning.pipeline import Pipeline
    from warning.step import PointsChange, Step, SystemFinding

    site = parse_site({"enterprises": [{"id": "A", "devices": [{"id": "D", "points": ["dp"]}]}]}, kinds)
    step = Step(Pipeline(dict(enumerate(site.points, start=1))))
    step.apply(SystemFinding("watchdog", "partition-3", "stalled", Severity.ORANGE, 31.0, "stuck", 100.0))
    assert [a.enterprise for a in step.open_alerts()] == ["_system"]
    assert step.pipeline.orphans() == []
    from warning.labels import Labels

    labels = Labels.of(parse_site({"enterprises": [{"id": "B", "name": "新企业"}]}, kinds))
    out = step.apply(PointsChange("c1", {}, 200.0, "boss", labels))
    assert out.events == [] and [a.enterprise for a in step.open_alerts()] == ["_system"]
    assert step.pipeline.router.labels.enterprises["B"] == "新企业"  # notifications name a new enterprise


def _ledger_records():
    from warning.ledger.plan import Records

    ents = {
        f"E{i}": {
            "id": f"E{i}",
            "name": f"企业{i}",
            "street": "taopu" if i % 2 else "wanli",
            "devices": [{"id": f"D{d}", "points": ["dp", "spark"], "codes": {"dp": f"T{i}{d}"}} for d in range(2)],
        }
        for i in range(6)
    }
    streets = {"taopu": {"id": "taopu", "name": "桃浦镇"}, "wanli": {"id": "wanli", "name": "万里街道"}}
    users = {
        "tp": {"name": "tp", "role": "officer", "streets": ["taopu"]},
        "e1": {"name": "e1", "role": "enterprise", "enterprise": "E1"},
    }
    return Records(streets, ents, users)


def _same_site(a, b) -> None:
    assert a.enterprises == b.enterprises and a.users == b.users and a.streets == b.streets
    assert sorted(a.points, key=repr) == sorted(b.points, key=repr)


def test_site_after_one_change_is_the_site_the_whole_ledger_builds(kinds):
    """The incremental build (only what a change touches) against parsing the whole ledger:
    the same enterprises, points, users and streets, for edits, creations, retirements and a
    street renamed; ``diff`` of two ledgers gives the changes that turn one into the other."""
    from warning.ledger.plan import Proposal, apply, diff, plan
    from warning.live import site_after, site_from_records

    base = parse_site({"site": {"name": "t"}}, kinds)
    records = _ledger_records()
    site = site_from_records(base, records, kinds)
    e2 = dict(records.enterprises["E2"])
    e2["devices"] = [{"id": "D0", "points": ["dp", "hopper_temp"]}, {"id": "D9", "points": ["vent_open"]}]
    e2["street"] = "taopu"
    batches = [
        [Proposal("enterprise", "update", "E2", e2)],
        [Proposal("enterprise", "retire", "E3"), Proposal("enterprise", "create", "N1", {"name": "新", "devices": []})],
        [Proposal("street", "update", "wanli", {"name": "万里街道（新）"})],
        [Proposal("user", "update", "tp", {"role": "officer", "streets": ["taopu", "wanli"]})],
    ]
    for proposals in batches:
        changes, errors = plan(records, proposals, kinds)
        assert not errors and changes
        after = apply(records, changes)
        fast = site_after(site, after, changes, kinds)
        _same_site(fast, site_from_records(base, after, kinds))
        assert sorted(diff(records, after), key=repr) == sorted(changes, key=repr)
        records, site = after, fast
    assert site.streets["wanli"].name == "万里街道（新）" and site.users["tp"].streets == ("taopu", "wanli")
    assert "E3" not in site.enterprises and {p.ref.point for p in site.points if p.ref.enterprise == "E2"} == {
        "dp",
        "hopper_temp",
        "vent_open",
    }


def test_partition_takes_a_ledger_record_once_and_not_in_replay(kinds):
    """The distributed runtime's ledger record through the partition's step: a newer version
    changes the point set (a retired point's alert closed by the record's actor), a repeat
    (a second gateway announcing the same version) and a replayed one change nothing."""
    from warning.pipeline import Pipeline
    from warning.runtime import records as rec
    from warning.runtime.partition import PartitionState
    from warning.step import Effects

    site = parse_site({"enterprises": [{"id": "A", "devices": [{"id": "D", "points": ["dp", "vent_open"]}]}]}, kinds)
    points = dict(enumerate(site.points, start=1))
    st = PartitionState(0, Pipeline(points), epoch=1, written=1, processed=-1, ledger_version=3)
    out = Effects()
    st.apply(0, rec.decode(rec.encode_batch("r1", "A", [(None, [(2, 100.0, 1.0)])], 100.0)), {}, out)
    st.apply(1, rec.decode(rec.encode_ledger(4, "boss", 110.0)), {}, out, ledger=(4, {1: points[1]}, None))  # a replay
    assert st.ledger_version == 3 and 2 in st.pipeline.points
    out = Effects()
    st.apply(2, rec.decode(rec.encode_ledger(4, "boss", 120.0)), {}, out, ledger=(5, {1: points[1]}, None))
    assert st.ledger_version == 5 and set(st.pipeline.points) == {1}
    assert [(e.kind.value, e.alert.point, e.actor) for e in out.events] == [("resolved", "vent_open", "boss")]
    out = Effects()
    st.apply(3, rec.decode(rec.encode_ledger(5, "other-gw", 130.0)), {}, out, ledger=(5, points, None))  # a repeat
    assert out.events == [] and set(st.pipeline.points) == {1}
    with pytest.raises(ValueError):
        rec.decode(b'{"k": "l", "v": "x", "actor": "a", "now": 1}')


def test_reconfigure_reindexes_only_the_changed_points_to_the_same_index(kinds):
    """The incremental index after a change is the index a pipeline built on the new set has:
    NoData rules, running points, running signals, gated devices (a device gaining a
    ``running`` point is gated by it, one losing it falls back to its signals)."""
    from warning.pipeline import Pipeline

    def points_of(devices):
        site = parse_site({"enterprises": [{"id": "A", "devices": devices}]}, kinds)
        return site.points

    first = points_of(
        [
            {"id": "D1", "points": ["dp", "air_speed", "hopper_temp"]},
            {"id": "D2", "points": ["dp", "running"]},
            {"id": "D3", "points": ["spark"]},
        ]
    )
    ids = {(p.ref.device, p.ref.point): i for i, p in enumerate(first, start=1)}
    pipe = Pipeline({ids[(p.ref.device, p.ref.point)]: p for p in first})
    second = points_of(
        [
            {"id": "D1", "points": ["dp", "air_speed", "running"]},  # gains a running point, loses hopper_temp
            {"id": "D2", "points": ["dp"]},  # loses its running point
            {"id": "D4", "points": ["dp", "air_speed"]},  # new
        ]
    )
    keep = {
        pid: p
        for pid, p in pipe.points.items()
        if (p.ref.device, p.ref.point) in {("D1", "dp"), ("D1", "air_speed"), ("D2", "dp")}
    }
    new = dict(keep)
    for i, p in enumerate(second, start=100):
        if (p.ref.device, p.ref.point) not in {("D1", "dp"), ("D1", "air_speed"), ("D2", "dp")}:
            new[i] = p
    pipe.reconfigure(new, 10.0)
    fresh = Pipeline(new)
    for attr in (
        "_device_of",
        "_pids_of",
        "_run_points",
        "_explicit",
        "_signal_points",
        "_signals_of",
        "_gated_devices",
    ):
        assert getattr(pipe, attr) == getattr(fresh, attr), attr
    assert pipe.nodata.keys() == fresh.nodata.keys()
    assert ("A", "D1") in pipe._explicit and ("A", "D2") not in pipe._explicit  # D2 now gated by its dp signal
    assert pipe._signals_of[("A", "D2")] == [ids[("D2", "dp")]] and ("A", "D4") in pipe._gated_devices
    assert ("A", "D3") not in pipe._pids_of
