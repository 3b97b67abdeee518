"""Plant models: what the sensors of a *healthy* dust-removal system read.

Why models and not recordings: the demo, the tests and detector evaluation need endless,
labelled, reproducible signals. So every model

* owns its random generator, seeded at construction: same seed and same times give the
  same series on any machine;
* never reads a clock: ``sample(t)`` gets the time (epoch seconds) as data. Calls come
  with increasing ``t``; any step works, because the slow parts are exact first-order
  lags and Ornstein-Uhlenbeck processes integrated over the real ``dt``;
* knows only normal operation and the production schedule. Faults are laid on top of
  its output by :mod:`simulators.faults`, which keeps the ground truth separate.

Numbers follow ../shared/DESIGN.md: pressure difference 750-1500 Pa with a pulse-jet
cleaning sawtooth (drops of 100-300 Pa every 1-10 min), hopper temperature ambient +
0-15 °C, duct air speed 18-22 m/s.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Callable

Schedule = Callable[[float], bool]  #: t (epoch s) -> is the plant producing?

DAY = 86400.0


def derive_seed(*parts: object) -> int:
    """A stable seed from parts; Python's ``hash()`` is salted per process, so not used."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def production_on(
    t: float, *, utc_offset_h: float = 8.0, start_h: float = 8.0, end_h: float = 20.0, workdays: int = 5
) -> bool:
    """Day-shift production: on from ``start_h`` to ``end_h`` local time, Monday to the
    ``workdays``-th day; off at night and at weekends. Pass it (or a ``functools.partial``
    of it) as a model's ``schedule``."""
    local = t + utc_offset_h * 3600.0
    weekday = (int(local // DAY) + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    hour = (local % DAY) / 3600.0
    return weekday < workdays and start_h <= hour < end_h


class _Lag:
    """First-order lag toward a target; exact for any step, so sampling rate does not matter."""

    __slots__ = ("tau", "value")

    def __init__(self, tau: float) -> None:
        self.tau = tau
        self.value: float | None = None

    def step(self, target: float, dt: float) -> float:
        if self.value is None:
            self.value = target  # start in steady state, no warm-up transient
        else:
            self.value += (target - self.value) * (1.0 - math.exp(-dt / self.tau))
        return self.value


class _Wander:
    """Zero-mean Ornstein-Uhlenbeck noise (stationary std ``sd``, time constant ``tau``):
    the slow drift real process values have, which white noise alone lacks."""

    __slots__ = ("sd", "tau", "value")

    def __init__(self, sd: float, tau: float, rng: random.Random) -> None:
        self.sd, self.tau = sd, tau
        self.value = rng.gauss(0.0, sd)

    def step(self, dt: float, rng: random.Random) -> float:
        keep = math.exp(-dt / self.tau)
        self.value = self.value * keep + rng.gauss(0.0, self.sd * math.sqrt(1.0 - keep * keep))
        return self.value


class _Clock:
    """Turns successive sample times into steps; a repeated or earlier time is a zero step."""

    __slots__ = ("last",)

    def __init__(self) -> None:
        self.last: float | None = None

    def dt(self, t: float) -> float:
        step = 0.0 if self.last is None else max(0.0, t - self.last)
        self.last = t if self.last is None else max(self.last, t)
        return step


class BagFilter:
    """A pulse-jet bag filter (dry collector) with its fan, airlock, spark detector and vent.

    Points: ``dp`` (Pa), ``hopper_temp`` (°C), ``air_speed`` (m/s), ``airlock_fault``,
    ``running``, ``spark``, ``vent_open``; with ``inerting=True``, ``o2`` (vol %); with
    ``fan_fault=True``, the fan's trip flag ``fan_fault`` (0 when healthy: a scheduled
    stop is ``running = 0`` with no fault flag; a trip raises the flag).
    When the schedule stops the plant, the fan runs down (air speed to ~0, dp to
    0-50 Pa within a few minutes) and the hopper cools to ambient over about an hour.

    ``fan_schedule``: when the collector's fan runs, if not exactly with production
    (``schedule``). Interlocked plants start the collector before the process and stop it
    after (先开后停): the fan purges the ducts for some minutes after production ends. The
    hopper's heat follows production, the fan (air speed, dp, ``running``) this schedule.
    """

    def __init__(
        self,
        seed: int,
        *,
        baseline: float = 1100.0,
        clean_interval: float = 120.0,
        drop: tuple[float, float] = (100.0, 300.0),
        noise: float = 8.0,
        ambient: float = 25.0,
        swing: float = 3.0,
        load: float = 10.0,
        air_speed: float = 20.0,
        inerting: bool = False,
        o2: float = 5.5,
        fan_fault: bool = False,
        schedule: Schedule | None = None,
        utc_offset_h: float = 8.0,
        fan_schedule: Schedule | None = None,
    ) -> None:
        self.seed = seed
        self.fan_schedule = fan_schedule
        self.rng = random.Random(seed)
        self.baseline, self.clean_interval, self.drop, self.noise = baseline, clean_interval, drop, noise
        self.ambient, self.swing, self.load, self.air_speed_nominal = ambient, swing, load, air_speed
        self.inerting, self.o2_nominal, self.fan_fault = inerting, o2, fan_fault
        self.schedule, self.utc_offset_h = schedule, utc_offset_h
        self.phase = self.rng.uniform(0.0, clean_interval)  # cleaning timer's offset
        self._clock = _Clock()
        self._fan = _Lag(30.0)  # 1 running, 0 stopped; fan run-up / run-down
        self._heat = _Lag(1800.0)  # load-driven temperature rise of the hopper
        self._temp_wander = _Wander(0.6, 600.0, self.rng)
        self._air_wander = _Wander(0.3, 300.0, self.rng)
        self._o2_wander = _Wander(0.15, 300.0, self.rng)
        self._cycle: tuple[int, float] = (-1, 0.0)

    def _drop_of(self, cycle: int) -> float:
        """Each cleaning pulse removes its own amount, a function of (seed, cycle) only."""
        if self._cycle[0] != cycle:
            u = derive_seed(self.seed, "clean", cycle) / float(1 << 63)  # uniform [0, 1), no Random() to seed
            self._cycle = (cycle, self.drop[0] + (self.drop[1] - self.drop[0]) * u)
        return self._cycle[1]

    def _sawtooth(self, t: float) -> float:
        """Cake builds up linearly; a pulse knocks it off: mean stays at the baseline."""
        cycles = (t - self.phase) / self.clean_interval
        cycle = math.floor(cycles)
        return self.baseline + self._drop_of(cycle) * (cycles - cycle - 0.5)

    def _ambient(self, t: float) -> float:
        """Daily swing around ``ambient``, warmest at 15:00 local time."""
        hour = ((t + self.utc_offset_h * 3600.0) % DAY) / 3600.0
        return self.ambient + self.swing * math.cos(2.0 * math.pi * (hour - 15.0) / 24.0)

    def sample(self, t: float) -> dict[str, float]:
        dt, g = self._clock.dt(t), self.rng.gauss
        producing = self.schedule is None or self.schedule(t)
        running = producing if self.fan_schedule is None else self.fan_schedule(t)
        fan = self._fan.step(1.0 if running else 0.0, dt)
        heat = self._heat.step(self.load if producing else 0.0, dt)
        temp_w, air_w = self._temp_wander.step(dt, self.rng), self._air_wander.step(dt, self.rng)
        dp = fan * self._sawtooth(t) + (1.0 - fan) * 25.0 + g(0.0, self.noise)
        # + the transmitter's own noise (0.05 m/s), there even when the fan stands still: a
        # real air-speed sensor at rest reads 0.00-0.1 m/s, never a perfectly flat zero
        air = fan * (self.air_speed_nominal + air_w + g(0.0, 0.12)) + g(0.0, 0.05)
        values = {
            "dp": round(max(0.0, dp), 1),
            "hopper_temp": round(self._ambient(t) + heat + temp_w + g(0.0, 0.08), 2),
            "air_speed": round(max(0.0, air), 2),
            "airlock_fault": 0.0,
            "running": 1.0 if running else 0.0,
            "spark": 0.0,
            "vent_open": 0.0,
        }
        if self.fan_fault:
            values["fan_fault"] = 0.0
        if self.inerting:
            values["o2"] = round(self.o2_nominal + self._o2_wander.step(dt, self.rng) + g(0.0, 0.03), 2)
        return values


class WetCollector:
    """A wet collector (scrubber) for aluminium / magnesium dust.

    Points: ``water_level`` (% of tank, 60-80), ``water_flow`` (m³/h, 10-20 when the pump
    runs), ``h2`` (%LEL, 0-2: wet Al/Mg fines give off hydrogen), ``running``.
    """

    def __init__(
        self,
        seed: int,
        *,
        level: float = 70.0,
        flow: float = 15.0,
        h2: float = 0.8,
        schedule: Schedule | None = None,
    ) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.level, self.flow, self.h2 = level, flow, h2
        self.schedule = schedule
        self._clock = _Clock()
        self._pump = _Lag(20.0)
        self._level_wander = _Wander(2.5, 900.0, self.rng)
        self._flow_wander = _Wander(1.2, 300.0, self.rng)
        self._h2_wander = _Wander(0.3, 600.0, self.rng)

    def sample(self, t: float) -> dict[str, float]:
        dt, g = self._clock.dt(t), self.rng.gauss
        running = self.schedule is None or self.schedule(t)
        pump = self._pump.step(1.0 if running else 0.0, dt)
        level = self.level + self._level_wander.step(dt, self.rng) + g(0.0, 0.2)
        flow = pump * (self.flow + self._flow_wander.step(dt, self.rng) + g(0.0, 0.2))
        h2 = self.h2 + self._h2_wander.step(dt, self.rng) + g(0.0, 0.05)
        return {
            "water_level": round(min(80.0, max(60.0, level)), 2),
            "water_flow": round(min(20.0, max(0.0, flow)), 2),
            "h2": round(min(2.0, max(0.0, h2)), 2),
            "running": 1.0 if running else 0.0,
        }


def make_plant(device: dict, seed: int, *, schedule: Schedule | None = None) -> BagFilter | WetCollector:
    """The model for one device of a parsed site file (``[[enterprises.devices]]``).

    The dp baseline comes from the device's ``overrides.dp.baseline.baseline`` so the
    simulated plant and the detector agree; the rest (cleaning interval, load) is drawn
    from ``seed`` so devices differ but reproduce.
    """
    rng = random.Random(derive_seed(seed, "params"))
    if device.get("type") == "wet_collector":
        return WetCollector(seed, level=rng.uniform(65, 75), flow=rng.uniform(13, 17), schedule=schedule)
    baseline = device.get("overrides", {}).get("dp", {}).get("baseline", {}).get("baseline", 1100.0)
    return BagFilter(
        seed,
        baseline=float(baseline),
        clean_interval=rng.uniform(60.0, 600.0),
        load=rng.uniform(5.0, 12.0),
        ambient=rng.uniform(23.0, 27.0),
        inerting="o2" in device.get("points", ()),
        fan_fault="fan_fault" in device.get("points", ()),
        schedule=schedule,
    )
