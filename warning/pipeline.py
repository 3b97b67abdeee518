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

import functools
import pickle
import zlib
from collections.abc import Iterable, Mapping

from detectors.base import Finding, Severity
from detectors.chain import spec_key
from detectors.device import PointChain, RunState, build_point_chain, load_signal_spec, running_signal_spec

from .alerts import AlertEngine
from .labels import Labels
from .messages import Describer
from .model import SYSTEM, AlertEvent, PointRef
from .policy.policies import Policy
from .policy.router import Router
from .site import Channel, PointDef

#: a Reading's shape (point id, t, value): hot paths (replay, simulation) pass plain tuples
RawReading = tuple[int, float, float]
OFFLINE_RULE = "offline"
RUNNING_POINT = "running"  #: the point whose value (1/0) says whether a collector runs
NODATA_RULE = "nodata"
SNAPSHOT_VERSION = 4  #: 4: alerts keep peak_severity, cleared_at, message_data (issue 13)
#: Checkpoint slices; a snapshot names its count, so changing it re-shards (recovery.py). A
#: shard's snapshot blocks the event loop while it is pickled: for the dashboard bench's
#: district (200 enterprises, 8,400 points) 7.6 ms a shard at 16 (up to 20 ms under load: the
#: longest pause on the alerts' path), 1.9 ms at 64, while restoring them all at start-up
#: costs about the same (0.36 / 0.44 s): ``python bench/checkpoint_bench.py``.
SHARDS = 64


