"""Rollup arithmetic (pure numpy): readings and partial summaries reduce the same way.

A summary row is (bucket, n, lo, hi, total, last, last_ts). A reading is the summary
``(bucket, 1, v, v, v, v, ts)``. ``last`` is the value of the greatest ``(ts, value)``, an
order that needs no arrival sequence, so merging summaries in any order gives the same
answer as one pass over the readings. Reducing is associative: a late reading merged into
a stored summary equals the summary recomputed from all readings (``total`` up to float
rounding of the sum's order).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Summary(NamedTuple):
    bucket: np.ndarray  #: int64 bucket keys (minute index, or bucket start ms)
    n: np.ndarray  #: int64
    lo: np.ndarray
    hi: np.ndarray
    total: np.ndarray
    last: np.ndarray
    last_ts: np.ndarray  #: int64 epoch ms


def of_readings(bucket: np.ndarray, ts: np.ndarray, values: np.ndarray) -> Summary:
    v = np.asarray(values, dtype=np.float64)
    return Summary(np.asarray(bucket, np.int64), np.ones(v.size, np.int64), v, v, v, v, np.asarray(ts, np.int64))


def concat(parts: list[Summary]) -> Summary:
    if not parts:
        return empty()
    return Summary(*(np.concatenate([getattr(p, f) for p in parts]) for f in Summary._fields))


def empty() -> Summary:
    z = np.zeros(0, np.int64)
    f = np.zeros(0, np.float64)
    return Summary(z, z, f, f, f, f, z)


def reduce(s: Summary) -> Summary:
    """One row per bucket, buckets ascending."""
    if s.bucket.size == 0:
        return empty()
    order = np.lexsort((s.last, s.last_ts, s.bucket))  # last key sorts first
    b = s.bucket[order]
    starts = np.flatnonzero(np.concatenate(([True], b[1:] != b[:-1])))
    ends = np.concatenate((starts[1:], [b.size])) - 1
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf, NaN readings: IEEE answers
        return Summary(
            b[starts],
            np.add.reduceat(s.n[order], starts),
            np.minimum.reduceat(s.lo[order], starts),
            np.maximum.reduceat(s.hi[order], starts),
            np.add.reduceat(s.total[order], starts),
            s.last[order][ends],
            s.last_ts[order][ends],
        )


def rebucket(s: Summary, bucket: np.ndarray) -> Summary:
    return reduce(s._replace(bucket=np.asarray(bucket, np.int64)))
