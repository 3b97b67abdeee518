"""A whole simulated site, stepped in time: plant models + faults → telemetry batches.

Why separate from the pusher: the same stepping feeds the HTTP pusher, CSV writers and
tests; here there is no I/O and no clock, so a (site, faults, seed, times) tuple always
gives the same batches.

A batch is what one enterprise sends at one time: a list of
``{"device", "ts" (epoch ms), "values", "id"}`` objects, one per device that is online.
Message ids are ``"<enterprise>/<device>/<ts ms>"``: unique per reading and stable
across reruns, so a resend is recognisable as a duplicate.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator

from simulators.faults import Fault
from simulators.plant import Schedule, derive_seed, make_plant


class SiteModel:
    """Plant models for every device of a parsed site file, and the faults laid on them."""

    def __init__(
        self, site: dict, faults: Iterable[Fault] = (), *, seed: int = 0, schedule: Schedule | None = None
    ) -> None:
        self.devices: list[tuple[str, str]] = []
        self.plants = {}
        for ent in site.get("enterprises", []):
            for dev in ent.get("devices", []):
                key = (ent["id"], dev["id"])
                self.devices.append(key)
                self.plants[key] = make_plant(dev, derive_seed(seed, *key), schedule=schedule)
        self.last_t: dict[tuple[str, str], float] = {}  #: device -> its previous sample time (latching faults)
        # deep copy: a Stuck fault remembers what it saw, and reruns must start clean
        self.faults: dict[tuple[str, str], list[Fault]] = {}
        for fault in sorted(copy.deepcopy(list(faults)), key=lambda f: f.start):
            self.faults.setdefault((fault.enterprise, fault.device), []).append(fault)

    def values(self, key: tuple[str, str], t: float) -> dict[str, float] | None:
        """One device's sensor values at ``t``; None when a fault keeps it silent.
        The model is always stepped, so a fault never shifts its random sequence."""
        values: dict[str, float] = self.plants[key].sample(t)
        prev = self.last_t.get(key)
        self.last_t[key] = t
        for fault in self.faults.get(key, ()):
            if fault.start > t:
                break
            after = fault.apply_since(prev, t, values)
            if after is None:
                return None
            values = after
        return values

    def step(self, t: float) -> list[tuple[str, list[dict]]]:
        """Every enterprise's batch at ``t``; enterprises with no device online are left out."""
        ts = int(round(t * 1000))
        batches: dict[str, list[dict]] = {}
        for key in self.devices:
            eid, did = key
            values = self.values(key, t)
            if values is not None:
                batches.setdefault(eid, []).append(
                    {"device": did, "ts": ts, "values": values, "id": f"{eid}/{did}/{ts}"}
                )
        return list(batches.items())


def iter_batches(
    site: dict,
    faults: Iterable[Fault],
    t0: float,
    t1: float,
    interval: float = 1.0,
    *,
    seed: int = 0,
    schedule: Schedule | None = None,
) -> Iterator[tuple[str, list[dict]]]:
    """Yield ``(enterprise_id, batch)`` for every step ``t0 + k·interval < t1``, in time order."""
    if interval <= 0:
        raise ValueError("interval must be positive")
    model = SiteModel(site, faults, seed=seed, schedule=schedule)
    k = 0
    while (t := t0 + k * interval) < t1:
        yield from model.step(t)
        k += 1
