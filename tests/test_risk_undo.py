"""The risk service's undo (RiskService._mark / _rewind, docs/risk.md "The store is the loop's
record"): a decision whose rows did not commit leaves the model, the loop and ``item_of``
exactly as they were, order included. A feed batch or an officer's step marks only what it
can touch (its enterprises, its item); these tests compare the whole state before and after,
so a scope that missed anything the decision changed fails them. The store errors are real
ones (a CHECK constraint that refuses the rows, another service moving an item first)."""

from __future__ import annotations

import pickle
from contextlib import asynccontextmanager

import asyncpg
import pytest

from tests.conftest import site_dict
from warning.config import parse_site
from warning.risk.config import default, from_dict
from warning.risk.loop import Loop, State
from warning.risk.model import AlarmChange, RiskModel
from warning.runtime import risk as risk_runtime
from warning.runtime.risk import RiskService
from warning.security import token_digest
from warning.store import risk as risk_store
from warning.store.db import migrate
from warning.web.hub import Hub

T0 = 1_800_000_000.0
KINDS = ("blue", "yellow", "orange", "red", "report")
REPLY = {"cause": "积尘", "measures": "已清扫", "verdict": "true"}
ENTS = ("E1", "E2", "E3", "E4", "E5")


def ch(at: float, alert: str, e: str, level: int, point: str = "hopper_temp", device: str = "DC1") -> AlarmChange:
    return AlarmChange(at, alert, e, device, point, "threshold", level, point, raised=level > 0)


def state(svc: RiskService) -> tuple:
    """Everything a rewind puts back, as values in order (the model copied: it is mutable)."""
    return (
        list(pickle.loads(svc.model.snapshot()).items()),
        list(svc.loop.items.items()),
        list(svc.item_of.items()),
    )


@asynccontextmanager
async def services(kinds, dsn: str, n: int = 1):
    conn = await asyncpg.connect(dsn)
    await migrate(conn)
    await conn.close()
    raw = site_dict(channels=[{"id": "log", "type": "log", "risk": True}])
    two = raw["enterprises"][1]
    for e in ENTS[2:]:  # E3..E5 shaped like E2
        raw["enterprises"].append({**two, "id": e, "name": f"Enterprise {e}", "token_sha256": [token_digest(e * 12)]})
    site = parse_site(raw, kinds)
    limits = {k: 600.0 for k in KINDS}
    cfg = from_dict({"loop": {"sign_within": limits, "reply_within": limits, "escalate_every": limits}})
    now = [T0]
    pools = [await asyncpg.create_pool(dsn, min_size=1, max_size=2) for _ in range(n)]
    svcs = [RiskService(site, p, Hub(), cfg, tick=3600, clock=lambda: now[0]) for p in pools]
    try:
        for s in svcs:
            await s.start()
        yield svcs, pools[0], now
    finally:
        for s in svcs:
            await s.stop()
        for p in pools:
            await p.close()


async def open_district(svc: RiskService, now: list[float]) -> None:
    """Several enterprises in several states: E1 orange (open), E2 red (replied) with a report
    open, E3 a yellow alarm below any warning, E4 orange (signed); E5 nothing yet."""
    async with svc.lock:
        await svc._batch(
            [
                ch(T0, "a1", "E1", 3),
                ch(T0, "b1", "E2", 3),
                ch(T0, "b2", "E2", 4, point="spark"),
                ch(T0, "c1", "E3", 2),
                ch(T0, "d1", "E4", 3),
            ]
        )
    await svc.report("R1", "E2", "除尘器旁积尘很厚", None, "127.0.0.1", None)
    now[0] = T0 + 5
    await svc.act(svc.item_of["E2"], "sign", "zhang")
    await svc.act(svc.item_of["E2"], "reply", "zhang", **REPLY)
    await svc.act(svc.item_of["E4"], "sign", "li")
    now[0] = T0 + 10


def decisive_batch(at: float) -> list[AlarmChange | None]:
    """A batch that changes all three: E1 rises to red (a level step), E3 gets a warning (an
    item opens), E5 appears (a new enterprise, its warning, its item), one of E2's alarms
    clears; an event that is no alarm's is None. E4 (open, signed) is not named."""
    return [
        ch(at, "a2", "E1", 4, point="spark"),
        ch(at, "c2", "E3", 3, point="spark"),
        ch(at, "e1", "E5", 3),
        ch(at, "b1", "E2", 0),
        None,
    ]


