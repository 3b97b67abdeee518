"""The warning/report loop (warning/risk/loop.py): steps, limits, escalation, returns."""

from __future__ import annotations

import pytest

from warning.risk.config import default
from warning.risk.loop import Loop, LoopError, State

T0 = 1_780_000_000.0


def opened(kind="warning", level="red"):
    lp = Loop(default())
    lp.open("w1", kind, "E1", "S1", level, T0)
    return lp


def test_full_loop_keeps_every_step():
    lp = opened()
    lp.sign("w1", "e-user", T0 + 60)
    lp.reply(
        "w1",
        "e-user",
        T0 + 120,
        cause="滤袋破损",
        measures="已更换",
        verdict="true",
        photos=[{"id": "p1", "type": "image/jpeg", "size": 100}],
    )
    lp.review("w1", "street-officer", T0 + 200, close=False, note="照片不清楚")
    assert lp.items["w1"].state is State.RETURNED
    lp.reply("w1", "e-user", T0 + 300, cause="滤袋破损", measures="已更换, 补拍照片", verdict="true")
    ev = lp.review("w1", "district", T0 + 400, close=True, note="销号")
    assert "w1" not in lp.items  # closed items leave the loop (the store keeps them)
    item = ev[0].item
    assert item.state is State.CLOSED
    assert [(s.action, s.actor) for s in item.steps] == [
        ("opened", None),
        ("sign", "e-user"),
        ("reply", "e-user"),
        ("return", "street-officer"),
        ("reply", "e-user"),
        ("close", "district"),
    ]
    assert item.steps[3].note == "照片不清楚" and item.steps[2].data["verdict_zh"] == "属实"


def test_steps_out_of_order_are_refused():
    lp = opened()
    with pytest.raises(LoopError, match="签收") as caught:
        lp.reply("w1", "e", T0, cause="c", measures="m", verdict="true")
    assert caught.value.message.render("en") == "sign for it first"
    lp.sign("w1", "e", T0 + 1)
    assert lp.sign("w1", "e", T0 + 2) == []
    with pytest.raises(LoopError, match="verdict"):
        lp.reply("w1", "e", T0 + 3, cause="c", measures="m", verdict="maybe")
    with pytest.raises(LoopError, match="审核"):
        lp.review("w1", "o", T0 + 4, close=True, note=None)
    lp.reply("w1", "e", T0 + 5, cause="c", measures="m", verdict="maintenance")
    with pytest.raises(LoopError, match="note"):
        lp.review("w1", "o", T0 + 6, close=False, note=" ")


def test_silent_enterprise_escalates_street_district_bureau_at_due_times():
    c = default()
    lp = opened(level="red")
    assert lp.tick(T0 + c.sign_within["red"] - 1) == []
    ev = lp.tick(T0 + c.sign_within["red"])
    assert [(e.action, e.data["tier_name"], e.at) for e in ev] == [("escalate", "street", T0 + 900)]
    ev = lp.tick(T0 + 900 + 2 * c.escalate_every["red"] + 30)  # a late tick: both steps, at their due times
    assert [(e.data["tier_name"], e.at) for e in ev] == [("district", T0 + 1800), ("bureau", T0 + 2700)]
    assert lp.tick(T0 + 99999) == []  # the top tier is the last
    assert lp.next_due() is None


def test_signing_stops_the_climb_and_the_reply_has_its_own_limit():
    c = default()
    lp = opened(level="red")
    lp.sign("w1", "e", T0 + 60)
    assert lp.tick(T0 + c.sign_within["red"] + 10) == []
    ev = lp.tick(T0 + c.reply_within["red"])
    assert [(e.data["tier_name"], e.data["overdue"]) for e in ev] == [("street", "reply")]


def test_a_report_starts_at_the_district_tier():
    c = default()
    lp = opened(kind="report", level="report")
    ev = lp.tick(T0 + c.sign_within["report"])
    assert [e.data["tier_name"] for e in ev] == ["district"]


def test_replayed_ticks_give_the_same_ids_and_snapshot_round_trips():
    a, b = opened(), opened()
    b2 = Loop(default())
    b2.restore(b.snapshot())
    assert [e.id for e in a.tick(T0 + 5000)] == [e.id for e in b2.tick(T0 + 5000)] != []


def test_a_new_warning_while_the_item_is_open_is_a_step_of_its_own():
    """One item per enterprise at a time (the service's rule, ``follow``): a warning the model
    issues again while the earlier item is not closed is a ``renewed`` step: shown, pushed, the
    condition live again, the level the higher of the two (the earlier one is not answered yet)."""
    from warning.risk.loop import follow, unclosed
    from warning.risk.model import Warning, WarningEvent, WarningKind

    def we(kind, at, level, wid):
        return WarningEvent(wid + kind, WarningKind(kind), at, Warning(wid, "E1", level, at, at, 50.0, (), level))

    lp, item_of = Loop(default()), {}
    follow(lp, item_of, we("issued", T0, 4, "a"), "S1")
    follow(lp, item_of, we("cleared", T0 + 600, 0, "a"), "S1")
    assert unclosed(lp) == {"E1": 1}
    out, item = follow(lp, item_of, we("issued", T0 + 900, 1, "b"), "S1")  # a new blue one, same enterprise
    assert item == "a" and [e.action for e in out] == ["renewed"] and list(lp.items) == ["a"]
    it = lp.items["a"]
    assert it.level == "red" and not it.condition_over and unclosed(lp) == {}
    assert it.steps[-1].data == {"level": "red", "from": "red"}
    out, _ = follow(lp, item_of, we("raised", T0 + 960, 4, "b"), "S1")
    assert out == []  # already red: no level step
    # the item's own warning issued again (another gateway's model, which opened nothing: the
    # item came from the store first) is the same warning, not a new one: no renewal
    lp2, item_of2 = Loop(default()), {}
    follow(lp2, item_of2, we("issued", T0, 3, "c"), "S1")
    out, item = follow(lp2, item_of2, we("issued", T0, 3, "c"), "S1")
    assert item == "c" and out == [] and [s.action for s in lp2.items["c"].steps] == ["opened"]
