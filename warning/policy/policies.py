"""Alerting policy from configuration: escalation tiers, duty rosters, enterprise contacts,
grouping, flap detection, inhibition and recurring maintenance windows. Pure data + lookups.

The raw form is the site file's ``[policy]`` table (or ``config/policies.toml`` merged in by
``warning.config``); :func:`parse_policy` validates it once at start-up so that a typo fails
the start, not the first alert at 3 a.m. See docs/alerting.md for the full reference.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ..model import Severity
from ..times import DEFAULT_TIMEZONE, TimeError, zone
from .cron import Cron, CronError, weekday_set


class PolicyError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Tier:
    name: str  #: e.g. "duty officer", "shift leader", "bureau leader"
    channels: tuple[str, ...]  #: channel ids this tier hears
    roster: str | None = None  #: roster naming who is on duty for this tier


@dataclass(frozen=True, slots=True)
class Shift:
    who: str
    days: frozenset[int]  #: weekdays (0 = Sunday) on which the shift *starts*
    start: int  #: minute of day, wall-clock time in the site's zone
    end: int  #: minute of day; end <= start means the shift runs past midnight
    contact: dict = field(default_factory=dict)  #: phone, email, ...

    def on(self, t: float, zone_name: str = DEFAULT_TIMEZONE) -> bool:
        """Whether ``t`` falls in the shift, read on the wall clock of ``zone_name`` (the site's)."""
        d = datetime.fromtimestamp(t, zone(zone_name))
        tod = d.hour * 60 + d.minute
        wd = d.isoweekday() % 7
        if self.start < self.end:
            return wd in self.days and self.start <= tod < self.end
        if wd in self.days and tod >= self.start:
            return True
        return ((wd - 1) % 7) in self.days and tod < self.end


@dataclass(frozen=True, slots=True)
class Window:
    """A recurring maintenance window from configuration: a silence that comes back."""

    id: str
    cron: Cron
    duration: float
    matchers: dict  #: label -> value (enterprise, device, point, rule)
    reason: str
    author: str = "config"


@dataclass(frozen=True, slots=True)
class Inhibit:
    """While an alert on ``source_point`` is open, alerts of ``target_points`` on the same device are muted."""

    source_point: str
    target_points: frozenset[str]


@dataclass(frozen=True, slots=True)
class NoData:
    """What silence of one point means: ``alert`` (raise a ``nodata`` alert), ``resolve`` (lift
    the point's open alerts: no data, no evidence) or ``keep`` (the last state stands)."""

    matchers: dict  #: enterprise, device, point, kind -> value
    after: float
    action: str = "alert"
    severity: Severity = Severity.YELLOW

    def matches(self, enterprise: str, device: str, point: str, kind: str) -> bool:
        have = {"enterprise": enterprise, "device": device, "point": point, "kind": kind}
        return all(have.get(k) == v for k, v in self.matchers.items())


NODATA_ACTIONS = ("alert", "resolve", "keep")


@dataclass(frozen=True)
class Policy:
    tiers: tuple[Tier, ...] = ()
    after: dict = field(default_factory=dict)  #: Severity -> seconds before the next tier (absent: never)
    repeat: int = 0  #: extra notifications of the last tier, at the same interval
    rosters: dict = field(default_factory=dict)  #: name -> tuple[Shift]
    contacts: dict = field(default_factory=dict)  #: enterprise -> {phone, email, webhook_env, ...}
    group_interval: float = 60.0  #: at most one message per enterprise and channel in this time (0: off)
    flap_window: float = 60.0
    flap_changes: int = 3  #: state changes within flap_window that make an alert flapping
    inhibit: tuple[Inhibit, ...] = ()
    windows: tuple[Window, ...] = ()
    dead_letter_severity: Severity = Severity.ORANGE
    nodata: tuple[NoData, ...] = ()  #: first match wins
    #: ``[policy.lifting] after``: Severity -> seconds after being signed for *and* cleared at which
    #: an alert of that peak severity lifts itself. Blue and yellow only; empty (the default):
    #: every alert is lifted by a person.
    lift_after: dict = field(default_factory=dict)
    #: The site's IANA zone (``[site] timezone``): roster shifts and maintenance windows are
    #: wall-clock times there. :meth:`warning.site.Site.alert_policy` keeps it equal to the site's.
    timezone: str = DEFAULT_TIMEZONE

    def nodata_for(self, enterprise: str, device: str, point: str, kind: str) -> NoData | None:
        for rule in self.nodata:
            if rule.matches(enterprise, device, point, kind):
                return rule
        return None

    # -- escalation ------------------------------------------------------------------------
    def steps(self) -> int:
        """How many escalation steps an unacknowledged alert can take."""
        return max(0, len(self.tiers) - 1) + (self.repeat if self.tiers else 0)

    def step_at(self, severity: Severity, opened_at: float, step: int) -> float | None:
        after = self.after.get(severity)
        if not after or step < 1 or step > self.steps():
            return None
        return opened_at + step * after

    def due_step(self, severity: Severity, opened_at: float, now: float) -> int:
        after = self.after.get(severity)
        if not after or not self.tiers:
            return 0
        return min(self.steps(), int((now - opened_at) // after))

    def tier_of_step(self, step: int) -> int:
        return min(step, max(0, len(self.tiers) - 1))

    def tier_channels(self) -> dict[str, int]:
        """channel id -> the tier that owns it (a channel in no tier hears every tier)."""
        out: dict[str, int] = {}
        for i, t in enumerate(self.tiers):
            for ch in t.channels:
                out.setdefault(ch, i)
        return out

    # -- who ---------------------------------------------------------------------------------
    def on_duty(self, roster: str | None, t: float) -> dict | None:
        """The person on shift in ``roster`` at ``t``: ``{"name", "phone", "email", ...}``, or None."""
        for s in self.rosters.get(roster, ()) if roster else ():
            if s.on(t, self.timezone):
                return {"name": s.who, **s.contact}
        return None

    def holder(self, tier: int, t: float) -> str | None:
        """Who holds an unsigned alert at ``tier``: the tier's on-duty person, else the tier's name
        (without tiers: "duty officer", so that every alert names a holder)."""
        if not self.tiers:
            return "duty officer"
        tr = self.tiers[min(tier, len(self.tiers) - 1)]
        person = self.on_duty(tr.roster, t)
        return f"{tr.name}: {person['name']}" if person else tr.name


def _minutes(text: str, where: str) -> int:
    try:
        h, m = text.split(":")
        v = int(h) * 60 + int(m)
    except (ValueError, AttributeError):
        raise PolicyError(f"{where}: time must be HH:MM, got {text!r}") from None
    if not 0 <= v <= 24 * 60:
        raise PolicyError(f"{where}: {text!r} is not a time of day")
    return v % (24 * 60)


def parse_policy(raw: dict | None, channel_ids: set[str] | None = None, *, zone_name: str = DEFAULT_TIMEZONE) -> Policy:
    """Validate the raw ``[policy]`` table; ``channel_ids`` (when given) must contain every tier
    channel; ``zone_name`` is the site's ``timezone``, the zone shifts and windows are read in."""
    raw = raw or {}
    try:
        zone(zone_name)
    except TimeError as exc:
        raise PolicyError(str(exc)) from None
    esc = raw.get("escalation", {})
    tiers = []
    for i, t in enumerate(esc.get("tiers", [])):
        name = t.get("name") or f"tier {i + 1}"
        chans = tuple(t.get("channels", []))
        if channel_ids is not None:
            unknown = [c for c in chans if c not in channel_ids]
            if unknown:
                raise PolicyError(f"escalation tier {name!r}: unknown channels {unknown}")
        tiers.append(Tier(name, chans, t.get("roster")))
    after = {}
    for sev, secs in esc.get("after", {}).items():
        try:
            after[Severity.parse(sev)] = float(secs)
        except ValueError as exc:
            raise PolicyError(f"escalation.after: {exc}") from None
    rosters = {}
    for name, shifts in raw.get("rosters", {}).items():
        out = []
        for j, s in enumerate(shifts):
            where = f"roster {name!r} shift {j + 1}"
            if "who" not in s:
                raise PolicyError(f"{where}: missing 'who'")
            try:
                days = weekday_set(str(s.get("days", "*")))
            except CronError as exc:
                raise PolicyError(f"{where}: {exc}") from None
            contact = {k: v for k, v in s.items() if k not in ("who", "days", "from", "to")}
            out.append(
                Shift(
                    s["who"],
                    days,
                    _minutes(s.get("from", "00:00"), where),
                    _minutes(s.get("to", "24:00"), where),
                    contact,
                )
            )
        rosters[name] = tuple(out)
    for t in tiers:
        if t.roster and t.roster not in rosters:
            raise PolicyError(f"escalation tier {t.name!r}: unknown roster {t.roster!r}")
    noise = raw.get("noise", {})
    inhibit = tuple(
        Inhibit(r["source_point"], frozenset(r.get("target_points", [])))
        for r in noise.get("inhibit", [{"source_point": "vent_open", "target_points": ["dp", "air_speed"]}])
    )
    windows = []
    for k, w in enumerate(raw.get("maintenance", [])):
        wid = w.get("id", f"window-{k + 1}")
        try:
            cron = Cron(w["cron"])
        except KeyError:
            raise PolicyError(f"maintenance {wid!r}: missing 'cron'") from None
        except CronError as exc:
            raise PolicyError(f"maintenance {wid!r}: {exc}") from None
        if not w.get("reason"):
            raise PolicyError(f"maintenance {wid!r}: a reason is required")
        windows.append(
            Window(
                wid,
                cron,
                float(w.get("duration", 3600)),
                dict(w.get("match", {})),
                w["reason"],
                w.get("author", "config"),
            )
        )
    nodata = []
    for k, nd in enumerate(raw.get("nodata", [])):
        where = f"nodata rule {k + 1}"
        action = nd.get("action", "alert")
        if action not in NODATA_ACTIONS:
            raise PolicyError(f"{where}: action must be one of {NODATA_ACTIONS}")
        bad = [m for m in nd.get("match", {}) if m not in ("enterprise", "device", "point", "kind")]
        if bad:
            raise PolicyError(f"{where}: cannot match on {bad}")
        try:
            silent_for = float(nd["after"])
            sev = Severity.parse(nd.get("severity", "yellow"))
        except KeyError:
            raise PolicyError(f"{where}: missing 'after' (seconds)") from None
        except ValueError as exc:
            raise PolicyError(f"{where}: {exc}") from None
        if silent_for <= 0:
            raise PolicyError(f"{where}: after must be positive")
        nodata.append(NoData(dict(nd.get("match", {})), silent_for, action, sev))
    lift_after = {}
    for sev, secs in raw.get("lifting", {}).get("after", {}).items():
        try:
            level = Severity.parse(sev)
            secs = float(secs)
        except (ValueError, TypeError) as exc:
            raise PolicyError(f"lifting.after: {exc}") from None
        if level >= Severity.ORANGE:
            raise PolicyError(f"lifting.after: {level.label} alerts are lifted by a person only")
        if secs < 0:
            raise PolicyError("lifting.after: seconds must be >= 0")
        lift_after[level] = secs
    try:
        dl = Severity.parse(raw.get("dead_letter_severity", "orange"))
    except ValueError as exc:
        raise PolicyError(f"dead_letter_severity: {exc}") from None
    return Policy(
        tuple(tiers),
        after,
        int(esc.get("repeat", 0)),
        rosters,
        dict(raw.get("contacts", {})),
        float(noise.get("group_interval", 60)),
        float(noise.get("flap_window", 60)),
        int(noise.get("flap_changes", 3)),
        inhibit,
        tuple(windows),
        dl,
        tuple(nodata),
        lift_after,
        zone_name,
    )


def describe(policy: Policy) -> dict:
    """The policy as JSON for the API (no secrets live in it: contacts name env variables)."""
    return {
        "timezone": policy.timezone,
        "escalation": {
            "tiers": [{"name": t.name, "channels": list(t.channels), "roster": t.roster} for t in policy.tiers],
            "after": {s.label: v for s, v in policy.after.items()},
            "repeat": policy.repeat,
        },
        "rosters": {
            n: [
                {
                    "who": s.who,
                    "days": sorted(s.days),
                    "from": f"{s.start // 60:02d}:{s.start % 60:02d}",
                    "to": f"{s.end // 60:02d}:{s.end % 60:02d}",
                    **s.contact,
                }
                for s in shifts
            ]
            for n, shifts in policy.rosters.items()
        },
        "contacts": policy.contacts,
        "noise": {
            "group_interval": policy.group_interval,
            "flap_window": policy.flap_window,
            "flap_changes": policy.flap_changes,
            "inhibit": [
                {"source_point": i.source_point, "target_points": sorted(i.target_points)} for i in policy.inhibit
            ],
        },
        "maintenance": [
            {
                "id": w.id,
                "cron": w.cron.expr,
                "duration": w.duration,
                "match": w.matchers,
                "reason": w.reason,
                "author": w.author,
            }
            for w in policy.windows
        ],
        "dead_letter_severity": policy.dead_letter_severity.label,
        "lifting": {"after": {s.label: v for s, v in policy.lift_after.items()}},
        "nodata": [
            {"match": n.matchers, "after": n.after, "action": n.action, "severity": n.severity.label}
            for n in policy.nodata
        ],
    }
