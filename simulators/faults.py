"""Fault injection with ground-truth labels.

A fault is laid over a plant model's output: ``fault.apply(t, values)`` takes the
healthy values of one device at time ``t`` and returns the values its sensors would send
instead. Keeping faults out of the models means the same healthy series can be replayed
with and without a fault, and every fault carries its own label (``label()``: onset,
type, device, points, the severity a correct system deserves to raise, and the hazard
time) for scoring detectors.

Contract of ``apply``:

* pure: a new dict is returned, the input is never modified; outside the fault's window
  (before ``start``, after ``start + duration`` plus any recovery tail) the input comes
  back unchanged;
* ``None`` means the device sends nothing at ``t`` (:class:`Offline`); callers skip it;
* points the device does not have are left alone (a wet collector has no ``dp``).

One exception to purity: :class:`Stuck` without an explicit ``value`` remembers the
first value it sees. :class:`simulators.stepper.SiteModel` deep-copies its faults so
reruns still reproduce.

Fault physics from ../shared/DESIGN.md; the limits below are the defaults in
config/kinds.toml (hopper warn 55 °C / alarm 70 °C, air speed minimum 16 m/s).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

WARN_C, ALARM_C = 55.0, 70.0
AIR_MIN, AIR_NOMINAL = 16.0, 20.0


@dataclass(kw_only=True)
class Fault:
    """One fault on one device of one enterprise, from ``start`` (epoch s) for
    ``duration`` seconds (None: until the end of the run)."""

    enterprise: str
    device: str
    start: float
    duration: float | None = None

    kind: ClassVar[str] = "fault"
    severity: ClassVar[str] = "blue"  #: what a correct system deserves to raise
    points: ClassVar[tuple[str, ...]] = ()
    tail: ClassVar[float] = 0.0  #: seconds of recovery after the end still shaped by the fault

    @property
    def end(self) -> float | None:
        return None if self.duration is None else self.start + self.duration

    def active(self, t: float) -> bool:
        return t >= self.start and (self.end is None or t < self.end)

    def apply(self, t: float, values: dict[str, float]) -> dict[str, float] | None:
        if t < self.start or (self.end is not None and t >= self.end + self.tail):
            return values
        return self._effect(t, dict(values))

    def apply_since(self, prev: float | None, t: float, values: dict[str, float]) -> dict[str, float] | None:
        """``apply`` for a device sampled at ``t`` whose previous sample was at ``prev``
        (None: first sample). Faults whose effect a device latches between samples (a
        spark counter) override it; the rest only look at ``t``."""
        return self.apply(t, values)

    def _effect(self, t: float, v: dict[str, float]) -> dict[str, float] | None:  # pragma: no cover
        raise NotImplementedError

    @staticmethod
    def _set(v: dict[str, float], **points: float) -> dict[str, float]:
        """Force the given points, where the device has them."""
        v.update((p, x) for p, x in points.items() if p in v)
        return v

    def _progress(self, t: float, ramp: float) -> float:
        """0 → 1 over ``ramp`` s from the start, then back 1 → 0 over ``ramp`` s after the end."""
        up = min(1.0, (t - self.start) / ramp) if ramp > 0 else 1.0
        if self.end is not None and t >= self.end:
            up = min(up, max(0.0, 1.0 - (t - self.end) / ramp)) if ramp > 0 else 0.0
        return up

    def affected(self) -> list[str]:
        return list(self.points)

    def deserved(self) -> str:
        return self.severity

    def hazard_time(self) -> float | None:
        """When the plant (not a sensor) becomes dangerous; None for sensor and data faults."""
        return None

    def label(self) -> dict:
        return {
            "type": self.kind,
            "enterprise": self.enterprise,
            "device": self.device,
            "points": self.affected(),
            "onset": self.start,
            "end": self.end,
            "severity": self.deserved(),
            "hazard_time": self.hazard_time(),
        }


@dataclass(kw_only=True)
class Overheat(Fault):
    """Hopper smouldering: a hot pocket heats from ``from_temp`` at ``rate`` °C/min; the
    sensor reads the hotter of the pocket and the gas. Starting from a fixed temperature
    makes the label exact: 70 °C is reached at ``start + (70 - from_temp) / rate`` min.
    After the end (extinguished) the pocket cools with time constant ``cool`` s."""

    rate: float = 2.0
    from_temp: float = 30.0
    cool: float = 120.0
    kind: ClassVar[str] = "overheat"
    points: ClassVar[tuple[str, ...]] = ("hopper_temp",)
    tail: ClassVar[float] = 3600.0

    def pocket(self, t: float) -> float:
        end = self.end
        if end is None or t < end:
            return self.from_temp + self.rate * (t - self.start) / 60.0
        peak = self.from_temp + self.rate * (end - self.start) / 60.0
        return self.from_temp + (peak - self.from_temp) * math.exp(-(t - end) / self.cool)

    def time_at(self, temp: float) -> float | None:
        """When the pocket reaches ``temp`` °C, or None if the fault ends before."""
        when = self.start + max(0.0, temp - self.from_temp) / self.rate * 60.0
        return when if self.end is None or when < self.end else None

    def _effect(self, t, v):
        if "hopper_temp" in v:
            v["hopper_temp"] = round(max(v["hopper_temp"], self.pocket(t)), 2)
        return v

    def deserved(self) -> str:
        if self.time_at(ALARM_C) is not None:
            return "red"
        if self.time_at(WARN_C) is not None:
            return "yellow"
        return "orange" if self.rate > 2.0 else "blue"  # the rate-of-rise limit is 2 °C/min

    def hazard_time(self) -> float | None:
        return self.time_at(ALARM_C)


@dataclass(kw_only=True)
class SparkBurst(Fault):
    """The spark detector counts ``count`` sparks per sample for ``duration`` s; a burst
    shorter than the sampling interval is latched into the next sample (``apply_since``)."""

    duration: float | None = 5.0
    count: float = 3.0
    kind: ClassVar[str] = "spark_burst"
    severity: ClassVar[str] = "orange"
    points: ClassVar[tuple[str, ...]] = ("spark",)

    def _effect(self, t, v):
        return self._set(v, spark=float(self.count))

    def apply_since(self, prev, t, values):
        """A spark detector latches its count until the next report: a burst that began
        and ended between two samples is still reported at the second one."""
        if prev is not None and prev < self.start and self.end is not None and prev < self.end <= t:
            return self._effect(t, dict(values))
        return self.apply(t, values)

    def hazard_time(self) -> float | None:
        return self.start


@dataclass(kw_only=True)
class VentOpen(Fault):
    """The explosion vent opens (a deflagration, or a vent failure): the pressure
    difference collapses, the fan trips, air stops."""

    kind: ClassVar[str] = "vent_open"
    severity: ClassVar[str] = "red"
    points: ClassVar[tuple[str, ...]] = ("vent_open", "dp", "air_speed", "running")

    def _effect(self, t, v):
        return self._set(v, vent_open=1.0, dp=0.0, air_speed=0.0, running=0.0)

    def hazard_time(self) -> float | None:
        return self.start


@dataclass(kw_only=True)
class AirflowLoss(Fault):
    """Duct air speed falls to ``to`` × normal over ``ramp`` s (a damper closing, a fan
    belt slipping); dust settles in the ducts below the minimum. Recovers over ``ramp``."""

    to: float = 0.6
    ramp: float = 60.0
    kind: ClassVar[str] = "airflow_loss"
    severity: ClassVar[str] = "orange"
    points: ClassVar[tuple[str, ...]] = ("air_speed",)

    @property
    def tail(self) -> float:  # type: ignore[override]
        return self.ramp

    def _effect(self, t, v):
        if "air_speed" in v:
            v["air_speed"] = round(v["air_speed"] * (1.0 - (1.0 - self.to) * self._progress(t, self.ramp)), 2)
        return v

    def hazard_time(self) -> float | None:
        """When a nominal 20 m/s would fall below 16 m/s."""
        needed = (1.0 - AIR_MIN / AIR_NOMINAL) / (1.0 - self.to) if self.to < 1.0 else math.inf
        when = self.start + needed * self.ramp
        return when if needed <= 1.0 and (self.end is None or when < self.end) else None


@dataclass(kw_only=True)
class AirlockJam(Fault):
    """The rotary airlock under the hopper jams: its fault flag goes up."""

    kind: ClassVar[str] = "airlock_jam"
    severity: ClassVar[str] = "orange"
    points: ClassVar[tuple[str, ...]] = ("airlock_fault",)

    def _effect(self, t, v):
        return self._set(v, airlock_fault=1.0)


@dataclass(kw_only=True)
class BagBlinding(Fault):
    """Bags clog: the dp baseline rises by ``rise`` (fraction) over ``ramp`` s and the
    air speed sags a little; ends (bags changed) at ``start + duration``."""

    rise: float = 0.4
    ramp: float = 3600.0
    kind: ClassVar[str] = "bag_blinding"
    severity: ClassVar[str] = "yellow"
    points: ClassVar[tuple[str, ...]] = ("dp", "air_speed")

    def _effect(self, t, v):
        frac = min(1.0, (t - self.start) / self.ramp) if self.ramp > 0 else 1.0
        if "dp" in v:
            v["dp"] = round(v["dp"] * (1.0 + self.rise * frac), 1)
        if "air_speed" in v:
            v["air_speed"] = round(v["air_speed"] * (1.0 - 0.25 * self.rise * frac), 2)
        return v


@dataclass(kw_only=True)
class BagBreak(Fault):
    """A bag tears: dp steps down by ``drop`` (fraction); outlet dust, if measured, ×``dust_factor``."""

    drop: float = 0.25
    dust_factor: float = 20.0
    kind: ClassVar[str] = "bag_break"
    severity: ClassVar[str] = "yellow"
    points: ClassVar[tuple[str, ...]] = ("dp",)

    def _effect(self, t, v):
        if "dp" in v:
            v["dp"] = round(v["dp"] * (1.0 - self.drop), 1)
        if "dust" in v:
            v["dust"] = round(v["dust"] * self.dust_factor, 2)
        return v


@dataclass(kw_only=True)
class Spike(Fault):
    """A single-sample sensor spike: ``point`` × ``factor`` for ``width`` s from the start.
    Set ``width`` to the sampling interval so exactly one sample is hit."""

    point: str = "air_speed"
    factor: float = 5.0
    width: float = 1.0
    kind: ClassVar[str] = "spike"
    severity: ClassVar[str] = "blue"

    def __post_init__(self) -> None:
        self.duration = self.width

    def affected(self) -> list[str]:
        return [self.point]

    def _effect(self, t, v):
        if self.point in v:
            v[self.point] = round(v[self.point] * self.factor, 2)
        return v


@dataclass(kw_only=True)
class Stuck(Fault):
    """A frozen sensor: ``point`` reads ``value`` (default: the first value seen after
    the start; the only stateful fault, see the module notes)."""

    point: str = "hopper_temp"
    value: float | None = None
    kind: ClassVar[str] = "stuck"
    severity: ClassVar[str] = "blue"
    _held: float | None = field(default=None, init=False, repr=False, compare=False)

    def affected(self) -> list[str]:
        return [self.point]

    def _effect(self, t, v):
        if self.point in v:
            if self.value is None and self._held is None:
                self._held = v[self.point]
            v[self.point] = self.value if self.value is not None else self._held
        return v


@dataclass(kw_only=True)
class Offline(Fault):
    """The device sends nothing: ``apply`` returns None while active. A correct system
    raises yellow once ``offline_after`` s have passed without data."""

    kind: ClassVar[str] = "offline"
    severity: ClassVar[str] = "yellow"

    def _effect(self, t, v):
        return None  # only called inside [start, end)


@dataclass(kw_only=True)
class Ramp(Fault):
    """Any point moves linearly to ``to`` over ``over`` s and back after the end: for
    wet-collector water loss, hydrogen build-up, inerting failure. ``level`` is the
    severity it deserves (depends on the limits crossed)."""

    point: str = "water_level"
    to: float = 20.0
    over: float = 60.0
    level: str = "yellow"
    kind: ClassVar[str] = "ramp"

    @property
    def tail(self) -> float:  # type: ignore[override]
        return self.over

    def affected(self) -> list[str]:
        return [self.point]

    def deserved(self) -> str:
        return self.level

    def _effect(self, t, v):
        if self.point in v:
            f = self._progress(t, self.over)
            v[self.point] = round(v[self.point] * (1.0 - f) + self.to * f, 2)
        return v


# ---------------------------------------------------------------- added for the scenario library


@dataclass(kw_only=True)
class FanFailure(Fault):
    """The fan trips while the plant produces: its ``fan_fault`` flag goes up (where the
    device has one), ``running`` drops, air speed and dp run down over ``spin_down`` s
    (time constant). Dust keeps coming and settles in the ducts.

    Hazard time: the moment a nominal 20 m/s falls below the 16 m/s minimum (the same
    definition as :class:`AirflowLoss`), ``spin_down · ln(20/16)`` after the start."""

    spin_down: float = 30.0
    kind: ClassVar[str] = "fan_failure"
    severity: ClassVar[str] = "orange"
    points: ClassVar[tuple[str, ...]] = ("fan_fault", "running", "air_speed", "dp")

    def _effect(self, t, v):
        if self.end is not None and t >= self.end:
            return v  # restarted: the plant model's own values again
        keep = math.exp(-(t - self.start) / self.spin_down)
        if "air_speed" in v:
            v["air_speed"] = round(v["air_speed"] * keep, 2)
        if "dp" in v:
            v["dp"] = round(25.0 + (v["dp"] - 25.0) * keep, 1)
        return self._set(v, running=0.0, fan_fault=1.0)

    def hazard_time(self) -> float | None:
        when = self.start + self.spin_down * math.log(AIR_NOMINAL / AIR_MIN)
        return when if self.end is None or when < self.end else None


@dataclass(kw_only=True)
class Drift(Fault):
    """A transmitter drifts: ``point`` reads ``pct_per_day`` % more (or less, if negative)
    per day since the start. A sensor fault: it deserves blue at most."""

    point: str = "dp"
    pct_per_day: float = 3.0
    kind: ClassVar[str] = "drift"
    severity: ClassVar[str] = "blue"

    def affected(self) -> list[str]:
        return [self.point]

    def _effect(self, t, v):
        if self.point in v:
            v[self.point] = round(v[self.point] * (1.0 + self.pct_per_day / 100.0 * (t - self.start) / 86400.0), 2)
        return v


@dataclass(kw_only=True)
class Dropout(Fault):
    """A flaky link: each sample of the device is lost with probability ``p``. The choice
    is a hash of (seed, device, time), so a rerun loses the same samples. A data fault:
    nothing deserves raising unless the gaps add up to ``offline_after``."""

    p: float = 0.3
    seed: int = 0
    kind: ClassVar[str] = "dropout"
    severity: ClassVar[str] = "blue"

    def _effect(self, t, v):
        from simulators.plant import derive_seed  # late: plant imports nothing from here, keep it so

        draw = derive_seed(self.seed, self.enterprise, self.device, round(t * 1000)) / float(1 << 63)
        return None if draw < self.p else v


@dataclass(kw_only=True)
class InertingLoss(Fault):
    """Nitrogen supply fails: O2 climbs from its normal ~5.5 vol % toward ``to`` with time
    constant ``tau`` s. Hazard: O2 reaches ``loc`` (the limiting oxygen concentration, 10
    vol % here, the red level of config/kinds.toml)."""

    to: float = 20.9
    tau: float = 1200.0
    loc: float = 10.0
    start_o2: float = 5.5  #: the model's nominal O2; the label's hazard time assumes it
    kind: ClassVar[str] = "inerting_loss"
    severity: ClassVar[str] = "red"
    points: ClassVar[tuple[str, ...]] = ("o2",)
    tail: ClassVar[float] = 3600.0

    def _frac(self, t: float) -> float:
        upto = t if self.end is None or t < self.end else self.end
        f = 1.0 - math.exp(-(upto - self.start) / self.tau)
        if self.end is not None and t >= self.end:  # restored: back with the same time constant
            f *= math.exp(-(t - self.end) / self.tau)
        return f

    def _effect(self, t, v):
        if "o2" in v:
            v["o2"] = round(v["o2"] + (self.to - self.start_o2) * self._frac(t), 2)
        return v

    def hazard_time(self) -> float | None:
        if self.to <= self.loc:
            return None
        when = self.start - self.tau * math.log(1.0 - (self.loc - self.start_o2) / (self.to - self.start_o2))
        return when if self.end is None or when < self.end else None

    def deserved(self) -> str:
        return "red" if self.hazard_time() is not None else "orange"


@dataclass(kw_only=True)
class WaterLoss(Fault):
    """A wet collector loses water (a leak, a stuck make-up valve): the tank level falls
    linearly by ``rate`` %/min from its normal 60-80 %. Hazard: the level reaches
    ``dry`` % (10 %), where the scrubber stops wetting the dust; the label assumes a start
    at the model's 70 % nominal (the real start is within ±10 %)."""

    rate: float = 1.0
    dry: float = 10.0
    nominal: float = 70.0
    kind: ClassVar[str] = "water_loss"
    severity: ClassVar[str] = "orange"
    points: ClassVar[tuple[str, ...]] = ("water_level",)
    tail: ClassVar[float] = 1800.0

    def _lost(self, t: float) -> float:
        upto = t if self.end is None or t < self.end else self.end
        lost = self.rate * (upto - self.start) / 60.0
        if self.end is not None and t >= self.end:  # refilled at 5 %/min
            lost = max(0.0, lost - 5.0 * (t - self.end) / 60.0)
        return lost

    def _effect(self, t, v):
        if "water_level" in v:
            v["water_level"] = round(max(0.0, v["water_level"] - self._lost(t)), 2)
        return v

    def hazard_time(self) -> float | None:
        when = self.start + (self.nominal - self.dry) / self.rate * 60.0
        return when if self.end is None or when < self.end else None


#: Fault type name (as written in scenario files) -> class.
FAULT_TYPES: dict[str, type[Fault]] = {
    cls.kind: cls
    for cls in (
        Overheat,
        SparkBurst,
        VentOpen,
        AirflowLoss,
        AirlockJam,
        BagBlinding,
        BagBreak,
        Spike,
        Stuck,
        Offline,
        Ramp,
        FanFailure,
        Drift,
        Dropout,
        InertingLoss,
        WaterLoss,
    )
}
#: Faults of a sensor or of the data link, not of the plant: they deserve blue or yellow only.
SENSOR_FAULTS = frozenset({"spike", "stuck", "drift", "dropout", "offline"})
