"""Bad data stays with its sender, at the runtime (the edge validates too; these tests go
past it on purpose, calling the runtime directly as a careless integration would):

* a request the store refuses (U+0000 in a message id) fails alone, with a 400-class
  refusal, while another enterprise's requests committed in the same groups all succeed;
* an officer's action carrying U+0000 is refused, kept in ``dead_letters``, raises a
  ``_system`` operations alert, and the pipeline goes on;
* an alert event the store refuses is dead-lettered with its reason and an operations alert,
  not retried for ever: later alerts are stored as usual.

Real PostgreSQL, the real embedded runtime."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from tests.conftest import wait_for
from warning.alerts import AlertError
from warning.ingest import Parsed
from warning.metrics import Metrics
from warning.model import Reading
from warning.runtime.embedded import EmbeddedRuntime, Options
from warning.runtime.errors import Overloaded, Rejected
from warning.store.db import connect_pool
from warning.web.hub import Hub

NUL = chr(0)


@pytest.fixture
async def runtime(site, machine_db):
    pool = await connect_pool(machine_db)
    metrics = Metrics()
    rt = EmbeddedRuntime(
        site, pool, metrics=metrics, hub=Hub(metrics=metrics), options=Options(tick_interval=0.05, notify=False)
    )
    await rt.start()
    try:
        yield rt, machine_db
    finally:
        await rt.stop()
        await pool.close()


def pid(rt, ent, dev, point) -> int:
    return rt.devices[ent][dev][point]


async def test_one_tenants_refused_request_fails_alone(runtime):
    rt, dsn = runtime
    import time

    now = time.time()
    dp2 = pid(rt, "E2", "DC1", "dp")
    dp1 = pid(rt, "E1", "DC1", "dp")

    def good(i: int) -> Parsed:
        return Parsed([(f"good-{i}-{j}", [Reading(dp2, now + i * 0.001 + j * 1e-6, 1000.0 + j)]) for j in range(5)], 5)

    def poison(i: int) -> Parsed:
        return Parsed([(f"ok-{i}", [Reading(dp1, now, 1.0)]), (f"bad{NUL}{i}", [Reading(dp1, now, 2.0)])], 2)

    calls = []
    for i in range(300):
        calls.append(rt.submit("E2", good(i)))
        if i % 15 == 0:
            calls.append(rt.submit("E1", poison(i)))
    results = await asyncio.gather(*calls, return_exceptions=True)
    goods = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, Rejected)]
    other = [r for r in results if isinstance(r, BaseException) and not isinstance(r, Rejected)]
    assert other == [], other[:3]  # no 503 for anyone, no other failure
    assert goods == [(5, 0)] * 300  # every request of the other tenant accepted
    assert len(refused) == 20 and all("CharacterNotInRepertoireError" in str(r) for r in refused)
    conn = await asyncpg.connect(dsn)
    try:
        assert await conn.fetchval("SELECT count(*) FROM readings WHERE point_id = $1", dp2) == 1500
        assert await conn.fetchval("SELECT count(*) FROM readings WHERE point_id = $1", dp1) == 0  # all or nothing
        assert await conn.fetchval("SELECT count(*) FROM messages WHERE enterprise = 'E2'") == 1500
        # every stored batch keeps its arrival time, for a replay that judges it at the same time
        times = await conn.fetch(
            "SELECT b.batch, t.at FROM (SELECT DISTINCT batch FROM readings) b LEFT JOIN batch_times t USING (batch)"
        )
        assert times and all(r["at"] is not None and abs(r["at"] - now) < 60 for r in times)
    finally:
        await conn.close()
    assert rt.problems() == []


async def test_a_poison_command_is_dead_lettered_and_the_pipeline_goes_on(runtime):
    rt, dsn = runtime
    import time

    now = time.time()
    await rt.submit("E1", Parsed([(None, [Reading(pid(rt, "E1", "DC1", "vent_open"), now, 1.0)])], 1))
    alert = (await wait_for(lambda: [a for a in rt.open_alerts() if a.point == "vent_open"]))[0]
    with pytest.raises(Rejected, match="note"):
        await asyncio.wait_for(rt.act("acknowledge", alert.id, "duty", f"on my way{NUL}"), 5)
    ops = await wait_for(lambda: [a for a in rt.open_alerts() if a.enterprise == "_system"])
    assert [(a.device, a.point, a.rule) for a in ops] == [("pipeline", "commands", "poison")]
    assert rt.step.alert(alert.id).state.value == "active"  # the refused action changed nothing
    done = await asyncio.wait_for(rt.act("acknowledge", alert.id, "duty", "on my way"), 5)
    assert done["state"] == "acknowledged"  # the pipeline goes on
    with pytest.raises(AlertError):
        await rt.act("handle", "no-such-alert", "duty", None)
    conn = await asyncpg.connect(dsn)
    try:
        dead = await conn.fetch("SELECT source, reason FROM dead_letters")
        stored = await conn.fetchval("SELECT count(*) FROM alerts WHERE enterprise = '_system' AND rule = 'poison'")
        acked = await conn.fetchval("SELECT state FROM alerts WHERE id = $1", alert.id)
    finally:
        await conn.close()
    assert [d["source"] for d in dead] == ["command"] and "note" in dead[0]["reason"]
    assert stored == 1 and acked == "acknowledged"


async def test_an_event_the_store_refuses_is_dead_lettered_not_retried_for_ever(runtime):
    rt, dsn = runtime
    import time

    now = time.time()
    # An opening time the store cannot hold (after the year 9999): a reading no edge would pass.
    far = 3e11
    await rt.submit("E1", Parsed([(None, [Reading(pid(rt, "E1", "DC1", "vent_open"), far, 1.0)])], 1))
    ops = await wait_for(lambda: [a for a in rt.open_alerts() if a.enterprise == "_system"])
    assert [(a.device, a.point, a.rule) for a in ops] == [("store", "alert-events", "poison")]
    await rt.submit("E2", Parsed([(None, [Reading(pid(rt, "E2", "DC1", "vent_open"), now, 1.0)])], 1))
    conn = await asyncpg.connect(dsn)
    try:
        later = await wait_for(lambda: conn.fetchval("SELECT id FROM alerts WHERE enterprise = 'E2'"))
        dead = await conn.fetch("SELECT source, topic, reason FROM dead_letters")
        system = await conn.fetchval("SELECT message FROM alerts WHERE enterprise = '_system'")
    finally:
        await conn.close()
    assert later  # the pipeline moved on: the next alert is stored
    assert [d["source"] for d in dead] == ["pipeline"] and dead[0]["topic"].startswith("alert-event ")
    assert "year" in dead[0]["reason"] and "dead_letters" in system
    assert rt.problems() == []
    with pytest.raises(Overloaded):  # and it still answers for room as before
        await rt.submit("E1", Parsed([(None, [Reading(1, now, 0.0)] * 10)], 300_000))
