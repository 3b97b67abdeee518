"""The notification log: outbox rows written once per (channel, event), cancelled after
acknowledgement, and listed for the API.

Once-only lives here, not in the router: each (channel, event id) is recorded in
``notified`` when its message is queued, and items already recorded are dropped from
later messages. So however a replay regroups events after a crash, no channel hears an
event twice, and an event held in a group window that died with the process is queued
on replay. Items about alerts already signed for or lifted are dropped too, so nothing
repeats after acknowledgement even when a replay re-raises an old alert.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
import orjson

from ..model import EventKind

LIFECYCLE = {k.value for k in (EventKind.ACKNOWLEDGED, EventKind.HANDLING, EventKind.FEEDBACK, EventKind.RESOLVED)}
NOTIFIABLE = ("raised", "updated", "escalated", "group")


def _normalise(n):
    """Accept Notification objects and the skeleton's ``(event id, channel, payload)`` tuples."""
    if isinstance(n, tuple) and len(n) == 3:
        eid, ch, pay = n
        return eid, ch, pay["alert"]["id"], pay["kind"], ((eid, pay["alert"]["id"]),), pay
    return n.id, n.channel, n.alert_id, n.kind, n.items, n.payload


async def enqueue(conn: asyncpg.Connection, notifications: Sequence) -> int:
    """Queue what is new; returns the rows queued. Call inside the events' transaction."""
    norm = [_normalise(n) for n in notifications]
    alert_ids = list({aid for *_, items, _ in norm for _, aid in items})
    closed = {
        r["id"]
        for r in await conn.fetch("SELECT id FROM alerts WHERE id = ANY($1::text[]) AND state <> 'active'", alert_ids)
    }
    queued = 0
    for nid, ch, _aid, kind, items, payload in norm:
        done = {
            r["event_id"]
            for r in await conn.fetch(
                "SELECT event_id FROM notified WHERE channel = $1 AND event_id = ANY($2::text[])",
                ch,
                [e for e, _ in items],
            )
        }
        # upstream items are the regulator's record: kept even for alerts closed meanwhile
        kept = kind in LIFECYCLE or kind.startswith("upstream:")
        keep = [(e, a) for e, a in items if e not in done and (kept or a not in closed)]
        if not keep:
            continue
        if kind == "group" and len(keep) != len(items):
            ids = {e for e, _ in keep}
            payload = {
                **payload,
                "events": [p for p in payload["events"] if p["id"] in ids],
                "event_ids": [e for e, _ in keep],
                "count": len(keep),
            }
            if not payload["events"]:  # every shown item was dropped: show the first kept ones by id
                payload["events"] = []
            nid = payload["id"] = f"{nid}-{len(keep)}"
        row = await conn.fetchrow(
            "INSERT INTO outbox (event_id, channel, alert_id, kind, payload, items) VALUES ($1, $2, $3, $4, $5, $6) "
            "ON CONFLICT (event_id, channel) DO NOTHING RETURNING id",
            nid,
            ch,
            keep[0][1],
            kind,
            orjson.dumps(payload).decode(),
            len(keep),
        )
        if row is None:
            continue
        await conn.executemany(
            "INSERT INTO notified (channel, event_id, outbox_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            [(ch, e, row["id"]) for e, _ in keep],
        )
        queued += 1
    return queued


async def cancel(conn: asyncpg.Connection, alert_ids: list[str]) -> None:
    """Cancel queued raise/escalation messages about alerts that were just signed for or lifted."""
    await conn.execute(
        "UPDATE outbox SET state = 'cancelled' WHERE alert_id = ANY($1::text[]) AND state = 'pending' "
        "AND kind IN ('raised', 'updated', 'escalated')",
        alert_ids,
    )


def _row(r) -> dict:
    d = dict(r)
    for k in ("next_attempt_at", "created_at", "sent_at"):
        d[k] = None if d[k] is None else d[k].timestamp()
    return d


async def log(
    conn: asyncpg.Connection,
    *,
    state: str | None = None,
    channel: str | None = None,
    alert_id: str | None = None,
    since: float | None = None,
    limit: int = 200,
) -> list[dict]:
    """Delivery state per notification, newest first."""
    where: list[str] = []
    args: list[object] = []
    for col, val in (("state", state), ("channel", channel)):
        if val is not None:
            args.append(val)
            where.append(f"{col} = ${len(args)}")
    if alert_id is not None:
        args.append(alert_id)
        where.append(
            f"(alert_id = ${len(args)} OR id IN (SELECT outbox_id FROM notified n JOIN alert_events e "
            f"ON e.id = n.event_id WHERE e.alert_id = ${len(args)}))"
        )
    if since is not None:
        args.append(since)
        where.append(f"created_at >= to_timestamp(${len(args)})")
    args.append(limit)
    rows = await conn.fetch(
        "SELECT id, event_id AS notification_id, channel, alert_id, kind, state, attempts, items, last_error, "
        "next_attempt_at, created_at, sent_at FROM outbox "
        f"{'WHERE ' + ' AND '.join(where) if where else ''} ORDER BY id DESC LIMIT ${len(args)}",
        *args,
    )
    return [_row(r) for r in rows]


async def undelivered_dead(conn: asyncpg.Connection) -> list[dict]:
    """Dead letters whose alert has not been raised yet (the process died in between)."""
    rows = await conn.fetch(
        "SELECT id, channel, event_id, last_error, attempts FROM outbox "
        "WHERE state = 'failed' AND NOT dead_alerted ORDER BY id"
    )
    return [dict(r) for r in rows]


async def mark_dead_alerted(conn: asyncpg.Connection, ids: list[int]) -> None:
    await conn.execute("UPDATE outbox SET dead_alerted = true WHERE id = ANY($1::bigint[])", ids)
