"""The demo's fault schedule: every warning colour on screen within two minutes.

Timing. ``start`` is the moment the live demo begins. The pusher first back-fills
``DEMO_BACKFILL`` = 180 s of healthy history (sim time ``start - 180`` to ``start``) as
fast as it can, then runs in real time. Why: the anomaly detectors (blue) need a
120-sample warm-up and the pressure-difference baseline needs a history; with the
back-fill they are warm when the first fault arrives, so a single spike at +40 s
already earns its blue alert. The server must accept readings up to 3 min old.

The opening act (offsets from ``start``; enterprise ids of the generated demo site):

====== ============ ============== ====================================================
 +s     where        fault          what a correct system shows
====== ============ ============== ====================================================
 +10    E011/DC2     Offline 180 s  yellow "no data" at ~+70 (offline_after = 60)
 +15    E003/DC1     Overheat 25/m  orange rate-of-rise, yellow 55 °C at +75, red 70 °C
                                    at +111; extinguished at +165, cools
 +20    E005/DC2     SparkBurst 5 s orange
 +25    E009/DC3     AirflowLoss    air speed 20 → 12 m/s over 60 s: orange at ~+75
 +30    E007/DC1     VentOpen 120 s red (and the fan trip behind it)
 +40    E013/DC1     Spike ×5       blue (air speed anomaly)
 +50    E015/DC2     AirlockJam 90s orange
 +60    E017/DC1     BagBreak 600 s yellow once the smoothed dp is 20 % low (~+5 min)
 +35    first WC1    Ramp level→20  yellow tank level < 30 % at ~+90 (if the site has one)
====== ============ ============== ====================================================

Every opening fault ends, so its alert resolves. Then, every ``every`` seconds (10 min), a new
round of three or four faults hits randomly chosen enterprises, drawn from ``seed``; they
clear within minutes too, except a torn bag, which stays until it is replaced (2 h).
Enterprises are picked by id when present, else by position, so smaller sites work too.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from simulators.faults import (
    AirflowLoss,
    AirlockJam,
    BagBlinding,
    BagBreak,
    Drift,
    Dropout,
    FanFailure,
    Fault,
    Offline,
    Overheat,
    Ramp,
    SparkBurst,
    Spike,
    Stuck,
    VentOpen,
)

DEMO_BACKFILL = 180.0


def _is_bag(device: dict) -> bool:
    return device.get("type", "bag_filter") == "bag_filter"


def _pick(enterprises: Sequence[dict], eid: str, device: str, position: int) -> tuple[str, str]:
    """``eid``/``device`` if the site has them, else the enterprise at ``position``
    (modulo) and its device of that name or its first bag filter."""
    by_id = {e["id"]: e for e in enterprises}
    ent = by_id.get(eid) or enterprises[position % len(enterprises)]
    ids = [d["id"] for d in ent.get("devices", [])]
    bags = [d["id"] for d in ent.get("devices", []) if _is_bag(d)]
    return ent["id"], device if device in ids else (bags or ids)[0]


def opening(enterprises: Sequence[dict], start: float) -> list[Fault]:
    """The first two minutes: all four colours, on different enterprises."""

    def at(eid: str, dev: str, pos: int) -> dict[str, Any]:
        return dict(zip(("enterprise", "device"), _pick(enterprises, eid, dev, pos)))

    faults: list[Fault] = [
        Offline(**at("E011", "DC2", 10), start=start + 10, duration=180),
        Overheat(**at("E003", "DC1", 2), start=start + 15, rate=25.0, from_temp=30.0, duration=150, cool=60.0),
        SparkBurst(**at("E005", "DC2", 4), start=start + 20, duration=5, count=3),
        AirflowLoss(**at("E009", "DC3", 8), start=start + 25, to=0.6, ramp=60, duration=240),
        VentOpen(**at("E007", "DC1", 6), start=start + 30, duration=120),
        Spike(**at("E013", "DC1", 12), start=start + 40, point="air_speed", factor=5.0),
        AirlockJam(**at("E015", "DC2", 14), start=start + 50, duration=90),
        BagBreak(**at("E017", "DC1", 16), start=start + 60, drop=0.25, duration=600),
    ]
    wet = [(e["id"], d["id"]) for e in enterprises for d in e.get("devices", []) if d.get("type") == "wet_collector"]
    if wet:
        eid, did = wet[0]
        low = Ramp(enterprise=eid, device=did, start=start + 35, point="water_level", to=20.0, over=60, duration=180)
        faults.append(low)
    return faults


BAG_REPAIR = 7200.0  #: seconds until a torn bag is replaced


def _random_fault(rng: random.Random, eid: str, dev: str, t: float) -> Fault:
    """One fault of a recurring round; each clears within about ten minutes, except a torn
    bag, which lasts until it is replaced (``BAG_REPAIR``)."""
    at: dict[str, Any] = {"enterprise": eid, "device": dev, "start": t}
    choice = rng.choice(
        ("overheat", "spark", "airflow", "airlock", "vent", "spike", "stuck", "offline", "break", "fan")
    )
    if choice == "overheat":
        return Overheat(**at, rate=rng.uniform(8.0, 15.0), from_temp=30.0, duration=360, cool=90.0)
    if choice == "spark":
        return SparkBurst(**at, duration=rng.uniform(2, 8), count=float(rng.randint(1, 5)))
    if choice == "airflow":
        return AirflowLoss(**at, to=rng.uniform(0.5, 0.7), ramp=60, duration=rng.uniform(120, 300))
    if choice == "airlock":
        return AirlockJam(**at, duration=rng.uniform(60, 240))
    if choice == "vent":
        return VentOpen(**at, duration=rng.uniform(60, 180))
    if choice == "spike":
        return Spike(**at, point="air_speed", factor=rng.uniform(3.0, 10.0))
    if choice == "stuck":
        return Stuck(**at, point=rng.choice(("hopper_temp", "dp")), duration=900)
    if choice == "fan":
        return FanFailure(**at, duration=rng.uniform(60, 240))
    if choice == "offline":
        return Offline(**at, duration=rng.uniform(90, 300))
    # A torn bag does not mend itself: it stays torn until maintenance replaces it, which we
    # take as two hours. (It used to clear after 8 min like the other faults, and one that tore
    # in a start-up's first minutes then ended before the dp baseline is judged at all.)
    return BagBreak(**at, drop=rng.uniform(0.22, 0.3), duration=BAG_REPAIR)


def recurring(
    enterprises: Sequence[dict], start: float, *, every: float = 600.0, horizon: float = 86400.0, seed: int = 7
) -> list[Fault]:
    """A round of 3-4 faults every ``every`` s from ``start + every`` up to ``start + horizon``,
    at random offsets within the first half of each round, on distinct devices."""
    rng = random.Random(seed)
    bags = [(e["id"], d["id"]) for e in enterprises for d in e.get("devices", []) if _is_bag(d)]
    faults: list[Fault] = []
    k = 1
    while bags and k * every < horizon:
        for eid, dev in rng.sample(bags, min(len(bags), rng.randint(3, 4))):
            faults.append(_random_fault(rng, eid, dev, start + k * every + round(rng.uniform(0.0, every / 2))))
        k += 1
    return faults


#: the field's background (docs/risk.md, "district-month-field"): the sensor faults and the slow
#: bag blinding that ../shared/DESIGN.md lists among the fault physics; none is a hazard
NUISANCE = ("stuck", "drift", "dropout", "spike", "blinding")
WEEK = 7 * 86400.0


def _nuisance_fault(rng: random.Random, kind: str, eid: str, dev: str, t: float) -> Fault:
    at: dict[str, Any] = {"enterprise": eid, "device": dev, "start": t}
    if kind == "stuck":  # a frozen transmitter until someone notices: half an hour to four hours
        return Stuck(**at, point=rng.choice(("hopper_temp", "dp")), duration=rng.uniform(1800, 4 * 3600))
    if kind == "drift":  # 1-5 %/day (DESIGN.md), for a shift to a day
        return Drift(**at, point="dp", pct_per_day=rng.uniform(1.0, 5.0), duration=rng.uniform(8, 24) * 3600)
    if kind == "dropout":  # a flaky link for a while
        return Dropout(**at, p=rng.uniform(0.2, 0.5), seed=rng.randrange(1 << 30), duration=rng.uniform(600, 3600))
    if kind == "spike":  # a single-sample spike x3-x10 (DESIGN.md)
        return Spike(**at, point=rng.choice(("air_speed", "dp", "hopper_temp")), factor=rng.uniform(3.0, 10.0))
    # bags blinding over hours (900 -> 1900 Pa at worst, DESIGN.md) until they are cleaned or changed
    return BagBlinding(
        **at, rise=rng.uniform(0.3, 0.8), ramp=rng.uniform(1, 3) * 3600, duration=rng.uniform(4, 8) * 3600
    )


def nuisance(
    enterprises: Sequence[dict],
    start: float,
    *,
    per_device_week: float,
    horizon: float,
    seed: int = 5,
    kinds: Sequence[str] = NUISANCE,
) -> list[Fault]:
    """The background of a district's alarm stream that is nobody's hazard: on every bag filter,
    faults of ``kinds`` at random times (a Poisson process of ``per_device_week``), each kind
    equally likely. The rate is an assumption of the scenario, not a measured figure."""
    rng = random.Random(seed)
    bags = [(e["id"], d["id"]) for e in enterprises for d in e.get("devices", []) if _is_bag(d)]
    out: list[Fault] = []
    if per_device_week <= 0:
        return out
    for eid, dev in bags:
        t = start
        while (t := t + rng.expovariate(per_device_week / WEEK)) < start + horizon:
            out.append(_nuisance_fault(rng, rng.choice(tuple(kinds)), eid, dev, round(t)))
    return out


def demo_faults(
    site_enterprises: Sequence[dict], start: float, *, every: float = 600.0, horizon: float = 86400.0, seed: int = 7
) -> list[Fault]:
    """The whole demo schedule for a parsed site's ``enterprises`` list, sorted by start."""
    if not site_enterprises:
        return []
    faults = opening(site_enterprises, start)
    faults += recurring(site_enterprises, start, every=every, horizon=horizon, seed=seed)
    return sorted(faults, key=lambda f: f.start)
