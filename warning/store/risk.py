"""Risk items (warnings and hazard reports), their steps, photos and cleaning check-ins in PostgreSQL.

The loop (``warning.risk.loop``) decides; this module records. Steps are keyed by the loop
event's stable id, so an event written twice (a retry, a replay) adds nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
import orjson

from ..risk.loop import Item, LoopEvent, State, Step
from .alerts import epoch, seconds, ts

_INSERT = (
    "INSERT INTO risk_items (id, kind, enterprise, street, level, peak, state, opened_at, waiting_since, tier, "
    "condition_over, score, factors, updated_at, closed_at) "
    "VALUES ($1, $2, $3, $4, $5, $5, $6, $7, $8, $9, $10, $11, COALESCE($12::jsonb, '[]'::jsonb), $13, $14) "
    "ON CONFLICT (id) DO NOTHING"
)
_UPDATE = (
    "UPDATE risk_items SET level = $2, state = $3, waiting_since = $4, tier = $5, condition_over = $6, "
    "score = COALESCE($7, score), factors = COALESCE($8::jsonb, factors), "
    "updated_at = GREATEST(updated_at, $9), closed_at = $10, "
    "peak = CASE WHEN array_position(ARRAY['blue','yellow','orange','red'], $2) > "
    "COALESCE(array_position(ARRAY['blue','yellow','orange','red'], peak), 0) THEN $2 ELSE peak END "
    "WHERE id = $1"
)


class StaleItems(Exception):
    """A step was decided on an item the store has moved past (another gateway, or a restart's
    older picture, took a step this loop has not seen): nothing was written; read the items
    again (:func:`items`) and decide once more."""

    def __init__(self, ids: set[str]):
        super().__init__(f"risk items moved on in the store: {sorted(ids)}")
        self.ids = ids


async def record(
    conn: asyncpg.Connection, events: Sequence[LoopEvent], explain: dict[str, tuple[float, list[dict]]] | None = None
) -> int:
    """Write loop events (the new step, then the item's row) in one transaction; returns steps added.
    ``explain``: item id -> (score, factors JSON) to store beside it.

    The store is the record of the loop, and the steps are its versions: an event's step goes
    in at ``seq = len(item.steps) - 1``, so it is written only on the picture of the item it was
    decided on. If that seq is taken by another step (another gateway signed, escalated,
    closed it meanwhile), nothing of this transaction stays and :class:`StaleItems` names the
    items. The same step again (its stable id: a retry, a replay, two gateways' timers at one
    due time) adds nothing and is not a conflict. No lock is taken beforehand: the unique
    (item, seq) is the guard, so a step costs no more round trips than it did unguarded; two
    gateways writing one seq queue on that index and the later finds the seq taken. Events are
    written in item order, so two writers never wait on each other crosswise."""
    added = 0
    stale: set[str] = set()
    order = sorted(range(len(events)), key=lambda i: events[i].item.id)  # stable: each item's steps in order
    async with conn.transaction():
        for ev in (events[i] for i in order):
            it = ev.item
            if it.id in stale:
                continue
            score, factors = (explain or {}).get(it.id, (None, None))
            args = (
                it.id,
                it.kind,
                it.enterprise,
                it.street,
                it.level,
                it.state.value,
                ts(it.opened_at),
                ts(it.waiting_since),
                it.tier,
                it.condition_over,
                score,
                None if factors is None else orjson.dumps(factors).decode(),
                ts(ev.at),
                ts(ev.at) if it.state is State.CLOSED else None,
            )
            seq = len(it.steps) - 1
            if seq == 0:  # the opening: the row first (a step needs it); an existing row is kept
                await conn.execute(_INSERT, *args)
            step = it.steps[-1]
            row = await conn.fetchrow(
                "INSERT INTO risk_steps (id, item_id, seq, action, at, actor, note, data) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING RETURNING id",
                ev.id,
                it.id,
                seq,
                step.action,
                ts(step.at),
                step.actor,
                step.note,
                None if step.data is None else orjson.dumps(step.data).decode(),
            )
            if row is None:
                taken = await conn.fetchval("SELECT id FROM risk_steps WHERE item_id = $1 AND seq = $2", it.id, seq)
                if taken != ev.id:
                    stale.add(it.id)  # another step holds this seq (or the row is another item's)
                continue  # the same step, written before: nothing to add
            if seq > 0 and await conn.execute(_UPDATE, args[0], *args[4:6], *args[7:]) != "UPDATE 1":
                stale.add(it.id)  # no such row (or not this item): the picture is wrong
                continue
            added += 1
        if stale:
            raise StaleItems(stale)  # leaves the transaction: nothing of it stays
    return added


def _item_json(r, steps: list[dict] | None = None) -> dict:
    d = {
        "id": r["id"],
        "kind": r["kind"],
        "enterprise": r["enterprise"],
        "street": r["street"],
        "level": r["level"],
        "peak": r["peak"],
        "state": r["state"],
        "opened_at": epoch(r["opened_at"]),
        "waiting_since": epoch(r["waiting_since"]),
        "tier": r["tier"],
        "condition_over": r["condition_over"],
        "score": r["score"],
        "factors": orjson.loads(r["factors"]),
        "updated_at": epoch(r["updated_at"]),
        "closed_at": epoch(r["closed_at"]),
    }
    if steps is not None:
        d["steps"] = steps
    return d


def _step_json(r) -> dict:
    return {
        "action": r["action"],
        "at": epoch(r["at"]),
        "actor": r["actor"],
        "note": r["note"],
        "data": None if r["data"] is None else orjson.loads(r["data"]),
    }


async def list_items(
    conn: asyncpg.Connection,
    *,
    enterprises: list[str] | None,
    state: str = "open",
    kind: str | None = None,
    limit: int = 500,
) -> list[dict]:
    rows = await conn.fetch(
        "SELECT * FROM risk_items WHERE ($1::text[] IS NULL OR enterprise = ANY($1)) "
        "AND ($2 = 'all' OR ($2 = 'open' AND state <> 'closed') OR state = $2) AND ($3::text IS NULL OR kind = $3) "
        "ORDER BY (state = 'closed'), array_position(ARRAY['report','blue','yellow','orange','red'], level) DESC, "
        "opened_at DESC LIMIT $4",
        enterprises,
        state,
        kind,
        limit,
    )
    return [_item_json(r) for r in rows]


async def get_item(conn: asyncpg.Connection, item_id: str) -> dict | None:
    r = await conn.fetchrow("SELECT * FROM risk_items WHERE id = $1", item_id)
    if r is None:
        return None
    steps = await conn.fetch("SELECT * FROM risk_steps WHERE item_id = $1 ORDER BY seq", item_id)
    return _item_json(r, [_step_json(s) for s in steps])


async def open_items(conn: asyncpg.Connection) -> dict[str, Item]:
    """Every item not yet closed, rebuilt for the loop (a restart picks its timers up again)."""
    return {i.id: i for i in await _load(conn, "WHERE i.state <> 'closed'") if i.state is not State.CLOSED}


async def items(conn: asyncpg.Connection, ids: Sequence[str]) -> dict[str, Item]:
    """These items as the store has them, closed ones included (a loop drops those); an id the
    store does not know is left out."""
    return {i.id: i for i in await _load(conn, "WHERE i.id = ANY($1::text[])", list(ids))}


async def moved(conn: asyncpg.Connection, held: dict[str, int]) -> list[str]:
    """The items whose record moved past a loop's picture: ``held`` is the loop's items (id ->
    the steps it holds). Returns the ids of items not closed that the loop does not hold or
    holds another number of steps of, and of held items closed meanwhile: what another gateway
    took. One query; the loop reads those again with :func:`items`."""
    rows = await conn.fetch(  # two indexed reads (the open items', the held ones'), not a scan of every item ever
        "WITH c AS (SELECT id, state FROM risk_items WHERE state <> 'closed' "
        "UNION SELECT id, state FROM risk_items WHERE id = ANY($1::text[])) "
        "SELECT c.id, c.state, (SELECT count(*) FROM risk_steps s WHERE s.item_id = c.id) AS n FROM c",
        list(held),
    )
    return [r["id"] for r in rows if (r["id"] in held if r["state"] == "closed" else r["n"] != held.get(r["id"], -1))]


async def _load(conn: asyncpg.Connection, where: str, *args) -> list[Item]:
    rows = await conn.fetch(f"SELECT * FROM risk_items i {where}", *args)
    steps: dict[str, list[Step]] = {}
    for s in await conn.fetch(
        f"SELECT s.* FROM risk_steps s JOIN risk_items i ON i.id = s.item_id {where} ORDER BY s.item_id, s.seq", *args
    ):
        steps.setdefault(s["item_id"], []).append(
            Step(
                s["action"],
                seconds(s["at"]),
                s["actor"],
                s["note"],
                None if s["data"] is None else orjson.loads(s["data"]),
            )
        )
    return [
        Item(
            r["id"],
            r["kind"],
            r["enterprise"],
            r["street"],
            r["level"],
            State(r["state"]),
            seconds(r["opened_at"]),
            seconds(r["waiting_since"]),
            r["tier"],
            tuple(steps.get(r["id"], ())),
            r["condition_over"],
        )
        for r in rows
    ]


# -- photos ------------------------------------------------------------------------------------
async def add_photo(
    conn: asyncpg.Connection,
    pid: str,
    enterprise: str,
    item_id: str | None,
    mime: str,
    size: int,
    sha256: str,
    path: str,
    who: str,
) -> dict:
    await conn.execute(
        "INSERT INTO risk_photos (id, enterprise, item_id, mime, size, sha256, path, uploaded_by) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        pid,
        enterprise,
        item_id,
        mime,
        size,
        sha256,
        path,
        who,
    )
    return {"id": pid, "type": mime, "size": size, "sha256": sha256}


async def get_photo(conn: asyncpg.Connection, pid: str):
    return await conn.fetchrow("SELECT * FROM risk_photos WHERE id = $1", pid)


async def add_reporter(conn: asyncpg.Connection, item_id: str, text: str, contact: str | None, address: str) -> None:
    await conn.execute(
        "INSERT INTO risk_reporters (item_id, text, contact, address) VALUES ($1, $2, $3, $4)",
        item_id,
        text,
        contact,
        address,
    )


# -- dust cleaning -----------------------------------------------------------------------------
async def set_area(conn: asyncpg.Connection, enterprise: str, area: str, interval_s: float) -> None:
    await conn.execute(
        "INSERT INTO cleaning_areas (enterprise, area, interval_s) VALUES ($1, $2, $3) "
        "ON CONFLICT (enterprise, area) DO UPDATE SET interval_s = EXCLUDED.interval_s",
        enterprise,
        area,
        interval_s,
    )


async def check_in(
    conn: asyncpg.Connection, enterprise: str, area: str, at: float, who: str, photo_id: str | None
) -> None:
    await conn.execute(
        "INSERT INTO cleaning_checkins (enterprise, area, at, who, photo_id) VALUES ($1, $2, $3, $4, $5)",
        enterprise,
        area,
        ts(at),
        who,
        photo_id,
    )


async def areas(conn: asyncpg.Connection, enterprises: list[str] | None) -> list[dict]:
    """Every area with its last check-in (None: never cleaned)."""
    rows = await conn.fetch(
        "SELECT a.enterprise, a.area, a.interval_s, c.at AS last_at, c.who AS last_who FROM cleaning_areas a "
        "LEFT JOIN LATERAL (SELECT at, who FROM cleaning_checkins k WHERE k.enterprise = a.enterprise "
        "AND k.area = a.area ORDER BY at DESC LIMIT 1) c ON true "
        "WHERE ($1::text[] IS NULL OR a.enterprise = ANY($1)) ORDER BY a.enterprise, a.area",
        enterprises,
    )
    return [
        {
            "enterprise": r["enterprise"],
            "area": r["area"],
            "interval_s": r["interval_s"],
            "last_at": epoch(r["last_at"]),
            "last_who": r["last_who"],
        }
        for r in rows
    ]


# -- the reports' figures ----------------------------------------------------------------------
async def span_items(
    conn: asyncpg.Connection, start: float, end: float, enterprises: list[str] | None = None
) -> tuple[list[dict], dict[str, list[dict]]]:
    """Items opened before ``end`` and not closed before ``start`` (of ``enterprises`` when
    given), and their steps by item id in order: what warning.risk.figures summarises."""
    rows = await conn.fetch(
        "SELECT id, kind, enterprise, street, level, peak, state, opened_at, closed_at FROM risk_items "
        "WHERE opened_at < to_timestamp($2) AND (closed_at IS NULL OR closed_at >= to_timestamp($1)) "
        "AND ($3::text[] IS NULL OR enterprise = ANY($3)) ORDER BY opened_at",
        start,
        end,
        enterprises,
    )
    items = [
        {
            "id": r["id"],
            "kind": r["kind"],
            "enterprise": r["enterprise"],
            "street": r["street"],
            "level": r["level"],
            "peak": r["peak"],
            "state": r["state"],
            "opened_at": epoch(r["opened_at"]),
            "closed_at": epoch(r["closed_at"]),
        }
        for r in rows
    ]
    steps: dict[str, list[dict]] = {}
    for s in await conn.fetch(
        "SELECT item_id, action, at, actor, data FROM risk_steps WHERE item_id = ANY($1) ORDER BY item_id, seq",
        [i["id"] for i in items],
    ):
        steps.setdefault(s["item_id"], []).append(
            {
                "action": s["action"],
                "at": epoch(s["at"]),
                "actor": s["actor"],
                "data": None if s["data"] is None else orjson.loads(s["data"]),
            }
        )
    return items, steps
