"""Warnings beside alarms: feed a scenario run's alert events through the risk model
(``warning.risk``) and score the warnings against the faults' ground truth.

Rules (docs/risk.md):

* **Warnings** are the ``issued`` events (one warning per enterprise at a time; a warning
  that rises a level is the same warning). Compared with **alarms**, the ``raised`` alert events.
  The target is judged on these; beside them, :func:`loop_items` counts them as the running
  service's loop does (a rise while the enterprise's item is not yet closed joins that item).
* An alarm stops counting as live risk when its condition clears (``cleared``), though it
  stays open for a person to sign: the score follows the condition, the loop follows people.
* A **false warning** is one issued while no fault window (simulators.score.window) of a
  process fault of its enterprise is open: a sensor fault (stuck, drift, dropout, spike,
  offline) is an alarm's business, and a warning it alone made is false.
* A **hazardous fault** passes when, at an alarm attributed to it (simulators.score rules)
  no later than its hazard time, its enterprise's warning stands at orange or red; a hazard
  faster than one sampling interval passes when that happens within one interval of onset.
"""

from __future__ import annotations

from collections import Counter

from simulators.faults import SENSOR_FAULTS
from simulators.run import RunResult, parsed_site
from simulators.score import DAY, _belongs, window
from warning.risk.config import RiskConfig
from warning.risk.model import NAMES, AlarmChange, RiskModel, WarningEvent
from warning.risk.standing import standings

TARGETS = {"warnings_per_alarm": 0.10, "false_warnings_per_enterprise_week": 0.1}
ORANGE = 3
TICK = 60.0  #: seconds between model ticks (holds and durations are minutes to hours)


def _change(e: dict, kinds: dict) -> AlarmChange:
    return AlarmChange(
        e["at"],
        e["alert"],
        e["enterprise"],
        e["device"],
        e["point"],
        e["rule"],
        0 if e["kind"] in ("resolved", "cleared") else e["level"],
        kinds.get((e["enterprise"], e["device"], e["point"]), ""),
        e["kind"] == "raised",
    )


def run_model(run: RunResult, config: RiskConfig) -> tuple[list[WarningEvent], list[tuple[dict, int]]]:
    """The warning events, and each alert event with its enterprise's warning level right after it."""
    sc = run.scenario
    site = parsed_site(sc)
    kinds = {(p.ref.enterprise, p.ref.device, p.ref.point): p.kind for p in site.points}
    model = RiskModel(config, standings(site.enterprises.values(), config))
    out: list[WarningEvent] = []
    level_after: list[tuple[dict, int]] = []
    nxt = sc.start
    for e in sorted(run.events, key=lambda x: x["at"]):
        while nxt < e["at"]:
            out += model.tick(nxt)
            nxt += TICK
        out += model.observe(_change(e, kinds))
        w = model.current(e["enterprise"])
        level_after.append((e, 0 if w is None else w.level))
    while nxt <= sc.end:
        out += model.tick(nxt)
        nxt += TICK
    return out, level_after


def loop_items(events: list[WarningEvent], config: RiskConfig) -> int:
    """The warnings as the running service counts them (warning.runtime.risk): one loop item per
    enterprise until a regulator closes it; a new rise while it is open moves its level instead.
    The scenario has no people, so the closing is assumed: the enterprise replies at the reply
    limit of the item's peak level and the regulator closes at once, though never before the
    model has cleared its condition."""
    items: dict[str, list] = {}  #: enterprise -> [opened_at, peak level, cleared_at or None]
    n = 0
    for we in sorted(events, key=lambda x: x.at):
        e, lv = we.warning.enterprise, we.warning.level
        it = items.get(we.warning.enterprise)
        if we.kind.value == "issued":
            if it is not None and (it[2] is None or we.at < max(it[2], it[0] + config.reply_within[NAMES[it[1]]])):
                it[1], it[2] = max(it[1], lv), None  # the open item takes it
            else:
                items[e] = [we.at, lv, None]
                n += 1
        elif it is not None and we.kind.value == "raised":
            it[1] = max(it[1], lv)
        elif it is not None and we.kind.value == "cleared":
            it[2] = we.at
    return n


