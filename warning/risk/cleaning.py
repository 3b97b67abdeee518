"""Dust cleaning (粉尘清扫打卡): which areas are past their interval. Pure.

An overdue area is a context term of the enterprise's risk score and an alarm of its own
(warning.runtime.risk raises it through the runtime, and lifts it when a cleaning is recorded)."""

from __future__ import annotations

DEVICE = "cleaning"  #: an overdue area's alarm is on ``<enterprise>/cleaning/<area>``
RULE = "cleaning_overdue"  #: its rule; the model counts it as the context term, not as an alarm


def overdue(areas: list[dict], now: float) -> dict[str, list[str]]:
    """enterprise -> its overdue areas. An area never cleaned is overdue one interval after it was set up;
    with no set-up time known, at once."""
    out: dict[str, list[str]] = {}
    for a in areas:
        last = a.get("last_at")
        if last is None or now - last > a["interval_s"]:
            out.setdefault(a["enterprise"], []).append(a["area"])
    return out
