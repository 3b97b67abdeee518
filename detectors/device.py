"""The chain builder: a point's detectors with their running gates, and a device's running
state (from its ``running`` point, or inferred from its own signals).

One builder for every runtime and for ``warning score --kinds``: :func:`build_point_chain`
turns a point kind's detector specs (after overrides) into detectors plus the run-up each
waits for; :class:`RunState` is the pure running-state machine a device follows. The
pipeline (``warning.pipeline.Pipeline``) holds one :class:`RunState` per gated device and
one :class:`PointChain` per point; ``warning score --kinds`` runs that same pipeline.

Gates. ``when_running = S`` on a spec: judge that detector only while the device runs,
and not in the first S seconds after it starts (a plant stopped at night is no airflow
loss; a fan spinning up is no pressure fault). A detector that is not judged is not fed
either, so a stop is a gap in its series. Specs without ``when_running`` are always judged.

Running inference. A device without a ``running`` point but with points whose kind carries
a ``{ type = "running", above = V }`` spec (duct air speed, pressure difference) is running
while any of them reads at least ``V`` in the point's own unit. The limits are physics,
not fitted: a fan that runs moves air near its nominal 18-22 m/s and holds 750-1500 Pa
across the bags (``../shared/DESIGN.md``); a stopped one reads ~0 m/s and 0-50 Pa. The
default limits sit at about half of the lowest running value (8 m/s: half the 16 m/s
conveying minimum; 300 Pa), so a partial airflow loss still counts as running and is
judged by the air-speed rules on its way down, while a stopped fan is not.

Expected stops (no ``running`` point). From air speed and dp alone a controlled stop and a
fan trip look alike: both run the fan down. Two things the device itself shows tell a stop
that was coming, and a gated finding made while one of them holds waits ``run_down``
seconds (the running signal's, 120 s: a fan's run-down, as long as its run-up) for the
stop that explains it: if the device stops by then, the finding is dropped (it was the
stop), otherwise it is raised as it was, that much later.

* the process has stopped loading the collector (a ``{ type = "load" }`` point, outlet dust:
  its last minute's mean below a fifth of its usual running level for a minute). Dust-hazard plants
  interlock the collector to start before the process and stop after it (先开后停, GB 15577),
  purging the ducts, so a planned stop follows the end of the dust load; a trip happens while
  the process still sends dust;
* the device's own schedule: the time of day lies within ``SAME_TIME`` (30 min) of a stop
  it made on an earlier day that lasted at least ``LONG_STOP`` (1 h: a shift's end or a
  break; a trip is restarted sooner). The first day has no history: only the load tells.

Sharp edges:
* a fan trip within half an hour of the device's usual stop time, or while the process has
  stopped, is taken for the stop (its gated alerts are dropped); the hazard rules and the
  rules of a device with a ``running`` point are never held;
* a fan trip whose very first sample is already below the limit reads as a stop (its
  gated rules are lifted); ungated hazard rules (temperature, sparks, vents) still judge;
* with a ``running`` point, the signals are ignored: the point is the PLC's own word;
* until a device's first reading of a running signal, it counts as running (judged), as
  a device whose ``running`` point never reported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .base import Detector
from .chain import build
from .rules import LoadSignal, RunningSignal

GATE_KEY = "when_running"  #: the spec key that gates a detector on the running state
RUNNING_TYPE = "running"  #: the spec type that makes a point a running signal
LOAD_TYPE = "load"  #: the spec type that makes a point its device's process-load signal
DAY = 86400.0
LONG_STOP = 3600.0  #: a stop that lasted this long was planned (a shift's end, a break), not a trip
SAME_TIME = 1800.0  #: a stop within this much of the time of day of an earlier long stop was expected
KEEP_STOPS = 8  #: long stops remembered per device (a working week's evenings and breaks)


@dataclass(slots=True)
class PointChain:
    """A point's detectors, the run-up each waits for (None: always judged), and its
    running signal if its kind has one."""

    detectors: list[Detector]
    run_ups: list[float | None]
    signal: RunningSignal | None = None
    gated: bool = False  #: any detector waits for the running state (kept as a field: read per reading)
    load: LoadSignal | None = None  #: the point shows its device's process load (outlet dust)


def split_gate(spec: dict) -> tuple[dict, float | None]:
    """(the spec without its gate, the gate's run-up in seconds or None); ValueError if bad."""
    spec = dict(spec)
    run_up = spec.pop(GATE_KEY, None)
    if run_up is not None and not (isinstance(run_up, (int, float)) and run_up >= 0):
        raise ValueError(f"{GATE_KEY} must be seconds >= 0, not {run_up!r}")
    return spec, None if run_up is None else float(run_up)


def running_signal_spec(specs) -> dict | None:
    """The ``running`` spec among a kind's specs, if any (decides inference before a chain exists)."""
    return next((dict(s) for s in specs if s.get("type") == RUNNING_TYPE), None)


def load_signal_spec(specs) -> dict | None:
    """The ``load`` spec among a kind's specs, if any."""
    return next((dict(s) for s in specs if s.get("type") == LOAD_TYPE), None)


def build_point_chain(specs, *, title: str = "value", gated: bool = True) -> PointChain:
    """The detectors of one point from its kind's specs (after overrides).

    ``gated``: whether the device has a running state at all (a ``running`` point or a
    running signal); without one every detector is judged always."""
    dets: list[Detector] = []
    run_ups: list[float | None] = []
    signal, load = None, None
    for raw in specs:
        spec, run_up = split_gate(raw)
        det = build(spec, title=title)
        if isinstance(det, RunningSignal):
            signal = det
            continue
        if isinstance(det, LoadSignal):
            load = det
            continue
        dets.append(det)
        run_ups.append(run_up if gated else None)
    return PointChain(dets, run_ups, signal, any(r is not None for r in run_ups), load)


class RunState:
    """A device's running state: when it last started (``since``), or None while stopped.

    ``since`` starts at ``-inf`` ("never reported": judged, as if running for ever).
    :meth:`observe` takes a running verdict at time ``t`` and returns True when it started,
    False when it stopped (the caller lifts that device's gated alerts), None otherwise.

    It also remembers the device's long stops (``stops``: when each began) for
    :meth:`planned`, and holds findings made while a stop is expected (``held``:
    :meth:`hold`, :meth:`settle`)."""

    __slots__ = ("since", "stopped_at", "stops", "held")

    def __init__(self, since: float | None = -math.inf):
        self.since = since
        self.stopped_at: float | None = None  #: when the current stop began (None: running, or counted)
        self.stops: tuple[float, ...] = ()  #: the last KEEP_STOPS long stops, when each began
        self.held: list = []  #: (t, item) waiting for a stop to explain them, oldest first

    def observe(self, t: float, running: bool | None) -> bool | None:
        if running is None:
            return None
        if self.stopped_at is not None and t - self.stopped_at >= LONG_STOP:
            self.stops = (*self.stops, self.stopped_at)[-KEEP_STOPS:]
            self.stopped_at = None
        if running and self.since is None:
            self.since, self.stopped_at = t, None
            return True
        if not running and self.since is not None:
            self.stopped_at = t if math.isfinite(self.since) else None  # a first verdict is no stop
            self.since = None
            self.held.clear()  # the stop explains what was held
            return False
        return None

    def judged(self, t: float, run_up: float | None) -> bool:
        """Whether a detector with this run-up judges a reading at ``t``."""
        if run_up is None:
            return True
        return self.since is not None and t - self.since >= run_up

    def planned(self, t: float) -> bool:
        """Whether ``t`` lies within SAME_TIME of the time of day of a long stop of an earlier day."""
        for s in self.stops:
            if t - s >= DAY / 2 and abs((t - s + DAY / 2) % DAY - DAY / 2) <= SAME_TIME:
                return True
        return False

    def hold(self, t: float, item) -> None:
        self.held.append((t, item))

    def settle(self, t: float, run_down: float) -> list:
        """The held items to let through at ``t`` (all of them, once the oldest has waited
        ``run_down`` seconds with the device still running); a stop drops them (observe)."""
        if not self.held or t - self.held[0][0] < run_down:
            return []
        out = [item for _, item in self.held]
        self.held.clear()
        return out
