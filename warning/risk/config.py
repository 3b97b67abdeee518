"""The risk model's weights and cut-offs, from ``config/risk.toml`` (see docs/risk.md).

Pure: :func:`parse` takes the TOML text (the shell reads the file). A key left out takes
the default of :data:`DEFAULTS`; an unknown key or a bad value is refused with its name,
so a typo does not silently leave a default in force.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

LEVELS = ("blue", "yellow", "orange", "red")  #: 1..4, as the alarms' severities
HAZARD_CLASSES = ("ignition", "process", "maintenance", "sensor", "default")  #: the alarms' hazard classes
ITEM_KINDS = LEVELS + ("report",)  #: the loop's items: warnings by level, and hazard reports (一码发现)


class RiskConfigError(ValueError):
    """A risk file that cannot be used; the message names the key."""


@dataclass(frozen=True)
class RiskConfig:
    cutoffs: dict[str, float]  #: level -> score at which a warning reaches it
    down_ratio: float
    hold_down: float
    clear_hold: float
    severity: dict[str, float]  #: alarm severity -> points
    hazard: dict[str, float]  #: class -> weight (ignition, process, sensor, default)
    ignition_kinds: frozenset[str]
    process_kinds: frozenset[str]
    maintenance_kinds: frozenset[str]
    sensor_rules: frozenset[str]
    lift: dict[str, int]  #: class -> levels corroboration may add above its strongest alarm's own colour
    sensor_max: int  #: 1..4: the colour a sensor-class alarm counts as at most, for that ceiling
    duration_bonus: float
    duration_full: float
    repeat_window: float
    repeat_bonus: float
    repeat_cap: int
    device_bonus: float
    explosion_class: dict[str, float]
    dust_workers_per_10: float
    dust_workers_cap: float
    dry_collectors: float
    risk_grade: dict[str, float]
    overdue_cleaning: float
    overdue_cleaning_cap: float
    offline_device: float
    offline_cap: float
    unclosed_warning: float
    unclosed_cap: float
    unclosed_window: float
    offline_rules: frozenset[str]
    tiers: tuple[str, ...]
    escalate_every: dict[str, float]
    sign_within: dict[str, float]
    reply_within: dict[str, float]
    reports_per_address: int  #: 一码发现: accepted reports per client address per window
    report_window: float
    report_max_text: int
    photo_max_bytes: int
    form_ttl: float  #: seconds a public form's token (and its challenge) stays good
    cleaning_alarm: str | None = "yellow"  #: the overdue-cleaning alarm's severity; None: no alarm, the term only

    def hazard_class(self, kind: str, rule: str) -> str:
        """A rule about the measurement is ``sensor`` whatever the point; else the point's kind decides."""
        if rule in self.sensor_rules:
            return "sensor"
        if kind in self.ignition_kinds:
            return "ignition"
        if kind in self.process_kinds:
            return "process"
        if kind in self.maintenance_kinds:
            return "maintenance"
        return "default"

    def ceiling(self, alarms: list[tuple[int, str]]) -> int:
        """The highest level (1..4) a warning may reach on these live alarms ((level, class)
        pairs): the score's corroboration (duration, repeats, other points, standing risk)
        confirms what the alarms show, it does not invent a colour none of them has. Each
        alarm allows its own colour (a sensor-class one at most ``sensor_max``) plus its class's
        ``lift``; the warning takes the highest. No alarms (context only): no ceiling."""
        if not alarms:
            return len(LEVELS)
        return max(
            min(len(LEVELS), min(lv, self.sensor_max if cls == "sensor" else lv) + self.lift[cls]) for lv, cls in alarms
        )

    def level_of(self, score: float) -> int:
        """0 (no warning) .. 4 (red) for a score, going up (no hysteresis)."""
        lvl = 0
        for i, name in enumerate(LEVELS, 1):
            if score >= self.cutoffs[name]:
                lvl = i
        return lvl


