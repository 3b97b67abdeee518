"""The one time parser: text (or a number) from a person, a file or a client -> epoch seconds.

One rule for a time written without a zone: it is read in the site's time zone (the site
file's ``timezone``, default ``Asia/Shanghai``). The only place that refuses such a time is
telemetry (``warning.ingest``): a gateway's clock must say which zone it is in, so there an
ISO-8601 time must carry one (``zone=None`` below).

Numbers are epoch seconds, or epoch milliseconds where the caller says so (telemetry and the
replay CSV). Pure: no clock, no environment; the zone database is read by ``zoneinfo``.
"""

from __future__ import annotations

import math
from datetime import datetime, tzinfo
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_TIMEZONE = "Asia/Shanghai"  #: China Standard Time, no daylight saving

Unit = Literal["s", "ms"]


class TimeError(ValueError):
    """Not a time this parser reads; the message says what would be."""


class NoZone(TimeError):
    """An ISO-8601 time without a zone where one is required (telemetry)."""


@lru_cache(maxsize=64)
def zone(name: str) -> tzinfo:
    """The IANA zone ``name`` (e.g. ``Asia/Shanghai``); TimeError when there is none."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise TimeError(f"{name!r} is not an IANA time zone (e.g. Asia/Shanghai)") from None


def parse_iso(text: str, *, zone_name: str | None = DEFAULT_TIMEZONE) -> float:
    """Epoch seconds from ISO-8601 (``2026-11-30T08:00``, ``2026-11-30 08:00:00+08:00``, ``...Z``).

    A time without a zone is read in ``zone_name``; with ``zone_name=None`` it is refused
    (:class:`NoZone`).
    """
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise TimeError(f"not a time: {text[:40]!r} (use ISO-8601 like 2026-11-30T08:00 or epoch seconds)") from None
    if parsed.tzinfo is None:
        if zone_name is None:
            raise NoZone(f"{text[:40]!r} needs a time zone (Z or +08:00)")
        parsed = parsed.replace(tzinfo=zone(zone_name))
    return parsed.timestamp()


def parse_number(value: float, *, unit: Unit = "s") -> float:
    """Epoch seconds from an epoch number in ``unit``; refuses NaN, infinities and absurd values."""
    if not math.isfinite(value) or abs(value) > (1e15 if unit == "ms" else 1e12):
        raise TimeError(f"not a time: {value!r} (epoch {'milliseconds' if unit == 'ms' else 'seconds'})")
    return value / 1000.0 if unit == "ms" else float(value)


def parse_time(text: str, *, zone_name: str = DEFAULT_TIMEZONE, unit: Unit = "s") -> float:
    """Epoch seconds from text: an epoch number in ``unit``, or ISO-8601 (a time without a zone
    is read in ``zone_name``, the site's ``timezone``)."""
    s = text.strip()
    try:
        number = float(s)
    except ValueError:
        return parse_iso(s, zone_name=zone_name)
    return parse_number(number, unit=unit)


def local(t: float, zone_name: str | None = None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """Epoch seconds as the site's wall-clock time (reports show times in the site's zone)."""
    return datetime.fromtimestamp(t, zone(zone_name or DEFAULT_TIMEZONE)).strftime(fmt)
