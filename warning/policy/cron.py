"""A tiny five-field cron matcher, for recurring maintenance windows and duty rosters. Pure.

``minute hour day-of-month month day-of-week``, each field ``*``, a number, a range
``a-b``, a list ``a,b``, and steps ``*/n`` or ``a-b/n``. Day-of-week is 0-7 (0 and 7 are
Sunday) or ``mon``..``sun``. As in classic cron, when both day fields are restricted a day
matches if *either* matches.

Times are read in the site's time zone (``[site] timezone``, default ``Asia/Shanghai``;
:mod:`warning.times`): windows and rosters are written in the bureau's wall-clock time, so in a
zone with daylight saving "02:00" stays 02:00 local across the change. On the change itself a
wall-clock minute the clocks skip never matches that day, and one they repeat matches twice.
The zone is given at evaluation, not parse, so a policy carries one zone for all its windows
and shifts.

Sharp edge: :func:`active` looks back minute by minute over the window's duration, so a
window lasting days costs thousands of matches per call; callers cache per minute.
"""

from __future__ import annotations

from datetime import datetime

from ..times import DEFAULT_TIMEZONE, zone

_NAMES = {"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}
_BOUNDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))


class CronError(ValueError):
    pass


def _field(text: str, lo: int, hi: int, names: dict | None = None) -> frozenset[int]:
    out: set[int] = set()
    for part in text.lower().split(","):
        rng, _, step_s = part.partition("/")
        step = int(step_s) if step_s else 1
        if step < 1:
            raise CronError(f"bad step in {text!r}")
        if rng == "*":
            a, b = lo, hi
        else:
            first, _, last = rng.partition("-")
            a = _num(first, names)
            b = _num(last, names) if last else (hi if step_s else a)
        if not (lo <= a <= hi and lo <= b <= hi and a <= b):
            raise CronError(f"{text!r} is outside {lo}-{hi}")
        out.update(range(a, b + 1, step))
    return frozenset(out)


def _num(s: str, names: dict | None) -> int:
    if names and s in names:
        return names[s]
    try:
        return int(s)
    except ValueError:
        raise CronError(f"not a number: {s!r}") from None


class Cron:
    """A parsed cron expression; ``matches(t, zone_name)`` for epoch seconds (the minute
    containing t), read as wall-clock time in the IANA zone ``zone_name``."""

    def __init__(self, expr: str):
        parts = expr.split()
        if len(parts) != 5:
            raise CronError(f"cron needs 5 fields (minute hour day month weekday), got {expr!r}")
        self.expr = expr
        self.minute, self.hour, self.dom, self.month = (_field(p, *_BOUNDS[i]) for i, p in enumerate(parts[:4]))
        dow = _field(parts[4], *_BOUNDS[4], names=_NAMES)
        self.dow = frozenset(d % 7 for d in dow)
        self._dom_any = parts[2] == "*"
        self._dow_any = parts[4] == "*"

    def matches(self, t: float, zone_name: str = DEFAULT_TIMEZONE) -> bool:
        d = datetime.fromtimestamp(t, zone(zone_name))
        if d.minute not in self.minute or d.hour not in self.hour or d.month not in self.month:
            return False
        dom_ok = d.day in self.dom
        dow_ok = (d.isoweekday() % 7) in self.dow
        if self._dom_any or self._dow_any:
            return dom_ok and dow_ok
        return dom_ok or dow_ok

    def active(self, t: float, duration: float, zone_name: str = DEFAULT_TIMEZONE) -> bool:
        """Whether ``t`` lies in a window that starts at a matching minute and lasts ``duration`` s."""
        minute0 = int(t // 60) * 60
        back = int(duration // 60)
        for k in range(back + 1):
            start = minute0 - 60 * k
            if start + duration > t and self.matches(start, zone_name):
                return True
        return False


def weekday_set(text: str) -> frozenset[int]:
    """``"mon-fri"``, ``"1-5"``, ``"sat,sun"`` or ``"*"`` -> weekdays (0 = Sunday)."""
    return frozenset(d % 7 for d in _field(text, 0, 7, names=_NAMES))