DEFAULTS: MappingProxyType = MappingProxyType(
    {
        "levels": {
            "blue": 20.0,
            "yellow": 30.0,
            "orange": 40.0,
            "red": 70.0,
            "down_ratio": 0.8,
            "hold_down": 900.0,
            "clear_hold": 3600.0,
        },
        "severity": {"blue": 5.0, "yellow": 15.0, "orange": 40.0, "red": 70.0},
        "hazard": {
            "ignition": 1.25,
            "process": 1.0,
            "maintenance": 0.5,
            "sensor": 0.25,
            "default": 0.75,
            "ignition_kinds": ["hopper_temp", "spark", "vent_open", "o2", "h2"],
            "process_kinds": ["air_speed", "airlock_fault", "fan_fault", "water_level", "water_flow", "running"],
            "maintenance_kinds": ["dp", "dust"],
            "sensor_rules": ["stuck", "flatline", "drift", "nodata", "dropout", "spikes"],
            "lift": {"ignition": 1, "process": 0, "maintenance": 0, "sensor": 0, "default": 0},
            "sensor_max": "blue",
        },
        "alarms": {
            "duration_bonus": 0.5,
            "duration_full": 3600.0,
            "repeat_window": 86400.0,
            "repeat_bonus": 0.2,
            "repeat_cap": 3,
            "device_bonus": 0.3,
        },
        "standing": {
            "explosion_class": {"St1": 0.0, "St2": 0.1, "St3": 0.2, "IIIA": 0.0, "IIIB": 0.05, "IIIC": 0.1},
            "dust_workers_per_10": 0.02,
            "dust_workers_cap": 0.1,
            "dry_collectors": 0.1,
            "risk_grade": {"red": 0.2, "orange": 0.1, "yellow": 0.05, "blue": 0.0},
        },
        "context": {
            "overdue_cleaning": 8.0,
            "overdue_cleaning_cap": 24.0,
            "offline_device": 4.0,
            "offline_cap": 12.0,
            "unclosed_warning": 3.0,
            "unclosed_cap": 9.0,
            "unclosed_window": 604800.0,
            "offline_rules": ["offline"],
            "cleaning_alarm": "yellow",
        },
        "loop": {
            "tiers": ["street", "district", "bureau"],
            "escalate_every": {"red": 900.0, "orange": 1800.0, "yellow": 3600.0, "blue": 14400.0, "report": 3600.0},
            "sign_within": {"red": 900.0, "orange": 1800.0, "yellow": 7200.0, "blue": 86400.0, "report": 3600.0},
            "reply_within": {"red": 3600.0, "orange": 14400.0, "yellow": 86400.0, "blue": 259200.0, "report": 86400.0},
        },
        "public": {
            "reports_per_address": 5,
            "report_window": 600.0,
            "report_max_text": 2000,
            "photo_max_bytes": 5 * 1024 * 1024,
            "form_ttl": 1800.0,
        },
    }
)


def _merge(section: str, given: dict) -> dict:
    base = dict(DEFAULTS[section])
    for key, value in given.items():
        if key not in base:
            raise RiskConfigError(f"[{section}] {key}: unknown key (known: {', '.join(sorted(base))})")
        if isinstance(base[key], dict):
            if not isinstance(value, dict):
                raise RiskConfigError(f"[{section}] {key}: a table is expected")
            merged = dict(base[key])
            merged.update(value)
            value = merged
        base[key] = value
    return base


def _num(section: str, key: str, v: Any, *, positive: bool = False) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0 or (positive and v == 0):
        raise RiskConfigError(f"[{section}] {key}: a {'positive' if positive else 'non-negative'} number is expected")
    return float(v)


def _nums(section: str, key: str, d: dict, keys=None, *, positive: bool = False) -> dict[str, float]:
    if keys is not None:
        missing = set(keys) - set(d)
        if missing:
            raise RiskConfigError(f"[{section}] {key}: missing {', '.join(sorted(missing))}")
    return {k: _num(section, f"{key}.{k}", v, positive=positive) for k, v in d.items()}


def _names(section: str, key: str, v: Any) -> frozenset[str]:
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise RiskConfigError(f"[{section}] {key}: a list of names is expected")
    return frozenset(v)


