"""Score a run against its faults' ground truth: per fault, and false alarms.

Rules (the same for every scenario, written down so the numbers mean something):

* **Attribution.** An alert event belongs to a fault when it is on the fault's device,
  on one of the fault's points (device-level alerts, point ``""``, always count; faults
  that name no points, like offline and dropout, take every point of the device), and
  happens inside the fault's window: from onset to its end (or the end of the run) plus
  its recovery ``tail`` plus ``SETTLE`` seconds for detectors to clear.
* **Detected**: some attributed event. **Severity reached**: the highest attributed
  severity. **Time to detect**: first attributed event minus onset.
* **Hazardous faults** (those whose label has a hazard time) pass when an attributed
  event at orange or red comes no later than the hazard time. A hazard that comes sooner
  than one sampling interval after the onset (a spark, a vent opening: the onset itself;
  a fan trip: ~7 s) cannot be foreseen from samples: it passes when caught by the
  first sample after the onset, i.e. within one interval of it, and is left out of the
  mean margin. **Margin** = (hazard − first
  orange-or-red) / (hazard − onset): 100 % is caught at onset, 0 % just in time, negative
  is late.
* **Sensor faults** (stuck, drift, dropout, spikes, offline) pass when nothing above
  yellow is attributed to them: a broken transmitter is not a process hazard.
* **Other process faults** pass when they reach their deserved severity.
* **False alarms**: ``raised`` events attributed to no fault, per enterprise-day of time
  outside every fault window of that enterprise. ``false_alarms_while_stopped`` counts
  those raised while the production schedule has the plant stopped, or within 10 min of
  its start: the shift-change share.
"""

from __future__ import annotations

from collections import Counter

from simulators.faults import SENSOR_FAULTS, Fault
from simulators.run import RunResult

SETTLE = 900.0  #: seconds after a fault's recovery during which its alerts still belong to it
LEVEL = {"blue": 1, "yellow": 2, "orange": 3, "red": 4}
NAMES = {v: k for k, v in LEVEL.items()}
DAY = 86400.0


def window(f: Fault, run_end: float) -> tuple[float, float]:
    end = run_end if f.end is None else min(run_end, f.end + f.tail + SETTLE)
    return f.start, end


def _belongs(ev: dict, f: Fault, win: tuple[float, float]) -> bool:
    if (ev["enterprise"], ev["device"]) != (f.enterprise, f.device) or not (win[0] <= ev["at"] <= win[1]):
        return False
    points = f.affected()
    return not points or ev["point"] == "" or ev["point"] in points


def score_fault(f: Fault, events: list[dict], run_end: float, interval: float) -> dict:
    win = window(f, run_end)
    mine = [e for e in events if e["kind"] in ("raised", "updated") and _belongs(e, f, win)]
    label = f.label()
    first = mine[0]["at"] if mine else None
    top = max((e["level"] for e in mine), default=0)
    orange = next((e["at"] for e in mine if e["level"] >= LEVEL["orange"]), None)
    deserved = LEVEL[label["severity"]]
    hazard = label["hazard_time"]
    out = {
        **label,
        "sensor_fault": f.kind in SENSOR_FAULTS,
        "detected": first is not None,
        "severity_reached": NAMES.get(top),
        "time_to_detect": None if first is None else first - f.start,
        "time_to_orange": None if orange is None else orange - f.start,
        "hazard_in": None if hazard is None else hazard - f.start,
        "margin": None,
        "rules": sorted({f"{e['point'] or 'device'}:{e['rule']}" for e in mine}),
    }
    if hazard is not None:
        instantaneous = hazard - f.start < interval
        out["instantaneous"] = instantaneous
        if instantaneous:  # the first sample after the onset comes at most one interval later
            out["passed"] = orange is not None and orange <= f.start + interval
        else:
            out["passed"] = orange is not None and orange <= hazard
            if orange is not None:
                out["margin"] = (hazard - orange) / (hazard - f.start)
    elif f.kind in SENSOR_FAULTS:
        out["passed"] = top <= LEVEL["yellow"]
    else:
        out["passed"] = top >= deserved
    return out


def _union(spans: list[tuple[float, float]]) -> float:
    total, cur = 0.0, None
    for a, b in sorted(spans):
        if cur is None or a > cur[1]:
            if cur:
                total += cur[1] - cur[0]
            cur = [a, b]
        else:
            cur[1] = max(cur[1], b)
    return total + (cur[1] - cur[0] if cur else 0.0)


def score_run(run: RunResult) -> dict:
    sc = run.scenario
    end = sc.end
    ev_by_device: dict[tuple[str, str], list[dict]] = {}
    for e in run.events:
        ev_by_device.setdefault((e["enterprise"], e["device"]), []).append(e)
    faults = [score_fault(f, ev_by_device.get((f.enterprise, f.device), []), end, sc.interval) for f in sc.faults]
    wins = [(f, window(f, end)) for f in sc.faults]
    by_device: dict[tuple[str, str], list] = {}
    for f, w in wins:
        by_device.setdefault((f.enterprise, f.device), []).append((f, w))
    false = [
        e
        for e in run.events
        if e["kind"] == "raised"
        and not any(_belongs(e, f, w) for f, w in by_device.get((e["enterprise"], e["device"]), ()))
    ]
    ents = sc.enterprise_ids()
    free_days = 0.0
    for eid in ents:
        spans = [(max(sc.start, a), min(end, b)) for f, (a, b) in wins if f.enterprise == eid]
        free_days += (sc.duration - _union(spans)) / DAY
    hazardous = [x for x in faults if x["hazard_time"] is not None]
    margins = [x["margin"] for x in hazardous if x["margin"] is not None]
    fa_rate = len(false) / free_days if free_days > 0 else None
    return {
        "scenario": sc.name,
        "description": sc.description,
        "source": sc.source,
        "enterprises": len(ents),
        "devices": sum(len(e.get("devices", [])) for e in sc.site.get("enterprises", [])),
        "duration_s": sc.duration,
        "interval_s": sc.interval,
        "schedule": sc.schedule_name,
        "seed": sc.seed,
        "readings": run.readings,
        "device_samples": run.device_samples,
        "wall_s": round(run.wall, 3),
        "cpu_s": round(run.cpu, 3),
        "readings_per_s": round(run.readings / run.wall) if run.wall > 0 else None,
        "faults": faults,
        "hazardous": len(hazardous),
        "hazardous_caught": sum(1 for x in hazardous if x["passed"]),
        "mean_margin": sum(margins) / len(margins) if margins else None,
        "margins_counted": len(margins),
        "false_alarms": len(false),
        "fault_free_enterprise_days": round(free_days, 3),
        "false_alarms_per_enterprise_day": fa_rate,
        "false_alarms_per_enterprise_week": None if fa_rate is None else fa_rate * 7,
        "false_alarms_while_stopped": None
        if sc.schedule is None
        else sum(1 for e in false if not sc.schedule(e["at"]) or not sc.schedule(e["at"] - 600.0)),
        "false_alarm_sources": [
            {"point": p or "device", "rule": r, "severity": s, "count": n}
            for (p, r, s), n in Counter((e["point"], e["rule"], e["severity"]) for e in false).most_common(12)
        ],
        "alert_events": len(run.events),
    }
