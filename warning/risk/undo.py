"""Undo marks for part of a dict: the entries one decision may touch, put back exactly.

The risk service takes a mark before every decision and puts it back when the decision's
rows did not commit (warning.runtime.risk). A mark of the whole model and loop costs their
whole size (10 ms at 2,000 open alarms, bench/risk_mark_bench.py); a decision for a few enterprises needs only theirs.
These two helpers are what the model's and the loop's partial snapshots share: which
entries to hold, and how to put them back so that the dict is the same as before, its
order included (a tick walks the dicts in order, and the order of its events follows).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


def hold(d: dict[K, V], keys: Iterable[K]) -> tuple[tuple[K, ...], dict[K, V]]:
    """The dict's key order and its entries under ``keys`` (a key not in it: nothing held, so
    putting back removes what the decision added under it). The values are held as they are:
    the caller copies mutable ones."""
    return tuple(d), {k: d[k] for k in keys if k in d}


def put_back(d: dict[K, V], order: tuple[K, ...], held: dict[K, V], scope: Iterable[K]) -> dict[K, V]:
    """``d`` as it was at :func:`hold` under ``scope``: every key the decision may have added,
    changed or removed (the caller vouches that it left the others alone). An entry added since
    goes, a held one goes back. Returns ``d`` itself, or a new dict in the old order when an
    entry removed since went back (it would otherwise sit at the end)."""
    for k in list(scope):
        if k not in held:
            d.pop(k, None)
    moved = False
    for k, v in held.items():
        if k not in d:
            moved = True
        d[k] = v
    if not moved:
        return d
    out = {k: d[k] for k in order if k in d}
    out.update((k, v) for k, v in d.items() if k not in out)  # none if the scope was right; kept, not lost
    return out
