"""Named anomaly-scoring profiles: the chain ``warning score`` runs over a recorded series.

``default`` is what a new user gets and what the NAB benchmark measures
(``bench/nab_bench.py``). A profile is a detector spec (as in ``config/kinds.toml``)
whose detector offers ``score(t, x)``, ``score_many(ts, xs)`` and ``learn(xs, ts)``.

Sharp edge: the profiles are fixed on purpose (one configuration for every series);
per-site tuning goes through the spec parameters, not new code.
"""

from __future__ import annotations

DEFAULT = {"type": "breakout"}

PROFILES: dict[str, dict] = {
    "default": DEFAULT,
    # fewer, later alerts: must leave the known range by 8 % of its width
    "quiet": {"type": "breakout", "alert": 0.08},
    # more, earlier alerts
    "sensitive": {"type": "breakout", "alert": 0.012, "refractory": 10},
    # the other raw scorers, for comparison (docs/detectors.md has their NAB figures)
    "no_season": {"type": "breakout", "season_bins": 0},
    "robust_z": {"type": "robust_z"},
    "holt": {"type": "holt"},
    "likelihood": {"type": "likelihood", "of": {"type": "robust_z"}},
}


def profile(name: str) -> dict:
    """The spec of a named profile; raises ValueError naming the known ones."""
    try:
        return dict(PROFILES[name])
    except KeyError:
        raise ValueError(f"unknown profile {name!r}; known: {', '.join(sorted(PROFILES))}") from None
