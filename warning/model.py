"""The nouns of the system, as plain immutable data.

Times are epoch **seconds** (floats) everywhere inside the core; the edges convert
from epoch milliseconds or ISO-8601.
"""

from __future__ import annotations

import copy
import enum
import hashlib
from dataclasses import dataclass, fields
from typing import NamedTuple

from detectors.base import Finding, Severity

SYSTEM = "_system"  #: the enterprise of operations alerts (warning.step); not a ledger enterprise

__all__ = [
    "Severity",
    "Finding",
    "Reading",
    "PointRef",
    "AlertState",
    "EventKind",
    "Alert",
    "AlertEvent",
    "alert_id",
    "event_id",
    "OPEN_STATES",
    "OFFICER_KINDS",
]


class Reading(NamedTuple):
    """One accepted value of one point. A tuple, because millions of them flow."""

    point_id: int  #: the point's id in the site registry
    t: float  #: device time, epoch seconds
    value: float  #: the value; booleans arrive as 0.0 / 1.0


@dataclass(frozen=True, slots=True)
class PointRef:
    """Where a value comes from: enterprise, device, point. ``point`` is ``""`` for device-level rules."""

    enterprise: str
    device: str
    point: str


class AlertState(str, enum.Enum):
    """发布 issued → 签收 signed for → 处置 handling → 反馈 feedback → 解除 lifted."""

    ACTIVE = "active"  #: 发布 issued, nobody has signed for it yet
    ACKNOWLEDGED = "acknowledged"  #: 签收 signed for by an officer
    HANDLING = "handling"  #: 处置 someone is handling it on site
    FEEDBACK = "feedback"  #: 反馈 the handler has reported back (may repeat)
    RESOLVED = "resolved"  #: 解除 lifted: by a person (or, for blue and yellow, a rule the site chose)


OPEN_STATES = (AlertState.ACTIVE, AlertState.ACKNOWLEDGED, AlertState.HANDLING, AlertState.FEEDBACK)


class EventKind(str, enum.Enum):
    RAISED = "raised"
    UPDATED = "updated"  #: severity went up or down, or the condition came back
    CLEARED = "cleared"  #: the condition cleared; the alert stays open until a person signs and lifts it
    ESCALATED = "escalated"
    ACKNOWLEDGED = "acknowledged"
    HANDLING = "handling"
    FEEDBACK = "feedback"
    RESOLVED = "resolved"


#: Kinds that people cause; they are re-applied from the store after a restore.
OFFICER_KINDS = (EventKind.ACKNOWLEDGED, EventKind.HANDLING, EventKind.FEEDBACK, EventKind.RESOLVED)


@dataclass(frozen=True, slots=True)
class Alert:
    """An alert as it stands after an event. The engine replaces, never mutates, these."""

    id: str  #: stable: derived from the key and the opening time
    enterprise: str
    device: str
    point: str
    rule: str
    severity: Severity
    state: AlertState
    message: str
    value: float
    opened_at: float
    updated_at: float
    acknowledged_by: str | None = None
    acknowledged_at: float | None = None
    ack_note: str | None = None
    resolved_at: float | None = None
    resolved_by: str | None = None  #: None when the condition cleared by itself
    resolve_note: str | None = None
    condition_active: bool = True  #: whether the detector still sees the condition
    holder: str | None = None  #: who holds it now: the signer/handler, else the on-duty person of its tier
    tier: int = 0  #: escalation tier reached (0: first tier, e.g. the duty officer)
    escalations: int = 0  #: escalation steps taken (repeats of the last tier count too)
    handled_by: str | None = None
    handled_at: float | None = None
    feedback_count: int = 0
    feedback_at: float | None = None  #: time of the last feedback (re-applied actions up to it are no-ops)
    flapping: bool = False  #: the condition changed >= N times in the flap window; held open as one alert
    peak_severity: Severity | None = None  #: the worst severity it reached (None only in old snapshots)
    cleared_at: float | None = None  #: when the condition last cleared (None while it is active)
    message_data: dict | None = None  #: how ``message`` was built: {"id", "params"} (warning.messages)

    @property
    def worst(self) -> Severity:
        """The worst severity it reached: ``peak_severity``, or ``severity`` for an alert from
        a snapshot older than the field. What the report counts, escalation is timed by and
        its escalations are routed at."""
        return self.peak_severity if self.peak_severity is not None else self.severity

    def to_json(self) -> dict:
        # the fields by name, not dataclasses.asdict: asdict deep-copies every field through
        # its generic walk (32 us an alert, against 5 us so); only message_data is a container
        d = {name: getattr(self, name) for name in _ALERT_FIELDS}
        if self.message_data is not None:
            d["message_data"] = copy.deepcopy(self.message_data)
        d["severity"] = self.severity.label
        d["peak_severity"] = self.worst.label
        d["state"] = self.state.value
        return d


_ALERT_FIELDS = tuple(f.name for f in fields(Alert))


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """One change of one alert. ``id`` is stable, so replaying input never duplicates it."""

    id: str
    kind: EventKind
    at: float  #: when it happened (reading time for detector events, action time for people)
    alert: Alert  #: the alert after this event
    actor: str | None = None  #: who did it; None for the system
    note: str | None = None
    data: dict | None = None  #: extra facts: feedback attachments' metadata, escalation tier, ...
    message: str | None = None  #: this event's own text when it is not the alert's (a clearing's)

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "kind": self.kind.value,
            "at": self.at,
            "actor": self.actor,
            "note": self.note,
            "data": self.data,
            "message": self.message or self.alert.message,
            "alert": self.alert.to_json(),
        }


def _digest(*parts: object) -> str:
    return hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=10).hexdigest()


def alert_id(enterprise: str, device: str, point: str, rule: str, opened_at: float) -> str:
    return _digest(enterprise, device, point, rule, round(opened_at * 1000))


def event_id(alert: str, kind: EventKind, at: float, severity: Severity | None, actor: str | None) -> str:
    """Detector events are keyed by time and severity; officers' actions by time and actor, so
    re-applying an action after a restart (whatever the severity then) gives the same id."""
    return _digest(alert, kind.value, round(at * 1000), 0 if severity is None else int(severity), actor or "")