def from_dict(data: dict) -> RiskConfig:
    unknown = set(data) - set(DEFAULTS)
    if unknown:
        raise RiskConfigError(f"unknown section(s): {', '.join(sorted(unknown))}")
    s = {name: _merge(name, data.get(name, {})) for name in DEFAULTS}
    lv = s["levels"]
    cut = {k: _num("levels", k, lv[k], positive=True) for k in LEVELS}
    if [cut[k] for k in LEVELS] != sorted(cut[k] for k in LEVELS) or len(set(cut.values())) < 4:
        raise RiskConfigError("[levels] the cut-offs must rise strictly: blue < yellow < orange < red")
    ratio = _num("levels", "down_ratio", lv["down_ratio"], positive=True)
    if ratio > 1:
        raise RiskConfigError("[levels] down_ratio: at most 1 (1 means no hysteresis)")
    hz, al, st, cx, lp = s["hazard"], s["alarms"], s["standing"], s["context"], s["loop"]
    tiers = lp["tiers"]
    if not isinstance(tiers, list) or not tiers or not all(isinstance(t, str) and t for t in tiers):
        raise RiskConfigError("[loop] tiers: a non-empty list of names is expected")
    cap = al["repeat_cap"]
    if isinstance(cap, bool) or not isinstance(cap, int) or cap < 0:
        raise RiskConfigError("[alarms] repeat_cap: a non-negative integer is expected")
    alarm = cx["cleaning_alarm"]
    if alarm not in (*LEVELS, ""):
        raise RiskConfigError('[context] cleaning_alarm: one of blue, yellow, orange, red, or "" (no alarm)')
    lift = hz["lift"]
    classes = HAZARD_CLASSES
    if set(lift) != set(classes) or any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in lift.values()):
        raise RiskConfigError(f"[hazard] lift: a non-negative integer for each of {', '.join(classes)}")
    if hz["sensor_max"] not in LEVELS:
        raise RiskConfigError("[hazard] sensor_max: one of blue, yellow, orange, red")
    pb = s["public"]
    for key in ("reports_per_address", "report_max_text", "photo_max_bytes"):
        v = pb[key]
        if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
            raise RiskConfigError(f"[public] {key}: a positive integer is expected")
    return RiskConfig(
        cutoffs=cut,
        down_ratio=ratio,
        hold_down=_num("levels", "hold_down", lv["hold_down"]),
        clear_hold=_num("levels", "clear_hold", lv["clear_hold"]),
        severity=_nums("severity", "severity", s["severity"], LEVELS),
        hazard={k: _num("hazard", k, hz[k]) for k in HAZARD_CLASSES},
        ignition_kinds=_names("hazard", "ignition_kinds", hz["ignition_kinds"]),
        process_kinds=_names("hazard", "process_kinds", hz["process_kinds"]),
        maintenance_kinds=_names("hazard", "maintenance_kinds", hz["maintenance_kinds"]),
        sensor_rules=_names("hazard", "sensor_rules", hz["sensor_rules"]),
        lift={k: int(lift[k]) for k in classes},
        sensor_max=LEVELS.index(hz["sensor_max"]) + 1,
        duration_bonus=_num("alarms", "duration_bonus", al["duration_bonus"]),
        duration_full=_num("alarms", "duration_full", al["duration_full"], positive=True),
        repeat_window=_num("alarms", "repeat_window", al["repeat_window"]),
        repeat_bonus=_num("alarms", "repeat_bonus", al["repeat_bonus"]),
        repeat_cap=cap,
        device_bonus=_num("alarms", "device_bonus", al["device_bonus"]),
        explosion_class=_nums("standing", "explosion_class", st["explosion_class"]),
        dust_workers_per_10=_num("standing", "dust_workers_per_10", st["dust_workers_per_10"]),
        dust_workers_cap=_num("standing", "dust_workers_cap", st["dust_workers_cap"]),
        dry_collectors=_num("standing", "dry_collectors", st["dry_collectors"]),
        risk_grade=_nums("standing", "risk_grade", st["risk_grade"]),
        overdue_cleaning=_num("context", "overdue_cleaning", cx["overdue_cleaning"]),
        overdue_cleaning_cap=_num("context", "overdue_cleaning_cap", cx["overdue_cleaning_cap"]),
        offline_device=_num("context", "offline_device", cx["offline_device"]),
        offline_cap=_num("context", "offline_cap", cx["offline_cap"]),
        unclosed_warning=_num("context", "unclosed_warning", cx["unclosed_warning"]),
        unclosed_cap=_num("context", "unclosed_cap", cx["unclosed_cap"]),
        unclosed_window=_num("context", "unclosed_window", cx["unclosed_window"]),
        offline_rules=_names("context", "offline_rules", cx["offline_rules"]),
        tiers=tuple(tiers),
        escalate_every=_nums("loop", "escalate_every", lp["escalate_every"], ITEM_KINDS, positive=True),
        sign_within=_nums("loop", "sign_within", lp["sign_within"], ITEM_KINDS, positive=True),
        reply_within=_nums("loop", "reply_within", lp["reply_within"], ITEM_KINDS, positive=True),
        reports_per_address=pb["reports_per_address"],
        report_window=_num("public", "report_window", pb["report_window"], positive=True),
        report_max_text=pb["report_max_text"],
        photo_max_bytes=pb["photo_max_bytes"],
        form_ttl=_num("public", "form_ttl", pb["form_ttl"], positive=True),
        cleaning_alarm=alarm or None,
    )


def parse(text: str) -> RiskConfig:
    """A risk file's text -> :class:`RiskConfig` (raises :class:`RiskConfigError`)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RiskConfigError(f"not TOML: {exc}") from None
    return from_dict(data)


def default() -> RiskConfig:
    return from_dict({})
