"""Scenario files (``config/scenarios/*.toml``): a site, a time span and faults, as data.

Why files: an engineer adds a case to the library without writing Python, and the same
file drives ``warning evaluate`` (in-process, simulated time), ``warning simulate``
(through the real API) and ``warning simulate --csv`` (a recording).

Format (every key but ``[[faults]]`` has a default)::

    [scenario]
    name = "overheat-slow"           # default: the file's stem
    description = "..."
    seed = 1                         # plant noise; same seed, same run
    start = "2026-06-01T08:00:00+08:00"   # or epoch seconds; no zone: read in `timezone`; default Monday 2026-06-01 00:00 +08:00
    timezone = "Asia/Shanghai"            # zone of a start written without one (warning.times)
    duration = "6h"                  # seconds, or a number with s/m/h/d
    interval = 5                     # seconds between samples of every device
    background_interval = 600        # optional: sample devices this coarsely outside fault
                                     # windows (evaluation only; see simulators/run.py)
    schedule = "day_shift"           # or "always" (a plant that never stops)

    [site]                           # a generated district (simulators/site.py) ...
    enterprises = 2
    collectors = 3
    seed = 1
    inerting = ["E001"]              # bag filters of these enterprises get an O2 point
    # file = "config/demo/site.toml" # ... or an existing site file (then no tokens)

    [[faults]]                       # any class in simulators.faults.FAULT_TYPES
    type = "overheat"
    enterprise = "E001"              # default: the first enterprise with a device that has its points
    device = "DC1"                   # default: its first device that has the fault's points
    at = "2h"                        # offset from start
    duration = "40m"                 # optional; other keys go to the fault (rate, from_temp, ...)

    [recurring]                      # optional: random demo-style faults (simulators/scenario.py)
    every = "1h"
    seed = 7
    production_only = true           # with a day_shift schedule: only faults in working hours

    [nuisance]                       # optional: the field's background, no hazard (scenario.nuisance)
    per_device_week = 1.0            # faults per bag filter per week (an assumption)
    kinds = ["stuck", "drift", "dropout", "spike", "blinding"]
    seed = 5

Sharp edge: ``at``/``duration`` are offsets and lengths; the fault classes take absolute
epoch seconds, converted here.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path

from simulators.faults import FAULT_TYPES, Fault
from simulators.plant import Schedule, production_on
from simulators.scenario import NUISANCE, nuisance, recurring
from simulators.site import basemap_path, generate_site, resolve_map
from warning import times
from warning.times import DEFAULT_TIMEZONE

RUN_UP = 300.0  #: s after a shift starts: the fan (time constant 30 s, simulators/plant.py) is at nominal speed
DEFAULT_START = 1_780_243_200.0  # Monday 2026-06-01 00:00 +08:00 (2026-05-31 16:00 UTC)
_UNITS = {"s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
_TIME_KEYS = {"duration", "ramp", "over", "width", "tau", "spin_down", "cool"}


class ScenarioError(ValueError):
    pass


def seconds(value, what: str = "time") -> float:
    """``90``, ``"90s"``, ``"30m"``, ``"1h30m"``, ``"7d"`` -> seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    text = str(value).replace(" ", "")
    parts = re.findall(r"([0-9]*\.?[0-9]+)(min|s|m|h|d)?", text)
    if not text or "".join(n + u for n, u in parts) != text or any(not u for _, u in parts[:-1]):
        raise ScenarioError(f"{what}: {value!r} is not a duration (use seconds or 30m, 1h30m, 7d)")
    return sum(float(n) * _UNITS[u or "s"] for n, u in parts)


