"""Run a scenario through the real :class:`warning.pipeline.Pipeline`, in-process, on
simulated time, as fast as the CPU allows.

Why in-process: evaluation must measure the detectors and the alert engine, not HTTP or
PostgreSQL, and a month of a district has to run in a minute. So the plant models are
stepped on the scenario's grid (``start + k·interval``), each step's readings go to
``Pipeline.process(readings, now=t)`` exactly as the runtime would hand them over, and
``Pipeline.tick(t)`` runs the silence timers every ``tick_every`` simulated seconds (at
least a tenth of the site's ``offline_after``: an offline alert comes up to that late).

Sampling plan. With ``background_interval`` set, a device is sampled every
``interval`` only inside its faults' windows (from ``PRE`` s before the onset to
``POST`` s after the end) and every ``background_interval`` elsewhere. The plant models
are exact for any step, so this changes how often the detectors look, not the physics.
What it costs:

* a fault shorter than the sampling interval can fall between samples: inside a fault
  window that is the scenario's fine ``interval``; a fault the plan does not know about
  (none, in a scenario file) would be sampled coarsely;
* the fault-free stretches are judged at the coarse rate, so per-sample detectors
  (anomaly scores, stuck counts) see fewer samples there than a real device sends: the
  false-alarm rate of a real sampling rate comes from a scenario without
  ``background_interval`` (``normal-week.toml``);
* the coarse interval must stay below the site's ``offline_after``, or every device
  would look silent.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

from simulators.scenarios import Scenario
from simulators.stepper import SiteModel
from warning.config import Site, load_kinds, parse_site
from warning.model import AlertEvent
from warning.pipeline import Pipeline

PRE = 300.0  #: fine sampling starts this long before a fault's onset
POST = 900.0  #: and ends this long after its end (and its recovery tail, up to POST more)


@dataclass
class RunResult:
    scenario: Scenario
    events: list[dict]  #: every alert event, as plain dicts (kind, at, enterprise, device, point, rule, severity)
    series: dict[tuple[str, str, str], tuple[list[float], list[float]]] = field(default_factory=dict)
    readings: int = 0
    steps: int = 0
    device_samples: int = 0
    wall: float = 0.0  #: wall-clock seconds of the run (plant stepping + pipeline)
    cpu: float = 0.0  #: CPU seconds of this process for the run (what a busy machine does not steal)


def _event(e: AlertEvent) -> dict:
    a = e.alert
    return {
        "kind": e.kind.value,
        "at": e.at,
        "alert": a.id,
        "enterprise": a.enterprise,
        "device": a.device,
        "point": a.point,
        "rule": a.rule,
        "severity": a.severity.label,
        "level": int(a.severity),
        "message": a.message,
    }


def parsed_site(sc: Scenario, kinds: dict | None = None) -> Site:
    return parse_site(sc.site, kinds if kinds is not None else load_kinds(), source=sc.source or sc.name)


def sample_plan(sc: Scenario) -> Iterator[tuple[float, list[tuple[str, str]] | None]]:
    """``(t, devices)`` in time order; ``devices`` None means every device."""
    fine = sc.interval
    n = int(sc.duration // fine)
    ratio = 1 if not sc.background_interval else max(1, round(sc.background_interval / fine))
    if ratio == 1:
        for k in range(n):
            yield sc.start + k * fine, None
        return
    due: dict[int, list[tuple[str, str]]] = defaultdict(list)
    spans: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
    for f in sc.faults:
        end = sc.end if f.end is None else f.end + min(f.tail, POST) + POST
        a = max(0, math.ceil((f.start - PRE - sc.start) / fine))
        b = min(n - 1, math.floor((end - sc.start) / fine))
        if a <= b:
            spans[(f.enterprise, f.device)].append((a, b))
    for dev, ss in spans.items():
        taken: set[int] = set()
        for a, b in ss:
            taken.update(k for k in range(a, b + 1) if k % ratio)
        for k in taken:
            due[k].append(dev)
    for k in sorted(set(range(0, n, ratio)) | set(due)):
        yield sc.start + k * fine, (None if k % ratio == 0 else due[k])


def run_scenario(
    sc: Scenario,
    *,
    record: set[tuple[str, str, str]] | None = None,
    tick_every: float = 10.0,
    kinds: dict | None = None,
) -> RunResult:
    """Step ``sc`` from start to end through a fresh pipeline; record the series of the
    ``record`` points ((enterprise, device, point)) for plotting."""
    site = parsed_site(sc, kinds)
    # The silence timers need no finer look than a tenth of the silence limit; ticking all
    # devices every fine step of a big site would cost more than the detectors.
    tick_every = max(tick_every, site.offline_after / 10.0)
    pipe = Pipeline(dict(enumerate(site.points)), offline_after=site.offline_after)
    pipe.watch_devices(site.devices(), sc.start)
    model = SiteModel(sc.site, sc.faults, seed=sc.seed, schedule=sc.schedule)
    index = site.point_index()
    by_device: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    for (e, d, p), pid in index.items():
        by_device[(e, d)][p] = pid
    devices = {}
    for key in model.devices:
        pids = by_device.get(key, {})
        rec = {p: (key[0], key[1], p) for p in pids if record and (key[0], key[1], p) in record}
        devices[key] = (key, pids, rec)
    everyone = list(devices.values())
    series: dict = {k: ([], []) for k in (record or ())}
    events: list[dict] = []
    readings_total = samples = steps = 0
    next_tick = sc.start
    values_of, process, tick = model.values, pipe.process, pipe.tick
    t_wall, t_cpu = time.perf_counter(), time.process_time()
    for t, due in sample_plan(sc):
        readings: list[tuple[int, float, float]] = []
        append = readings.append
        for key, pids, rec in everyone if due is None else [devices[d] for d in due]:
            values = values_of(key, t)
            if values is None:
                continue
            for p, x in values.items():
                point_id = pids.get(p)
                if point_id is not None:
                    append((point_id, t, x))
            if rec:
                for p, skey in rec.items():
                    if p in values:
                        ts, xs = series[skey]
                        ts.append(t)
                        xs.append(values[p])
        samples += len(everyone) if due is None else len(due)
        steps += 1
        readings_total += len(readings)
        out = process(readings, t)
        if t >= next_tick:
            out += tick(t)
            next_tick = t + tick_every
        if out:
            events.extend(_event(e) for e in out)
    wall, cpu = time.perf_counter() - t_wall, time.process_time() - t_cpu
    return RunResult(sc, events, series, readings_total, steps, samples, wall, cpu)
