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
import zlib
from collections.abc import Iterable, Mapping

from detectors.base import Detector, Finding, Severity
from detectors.chain import build, spec_key

from .alerts import AlertEngine
from .model import AlertEvent, PointRef
from .policy.policies import Policy
from .policy.router import Router
from .site import Channel, PointDef

#: a Reading's shape (point id, t, value): hot paths (replay, simulation) pass plain tuples
RawReading = tuple[int, float, float]
OFFLINE_RULE = "offline"
RUNNING_POINT = "running"  #: the point whose value (1/0) says whether a collector runs
NODATA_RULE = "nodata"
SNAPSHOT_VERSION = 3  #: 3: alert engine flap state, escalation fields, notification router
SHARDS = 16  #: checkpoint slices; changing it discards existing checkpoints


class Pipeline:
    """Detector chains per point + device offline timers + the alert engine."""

    def __init__(self, points: Mapping[int, PointDef], offline_after: float = 300.0,
                 offline_severity: Severity = Severity.YELLOW, policy: Policy | None = None,
                 channels: Iterable[Channel] = ()):
        self.points = dict(points)  #: point id -> definition
        self.offline_after = float(offline_after)  #: seconds of silence before a device is offline
        self.offline_severity = offline_severity
        self.engine = AlertEngine(policy)  #: with a policy: escalation and flap timers too
        self.router = Router(policy or Policy(), tuple(channels))  #: events -> notifications (see policy.router)
        self.chains: dict[int, list[Detector]] = {}  #: point id -> its detectors, built on first reading
        self._device_of = {pid: (p.ref.enterprise, p.ref.device) for pid, p in self.points.items()}
        self.last_seen: dict[tuple[str, str], float] = {}  #: device -> arrival time of its last reading
        self.offline: set[tuple[str, str]] = set()  #: devices currently reported offline
        pol = policy or Policy()
        self.nodata = {pid: rule for pid, p in self.points.items()  #: point id -> its NoData policy
                       if (rule := pol.nodata_for(p.ref.enterprise, p.ref.device, p.ref.point, p.kind)) is not None
                       and rule.action != "keep"}
        self.point_seen: dict[int, float] = {}  #: point id -> arrival of its last reading (NoData points only)
        self.silent_points: set[int] = set()  #: NoData points currently silent
        # Rules marked ``when_running = S`` judge a collector only while its ``running`` point says
        # it runs, and not in the first S seconds after it starts: a plant stopped at night is not
        # an airflow loss, and a fan spinning up is not a pressure fault.
        self._run_points = {pid for pid, p in self.points.items() if p.ref.point == RUNNING_POINT}
        self._gated_devices = {self._device_of[pid] for pid in self._run_points}
        self.running_since: dict[tuple[str, str], float | None] = {}  #: device -> when it started; None: stopped
        self.gates: dict[int, list[float | None]] = {}  #: point id -> run-up per detector (None: always judged)

    # -- the hot path --------------------------------------------------------------------------
    def process(self, readings: Iterable[RawReading], now: float) -> list[AlertEvent]:
        """Run readings through their points' detectors; ``now`` marks their devices as seen."""
        events: list[AlertEvent] = []
        chains, points, observe = self.chains, self.points, self.engine.observe
        if self._run_points:
            readings = list(readings)
            self._update_running(readings, events)
        touched = set()
        for pid, t, x in readings:
            chain = chains.get(pid)
            if chain is None:
                if pid not in points:
                    continue
                chain = self._build_chain(pid)
            touched.add(pid)
            gates = self.gates.get(pid)
            for i, det in enumerate(chain):
                gate = gates[i] if gates is not None else None
                if gate is not None and not self._judged(pid, t, gate):
                    continue
                found = det.update(t, x)
                if found is not None:
                    events.extend(observe(points[pid].ref, found))
        device_of, last_seen = self._device_of, self.last_seen
        for pid in touched:
            if pid in self.nodata:
                self.point_seen[pid] = now
                if pid in self.silent_points:
                    self.silent_points.discard(pid)
                    events.extend(observe(points[pid].ref, Finding(NODATA_RULE, None, now, 0.0, "data again")))
            dev = device_of[pid]
            last_seen[dev] = now
            if dev in self.offline:
                self.offline.discard(dev)
                events.extend(observe(PointRef(dev[0], dev[1], ""),
                                      Finding(OFFLINE_RULE, None, now, 0.0, "device reporting again")))
        return events

    def tick(self, now: float) -> list[AlertEvent]:
        """Timers: devices silent for ``offline_after`` seconds raise an offline alert; the
        engine's escalation and flap timers."""
        events: list[AlertEvent] = self.engine.tick(now)
        limit = now - self.offline_after
        for dev, seen in self.last_seen.items():
            if seen <= limit and dev not in self.offline:
                self.offline.add(dev)
                silent = now - seen
                events.extend(self.engine.observe(
                    PointRef(dev[0], dev[1], ""),
                    Finding(OFFLINE_RULE, self.offline_severity, now, silent,
                            f"no data from device for {silent:.0f} s")))
        if self.nodata:
            events.extend(self._nodata_tick(now))
        return events

    def _nodata_tick(self, now: float) -> list[AlertEvent]:
        """Per-point NoData policies: ``alert`` raises a nodata alert on the point, ``resolve``
        lifts the point's open alerts (the condition can no longer be seen)."""
        events: list[AlertEvent] = []
        for pid, seen in self.point_seen.items():
            rule = self.nodata[pid]
            if pid in self.silent_points or now - seen < rule.after:
                continue
            self.silent_points.add(pid)
            ref = self.points[pid].ref
            silent = now - seen
            if rule.action == "alert":
                events.extend(self.engine.observe(ref, Finding(NODATA_RULE, rule.severity, now, silent,
                                                               f"no data from point for {silent:.0f} s")))
            else:
                for a in list(self.engine.open_alerts()):
                    if (a.enterprise, a.device, a.point) == (ref.enterprise, ref.device, ref.point):
                        events.extend(self.engine.observe(ref, Finding(a.rule, None, now, silent,
                                                                       f"no data for {silent:.0f} s: lifted")))
        return events

    def watch_devices(self, devices: Iterable[tuple[str, str]], now: float) -> None:
        """Start offline timers for configured devices (and NoData points) that have not reported yet."""
        for dev in devices:
            self.last_seen.setdefault(dev, now)
        for pid in self.nodata:
            self.point_seen.setdefault(pid, now)

    def resume(self, now: float) -> None:
        """After a restore: restart silence timers from ``now`` so a restart is no outage."""
        for dev in self.last_seen:
            if dev not in self.offline:
                self.last_seen[dev] = max(self.last_seen[dev], now)
        for pid in self.point_seen:
            if pid not in self.silent_points:
                self.point_seen[pid] = max(self.point_seen[pid], now)

    def reconfigure(self, points: Mapping[int, PointDef], now: float, actor: str = "ledger",
                    note: str = "测点已从台账撤销 / point retired from the ledger") -> list[AlertEvent]:
        """Take a new set of points (the ledger changed, issue 14) without losing state: a point
        whose detector specs are unchanged keeps its detectors, a changed one starts fresh, a new
        one starts learning on its first reading, and a retired point's (or retired device's)
        open alerts are closed by ``actor`` with ``note``."""
        old = self.points
        self.points = dict(points)
        self._device_of = {pid: (p.ref.enterprise, p.ref.device) for pid, p in self.points.items()}
        for pid in list(self.chains):
            p = self.points.get(pid)
            if p is None or p.detectors != old[pid].detectors or p.ref != old[pid].ref:
                del self.chains[pid]
                self.gates.pop(pid, None)
        live_refs = {(p.ref.enterprise, p.ref.device, p.ref.point) for p in self.points.values()}
        devices = set(self._device_of.values())
        events: list[AlertEvent] = []
        for a in list(self.engine.open_alerts()):
            gone = (a.enterprise, a.device) not in devices if a.point == "" else (
                (a.enterprise, a.device, a.point) not in live_refs)
            if gone:
                events.extend(self.engine.resolve(a.id, actor, note, now))
        for dev in [d for d in self.last_seen if d not in devices]:
            del self.last_seen[dev]
            self.offline.discard(dev)
            self.running_since.pop(dev, None)
        pol = self.engine.policy or Policy()
        self.nodata = {pid: rule for pid, p in self.points.items()
                       if (rule := pol.nodata_for(p.ref.enterprise, p.ref.device, p.ref.point, p.kind)) is not None
                       and rule.action != "keep"}
        self.point_seen = {pid: t for pid, t in self.point_seen.items() if pid in self.nodata}
        self.silent_points &= set(self.nodata)
        gated_before = self._gated_devices
        self._run_points = {pid for pid, p in self.points.items() if p.ref.point == RUNNING_POINT}
        self._gated_devices = {self._device_of[pid] for pid in self._run_points}
        for pid in [pid for pid in self.chains if (self._device_of[pid] in gated_before)
                    != (self._device_of[pid] in self._gated_devices)]:
            del self.chains[pid]  # its gates depend on the device having a running point
            self.gates.pop(pid, None)
        self.watch_devices(sorted(devices), now)
        return events

    def _build_chain(self, pid: int) -> list[Detector]:
        p = self.points[pid]
        chain, gates = [], []
        for spec in p.detectors:
            spec = dict(spec)
            run_up = spec.pop("when_running", None)
            chain.append(build(spec, title=p.title))
            gates.append(None if run_up is None or self._device_of[pid] not in self._gated_devices else float(run_up))
        self.chains[pid] = chain
        if any(g is not None for g in gates):
            self.gates[pid] = gates
        return chain

    def _update_running(self, readings: list[RawReading], events: list[AlertEvent]) -> None:
        """Follow the ``running`` points of this batch first, so that a stop seen in the same
        batch as the readings it explains already gates them. A stop lifts the gated rules'
        alerts of that device: the condition they judged no longer applies."""
        for pid, t, x in readings:
            if pid not in self._run_points:
                continue
            dev = self._device_of[pid]
            was = self.running_since.get(dev, 0.0)
            if x >= 0.5 and was is None:
                self.running_since[dev] = t
            elif x < 0.5 and was is not None:
                self.running_since[dev] = None
                for gpid, gates in self.gates.items():
                    if self._device_of[gpid] != dev:
                        continue
                    for i, det in enumerate(self.chains.get(gpid, ())):
                        if gates[i] is not None:
                            events.extend(self.engine.observe(self.points[gpid].ref, Finding(
                                det.rule, None, t, x, "collector stopped: rule paused until it runs again")))

    def _judged(self, pid: int, t: float, run_up: float) -> bool:
        since = self.running_since.get(self._device_of[pid], 0.0)  # never reported: judged
        return since is not None and t - since >= run_up

    # -- officers' actions (delegated; kept here so the runtime has one object to feed) ---------
    def acknowledge(self, aid: str, actor: str, note: str | None, at: float) -> list[AlertEvent]:
        return self.engine.acknowledge(aid, actor, note, at)

    def resolve(self, aid: str, actor: str, note: str | None, at: float) -> list[AlertEvent]:
        return self.engine.resolve(aid, actor, note, at)

    def handle(self, aid: str, actor: str, note: str | None, at: float) -> list[AlertEvent]:
        return self.engine.handle(aid, actor, note, at)

    def feedback(self, aid: str, actor: str, note: str | None, at: float,
                 attachments: list[dict] | None = None) -> list[AlertEvent]:
        return self.engine.feedback(aid, actor, note, at, attachments)

    # -- state ---------------------------------------------------------------------------------
    # The state splits into SHARDS independent parts by enterprise: an enterprise's detectors,
    # device timers and open alerts move together. A runtime can then checkpoint one shard at
    # a time (a short pause each) instead of the whole pipeline at once.
    def shard_of(self, pid: int) -> int:
        return shard_of(self.points[pid].ref.enterprise)

    def snapshot(self, shard: int | None = None) -> bytes:
        """The state of one shard (or of everything) as bytes."""
        mine = (lambda e: True) if shard is None else (lambda e: shard_of(e) == shard)
        chains = {pid: c for pid, c in self.chains.items() if mine(self.points[pid].ref.enterprise)}
        state = {
            "version": SNAPSHOT_VERSION,
            "shard": shard,
            "chains": chains,
            "keys": {pid: tuple(spec_key(s) for s in self.points[pid].detectors) for pid in chains},
            "engine": self.engine.snapshot(mine),
            "router": self.router.snapshot(mine),
            "last_seen": {d: t for d, t in self.last_seen.items() if mine(d[0])},
            "offline": {d for d in self.offline if mine(d[0])},
            "point_seen": {p: t for p, t in self.point_seen.items() if mine(self.points[p].ref.enterprise)},
            "silent_points": {p for p in self.silent_points if mine(self.points[p].ref.enterprise)},
            "running_since": {d: t for d, t in self.running_since.items() if mine(d[0])},
        }
        return pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)

    def restore(self, data: bytes) -> None:
        """Put back a snapshot taken by :meth:`snapshot` (a shard's replaces only that shard)."""
        state = pickle.loads(data)
        if state.get("version") != SNAPSHOT_VERSION:
            raise ValueError(f"snapshot version {state.get('version')} is not {SNAPSHOT_VERSION}")
        shard = state["shard"]
        mine = (lambda e: True) if shard is None else (lambda e: shard_of(e) == shard)
        self.chains = {pid: c for pid, c in self.chains.items() if not mine(self.points[pid].ref.enterprise)}
        for pid, chain in state["chains"].items():
            p = self.points.get(pid)
            if p is not None and state["keys"].get(pid) == tuple(spec_key(s) for s in p.detectors):
                self.chains[pid] = chain
        self.engine.restore(state["engine"], mine)
        self.router.restore(state["router"], mine)
        self.last_seen = {d: t for d, t in self.last_seen.items() if not mine(d[0])} | state["last_seen"]
        self.offline = {d for d in self.offline if not mine(d[0])} | state["offline"]
        keep = {p for p in self.point_seen if not mine(self.points[p].ref.enterprise)}
        self.point_seen = {p: t for p, t in self.point_seen.items() if p in keep} | {
            p: t for p, t in state["point_seen"].items() if p in self.nodata}
        self.silent_points = {p for p in self.silent_points if p in keep} | {
            p for p in state["silent_points"] if p in self.nodata}
        self.running_since = {d: t for d, t in self.running_since.items() if not mine(d[0])} | state.get(
            "running_since", {})


def shard_of(enterprise: str) -> int:
    """Stable shard of an enterprise (crc32, not ``hash()``, which changes per process)."""
    return zlib.crc32(enterprise.encode()) % SHARDS