def epoch(value, zone_name: str = DEFAULT_TIMEZONE) -> float:
    """A scenario's ``start``: epoch seconds, a TOML date-time or ISO-8601 text; one without a
    zone is read in ``zone_name`` (the scenario's ``timezone``, default Asia/Shanghai)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, datetime):
        value = value.isoformat()  # a TOML local date-time has no zone: the one rule below
    try:
        return times.parse_iso(str(value), zone_name=zone_name)
    except times.TimeError as exc:
        raise ScenarioError(f"start: {exc}") from None


@dataclass
class Scenario:
    name: str
    site: dict  #: the parsed site TOML (``enterprises`` with ``devices``)
    faults: list[Fault]
    start: float
    duration: float
    interval: float
    seed: int = 0
    background_interval: float | None = None  #: coarse sampling away from faults (evaluation only)
    schedule: Schedule | None = None
    schedule_name: str = "always"
    description: str = ""
    tokens: dict[str, str] = field(default_factory=dict)  #: plaintext tokens of a generated site
    site_seed: int = 1  #: the generated site's seed (its users' demo secrets derive from it)
    source: str = ""

    @property
    def end(self) -> float:
        return self.start + self.duration

    def enterprise_ids(self) -> list[str]:
        return [e["id"] for e in self.site.get("enterprises", [])]


def _site(spec: dict, base: Path) -> tuple[dict, dict[str, str]]:
    if "file" in spec:
        path = Path(spec["file"])
        if not path.is_absolute() and not path.exists():
            path = base / path
        with open(path, "rb") as fh:
            return resolve_map(tomllib.load(fh), path.parent), {}
    n, k, seed = int(spec.get("enterprises", 1)), int(spec.get("collectors", 3)), int(spec.get("seed", 1))
    text, tokens = generate_site(n, k, seed)
    site = resolve_map(tomllib.loads(text), basemap_path().parent)
    site.setdefault("site", {})["offline_after"] = float(spec.get("offline_after", 300))
    inerting = set(spec.get("inerting", ()))
    for ent in site["enterprises"]:
        if ent["id"] in inerting:
            for dev in ent["devices"]:
                if dev.get("type") == "bag_filter" and "o2" not in dev["points"]:
                    dev["points"].append("o2")
    return site, tokens


def _device_for(site: dict, cls: type[Fault], spec: dict, where: str) -> tuple[str, str]:
    ents = {e["id"]: e for e in site.get("enterprises", [])}
    if not ents:
        raise ScenarioError(f"{where}: the site has no enterprises")
    wanted = set(getattr(cls, "points", ()) or ()) | ({spec["point"]} if "point" in spec else set())
    if "enterprise" not in spec:  # the first enterprise with a device that has the fault's points
        eid = next(
            (e for e, ent in ents.items() for d in ent.get("devices", []) if wanted & set(d.get("points", ()))),
            next(iter(ents)),
        )
    else:
        eid = spec["enterprise"]
    if eid not in ents:
        raise ScenarioError(f"{where}: unknown enterprise {eid!r}")
    devices = ents[eid].get("devices", [])
    if "device" in spec:
        if spec["device"] not in {d["id"] for d in devices}:
            raise ScenarioError(f"{where}: {eid} has no device {spec['device']!r}")
        return eid, spec["device"]
    for dev in devices:
        if wanted & set(dev.get("points", ())):
            return eid, dev["id"]
    if not devices:
        raise ScenarioError(f"{where}: {eid} has no devices")
    return eid, devices[0]["id"]


def _fault(site: dict, spec: dict, start: float, seed: int, where: str) -> Fault:
    spec = dict(spec)
    kind = spec.pop("type", None)
    cls = FAULT_TYPES.get(kind)
    if cls is None:
        raise ScenarioError(f"{where}: unknown fault type {kind!r}; known: {', '.join(sorted(FAULT_TYPES))}")
    eid, did = _device_for(site, cls, spec, where)
    spec.pop("enterprise", None)
    spec.pop("device", None)
    at = seconds(spec.pop("at", 0), f"{where}.at")
    params = {k: (seconds(v, f"{where}.{k}") if k in _TIME_KEYS else v) for k, v in spec.items()}
    if kind == "dropout":
        params.setdefault("seed", seed)
    try:
        return cls(enterprise=eid, device=did, start=start + at, **params)
    except TypeError as exc:
        raise ScenarioError(f"{where}: bad parameters for {kind}: {exc}") from None


def load_scenario(path: str | Path) -> Scenario:
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ScenarioError(f"{path}: {exc}") from None
    return parse_scenario(raw, name=path.stem, base=path.parent, source=str(path))


def parse_scenario(raw: dict, *, name: str = "scenario", base: Path = Path("."), source: str = "") -> Scenario:
    head = raw.get("scenario", {})
    seed = int(head.get("seed", 0))
    start = epoch(head.get("start", DEFAULT_START), str(head.get("timezone", DEFAULT_TIMEZONE)))
    duration = seconds(head.get("duration", "1h"), "duration")
    interval = seconds(head.get("interval", 5), "interval")
    if duration <= 0 or interval <= 0:
        raise ScenarioError(f"{source or name}: duration and interval must be positive")
    background = head.get("background_interval")
    background = None if background is None else seconds(background, "background_interval")
    ratio = None if background is None else background / interval
    if ratio is not None and (ratio < 1 or abs(ratio - round(ratio)) > 1e-9):
        raise ScenarioError(f"{source or name}: background_interval must be a multiple of interval")
    sched_name = head.get("schedule", "day_shift")
    if sched_name == "day_shift":
        opts = {k: head[k] for k in ("start_h", "end_h", "workdays", "utc_offset_h") if k in head}
        schedule: Schedule | None = partial(production_on, **opts)
    elif sched_name == "always":
        schedule = None
    else:
        raise ScenarioError(f"{source or name}: schedule must be 'day_shift' or 'always', not {sched_name!r}")
    site, tokens = _site(raw.get("site", {}), base)
    where = source or name
    faults = [_fault(site, f, start, seed, f"{where}: faults[{i}]") for i, f in enumerate(raw.get("faults", []))]
    if "recurring" in raw:
        rec = raw["recurring"]
        drawn = recurring(
            site["enterprises"],
            start,
            every=seconds(rec.get("every", "1h"), "recurring.every"),
            horizon=duration,
            seed=int(rec.get("seed", 7)),
        )
        if schedule is not None and rec.get("production_only", True):
            # process faults of a stopped plant show nothing (no sparks, no air to lose): keep
            # the faults that start in production at least 30 min before the shift ends, and
            # once the fan has run up (RUN_UP): the labels' hazard times assume a plant at its
            # nominal air speed, which a fan 11 s into its run-up is not (it is below the
            # 16 m/s minimum anyway)
            drawn = [
                f for f in drawn if schedule(f.start - RUN_UP) and schedule(f.start) and schedule(f.start + 1800.0)
            ]
        faults += drawn
    if "nuisance" in raw:
        nz = raw["nuisance"]
        kinds = nz.get("kinds", list(NUISANCE))
        if not kinds or any(k not in NUISANCE for k in kinds):
            raise ScenarioError(f"{where}: nuisance.kinds: some of {', '.join(NUISANCE)}")
        drawn = nuisance(
            site["enterprises"],
            start,
            per_device_week=float(nz.get("per_device_week", 1.0)),
            horizon=duration,
            seed=int(nz.get("seed", 5)),
            kinds=kinds,
        )
        if schedule is not None and nz.get("production_only", True):  # as the rounds: a running plant
            drawn = [f for f in drawn if schedule(f.start - RUN_UP) and schedule(f.start)]
        faults += drawn
    faults.sort(key=lambda f: f.start)
    return Scenario(
        name=head.get("name", name),
        site=site,
        faults=faults,
        start=start,
        duration=duration,
        interval=interval,
        seed=seed,
        background_interval=background,
        schedule=schedule,
        schedule_name=sched_name,
        description=head.get("description", ""),
        tokens=tokens,
        site_seed=int(raw.get("site", {}).get("seed", 1)),
        source=source,
    )
