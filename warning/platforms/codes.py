"""Point codes (tnm / oname) of the live site: the ledger's points with their store ids. Pure.

Looked up from the site and the device index the runtime keeps (both replaced, never changed
in place, when the ledger changes: ``EmbeddedRuntime.reconfigure``), so a point added through
the admin API can be posted in a platform format, and pushed upward, without a restart.
:class:`Live` rebuilds the maps only when either object is a new one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..site import Site

Devices = Mapping[str, Mapping[str, Mapping[str, int]]]  #: enterprise -> device -> point -> store id


def inbound(points: Iterable, devices: Devices) -> dict[str, dict[str, int]]:
    """Enterprise -> point code -> store point id. A code given to two points of one enterprise
    names neither (its readings are refused as unknown codes rather than stored on a guess)."""
    out: dict[str, dict[str, int]] = {}
    twice: set[tuple[str, str]] = set()
    for p in points:
        if not p.code:
            continue
        ent, dev, name = p.ref.enterprise, p.ref.device, p.ref.point
        pid = devices.get(ent, {}).get(dev, {}).get(name)
        if pid is None:
            continue
        mine = out.setdefault(ent, {})
        if p.code in mine:
            twice.add((ent, p.code))
        mine[p.code] = pid
    for ent, code in twice:
        del out[ent][code]
    return out


def outbound(points: Iterable, devices: Devices) -> dict[int, tuple[str, str]]:
    """Store point id -> (enterprise, point code), for the points that have a code."""
    return {pid: (ent, code) for ent, codes in inbound(points, devices).items() for code, pid in codes.items()}


@dataclass
class Live:
    """The maps of the current site, rebuilt when ``site()`` or ``devices()`` gives a new object."""

    site: Callable[[], Site]
    devices: Callable[[], Devices]
    _key: tuple[int, int] = (0, 0)
    _held: tuple = field(default_factory=tuple)  #: (the site, the devices): kept so ids are not reused
    _in: dict[str, dict[str, int]] = field(default_factory=dict)
    _out: dict[int, tuple[str, str]] = field(default_factory=dict)
    _enterprises: dict[str, str] = field(default_factory=dict)

    def _fresh(self) -> None:
        site, devices = self.site(), self.devices()
        key = (id(site), id(devices))
        if key != self._key:
            self._in = inbound(site.points, devices)
            self._out = {pid: (ent, c) for ent, cs in self._in.items() for c, pid in cs.items()}
            self._enterprises = {e.id: e.code for e in site.enterprises.values() if e.code}
            self._key, self._held = key, (site, devices)

    def points(self) -> dict[str, dict[str, int]]:
        self._fresh()
        return self._in

    def codes(self) -> dict[int, tuple[str, str]]:
        self._fresh()
        return self._out

    def enterprise_codes(self) -> dict[str, str]:
        self._fresh()
        return self._enterprises
