"""The alert engine: a pure state machine from findings and officers' actions to alert events.

One alert per (enterprise, device, point, rule) while it is open. Lifecycle::

    raised ──► updated* ──► acknowledged ──► updated* ──► resolved
       └──────────────────────────────────────────────────┘

Resolution is automatic when the detector clears the condition (the detectors carry
the hysteresis), or manual by an officer. Every change returns an
:class:`~warning.model.AlertEvent` with a stable id, so the same input replayed after
a crash yields the same events and idempotent sinks drop the repeats.

No clock is read here: times come in with findings and actions.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from dataclasses import replace

from .model import Alert, AlertEvent, AlertState, EventKind, Finding, PointRef, alert_id, event_id


class AlertError(Exception):
    """An officer's action that cannot be applied; the message says why."""


class AlertNotFound(AlertError):
    pass


class AlertEngine:
    """Open alerts by key and by id. Resolved alerts leave the engine (the store keeps them)."""

    def __init__(self) -> None:
        self.by_key: dict[tuple[str, str, str, str], Alert] = {}  #: open alerts by (enterprise, device, point, rule)
        self.by_id: dict[str, tuple[str, str, str, str]] = {}  #: alert id -> key

    # -- detector side -------------------------------------------------------------------------
    def observe(self, ref: PointRef, finding: Finding) -> list[AlertEvent]:
        key = (ref.enterprise, ref.device, ref.point, finding.rule)
        current = self.by_key.get(key)
        if finding.severity is None:
            if current is None:
                return []
            return [self._close(key, current, finding.t, finding.value, finding.message, None, None)]
        if current is None:
            aid = alert_id(ref.enterprise, ref.device, ref.point, finding.rule, finding.t)
            alert = Alert(aid, ref.enterprise, ref.device, ref.point, finding.rule, finding.severity,
                          AlertState.ACTIVE, finding.message, finding.value, finding.t, finding.t)
            self.by_key[key] = alert
            self.by_id[aid] = key
            return [AlertEvent(event_id(aid, EventKind.RAISED, finding.t, alert.severity, None),
                               EventKind.RAISED, finding.t, alert)]
        if finding.severity == current.severity and current.condition_active:
            return []
        alert = replace(current, severity=finding.severity, message=finding.message, value=finding.value,
                        updated_at=finding.t, condition_active=True)
        self.by_key[key] = alert
        return [AlertEvent(event_id(alert.id, EventKind.UPDATED, finding.t, alert.severity, None),
                           EventKind.UPDATED, finding.t, alert)]

    # -- officer side --------------------------------------------------------------------------
    def acknowledge(self, aid: str, actor: str, note: str | None, at: float) -> list[AlertEvent]:
        """Sign for an open alert. Signing twice is a no-op (no event)."""
        key = self._key(aid)
        current = self.by_key[key]
        if current.state is AlertState.ACKNOWLEDGED:
            return []
        alert = replace(current, state=AlertState.ACKNOWLEDGED, acknowledged_by=actor, acknowledged_at=at,
                        ack_note=note, updated_at=at)
        self.by_key[key] = alert
        return [AlertEvent(event_id(aid, EventKind.ACKNOWLEDGED, at, None, actor),
                           EventKind.ACKNOWLEDGED, at, alert, actor, note)]

    def resolve(self, aid: str, actor: str, note: str | None, at: float) -> list[AlertEvent]:
        """Lift an alert by hand. While its condition is still active a reason is required."""
        key = self._key(aid)
        current = self.by_key[key]
        if current.condition_active and not (note and note.strip()):
            raise AlertError("the condition is still active: give a reason to lift this alert")
        return [self._close(key, current, at, current.value, current.message, actor, note)]

    def _key(self, aid: str):
        key = self.by_id.get(aid)
        if key is None:
            raise AlertNotFound(f"no open alert with id {aid!r}")
        return key

    def _close(self, key, current: Alert, at: float, value: float, message: str, actor, note) -> AlertEvent:
        alert = replace(current, state=AlertState.RESOLVED, resolved_at=at, resolved_by=actor, resolve_note=note,
                        value=value, message=message if actor is None else current.message, updated_at=at,
                        condition_active=current.condition_active and actor is not None)
        del self.by_key[key]
        del self.by_id[current.id]
        return AlertEvent(event_id(current.id, EventKind.RESOLVED, at, None if actor else alert.severity, actor),
                          EventKind.RESOLVED, at, alert, actor, note)

    # -- queries and state ---------------------------------------------------------------------
    def open_alerts(self) -> list[Alert]:
        return list(self.by_key.values())

    def get(self, aid: str) -> Alert | None:
        key = self.by_id.get(aid)
        return None if key is None else self.by_key[key]

    def snapshot(self, enterprises: Callable[[str], bool] | None = None) -> bytes:
        """Open alerts (of the enterprises ``enterprises`` accepts, or all) as bytes."""
        alerts = self.by_key if enterprises is None else {k: a for k, a in self.by_key.items() if enterprises(k[0])}
        return pickle.dumps(alerts, protocol=pickle.HIGHEST_PROTOCOL)

    def restore(self, data: bytes, enterprises: Callable[[str], bool] | None = None) -> None:
        """Replace the open alerts (of the enterprises ``enterprises`` accepts, or all) with a snapshot's."""
        if enterprises is None:
            self.by_key = {}
        else:
            self.by_key = {k: a for k, a in self.by_key.items() if not enterprises(k[0])}
        self.by_key.update(pickle.loads(data))
        self.by_id = {a.id: k for k, a in self.by_key.items()}
