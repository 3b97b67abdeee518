"""Build detectors from configuration specs (dicts read from TOML).

A spec is ``{"type": "threshold", ...parameters}``; ``id`` (optional) names the rule,
defaulting to the type. Unknown types or parameters fail loudly at start-up.
"""

from __future__ import annotations

import hashlib
import json

from .anomaly import RiverAnomaly
from .base import Detector
from .breakout import Breakout
from .multivariate import HotellingT2
from .rules import BaselineDeviation, Drop, LoadSignal, RateOfChange, RunningSignal, Stuck, Threshold
from .scorers import Drift, HoltError, Likelihood, RobustZ

FACTORIES = {
    "threshold": Threshold,
    "rate": RateOfChange,
    "stuck": Stuck,
    "baseline": BaselineDeviation,
    "drop": Drop,
    "anomaly": RiverAnomaly,
    "breakout": Breakout,
    "hotelling": HotellingT2,
    "robust_z": RobustZ,
    "holt": HoltError,
    "likelihood": Likelihood,
    "drift": Drift,
    "running": RunningSignal,
    "load": LoadSignal,
}


def build(spec: dict, *, title: str = "value") -> Detector:
    """One detector from its spec; raises ValueError naming the bad part."""
    params = dict(spec)
    kind = params.pop("type", None)
    if kind not in FACTORIES:
        raise ValueError(f"unknown detector type {kind!r}; known: {', '.join(sorted(FACTORIES))}")
    rule = params.pop("id", kind)
    try:
        return FACTORIES[kind](rule=rule, title=title, **params)
    except TypeError as exc:
        raise ValueError(f"bad parameters for detector {kind!r}: {exc}") from None


def spec_key(spec: dict) -> str:
    """A stable digest of a spec: snapshots restore a detector only into the same spec."""
    return hashlib.sha1(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:12]


def merge(defaults: list[dict], overrides: dict[str, dict] | None) -> list[dict]:
    """Apply per-site overrides (keyed by detector id or type) onto a kind's default chain."""
    if not overrides:
        return [dict(s) for s in defaults]
    out = []
    for spec in defaults:
        key = spec.get("id", spec["type"])
        merged = dict(spec)
        merged.update(overrides.get(key, {}))
        out.append(merged)
    return out
