"""The one time parser: what a person or a client types for a time, to epoch seconds.

Accepted: epoch seconds (``1764470000``), or ISO-8601 (``2026-11-30T08:00``,
``2026-11-30 08:00:00+08:00``, ``2026-11-30T00:00Z``). A time without a zone is read in the
site's time zone (site file ``[site] timezone``, default ``Asia/Shanghai``): the zone the
pages show, so a time copied from the screen means the same moment here.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_ZONE = "Asia/Shanghai"


def zone(name: str | tzinfo | None = None) -> tzinfo:
    """A time zone from its IANA name (default Asia/Shanghai); ValueError for an unknown one."""
    if isinstance(name, tzinfo):
        return name
    try:
        return ZoneInfo(name or DEFAULT_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (use an IANA name like Asia/Shanghai)") from None


def parse_time(text: str, tz: str | tzinfo | None = None) -> float:
    """Epoch seconds from epoch seconds or ISO-8601; a time without a zone is in ``tz``."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        d = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        raise ValueError(f"not a time: {text!r} (use ISO-8601 like 2026-11-30T08:00 or epoch seconds)") from None
    if d.tzinfo is None:
        d = d.replace(tzinfo=zone(tz))
    return d.timestamp()


def local(t: float, tz: str | tzinfo | None = None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """Epoch seconds as the site's wall-clock time."""
    return datetime.fromtimestamp(t, zone(tz)).strftime(fmt)
