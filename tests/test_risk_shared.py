"""The store as the shared record of the risk loop: two risk services (two gateways) on one
PostgreSQL, each with its own loop in memory, a fake clock, no broker. The guarded write
(warning.store.risk.record) and the re-read (RiskService._guarded) keep one loop: a timer
whose item was signed on the other service does nothing, a person's step on a stale picture
is taken on the fresh one, a step already taken elsewhere is refused, and the escalations of
a silent item are written once. tests/test_distributed_risk.py does the same with real
gateway processes and the broker."""

from __future__ import annotations

import asyncpg
import pytest

from tests.conftest import site_dict
from warning.config import parse_site
from warning.risk.config import from_dict
from warning.risk.loop import LoopError, State
from warning.runtime.risk import RiskService
from warning.store import risk as risk_store
from warning.store.db import migrate
from warning.web.hub import Hub

T0 = 1_800_000_000.0
KINDS = ("blue", "yellow", "orange", "red", "report")
REPLY = {"cause": "积尘", "measures": "已清扫", "verdict": "true"}


async def steps(pool: asyncpg.Pool, item: str) -> list[tuple[str, str | None]]:
    rows = await pool.fetch("SELECT action, actor FROM risk_steps WHERE item_id = $1 ORDER BY seq", item)
    return [(r["action"], r["actor"]) for r in rows]


async def test_two_services_keep_one_loop(kinds, machine_db, monkeypatch):
    conn = await asyncpg.connect(machine_db)
    await migrate(conn)
    await conn.close()
    site = parse_site(site_dict(channels=[{"id": "log", "type": "log", "risk": True}]), kinds)
    cfg = from_dict(
        {
            "loop": {
                "sign_within": {k: 10.0 for k in KINDS},
                "reply_within": {k: 600.0 for k in KINDS},
                "escalate_every": {k: 10.0 for k in KINDS},
            }
        }
    )
    now = [T0]
    pools = [await asyncpg.create_pool(machine_db, min_size=1, max_size=2) for _ in range(2)]
    # tick=3600: the services' own timers never fire; the test ticks them on its clock
    a, b = (RiskService(site, p, Hub(), cfg, tick=3600, clock=lambda: now[0]) for p in pools)
    await a.start()
    await b.start()
    try:
        await a.report("R1", "E1", "除尘器旁积尘很厚", None, "127.0.0.1", None)
        await b.tick()  # B reads the items that moved (one query a tick): it holds A's report now
        assert b.loop.items["R1"].state is State.OPEN

        now[0] = T0 + 2
        await a.act("R1", "sign", "street-officer")
        # from here B does not read between steps: the guarded write alone must hold
        monkeypatch.setattr(b, "_sync", _nothing)
        now[0] = T0 + 25  # past the signing limit and one more tier, on B's stale picture
        await b.tick()
        row = await pools[0].fetchrow("SELECT state, tier FROM risk_items WHERE id = 'R1'")
        assert (row["state"], row["tier"]) == ("signed", -1)
        assert await steps(pools[0], "R1") == [("opened", None), ("sign", "street-officer")]
        assert b.loop.items["R1"].state is State.SIGNED  # read again when its escalation was refused

        await b.act("R1", "reply", "street-officer", **REPLY)
        # A still holds it signed: "only a reply can be reviewed" on that picture; read again, allowed
        assert a.loop.items["R1"].state is State.SIGNED
        await a.act("R1", "review", "duty", close=True, note=None)
        # B holds it replied: its close (a second later; the same step at the same instant would be
        # the same step id, a replay) is taken on the fresh picture, where it is closed already
        now[0] += 1
        with pytest.raises(LoopError):
            await b.act("R1", "review", "duty", close=True, note=None)
        assert await steps(pools[0], "R1") == [
            ("opened", None),
            ("sign", "street-officer"),
            ("reply", "street-officer"),
            ("close", "duty"),
        ]
        assert "R1" not in a.loop.items and "R1" not in b.loop.items

        # a silent report: both services tick over its limits, in either order; each tier once
        monkeypatch.undo()
        now[0] = T0 + 100
        await b.report("R2", "E1", "配电箱旁有粉尘", None, "127.0.0.1", None)
        for i, t in enumerate((111.0, 121.0, 131.0, 141.0)):
            now[0] = T0 + t
            first, second = (a, b) if i % 2 else (b, a)
            await first.tick()
            await second.tick()
        got = await steps(pools[0], "R2")
        assert got == [("opened", None), ("escalate", None), ("escalate", None)]  # district, then bureau
        tiers = await pools[0].fetch(
            "SELECT data->>'tier_name' AS t FROM risk_steps WHERE item_id = 'R2' AND action = 'escalate' ORDER BY seq"
        )
        assert [r["t"] for r in tiers] == ["district", "bureau"]
        assert a.loop.items["R2"].tier == b.loop.items["R2"].tier == 2
        pushed = await pools[0].fetch(
            "SELECT payload::jsonb->'risk'->>'action' AS action FROM outbox WHERE payload::jsonb->'risk'->>'item' = 'R2' "
            "ORDER BY id"
        )
        assert [r["action"] for r in pushed] == ["opened", "escalate", "escalate"]  # each step pushed once
        async with pools[1].acquire() as c:
            assert await risk_store.moved(c, {}) == ["R2"]  # what a fresh loop would read: the open one

        # a person acts on B on an item B has not read yet (B reads nothing between steps)
        monkeypatch.setattr(b, "_sync", _nothing)
        await a.report("R3", "E1", "门口堆放杂物", None, "127.0.0.1", None)
        assert "R3" not in b.loop.items
        await b.act("R3", "sign", "street-officer")  # "no open item" on B's picture; read again: signed
        assert (await pools[0].fetchval("SELECT state FROM risk_items WHERE id = 'R3'")) == "signed"

        # a closed item's id is never opened again (the model's warning can outlive its item)
        before = await steps(pools[0], "R1")
        await a._write(a.loop.open("R1", "report", "E1", None, "report", now[0]))
        assert "R1" not in a.loop.items
        assert await steps(pools[0], "R1") == before
        assert (await pools[0].fetchval("SELECT state FROM risk_items WHERE id = 'R1'")) == "closed"
    finally:
        await a.stop()
        await b.stop()
        for p in pools:
            await p.close()


async def _nothing() -> None:
    return None
