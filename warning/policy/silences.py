"""Silences: who muted which alerts, why, and until when. Pure.

A silence matches alerts by labels (``enterprise``, ``device``, ``point``, ``rule``; an
absent label matches anything) and is either one span (``starts_at`` .. ``ends_at``) or a
recurring maintenance window (a cron expression opening a window of ``duration`` seconds)
that still expires at ``ends_at``. Every silence has an author, a reason and an expiry:
a silence without an end is refused, so nobody mutes a plant forever by mistake.

A silenced alert is still raised, stored and shown on the dashboard; only its
notifications are held back (acknowledgement and lifting still sync to the webhook).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..model import Alert
from ..times import DEFAULT_TIMEZONE
from .cron import Cron, CronError

LABELS = ("enterprise", "device", "point", "rule")
MAX_SPAN = 366 * 86400.0


class SilenceError(ValueError):
    """A silence that cannot be accepted; ``msgid`` and ``params`` let the API say why in the
    reader's language (warning.i18n)."""

    def __init__(self, msgid: str, **params: object) -> None:
        super().__init__(msgid.format(**params) if params else msgid)
        self.msgid = msgid
        self.params = params


@dataclass(frozen=True, slots=True)
class Silence:
    id: str
    matchers: dict  #: label -> exact value
    starts_at: float
    ends_at: float
    author: str
    reason: str
    cron: str | None = None  #: recurring window start (the site's wall clock), e.g. "0 2 * * 6"
    duration: float | None = None  #: seconds each recurring window lasts

    def active(self, t: float, zone_name: str = DEFAULT_TIMEZONE) -> bool:
        """Whether the silence holds at ``t``; a recurring window is read in ``zone_name`` (the site's)."""
        if not (self.starts_at <= t < self.ends_at):
            return False
        if self.cron is None:
            return True
        return _cron(self.cron).active(t, self.duration or 0.0, zone_name)

    def matches(self, alert: Alert) -> bool:
        return all(getattr(alert, k) == v for k, v in self.matchers.items())

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "matchers": self.matchers,
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
            "author": self.author,
            "reason": self.reason,
            "cron": self.cron,
            "duration": self.duration,
        }


_CRONS: dict[str, Cron] = {}


def _cron(expr: str) -> Cron:
    c = _CRONS.get(expr)
    if c is None:
        c = _CRONS[expr] = Cron(expr)
    return c


def validate(body: dict, *, now: float) -> dict:
    """Check a silence as the API receives it; returns the clean fields (without id/author)."""
    if not isinstance(body, dict):
        raise SilenceError("body must be a JSON object")
    matchers = body.get("matchers")
    if not isinstance(matchers, dict) or not matchers:
        raise SilenceError("matchers must be an object with at least one of {labels}", labels=", ".join(LABELS))
    bad = [k for k in matchers if k not in LABELS]
    if bad or not all(isinstance(v, str) and v for v in matchers.values()):
        raise SilenceError("matchers may only use {labels}, with non-empty string values", labels=", ".join(LABELS))
    reason = body.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise SilenceError("a reason is required")
    try:
        starts = float(body.get("starts_at", now))
        ends = float(body["ends_at"])
    except KeyError:
        raise SilenceError("ends_at (epoch seconds) is required: every silence expires") from None
    except (TypeError, ValueError):
        raise SilenceError("starts_at and ends_at must be epoch seconds") from None
    if ends <= starts or ends <= now:
        raise SilenceError("ends_at must be after starts_at and in the future")
    if ends - starts > MAX_SPAN:
        raise SilenceError("a silence may last at most a year")
    cron, duration = body.get("cron"), body.get("duration")
    if cron is not None:
        try:
            _cron(str(cron))
        except CronError as exc:
            raise SilenceError("cron: {error}", error=str(exc)) from None
        if duration is None:
            raise SilenceError("a recurring silence needs duration (seconds)")
        try:
            duration = float(duration)
        except (TypeError, ValueError):
            raise SilenceError("a recurring silence needs duration (seconds)") from None
        if not 60 <= duration <= 7 * 86400:
            raise SilenceError("duration must be between 60 s and 7 days")
    elif duration is not None:
        raise SilenceError("duration only goes with cron")
    return {
        "matchers": {k: str(v) for k, v in matchers.items()},
        "starts_at": starts,
        "ends_at": ends,
        "reason": reason.strip()[:2000],
        "cron": None if cron is None else str(cron),
        "duration": duration,
    }


def muting(silences, alert: Alert, t: float, zone_name: str = DEFAULT_TIMEZONE) -> Silence | None:
    """The first silence that mutes ``alert`` at ``t`` (recurring windows read in ``zone_name``), or None."""
    for s in silences:
        if s.matches(alert) and s.active(t, zone_name):
            return s
    return None
