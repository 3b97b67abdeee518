"""The risk model: alarm changes and time in, warning events out (one warning per enterprise).

A point alarm (报警) says what one sensor or rule saw; a risk warning (风险预警) is a
judgement about an enterprise in four colours. Its **score** is a sum of named terms, so
every warning explains itself (each term with its share of the score):

* one term per open alarm: the severity's points × the hazard class of the point's kind
  (ignition > process > sensor), × up to ``1 + duration_bonus`` as it stays open, × ``1 +
  repeat_bonus`` per earlier raise of the same point and rule in the repeat window;
* one term per device with several points in alarm together;
* standing risk from the ledger (:class:`Standing`): the alarms' points × its factors;
* context: overdue dust-cleaning areas, devices offline, earlier warnings not yet closed.

Levels go up as soon as the score reaches a cut-off and come down only after the score
stayed below ``down_ratio`` × the cut-off for ``hold_down`` seconds (ending after
``clear_hold``): a warning does not flap. Timed steps carry their due time, not the tick's,
so a replay gives the same event ids. See docs/risk.md.
"""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import NamedTuple

from .cleaning import RULE as CLEANING_RULE
from .config import LEVELS, RiskConfig
from .undo import hold, put_back

NAMES = {i: name for i, name in enumerate(LEVELS, 1)}  #: 1..4 -> blue..red
#: The terms' names are read by people on the pages: Chinese first (the codes stay in English).
LEVEL_ZH = {"blue": "蓝色", "yellow": "黄色", "orange": "橙色", "red": "红色"}
CLASS_ZH = {"ignition": "点火源", "process": "工艺", "maintenance": "设备维护", "sensor": "传感器", "default": "其他"}


@dataclass(frozen=True, slots=True)
class Standing:
    """An enterprise's standing risk, from its ledger (台账), built and checked by
    :func:`warning.risk.standing.standing_of` (a value the model has no weight for is refused
    there). An empty class or grade means "not recorded" and adds nothing."""

    explosion_classes: tuple[str, ...] = ()  #: of its dusts, e.g. ("St2",)
    dust_workers: int = 0
    dry_collectors: int = 0  #: dry collectors (bag filters, cyclones); wet ones add nothing
    risk_grade: str = ""  #: the static grade: red / orange / yellow / blue, or ""


@dataclass(frozen=True, slots=True)
class AlarmChange:
    """One alert event of the alarm layer, as the model needs it. ``level`` 0: the alarm's
    condition is over (``cleared``) or the alarm was lifted (``resolved``): it no longer counts
    as live, whether or not a person has signed for it yet (the loop follows that, not the score)."""

    at: float
    alert: str  #: the alarm's id
    enterprise: str
    device: str
    point: str
    rule: str
    level: int  #: 1 blue .. 4 red; 0 when its condition cleared or it was lifted
    kind: str = ""  #: the point's kind (config/kinds.toml); "" for a device-level rule
    raised: bool = False  #: True for the event that opened the alarm (counts as a repeat later)


@dataclass(frozen=True, slots=True)
class Factor:
    """One term of a warning's score."""

    group: str  #: "alarm", "device", "standing", "context", or "ceiling" (no points: why the colour stops)
    name: str  #: the rule/point, the ledger field or the context, readable
    points: float
    share: float  #: points / score
    alert: str | None = None  #: the alarm behind an "alarm" term

    def to_json(self) -> dict:
        return {
            "group": self.group,
            "name": self.name,
            "points": round(self.points, 2),
            "share": round(self.share, 4),
            "alert": self.alert,
        }


class WarningKind(StrEnum):
    ISSUED = "issued"  #: a new warning for an enterprise that had none
    RAISED = "raised"  #: its level went up
    LOWERED = "lowered"  #: down a level after the hold
    CLEARED = "cleared"  #: its condition is over (the loop still wants it closed by a regulator)


