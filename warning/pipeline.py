"""The pipeline: every point's detector chain, device silence, and the alert engine.

Pure and synchronous: ``process(readings, now)`` and ``tick(now)`` return alert events;
time comes in as data (``now`` is the arrival time the runtime saw). The whole state
snapshots to bytes and restores, so a runtime can checkpoint it and move it.

Sharp edges:

* Readings of one point must arrive in time order for rate and smoothing detectors to
  mean anything; out-of-order ones are tolerated (skipped or absorbed), not reordered.
* A snapshot restores a point's detectors only if that point's detector specs are
  unchanged; a point whose configuration changed starts fresh.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable, Mapping

from detectors.base import Detector, Finding, Severity
from detectors.chain import build, spec_key

from .alerts import AlertEngine
from .config import PointDef
from .model import AlertEvent, PointRef, Reading

OFFLINE_RULE = "offline"
SNAPSHOT_VERSION = 1


class Pipeline:
    """Detector chains per point + device offline timers + the alert engine."""

    def __init__(self, points: Mapping[int, PointDef], offline_after: float = 300.0,
                 offline_severity: Severity = Severity.YELLOW):
        self.points = dict(points)  #: point id -> definition
        self.offline_after = float(offline_after)  #: seconds of silence before a device is offline
        self.offline_severity = offline_severity
        self.engine = AlertEngine()
        self.chains: dict[int, list[Detector]] = {}  #: point id -> its detectors, built on first reading
        self._device_of = {pid: (p.ref.enterprise, p.ref.device) for pid, p in self.points.items()}
        self.last_seen: dict[tuple[str, str], float] = {}  #: device -> arrival time of its last reading
        self.offline: set[tuple[str, str]] = set()  #: devices currently reported offline
        self.processed = 0  #: readings processed since creation (kept in snapshots)

    # -- the hot path --------------------------------------------------------------------------
    def process(self, readings: Iterable[Reading], now: float) -> list[AlertEvent]:
        """Run readings through their points' detectors; ``now`` marks their devices as seen."""
        events: list[AlertEvent] = []
        chains, points, observe = self.chains, self.points, self.engine.observe
        touched = set()
        n = 0
        for pid, t, x in readings:
            n += 1
            chain = chains.get(pid)
            if chain is None:
                if pid not in points:
                    continue
                chain = self._build_chain(pid)
            touched.add(pid)
            for det in chain:
                found = det.update(t, x)
                if found is not None:
                    events.extend(observe(points[pid].ref, found))
        self.processed += n
        device_of, last_seen = self._device_of, self.last_seen
        for pid in touched:
            dev = device_of[pid]
            last_seen[dev] = now
            if dev in self.offline:
                self.offline.discard(dev)
                events.extend(observe(PointRef(dev[0], dev[1], ""),
                                      Finding(OFFLINE_RULE, None, now, 0.0, "device reporting again")))
        return events

    def tick(self, now: float) -> list[AlertEvent]:
        """Timers: devices silent for ``offline_after`` seconds raise an offline alert."""
        events: list[AlertEvent] = []
        limit = now - self.offline_after
        for dev, seen in self.last_seen.items():
            if seen <= limit and dev not in self.offline:
                self.offline.add(dev)
                silent = now - seen
                events.extend(self.engine.observe(
                    PointRef(dev[0], dev[1], ""),
                    Finding(OFFLINE_RULE, self.offline_severity, now, silent,
                            f"no data from device for {silent:.0f} s")))
        return events

    def watch_devices(self, devices: Iterable[tuple[str, str]], now: float) -> None:
        """Start offline timers for configured devices that have not reported yet."""
        for dev in devices:
            self.last_seen.setdefault(dev, now)

    def resume(self, now: float) -> None:
        """After a restore: restart silence timers from ``now`` so a restart is no outage."""
        for dev in self.last_seen:
            if dev not in self.offline:
                self.last_seen[dev] = max(self.last_seen[dev], now)

    def _build_chain(self, pid: int) -> list[Detector]:
        p = self.points[pid]
        chain = [build(spec, title=p.title) for spec in p.detectors]
        self.chains[pid] = chain
        return chain

    # -- officers' actions (delegated; kept here so the runtime has one object to feed) ---------
    def acknowledge(self, aid: str, actor: str, note: str | None, at: float) -> list[AlertEvent]:
        return self.engine.acknowledge(aid, actor, note, at)

    def resolve(self, aid: str, actor: str, note: str | None, at: float) -> list[AlertEvent]:
        return self.engine.resolve(aid, actor, note, at)

    # -- state ---------------------------------------------------------------------------------
    def snapshot(self) -> bytes:
        keys = {pid: tuple(spec_key(s) for s in self.points[pid].detectors) for pid in self.chains}
        state = {
            "version": SNAPSHOT_VERSION,
            "chains": self.chains,
            "keys": keys,
            "engine": self.engine.snapshot(),
            "last_seen": self.last_seen,
            "offline": self.offline,
            "processed": self.processed,
        }
        return pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)

    def restore(self, data: bytes) -> None:
        state = pickle.loads(data)
        if state.get("version") != SNAPSHOT_VERSION:
            raise ValueError(f"snapshot version {state.get('version')} is not {SNAPSHOT_VERSION}")
        self.chains = {}
        for pid, chain in state["chains"].items():
            p = self.points.get(pid)
            if p is not None and state["keys"].get(pid) == tuple(spec_key(s) for s in p.detectors):
                self.chains[pid] = chain
        self.engine.restore(state["engine"])
        self.last_seen = state["last_seen"]
        self.offline = state["offline"]
        self.processed = state["processed"]