class Pipeline:
    """Detector chains per point + device offline timers + the alert engine."""

    def __init__(
        self,
        points: Mapping[int, PointDef],
        offline_after: float = 300.0,
        offline_severity: Severity = Severity.YELLOW,
        policy: Policy | None = None,
        channels: Iterable[Channel] = (),
        labels: Labels | None = None,
    ):
        self.points = dict(points)  #: point id -> definition
        self._spec_key_cache: dict[int, tuple[PointDef, tuple[str, ...]]] = {}  #: see _spec_keys
        self._shard_index: tuple[dict, int, dict[int, list[int]]] = ({}, 0, {})  #: see _pids_in
        self.offline_after = float(offline_after)  #: seconds of silence before a device is offline
        self.offline_severity = offline_severity
        #: with a policy: escalation, flap and self-lifting timers too; messages from the catalogue
        self.engine = AlertEngine(policy, Describer.of(self.points.values()))
        self.router = Router(policy or Policy(), tuple(channels), labels)  #: events -> notifications (policy.router)
        self.chains: dict[int, PointChain] = {}  #: point id -> its detectors and gates, built on first reading
        self.last_seen: dict[tuple[str, str], float] = {}  #: device -> arrival time of its last reading
        self.offline: set[tuple[str, str]] = set()  #: devices currently reported offline
        self.point_seen: dict[int, float] = {}  #: point id -> arrival of its last reading (NoData points only)
        self.silent_points: set[int] = set()  #: NoData points currently silent
        self.runs: dict[tuple[str, str], RunState] = {}  #: device -> its running state (gated devices)
        self._index_points()

    def _index_points(self) -> None:
        """What follows from the point set: NoData rules, running points and gated devices
        (at construction; :meth:`reconfigure` updates it for the points that changed)."""
        self._device_of: dict[int, tuple[str, str]] = {}
        self._pids_of: dict[tuple[str, str], set[int]] = {}  #: device -> its point ids
        self.nodata: dict = {}  #: point id -> its NoData policy
        self._run_points: set[int] = set()
        self._explicit: set[tuple[str, str]] = set()  #: devices with a ``running`` point
        self._signal_points: set[int] = set()
        self._signals_of: dict[tuple[str, str], list[int]] = {}
        self._gated_devices: set[tuple[str, str]] = set()
        self._load_points: set[int] = set()  #: load points of devices whose running is inferred
        self._loads_of: dict[tuple[str, str], list[int]] = {}
        self._index_changed(set(self.points))

    def _index_changed(self, changed: set[int]) -> set[tuple[str, str]]:
        """Update the index for the point ids in ``changed`` (new, retired, or redefined: their
        entries are dropped and rebuilt from ``points``); returns the devices they touch."""
        pol = self.engine.policy or Policy()
        devices: set[tuple[str, str]] = set()
        for pid in changed:
            dev = self._device_of.pop(pid, None)
            if dev is not None:
                devices.add(dev)
                self._pids_of[dev].discard(pid)
            self.nodata.pop(pid, None)
            self._run_points.discard(pid)
            self._signal_points.discard(pid)
            self._load_points.discard(pid)
            p = self.points.get(pid)
            if p is None:
                continue
            dev = (p.ref.enterprise, p.ref.device)
            devices.add(dev)
            self._device_of[pid] = dev
            self._pids_of.setdefault(dev, set()).add(pid)
            rule = pol.nodata_for(p.ref.enterprise, p.ref.device, p.ref.point, p.kind)
            if rule is not None and rule.action != "keep":
                self.nodata[pid] = rule
            if p.ref.point == RUNNING_POINT:
                self._run_points.add(pid)
        # Rules marked ``when_running = S`` judge a collector only while it runs, and not in the
        # first S seconds after it starts: a plant stopped at night is not an airflow loss, and a
        # fan spinning up is not a pressure fault. The running state comes from the device's
        # ``running`` point, or, without one, from its running signals (air speed, pressure
        # difference: detectors.device); one builder and one state machine for every runtime.
        for dev in devices:
            pids = self._pids_of.get(dev, set())
            if not pids:
                self._pids_of.pop(dev, None)
            explicit = any(pid in self._run_points for pid in pids)
            signals = [] if explicit else sorted(pid for pid in pids if running_signal_spec(self.points[pid].detectors))
            self._signal_points.difference_update(pids)
            self._signal_points.update(signals)
            if signals:
                self._signals_of[dev] = signals
            else:
                self._signals_of.pop(dev, None)
            # A device whose running is inferred holds a gated finding made while a stop is expected
            # (its process load ended, or its usual stop time) for the stop that explains it
            # (detectors.device): its load points (outlet dust) are followed with its running state.
            loads = sorted(pid for pid in pids if load_signal_spec(self.points[pid].detectors)) if signals else []
            self._load_points.difference_update(pids)
            self._load_points.update(loads)
            if loads:
                self._loads_of[dev] = loads
            else:
                self._loads_of.pop(dev, None)
            for group, member in ((self._explicit, explicit), (self._gated_devices, explicit or bool(signals))):
                if member:
                    group.add(dev)
                else:
                    group.discard(dev)
        return devices

    # -- the hot path --------------------------------------------------------------------------
    def process(self, readings: Iterable[RawReading], now: float) -> list[AlertEvent]:
        """Run readings through their points' detectors; ``now`` marks their devices as seen."""
        events: list[AlertEvent] = []
        chains, points, observe = self.chains, self.points, self.engine.observe
        runs, device_of = self.runs, self._device_of
        if self._gated_devices:
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
            run = runs.get(device_of[pid]) if chain.gated else None
            if run is None:
                for det in chain.detectors:
                    found = det.update(t, x)
                    if found is not None:
                        events.extend(observe(points[pid].ref, found))
                continue
            if run.held:
                events.extend(self._settle(device_of[pid], run, t))
            since = run.since  # RunState.judged, inlined: this is the hot path
            for det, run_up in zip(chain.detectors, chain.run_ups):
                if run_up is not None and (since is None or t - since < run_up):
                    continue
                found = det.update(t, x)
                if found is not None:
                    if run_up is not None and (run.held or self._stop_expected(device_of[pid], run, t)):
                        run.hold(t, (pid, found))
                    else:
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
                events.extend(
                    observe(
                        PointRef(dev[0], dev[1], ""), Finding(OFFLINE_RULE, None, now, 0.0, "device reporting again")
                    )
                )
        return events

    def warm(self, readings: Iterable[RawReading]) -> int:
        """Feed stored history to the points' detectors before going live (a database with
        history but no checkpoint: new, or restored from a dump). State only: findings are
        dropped, no alert is raised, no device is marked seen. The running state is followed
        as live (the devices' starts and long stops are learned, :meth:`warm_running`), and a
        gated detector learns only the readings it would have judged live: a stopped fan's
        0 m/s is no history of a running duct. Returns readings fed."""
        chains, points, runs, device_of = self.chains, self.points, self.runs, self._device_of
        state_points = self._run_points | self._signal_points | self._load_points if self._gated_devices else set()
        n = 0
        group: list[tuple[int, float, float]] = []  # readings of one time: their running state first, as a batch live

        def flush() -> None:
            if state_points:
                self._update_running([r for r in group if r[0] in state_points], None)
            for pid, t, x in group:
                chain = chains[pid]
                run = runs.get(device_of[pid]) if chain.gated else None
                for det, run_up in zip(chain.detectors, chain.run_ups):
                    if run is None or run.judged(t, run_up):
                        det.update(t, x)
            group.clear()

        for pid, t, x in readings:
            if pid not in chains:
                if pid not in points:
                    continue
                self._build_chain(pid)
            if group and group[0][1] != t:
                flush()
            group.append((pid, t, x))
            n += 1
        flush()
        return n

    def running_signals(self) -> list[int]:
        """The running-signal points of devices whose running is inferred (no ``running`` point):
        what :meth:`warm_running` needs to learn their usual stop times."""
        return sorted(self._signal_points)

    def warm_running(self, readings: Iterable[RawReading]) -> int:
        """Learn the devices' running state from older history of their running signals
        (:meth:`running_signals`; a reading every few minutes is enough to time a stop within
        the half hour it is matched with): when they started and their long stops, which tell
        a planned stop from a fan trip (``detectors.device``). No detector is fed, nothing is
        raised. Returns readings taken."""
        n = 0
        for pid, t, x in readings:
            if pid in self._signal_points or pid in self._run_points:
                self._update_running([(pid, t, x)], None)
                n += 1
        return n

    def tick(self, now: float) -> list[AlertEvent]:
        """Timers: devices silent for ``offline_after`` seconds raise an offline alert; the
        engine's escalation and flap timers."""
        events: list[AlertEvent] = self.engine.tick(now)
        limit = now - self.offline_after
        for dev, seen in self.last_seen.items():
            if seen <= limit and dev not in self.offline:
                self.offline.add(dev)
                silent = now - seen
                events.extend(
                    self.engine.observe(
                        PointRef(dev[0], dev[1], ""),
                        Finding(
                            OFFLINE_RULE, self.offline_severity, now, silent, f"no data from device for {silent:.0f} s"
                        ),
                    )
                )
        if self.nodata:
            events.extend(self._nodata_tick(now))
        for dev, run in self.runs.items():
            if run.held:
                events.extend(self._settle(dev, run, now))
        return events

    def _stop_expected(self, dev: tuple[str, str], run: RunState, t: float) -> bool:
        """A device whose running is inferred expects a stop: its process load has ended, or
        ``t`` is near its usual stop time (detectors.device). A ``running`` point is the PLC's
        own word: nothing is held."""
        if dev not in self._signals_of:
            return False
        for lpid in self._loads_of.get(dev, ()):
            c = self.chains.get(lpid)
            if c is not None and c.load is not None and c.load.off():
                return True
        return run.planned(t)

    def _settle(self, dev: tuple[str, str], run: RunState, t: float) -> list[AlertEvent]:
        """Let held findings through once they have waited the device's run-down with it still
        running (a stop drops them: RunState.observe)."""
        run_down = max((s.run_down for s in self._signal_states(dev)), default=0.0)
        events: list[AlertEvent] = []
        for pid, found in run.settle(t, run_down):
            events.extend(self.engine.observe(self.points[pid].ref, found))
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
                events.extend(
                    self.engine.observe(
                        ref, Finding(NODATA_RULE, rule.severity, now, silent, f"no data from point for {silent:.0f} s")
                    )
                )
            else:
                for a in list(self.engine.open_alerts()):
                    if (a.enterprise, a.device, a.point) == (ref.enterprise, ref.device, ref.point):
                        events.extend(
                            self.engine.observe(
                                ref, Finding(a.rule, None, now, silent, f"no data for {silent:.0f} s: lifted")
                            )
                        )
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

    def reconfigure(
        self,
        points: Mapping[int, PointDef],
        now: float,
        actor: str = "ledger",
        note: str = "测点已从台账撤销 / point retired from the ledger",
    ) -> list[AlertEvent]:
        """Take a new set of points (the ledger changed, issue 14) without losing state: a point
        whose detector specs are unchanged keeps its detectors, a changed one starts fresh, a new
        one starts learning on its first reading, and a retired point's (or retired device's)
        open alerts are closed by ``actor`` with ``note``."""
        old, gated_before = self.points, set(self._gated_devices)
        self.points = dict(points)
        # Only what changed is re-indexed: the ledger's points keep their objects from one
        # change to the next, so identity finds the changed ones (a ledger of 160,000 points).
        changed = {pid for pid, p in self.points.items() if old.get(pid) is not p} | (old.keys() - self.points.keys())
        touched = self._index_changed(changed)
        for pid in [pid for dev in touched for pid in self._pids_of.get(dev, ())] + list(changed):
            chain = self.chains.get(pid)
            if chain is None:
                continue
            p, before = self.points.get(pid), old.get(pid)
            dev = self._device_of.get(pid)
            if (
                p is None
                or before is None
                or p.detectors != before.detectors
                or p.ref != before.ref
                or ((dev in gated_before) != (dev in self._gated_devices))
            ):
                del self.chains[pid]  # rebuilt on its next reading (its gates depend on the device too)
        events: list[AlertEvent] = []
        for a in self.orphans():
            events.extend(self.engine.resolve(a.id, actor, note, now))
        gone = {d for d in touched if d not in self._pids_of}
        for dev in gone:
            self.last_seen.pop(dev, None)
            self.offline.discard(dev)
        for dev in touched:
            if dev not in self._gated_devices:
                self.runs.pop(dev, None)
        for pid in changed:
            if pid not in self.nodata:
                self.point_seen.pop(pid, None)
                self.silent_points.discard(pid)
            else:
                self.point_seen.setdefault(pid, now)
        for dev in sorted(touched - gone):
            self.last_seen.setdefault(dev, now)
        return events

    def orphans(self) -> list:
        """Open alerts of points (or devices) not in the point set: retired from the ledger. A
        restored snapshot may hold some when the ledger changed while the runtime was down;
        operations alerts (``_system``) are never orphans."""
        alerts = [a for a in self.engine.open_alerts() if a.enterprise != SYSTEM]
        if not alerts:
            return []
        mine = {a.enterprise for a in alerts}
        refs = {(p.ref.enterprise, p.ref.device, p.ref.point) for p in self.points.values() if p.ref.enterprise in mine}
        devices = {(e, d) for e, d, _ in refs}
        return [
            a
            for a in alerts
            if (
                (a.enterprise, a.device) not in devices
                if a.point == ""
                else (a.enterprise, a.device, a.point) not in refs
            )
        ]

    def build_chains(self) -> int:
        """Build the detectors of every point that has none yet (they are otherwise built on a
        point's first reading, the same objects either way); returns how many were built. At
        start-up, so that the service's ``gc.freeze()`` (``warning.server``) takes them too:
        built later, the bench district's chains and detectors (~97,000 objects for 9,760
        points) sat in the collector's oldest generation, and every full collection walked
        them (pauses of 150-260 ms at 10,000 readings/s in ``bench/dashboard_bench.py``)."""
        missing = [pid for pid in self.points if pid not in self.chains]
        for pid in missing:
            self._build_chain(pid)
        return len(missing)

    def _build_chain(self, pid: int) -> PointChain:
        p = self.points[pid]
        chain = build_point_chain(p.detectors, title=p.title, gated=self._device_of[pid] in self._gated_devices)
        self.chains[pid] = chain
        return chain

    @property
    def running_since(self) -> dict[tuple[str, str], float | None]:
        """Device -> when it last started (None: stopped; absent: never reported)."""
        return {d: r.since for d, r in self.runs.items()}

    def _update_running(self, readings: list[RawReading], events: list[AlertEvent] | None) -> None:
        """Follow the running state of this batch first, so that a stop seen in the same batch
        as the readings it explains already gates them. The verdict of a reading comes from
        the device's ``running`` point (1/0), or from its running signals (running while any
        of them reads at its limit or more). A stop lifts the gated rules' alerts of that
        device: the condition they judged no longer applies (``events`` None: history, no alert
        to lift)."""
        for pid, t, x in readings:
            if pid in self._run_points:
                verdict: bool | None = x >= 0.5
            elif pid in self._signal_points:
                chain = self.chains.get(pid) or self._build_chain(pid)
                assert chain.signal is not None
                chain.signal.running(x)
                states = [s.state for s in self._signal_states(self._device_of[pid])]
                verdict = None if all(v is None for v in states) else any(bool(v) for v in states)
            elif pid in self._load_points:
                chain = self.chains.get(pid) or self._build_chain(pid)
                assert chain.load is not None
                known = self.runs.get(self._device_of[pid])
                chain.load.observe(t, x, known is not None and known.since is not None)
                continue
            else:
                continue
            dev = self._device_of[pid]
            run = self.runs.get(dev)
            if run is None:
                run = self.runs[dev] = RunState()
            if run.observe(t, verdict) is False and events is not None:
                for gpid, chain in self.chains.items():
                    if self._device_of[gpid] != dev or not chain.gated:
                        continue
                    for det, run_up in zip(chain.detectors, chain.run_ups):
                        if run_up is not None:
                            events.extend(
                                self.engine.observe(
                                    self.points[gpid].ref,
                                    Finding(det.rule, None, t, x, "collector stopped: rule paused until it runs again"),
                                )
                            )

    def _signal_states(self, dev: tuple[str, str]):
        for spid in self._signals_of.get(dev, ()):
            c = self.chains.get(spid)
            if c is not None and c.signal is not None:
                yield c.signal

    # -- officers' actions (delegated; kept here so the runtime has one object to feed) ---------
    def acknowledge(self, aid: str, actor: str, note: str | None, at: float) -> list[AlertEvent]:
        return self.engine.acknowledge(aid, actor, note, at)

    def resolve(self, aid: str, actor: str, note: str | None, at: float) -> list[AlertEvent]:
        return self.engine.resolve(aid, actor, note, at)

    def handle(self, aid: str, actor: str, note: str | None, at: float) -> list[AlertEvent]:
        return self.engine.handle(aid, actor, note, at)

    def feedback(
        self,
        aid: str,
        actor: str,
        note: str | None,
        at: float,
        attachments: list[dict] | None = None,
        verdict: str | None = None,
    ) -> list[AlertEvent]:
        return self.engine.feedback(aid, actor, note, at, attachments, verdict)

    # -- state ---------------------------------------------------------------------------------
    # The state splits into SHARDS independent parts by enterprise: an enterprise's detectors,
    # device timers and open alerts move together. A runtime can then checkpoint one shard at
    # a time (a short pause each) instead of the whole pipeline at once.
    def shard_of(self, pid: int) -> int:
        return shard_of(self.points[pid].ref.enterprise)

    def _spec_keys(self, pid: int) -> tuple[str, ...]:
        """The digests of a point's detector specs, kept while its definition is the same
        object (a ledger change replaces the definitions it changes): a snapshot names them
        for every chain, and digesting them anew was a third of a shard's snapshot."""
        p = self.points[pid]
        hit = self._spec_key_cache.get(pid)
        if hit is None or hit[0] is not p:
            hit = self._spec_key_cache[pid] = (p, tuple(spec_key(s) for s in p.detectors))
        return hit[1]

    def _pids_in(self, shard: int) -> list[int]:
        """The points of a shard's enterprises, indexed once per set of points and shard count
        (``reconfigure`` replaces the set, never changes it in place)."""
        held, count, index = self._shard_index
        if held is not self.points or count != SHARDS:
            index = {}
            for pid, p in self.points.items():
                index.setdefault(shard_of(p.ref.enterprise), []).append(pid)
            self._shard_index = (self.points, SHARDS, index)
        return index.get(shard, [])

    def snapshot(self, shard: int | None = None) -> bytes:
        """The state of one shard (or of everything) as bytes."""
        mine = (lambda e: True) if shard is None else (lambda e: shard_of(e) == shard)
        if shard is None:
            chains = dict(self.chains)
        else:  # the shard's own points, not a pass over every chain of the pipeline
            chains = {pid: c for pid in self._pids_in(shard) if (c := self.chains.get(pid)) is not None}
        state = {
            "version": SNAPSHOT_VERSION,
            "shard": shard,
            "shards": SHARDS,
            "chains": chains,
            "keys": {pid: self._spec_keys(pid) for pid in chains},
            "engine": self.engine.snapshot(mine),
            "router": self.router.snapshot(mine),
            "last_seen": {d: t for d, t in self.last_seen.items() if mine(d[0])},
            "offline": {d for d in self.offline if mine(d[0])},
            "point_seen": {p: t for p, t in self.point_seen.items() if mine(self.points[p].ref.enterprise)},
            "silent_points": {p for p in self.silent_points if mine(self.points[p].ref.enterprise)},
            "running_since": {d: r.since for d, r in self.runs.items() if mine(d[0])},
            "runs": {d: r for d, r in self.runs.items() if mine(d[0])},  #: with long stops and held findings
        }
        return pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)

    def restore(self, data: bytes) -> tuple[int | None, int]:
        """Put back a snapshot taken by :meth:`snapshot` (a shard's replaces only that shard).
        Returns (its shard, the shard count it was taken with): a snapshot of another count
        (``SHARDS`` changed) restores the enterprises it holds all the same."""
        state = pickle.loads(data)
        if state.get("version") != SNAPSHOT_VERSION:
            raise ValueError(f"snapshot version {state.get('version')} is not {SNAPSHOT_VERSION}")
        shard = state["shard"]
        count = int(state.get("shards", 16))  # snapshots before the count was recorded: 16
        mine = (lambda e: True) if shard is None else (lambda e: shard_of(e, count) == shard)
        self.chains = {pid: c for pid, c in self.chains.items() if not mine(self.points[pid].ref.enterprise)}
        for pid, chain in state["chains"].items():
            p = self.points.get(pid)
            if p is not None and state["keys"].get(pid) == self._spec_keys(pid):
                self.chains[pid] = chain
        self.engine.restore(state["engine"], mine)
        self.router.restore(state["router"], mine)
        self.last_seen = {d: t for d, t in self.last_seen.items() if not mine(d[0])} | state["last_seen"]
        self.offline = {d for d in self.offline if not mine(d[0])} | state["offline"]
        keep = {p for p in self.point_seen if not mine(self.points[p].ref.enterprise)}
        self.point_seen = {p: t for p, t in self.point_seen.items() if p in keep} | {
            p: t for p, t in state["point_seen"].items() if p in self.nodata
        }
        self.silent_points = {p for p in self.silent_points if p in keep} | {
            p for p in state["silent_points"] if p in self.nodata
        }
        runs = state.get("runs") or {d: RunState(since) for d, since in state.get("running_since", {}).items()}
        self.runs = {d: r for d, r in self.runs.items() if not mine(d[0])} | runs
        return shard, count


def shard_of(enterprise: str, shards: int | None = None) -> int:
    """Stable shard of an enterprise (crc32, not ``hash()``, which changes per process), of
    ``shards`` slices (default: ``SHARDS``, read at each call)."""
    return _shard(enterprise, SHARDS if shards is None else shards)


@functools.lru_cache(maxsize=1 << 16)
def _shard(enterprise: str, shards: int) -> int:
    # cached: a shard's snapshot asks for every alert and timer of the pipeline (~14,000
    # calls a snapshot for the bench's district)
    return zlib.crc32(enterprise.encode()) % shards