@dataclass(frozen=True, slots=True)
class Warning:
    id: str
    enterprise: str
    level: int
    opened_at: float
    updated_at: float
    score: float
    factors: tuple[Factor, ...]
    peak: int  #: the highest level it reached

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "enterprise": self.enterprise,
            "level": NAMES.get(self.level, "none"),
            "peak": NAMES.get(self.peak, "none"),
            "opened_at": self.opened_at,
            "updated_at": self.updated_at,
            "score": round(self.score, 2),
            "factors": [f.to_json() for f in self.factors],
        }


@dataclass(frozen=True, slots=True)
class WarningEvent:
    id: str  #: stable: the same input gives the same id
    kind: WarningKind
    at: float
    warning: Warning

    def to_json(self) -> dict:
        return {"id": self.id, "kind": self.kind.value, "at": self.at, "warning": self.warning.to_json()}


def _digest(*parts: object) -> str:
    return hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=10).hexdigest()


@dataclass(slots=True)
class _Open:
    device: str
    point: str
    rule: str
    level: int
    kind: str
    opened_at: float
    repeats: int  #: earlier raises of the same point and rule within the repeat window


@dataclass(slots=True)
class _Enterprise:
    alarms: dict[str, _Open] = field(default_factory=dict)
    raises: dict[tuple[str, str, str], list[float]] = field(default_factory=dict)
    cleared: dict[str, float] = field(default_factory=dict)  #: alarms whose condition ended, and when
    overdue_areas: int = 0
    unclosed: int = 0
    warning: Warning | None = None
    below_since: float | None = None  #: since when the score is below the hysteresis floor