@asynccontextmanager
async def refusing(pool: asyncpg.Pool, table: str):
    """The store refuses every new row of ``table`` (a real error, from PostgreSQL)."""
    await pool.execute(f"ALTER TABLE {table} ADD CONSTRAINT undo_probe CHECK (false) NOT VALID")
    try:
        yield
    finally:
        await pool.execute(f"ALTER TABLE {table} DROP CONSTRAINT undo_probe")


def spy(monkeypatch, svc: RiskService, name: str) -> list:
    """Record the whole state each time ``svc.<name>`` is entered (then run it as it is)."""
    seen: list = []
    real = getattr(svc, name)

    async def wrapped(*a, **kw):
        seen.append(state(svc))
        return await real(*a, **kw)

    monkeypatch.setattr(svc, name, wrapped)
    return seen


def marks(monkeypatch, svc: RiskService) -> list:
    taken: list = []
    real = svc._mark

    def wrapped(scope=None):
        taken.append(m := real(scope))
        return m

    monkeypatch.setattr(svc, "_mark", wrapped)
    return taken


async def test_a_feed_batch_the_store_refuses_leaves_every_enterprise_as_it_was(kinds, machine_db, monkeypatch):
    async with services(kinds, machine_db) as ([svc], pool, now):
        await open_district(svc, now)
        before, closed = state(svc), dict(svc.closed)
        at_write = spy(monkeypatch, svc, "_write")
        taken = marks(monkeypatch, svc)
        async with refusing(pool, "risk_steps"), svc.lock:
            with pytest.raises(asyncpg.CheckViolationError):
                await svc._batch(decisive_batch(now[0]))
        assert state(svc) == before and svc.closed == closed
        # not vacuous: when it wrote, the decision had changed the model, the loop and item_of
        changed = at_write[0]
        assert all(changed[i] != before[i] for i in range(3))
        assert "E5" in dict(changed[2]) and "E5" not in svc.item_of
        # and the mark was the batch's enterprises, not the district
        assert [type(m).__name__ for m in taken] == ["_Part"] and taken[0].enterprises == {"E1", "E2", "E3", "E5"}

        # the store back, the same batch commits (same ids): the undo lost nothing
        async with svc.lock:
            await svc._batch(decisive_batch(now[0]))
        assert svc.loop.items[svc.item_of["E1"]].level == "red"
        assert {"E3", "E5"} <= set(svc.item_of)
        stored = await pool.fetchval("SELECT count(*) FROM risk_items WHERE enterprise = ANY($1)", ["E3", "E5"])
        assert stored == 2


async def test_a_feed_batch_on_a_moved_item_is_undone_before_each_fresh_read(kinds, machine_db, monkeypatch):
    async with services(kinds, machine_db, n=2) as ([a, b], pool, now):
        await open_district(a, now)
        await b.tick()  # B holds A's items
        e1 = a.item_of["E1"]
        await b.act(e1, "sign", "wang")  # another gateway moves E1's item: A's picture of it is stale
        async with pool.acquire() as conn:
            fresh = (await risk_store.items(conn, [e1]))[e1]
        assert fresh.state is State.SIGNED and a.loop.items[e1].state is State.OPEN
        before = state(a)
        expected = (before[0], [(i, fresh if i == e1 else it) for i, it in before[1]], before[2])

        # every try stale (one try allowed): the batch fails with StaleItems, its decisions
        # undone; only the item read again differs, as the store has it
        monkeypatch.setattr(risk_runtime, "MAX_TRIES", 1)
        async with a.lock:
            with pytest.raises(risk_store.StaleItems):
                await a._batch(decisive_batch(now[0]))
        assert state(a) == expected

        # allowed to try again: the first try on the stale picture, undone, then the fresh one
        a.loop.items[e1] = before[1][[i for i, _ in before[1]].index(e1)][1]  # A's stale picture again
        assert state(a) == before
        monkeypatch.setattr(risk_runtime, "MAX_TRIES", 8)
        tries = spy(monkeypatch, a, "_observe")
        async with a.lock:
            await a._batch(decisive_batch(now[0]))
        assert len(tries) == 2 and tries[0] == before and tries[1] == expected
        it = a.loop.items[e1]
        assert (it.state, it.level) == (State.SIGNED, "red")
        assert [s.action for s in it.steps] == ["opened", "sign", "level"]


