"""Warnings beside alarms: feed a scenario run's alert events through the risk model
(``warning.risk``) and score the warnings against the faults' ground truth.

Rules (docs/risk.md):

* **Warnings** are the items the running service opens (``warning.risk.loop.follow``, the
  code the service uses: one per enterprise at a time; a model warning issued while the
  enterprise's item is not yet closed joins it as a ``renewed`` step, a level change is a
  ``level`` step). A scenario has no people, so they are scripted (:class:`_People`): the
  enterprise signs at once and replies at the reply limit of the item's level, a regulator
  closes as soon as the condition is over. Compared with **alarms**, the ``raised`` alert
  events; beside them the model's **episodes** (its ``issued`` events).
* An alarm stops counting as live risk when its condition clears (``cleared``), though it
  stays open for a person to sign: the score follows the condition, the loop follows people.
* A **false warning** is an episode (every one is pushed: as an opening or a renewal) issued while no fault window (simulators.score.window) of a
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
from warning.risk.config import LEVELS, RiskConfig
from warning.risk.loop import Loop, follow, unclosed
from warning.risk.model import AlarmChange, RiskModel, WarningEvent
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


class _People:
    """The running service's loop (warning.risk.loop.follow: one item per enterprise at a time)
    with scripted people, since a scenario has none: the enterprise signs at once and replies at
    the reply limit of the item's level; a regulator closes a replied item as soon as the model
    has cleared its condition. Items whose condition is over and not yet closed feed the model's
    "not closed" context term, as in the service."""

    def __init__(self, config: RiskConfig, model: RiskModel) -> None:
        self.config, self.model = config, model
        self.loop = Loop(config)
        self.item_of: dict[str, str] = {}
        self.opened = 0
        self.renewed = 0
        self.peak: dict[str, str] = {}  #: item -> the highest level it reached

    def take(self, events: list[WarningEvent]) -> list[WarningEvent]:
        """Model events into the loop; returns them with any the context term added."""
        out = list(events)
        todo = list(events)
        while todo:
            loop_events = []
            for we in todo:
                loop_events += follow(self.loop, self.item_of, we, None)[0]
            self.opened += sum(1 for ev in loop_events if ev.action == "opened")
            self.renewed += sum(1 for ev in loop_events if ev.action == "renewed")
            for ev in loop_events:
                was = self.peak.get(ev.item.id)
                if was is None or LEVELS.index(ev.item.level) > LEVELS.index(was):
                    self.peak[ev.item.id] = ev.item.level
            todo = self._context(loop_events)
            out += todo
        return out

    def people(self, now: float) -> list[WarningEvent]:
        c, loop, done = self.config, self.loop, []
        for iid, it in list(loop.items.items()):
            if it.state.value == "open":
                done += loop.sign(iid, "enterprise", it.opened_at)
                it = loop.items[iid]
            if it.state.value in ("signed", "returned"):
                due = it.waiting_since + c.reply_within[it.level]
                if due <= now:
                    done += loop.reply(iid, "enterprise", due, cause="-", measures="-", verdict="true")
                    it = loop.items[iid]
            if it.state.value == "replied" and it.condition_over:
                done += loop.review(iid, "regulator", now, close=True, note=None)
                if self.item_of.get(it.enterprise) == iid:
                    del self.item_of[it.enterprise]
        return self.take(self._context(done)) if done else []

    def _context(self, loop_events: list) -> list[WarningEvent]:
        if not loop_events:
            return []
        late = unclosed(self.loop)
        at = loop_events[-1].at
        out: list[WarningEvent] = []
        for e in sorted({ev.item.enterprise for ev in loop_events}):
            out += self.model.set_context(e, at, unclosed=late.get(e, 0))
        return out


def run_model(run: RunResult, config: RiskConfig) -> tuple[list[WarningEvent], list[tuple[dict, int]], _People]:
    """The warning events, each alert event with its enterprise's warning level right after it,
    and the loop that followed them (its items are what the service would have issued)."""
    sc = run.scenario
    site = parsed_site(sc)
    kinds = {(p.ref.enterprise, p.ref.device, p.ref.point): p.kind for p in site.points}
    model = RiskModel(config, standings(site.enterprises.values(), config))
    people = _People(config, model)
    out: list[WarningEvent] = []
    level_after: list[tuple[dict, int]] = []
    nxt = sc.start
    for e in sorted(run.events, key=lambda x: x["at"]):
        while nxt < e["at"]:
            out += people.take(model.tick(nxt))
            out += people.people(nxt)
            nxt += TICK
        out += people.take(model.observe(_change(e, kinds)))
        w = model.current(e["enterprise"])
        level_after.append((e, 0 if w is None else w.level))
    while nxt <= sc.end:
        out += people.take(model.tick(nxt))
        out += people.people(nxt)
        nxt += TICK
    return out, level_after, people


def score_warnings(run: RunResult, config: RiskConfig) -> dict:
    sc = run.scenario
    events, levels, loop = run_model(run, config)
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
        "warnings": loop.opened,
        "warnings_by_peak": dict(Counter(loop.peak.values())),
        "warnings_per_alarm": loop.opened / alarms if alarms else None,
        "warned_again": loop.renewed,
        "episodes": len(issued),
        "episodes_by_peak": dict(Counter(_peak(events, w.warning.id) for w in issued)),
        "episodes_per_alarm": len(issued) / alarms if alarms else None,
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
    peaks = ", ".join(f"{k} {v}" for k, v in sorted(r["warnings_by_peak"].items(), key=lambda kv: LEVELS.index(kv[0])))
    return (
        f"risk warnings: {r['warnings']} ({peaks or 'none'}) beside {r['alarms']} alarms = "
        f"{'-' if ratio is None else f'{100 * ratio:.0f}%'} (the model's episodes: {r['episodes']}, "
        f"{r['warned_again']} of them joined an item still open); hazardous faults with an orange/red warning in "
        f"time: {r['hazardous_warned_orange']}/{r['hazardous']}; false episodes {r['false_warnings']} = "
        f"{'-' if fw is None else f'{fw:.3f}'} per enterprise-week"
    )