def score_warnings(run: RunResult, config: RiskConfig) -> dict:
    sc = run.scenario
    events, levels = run_model(run, config)
    issued = [w for w in events if w.kind.value == "issued"]
    alarms = sum(1 for e in run.events if e["kind"] == "raised")
    wins = [(f, window(f, sc.end)) for f in sc.faults]
    process = [(f, win) for f, win in wins if f.kind not in SENSOR_FAULTS]  # a broken transmitter warrants no warning
    false = [
        w for w in issued if not any(f.enterprise == w.warning.enterprise and a <= w.at <= b for f, (a, b) in process)
    ]
    hazardous = caught = 0
    missed = []
    for f, win in wins:
        hz = f.label()["hazard_time"]
        if hz is None:
            continue
        hazardous += 1
        deadline = f.start + sc.interval if hz - f.start < sc.interval else hz
        ok = any(
            lv >= ORANGE and e["kind"] in ("raised", "updated") and e["at"] <= deadline and _belongs(e, f, win)
            for e, lv in levels
        )
        caught += ok
        if not ok:
            missed.append(f"{f.kind}@{f.enterprise}/{f.device}")
    ents = sc.enterprise_ids()
    weeks = len(ents) * sc.duration / (7 * DAY)
    return {
        "alarms": alarms,
        "warnings": len(issued),
        "warnings_by_peak": dict(Counter(_peak(events, w.warning.id) for w in issued)),
        "warnings_per_alarm": len(issued) / alarms if alarms else None,
        "loop_items": (items := loop_items(events, config)),
        "loop_items_per_alarm": items / alarms if alarms else None,
        "hazardous": hazardous,
        "hazardous_warned_orange": caught,
        "hazardous_missed": missed[:20],
        "false_warnings": len(false),
        "enterprise_weeks": round(weeks, 2),
        "false_warnings_per_enterprise_week": len(false) / weeks if weeks else None,
    }


def _peak(events: list[WarningEvent], wid: str) -> str:
    return max(
        (w.warning.to_json()["peak"] for w in events if w.warning.id == wid),
        key=["none", "blue", "yellow", "orange", "red"].index,
    )


def verdict(r: dict) -> list[str]:
    why = []
    ratio = r["warnings_per_alarm"]
    if ratio is not None and ratio > TARGETS["warnings_per_alarm"]:
        why.append(f"warnings {100 * ratio:.0f}% of alarms > 10%")
    if r["hazardous_warned_orange"] < r["hazardous"]:
        why.append(
            f"{r['hazardous'] - r['hazardous_warned_orange']} hazardous faults without an orange/red warning in time"
        )
    fw = r["false_warnings_per_enterprise_week"]
    if fw is not None and fw > TARGETS["false_warnings_per_enterprise_week"]:
        why.append(f"{fw:.2f} false warnings per enterprise-week > 0.1")
    return why


def line(r: dict) -> str:
    ratio = r["warnings_per_alarm"]
    fw = r["false_warnings_per_enterprise_week"]
    peaks = ", ".join(f"{k} {v}" for k, v in sorted(r["warnings_by_peak"].items()))
    return (
        f"risk warnings: {r['warnings']} ({peaks or 'none'}) beside {r['alarms']} alarms = "
        f"{'-' if ratio is None else f'{100 * ratio:.0f}%'} (as loop items, one per enterprise until closed: "
        f"{r['loop_items']}); hazardous faults with an orange/red warning in "
        f"time: {r['hazardous_warned_orange']}/{r['hazardous']}; false warnings {r['false_warnings']} = "
        f"{'-' if fw is None else f'{fw:.3f}'} per enterprise-week"
    )