class RiskModel:
    def __init__(self, config: RiskConfig, standing: dict[str, Standing] | None = None) -> None:
        self.config = config
        self.standing = dict(standing or {})
        self.ents: dict[str, _Enterprise] = {}

    # -- inputs --------------------------------------------------------------------------------
    def observe(self, ch: AlarmChange) -> list[WarningEvent]:
        if ch.rule == CLEANING_RULE:
            return []  # an overdue-cleaning alarm: its area is counted once, as the context term
        e = self.ents.setdefault(ch.enterprise, _Enterprise())
        if ch.level <= 0:
            if e.alarms.pop(ch.alert, None) is not None:
                e.cleared[ch.alert] = ch.at  # if its condition comes back, that is a repeat
        else:
            cur = e.alarms.get(ch.alert)
            if cur is None:
                key = (ch.device, ch.point, ch.rule)
                past = [x for x in e.raises.get(key, ()) if x > ch.at - self.config.repeat_window and x < ch.at]
                cur = _Open(ch.device, ch.point, ch.rule, ch.level, ch.kind, ch.at, len(past))
                if ch.raised or e.cleared.pop(ch.alert, None) is not None:
                    e.raises[key] = (past + [ch.at])[-(self.config.repeat_cap + 1) :]
                e.alarms[ch.alert] = cur
            cur.level = ch.level
        return self._step(ch.enterprise, e, ch.at)

    def set_context(
        self, enterprise: str, at: float, *, overdue_areas: int | None = None, unclosed: int | None = None
    ) -> list[WarningEvent]:
        """Overdue dust-cleaning areas and earlier warnings not yet closed, as the shell knows them."""
        e = self.ents.setdefault(enterprise, _Enterprise())
        if overdue_areas is not None:
            e.overdue_areas = max(0, overdue_areas)
        if unclosed is not None:
            e.unclosed = max(0, unclosed)
        return self._step(enterprise, e, at)

    def tick(self, now: float) -> list[WarningEvent]:
        """Re-score every enterprise with something open: durations grow, holds run out."""
        out: list[WarningEvent] = []
        horizon = now - self.config.repeat_window
        for eid, e in list(self.ents.items()):
            if e.cleared:  # bounded: a condition over for longer than the repeat window is no repeat
                e.cleared = {a: t for a, t in e.cleared.items() if t > horizon}
            if e.raises:
                e.raises = {k: v for k, v in e.raises.items() if v and v[-1] > horizon}
            if e.warning is not None or e.alarms or e.overdue_areas:
                out += self._step(eid, e, now)
            elif not e.raises and not e.unclosed and not e.cleared:
                del self.ents[eid]  # nothing to remember: keep the state bounded
        return out

    # -- the score -----------------------------------------------------------------------------
    def score(self, enterprise: str, at: float) -> tuple[float, tuple[Factor, ...]]:
        e = self.ents.get(enterprise) or _Enterprise()
        c = self.config
        terms: list[tuple[str, str, float, str | None]] = []
        by_device: dict[str, list[tuple[str, float]]] = {}
        offline = set()
        for aid, a in e.alarms.items():
            if a.rule in c.offline_rules:
                offline.add(a.device)
                continue
            cls = c.hazard_class(a.kind, a.rule)
            pts = c.severity[NAMES[a.level]] * c.hazard[cls]
            pts *= 1 + c.duration_bonus * min(max(at - a.opened_at, 0.0) / c.duration_full, 1.0)
            pts *= 1 + c.repeat_bonus * min(a.repeats, c.repeat_cap)
            terms.append(
                (
                    "alarm",
                    f"{a.device}/{a.point or '-'}:{a.rule} {LEVEL_ZH[NAMES[a.level]]}报警 ({CLASS_ZH[cls]} {cls})",
                    pts,
                    aid,
                )
            )
            by_device.setdefault(a.device, []).append((a.point, pts))
        for dev, items in sorted(by_device.items()):
            n = len({p for p, _ in items})
            if n > 1:
                terms.append(
                    (
                        "device",
                        f"{dev}: {n} 个测点同时报警 ({n} points together)",
                        c.device_bonus * min(n - 1, 3) * sum(x for _, x in items),
                        None,
                    )
                )
        alarms = sum(t[2] for t in terms)
        if alarms > 0:
            s = self.standing.get(enterprise, Standing())
            ex = max((c.explosion_class[x] for x in s.explosion_classes), default=0.0)
            standing: tuple[tuple[str, float], ...] = (
                ("粉尘爆炸等级 " + "/".join(s.explosion_classes), ex),
                (
                    f"涉粉作业人数 {s.dust_workers}",
                    min(c.dust_workers_cap, c.dust_workers_per_10 * s.dust_workers / 10),
                ),
                (f"干式除尘器 {s.dry_collectors} 台", c.dry_collectors if s.dry_collectors else 0.0),
                (f"静态风险等级 {s.risk_grade}", c.risk_grade[s.risk_grade] if s.risk_grade else 0.0),
            )
            for label, f in standing:
                if f > 0:
                    terms.append(("standing", label, alarms * f, None))
        for name, per, n, cap in (
            ("粉尘清扫超期区域 (overdue cleaning)", c.overdue_cleaning, e.overdue_areas, c.overdue_cleaning_cap),
            ("离线设备 (devices offline)", c.offline_device, len(offline), c.offline_cap),
            ("未销号预警 (not closed)", c.unclosed_warning, e.unclosed, c.unclosed_cap),
        ):
            if n:
                terms.append(("context", f"{name}: {n}", min(cap, per * n), None))
        total = sum(t[2] for t in terms)
        cap = self.ceiling(enterprise)
        if total and c.level_of(total) > cap:  # say why the colour stops there: a term of no points
            terms.append(("ceiling", f"最高{LEVEL_ZH[NAMES[cap]]}：无更高等级的报警佐证", 0.0, None))
        factors = tuple(
            sorted((Factor(g, n, p, p / total if total else 0.0, a) for g, n, p, a in terms), key=lambda f: -f.points)
        )
        return total, factors

    def ceiling(self, enterprise: str) -> int:
        """The highest level its live alarms allow (RiskConfig.ceiling; offline alarms are context)."""
        e = self.ents.get(enterprise)
        c = self.config
        if e is None:
            return len(LEVELS)
        return c.ceiling(
            [(a.level, c.hazard_class(a.kind, a.rule)) for a in e.alarms.values() if a.rule not in c.offline_rules]
        )

    def _floor(self, score: float, cap: int) -> int:
        """The level a score keeps with hysteresis: the highest whose lowered cut-off it reaches."""
        c = self.config
        return min(cap, sum(1 for name in LEVELS if score >= c.cutoffs[name] * c.down_ratio))

    def _step(self, eid: str, e: _Enterprise, at: float) -> list[WarningEvent]:
        c = self.config
        score, factors = self.score(eid, at)
        cap = self.ceiling(eid)
        target = min(cap, c.level_of(score))
        w = e.warning
        if w is None:
            if target == 0:
                return []
            w = Warning(_digest(eid, round(at * 1000)), eid, target, at, at, score, factors, target)
            e.warning, e.below_since = w, None
            return [self._event(WarningKind.ISSUED, at, w)]
        if target > w.level:
            w = replace(w, level=target, peak=max(w.peak, target), updated_at=at, score=score, factors=factors)
            e.warning, e.below_since = w, None
            return [self._event(WarningKind.RAISED, at, w)]
        floor = self._floor(score, cap)
        if floor >= w.level:
            e.below_since = None
            e.warning = replace(w, score=score, factors=factors) if floor > 0 else w
            return []
        if e.below_since is None:
            e.below_since = at
        hold = c.clear_hold if floor == 0 else c.hold_down
        due = e.below_since + hold
        if at < due:
            if score > 0:  # keep the latest explanation; the level holds
                e.warning = replace(w, score=score, factors=factors)
            return []
        if floor == 0:
            e.warning, e.below_since = None, None
            return [
                self._event(
                    WarningKind.CLEARED,
                    due,
                    replace(w, level=0, updated_at=due, score=score, factors=factors or w.factors),
                )
            ]
        w = replace(w, level=floor, updated_at=due, score=score, factors=factors)
        e.warning, e.below_since = w, due
        return [self._event(WarningKind.LOWERED, due, w)]

    @staticmethod
    def _event(kind: WarningKind, at: float, w: Warning) -> WarningEvent:
        return WarningEvent(_digest(w.id, kind.value, round(at * 1000), w.level), kind, at, w)

    # -- queries and state ---------------------------------------------------------------------
    def current(self, enterprise: str) -> Warning | None:
        e = self.ents.get(enterprise)
        return None if e is None else e.warning

    def warnings(self) -> list[Warning]:
        return [e.warning for e in self.ents.values() if e.warning is not None]

    def snapshot(self) -> bytes:
        return pickle.dumps(self.ents, protocol=pickle.HIGHEST_PROTOCOL)

    def restore(self, data: bytes) -> None:
        self.ents = pickle.loads(data)

    def snapshot_part(self, enterprises: Iterable[str]) -> ModelPart:
        """The state of these enterprises only: what :meth:`observe` and :meth:`set_context`
        for them can change. Each of those touches ``ents[enterprise]`` and nothing else (it
        creates the entry when absent; ``config`` and ``standing`` are inputs). :meth:`tick`
        walks every enterprise and deletes some: take :meth:`snapshot` around it."""
        names = frozenset(enterprises)
        order, held = hold(self.ents, names)
        # a copy: an enterprise's state is mutable (its alarms' levels change in place)
        return ModelPart(names, order, pickle.dumps(held, protocol=pickle.HIGHEST_PROTOCOL))

    def restore_part(self, part: ModelPart) -> None:
        """Those enterprises as they were at :meth:`snapshot_part` (one added since goes);
        the others are left as they are."""
        self.ents = put_back(self.ents, part.order, pickle.loads(part.data), part.enterprises)


class ModelPart(NamedTuple):
    """The model's state for some enterprises (:meth:`RiskModel.snapshot_part`)."""

    enterprises: frozenset[str]
    order: tuple[str, ...]  #: every enterprise's key at the mark, in order
    data: bytes  #: the held enterprises' state, pickled
