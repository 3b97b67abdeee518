"""Alerts, their events, and the outbox rows they cause, written in one transaction.

Event ids are stable, so events replayed after a crash are recognised and dropped
before they touch the alert row or the outbox: a replay never notifies twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import asyncpg
import orjson

from ..model import Alert, AlertEvent, AlertState, Severity
from . import notifications as notify_store

ALERT_FIELDS = (
    "id",
    "enterprise",
    "device",
    "point",
    "rule",
    "severity",
    "state",
    "message",
    "value",
    "opened_at",
    "updated_at",
    "acknowledged_by",
    "acknowledged_at",
    "ack_note",
    "resolved_at",
    "resolved_by",
    "resolve_note",
    "condition_active",
    "holder",
    "tier",
    "escalations",
    "handled_by",
    "handled_at",
    "feedback_count",
    "flapping",
    "peak_severity",
    "cleared_at",
    "message_data",
)
_TIME_FIELDS = {"opened_at", "updated_at", "acknowledged_at", "resolved_at", "handled_at", "cleared_at"}
STATES = ("active", "acknowledged", "handling", "feedback", "resolved")
OPEN = ("active", "acknowledged", "handling", "feedback")

_UPSERT = (
    f"INSERT INTO alerts ({', '.join(ALERT_FIELDS)}) VALUES ({', '.join(f'${i + 1}' for i in range(len(ALERT_FIELDS)))}) "
    f"ON CONFLICT (id) DO UPDATE SET {', '.join(f'{f} = EXCLUDED.{f}' for f in ALERT_FIELDS[1:])}"
)
_EVENT = (
    "INSERT INTO alert_events (id, alert_id, kind, at, severity, state, actor, note, message, value, data) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
)


def ts(seconds: float | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


def epoch(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def seconds(value: datetime) -> float:
    """Epoch seconds of a NOT NULL timestamptz column."""
    return value.timestamp()


def _alert_row(e: AlertEvent) -> tuple:
    a = e.alert
    return (
        a.id,
        a.enterprise,
        a.device,
        a.point,
        a.rule,
        int(a.severity),
        a.state.value,
        a.message,
        a.value,
        ts(a.opened_at),
        ts(a.updated_at),
        a.acknowledged_by,
        ts(a.acknowledged_at),
        a.ack_note,
        ts(a.resolved_at),
        a.resolved_by,
        a.resolve_note,
        a.condition_active,
        a.holder,
        a.tier,
        a.escalations,
        a.handled_by,
        ts(a.handled_at),
        a.feedback_count,
        a.flapping,
        int(a.worst),
        ts(a.cleared_at),
        None if a.message_data is None else orjson.dumps(a.message_data).decode(),
    )


async def record(
    conn: asyncpg.Connection, events: Sequence[AlertEvent], notifications: Sequence = ()
) -> list[AlertEvent]:
    """Store new events and their notifications (:class:`~warning.policy.router.Notification` s, or
    the skeleton's ``(event id, channel, payload)``); returns the new events.

    Pending notifications of an alert that has just been signed for or lifted are cancelled:
    nothing repeats after acknowledgement. Notifications are kept even for events already
    stored (a replay may route an event whose message was only held in a group window when
    the process died); the ``notified`` table keeps every (channel, event) once.
    """
    if not events and not notifications:
        return []
    async with conn.transaction():
        seen = {
            r["id"]
            for r in await conn.fetch("SELECT id FROM alert_events WHERE id = ANY($1::text[])", [e.id for e in events])
        }
        new = [e for e in events if e.id not in seen]
        if new:
            await _store_events(conn, new)
        if notifications:
            await notify_store.enqueue(conn, notifications)
    return new


async def _store_events(conn: asyncpg.Connection, new: list[AlertEvent]) -> None:
    for e in new:  # in order: the alert row must exist before its event, and end in the latest state
        await conn.execute(_UPSERT, *_alert_row(e))
    await conn.executemany(
        _EVENT,
        [
            (
                e.id,
                e.alert.id,
                e.kind.value,
                ts(e.at),
                int(e.alert.severity),
                e.alert.state.value,
                e.actor,
                e.note,
                e.message or e.alert.message,
                e.alert.value,
                None if e.data is None else orjson.dumps(e.data).decode(),
            )
            for e in new
        ],
    )
    verdicts = [
        (e.alert.id, e.data["verdict"]) for e in new if e.kind.value == "feedback" and e.data and e.data.get("verdict")
    ]
    if verdicts:  # the latest feedback's verdict, for the monthly analysis
        await conn.executemany("UPDATE alerts SET verdict = $2 WHERE id = $1", verdicts)
    closed = [e.alert.id for e in new if e.kind.value in ("acknowledged", "handling", "feedback", "resolved")]
    if closed:
        await notify_store.cancel(conn, closed)


def alert_json(row: asyncpg.Record) -> dict:
    d = {f: row[f] for f in ALERT_FIELDS}
    d["severity"] = Severity(d["severity"]).label
    d["peak_severity"] = Severity(d["peak_severity"]).label
    d["message_data"] = None if d["message_data"] is None else orjson.loads(d["message_data"])
    d["verdict"] = row["verdict"]
    for f in _TIME_FIELDS:
        d[f] = epoch(d[f])
    return d


def alert_of_row(row: asyncpg.Record) -> Alert:
    """A stored alert as the engine holds it (to put back one that memory lost, see
    ``AlertEngine.adopt``)."""
    d = {f: row[f] for f in ALERT_FIELDS}
    d["severity"] = Severity(d["severity"])
    d["peak_severity"] = Severity(d["peak_severity"])
    d["state"] = AlertState(d["state"])
    d["message_data"] = None if d["message_data"] is None else orjson.loads(d["message_data"])
    for f in _TIME_FIELDS:
        d[f] = epoch(d[f])
    return Alert(**d)


async def open_alerts_rows(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """Every open alert, as stored rows."""
    return await conn.fetch("SELECT * FROM alerts WHERE state <> 'resolved'")


async def list_alerts(
    conn: asyncpg.Connection, state: str = "active", *, enterprises: list[str] | None = None, limit: int = 1000
) -> list[dict]:
    """Alerts in ``state``, only of ``enterprises`` when given (a caller's scope)."""
    where: list[str] = []
    args: list[object] = []
    if state == "open":
        where.append("state <> 'resolved'")
    elif state != "all":
        args.append(state)
        where.append(f"state = ${len(args)}")
    if enterprises is not None:
        args.append(enterprises)
        where.append(f"enterprise = ANY(${len(args)}::text[])")
    args.append(limit)
    sql = (
        f"SELECT * FROM alerts {'WHERE ' + ' AND '.join(where) if where else ''} "
        f"ORDER BY peak_severity DESC, opened_at DESC LIMIT ${len(args)}"
    )
    return [alert_json(r) for r in await conn.fetch(sql, *args)]


async def get_alert(conn: asyncpg.Connection, aid: str) -> dict | None:
    row = await conn.fetchrow("SELECT * FROM alerts WHERE id = $1", aid)
    return None if row is None else alert_json(row)


async def alert_events(conn: asyncpg.Connection, aid: str) -> list[dict]:
    rows = await conn.fetch(
        "SELECT id, kind, at, severity, state, actor, note, message, value, data "
        "FROM alert_events WHERE alert_id = $1 ORDER BY at, recorded_at",
        aid,
    )
    return [
        {
            **dict(r),
            "at": epoch(r["at"]),
            "severity": Severity(r["severity"]).label,
            "data": None if r["data"] is None else orjson.loads(r["data"]),
        }
        for r in rows
    ]


async def officer_actions(conn: asyncpg.Connection, alert_ids: list[str]) -> list[dict]:
    """Officers' actions on these alerts (sign, handle, feedback, lift), oldest first (for restore)."""
    rows = await conn.fetch(
        "SELECT alert_id, kind, at, actor, note, data FROM alert_events WHERE alert_id = ANY($1::text[]) "
        "AND actor IS NOT NULL AND kind IN ('acknowledged', 'handling', 'feedback', 'resolved') "
        "ORDER BY at, recorded_at",
        alert_ids,
    )
    return [
        {**dict(r), "at": epoch(r["at"]), "data": None if r["data"] is None else orjson.loads(r["data"])} for r in rows
    ]