async def test_an_officer_step_the_store_refuses_is_undone_in_place(kinds, machine_db, monkeypatch):
    async with services(kinds, machine_db) as ([svc], pool, now):
        await open_district(svc, now)
        e2 = svc.item_of["E2"]
        before, closed = state(svc), dict(svc.closed)
        taken = marks(monkeypatch, svc)
        async with refusing(pool, "risk_steps"):
            # the close takes the item out of the loop; refused, it is back in its place
            with pytest.raises(asyncpg.CheckViolationError):
                await svc.act(e2, "review", "duty", close=True, note=None)
            assert state(svc) == before and svc.closed == closed
            with pytest.raises(asyncpg.CheckViolationError):
                await svc.act(svc.item_of["E1"], "sign", "zhao")
            assert state(svc) == before
        assert [(m.enterprises, m.loop.ids) for m in taken] == [
            ({"E2"}, {e2}),
            ({"E1"}, {svc.item_of["E1"]}),
        ]
        await svc.act(e2, "review", "duty", close=True, note=None)
        assert e2 not in svc.loop.items and e2 in svc.closed


async def test_a_report_the_store_refuses_does_not_stay_in_memory(kinds, machine_db):
    """Before, the opened report stayed in the loop unstored: past its limit every tick's
    escalations went into one transaction with a step for a row that was not there (a foreign
    key error), so no item escalated any more on that gateway."""
    async with services(kinds, machine_db) as ([svc], pool, now):
        await open_district(svc, now)
        before = state(svc)
        async with refusing(pool, "risk_reporters"):
            with pytest.raises(asyncpg.CheckViolationError):
                await svc.report("R2", "E3", "配电箱旁有粉尘", None, "127.0.0.1", None)
        assert state(svc) == before and "R2" not in svc.loop.items
        now[0] = T0 + 700  # past every signing limit: the open items escalate, and it is written
        await svc.tick()
        esc = await pool.fetchval("SELECT count(*) FROM risk_steps WHERE action = 'escalate'")
        assert esc >= 2 and svc.loop.items[svc.item_of["E1"]].tier >= 0


def test_the_model_part_puts_back_its_enterprises_and_their_order():
    m = RiskModel(default())
    for e in ("E1", "E2", "E3"):
        m.observe(ch(T0, f"{e}-a", e, 3))
    m.observe(ch(T0, "E3-a", "E3", 0))
    m.tick(T0 + 10**7)  # E3's warning clears...
    m.tick(T0 + 10**7)  # ...and with nothing left to remember it is gone from the model
    assert list(m.ents) == ["E1", "E2"]
    m.observe(ch(T0 + 1, "E1-b", "E1", 4, point="spark"))
    whole = list(pickle.loads(m.snapshot()).items())
    part = m.snapshot_part({"E1", "E3", "E4"})
    m.observe(ch(T0 + 2, "E1-a", "E1", 0))  # changed
    m.observe(ch(T0 + 2, "E4-a", "E4", 2))  # added
    m.observe(ch(T0 + 2, "E3-a", "E3", 2))  # added back
    m.restore_part(part)
    assert list(m.ents.items()) == whole
    part = m.snapshot_part({"E1"})
    del m.ents["E1"]  # removed (only a tick does): it goes back in its place
    m.restore_part(part)
    assert list(m.ents.items()) == whole


def test_the_loop_part_puts_back_its_items_and_their_order():
    cfg = default()
    loop = Loop(cfg)
    for i, e in enumerate(("E1", "E2", "E1", "E3")):
        loop.open(f"I{i}", "warning" if i < 3 else "report", e, None, "orange" if i < 3 else "report", T0)
    loop.sign("I0", "zhang", T0 + 1)
    loop.reply("I0", "zhang", T0 + 2, **REPLY)
    whole = list(loop.items.items())
    part = loop.snapshot_part({"E1"}, {"I3"})
    loop.review("I0", "duty", T0 + 3, close=True, note=None)  # closed: out of the loop
    loop.set_level("I2", "red", T0 + 3)  # changed
    loop.open("I9", "warning", "E1", None, "red", T0 + 3)  # opened
    loop.sign("I3", "street", T0 + 3)  # named by id
    loop.restore_part(part)
    assert list(loop.items.items()) == whole
