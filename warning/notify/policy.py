"""Which alert events become which channel messages. Pure. The skeleton's rule set, kept for
its callers; the runtime now routes through :mod:`warning.notify.router` (tiers, grouping,
silences, inhibition, throttling), which applies the same rules below first.

* raised, escalated, and updates that raise the severity notify every channel whose
  ``min_severity`` the alert reaches, while nobody has acknowledged the alert;
* the generic webhook also hears acknowledgements and resolutions (lifecycle sync);
* nothing else: after acknowledgement only the lifecycle webhook speaks.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..config import Channel
from ..model import AlertEvent, AlertState, EventKind, Severity

LIFECYCLE_TYPES = ("webhook",)


def wants(channel: Channel, event: AlertEvent, previous: Severity | None) -> bool:
    alert = event.alert
    if event.kind in (EventKind.ACKNOWLEDGED, EventKind.RESOLVED):
        return channel.type in LIFECYCLE_TYPES
    if alert.state is not AlertState.ACTIVE:
        return False
    if alert.severity < Severity.parse(channel.min_severity):
        return False
    if event.kind is EventKind.UPDATED:
        return previous is None or alert.severity > previous
    return event.kind in (EventKind.RAISED, EventKind.ESCALATED)


def notifications(events: Sequence[AlertEvent], channels: Sequence[Channel],
                  previous: dict[str, Severity]) -> list[tuple[str, str, dict]]:
    """``(event id, channel id, payload)`` for each message to send.

    ``previous`` maps alert id -> severity before this batch, and is updated in place.
    """
    out = []
    for e in events:
        before = previous.get(e.alert.id)
        for ch in channels:
            if wants(ch, e, before):
                out.append((e.id, ch.id, e.to_json()))
        if e.kind is EventKind.RESOLVED:
            previous.pop(e.alert.id, None)
        else:
            previous[e.alert.id] = e.alert.severity
    return out
