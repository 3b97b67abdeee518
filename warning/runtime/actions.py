"""Inputs to the pipeline that are not readings, shared by every runtime: officers' actions
and dead letters. Pure: they only call the pipeline."""

from __future__ import annotations

from ..alerts import AlertError
from ..model import AlertEvent, Finding, PointRef, Severity
from ..pipeline import Pipeline

ACTIONS = ("acknowledge", "handle", "feedback", "resolve")


def apply_action(p: Pipeline, kind: str, aid: str, actor: str, note: str | None, at: float,
                 attachments: list[dict] | None = None) -> list[AlertEvent]:
    """One officer action, by command name or by the event kind it produced (re-application)."""
    if kind in ("acknowledge", "acknowledged"):
        return p.acknowledge(aid, actor, note, at)
    if kind in ("handle", "handling"):
        return p.handle(aid, actor, note, at)
    if kind == "feedback":
        return p.feedback(aid, actor, note, at, attachments)
    if kind in ("resolve", "resolved"):
        return p.resolve(aid, actor, note, at)
    raise AlertError(f"unknown action {kind!r}")


def dead_letter(p: Pipeline, severity: Severity, row: dict, at: float) -> list[AlertEvent]:
    """A notification the outbox gave up on becomes a ``_system`` alert, so people see it."""
    finding = Finding("dead_letter", severity, at, float(row["attempts"]),
                      f"notification {row['event_id']} undeliverable on {row['channel']}: {row['last_error']}")
    return p.engine.observe(PointRef("_system", "outbox", row["channel"]), finding)
