"""Detectors without saved state warm from stored history, in both runtimes (I/O: reads the
store).

A shard of the embedded pipeline without a checkpoint, or a distributed partition without a
snapshot it can restore, would otherwise judge its first hours with empty detectors and take
the first evening's stop of a device without a ``running`` point for a fan trip. Both runtimes
call :func:`warm` before their first live (or caught-up) reading, so what a cold start learns
is the same whichever runtime starts cold.
"""

from __future__ import annotations

import logging

import asyncpg
import numpy as np

from ..pipeline import Pipeline
from ..step import Step
from ..store import history

log = logging.getLogger(__name__)

STOP_STEP_MS = 5 * 60 * 1000  #: one reading per 5 min of a running signal times a stop well within SAME_TIME (30 min)


async def warm(
    step: Step, pool: asyncpg.Pool, shards: set[int], until: float, horizon_s: float, stops_s: float = 0.0
) -> int:
    """Warm the detectors of ``shards`` (the pipeline's own shards, ``Pipeline.shard_of``) from
    the stored history in ``[until - horizon_s, until)`` (``warning.store.history``: raw and
    packed alike), in time order per group of points. Returns readings fed.

    Before that, the devices whose running is inferred learn their usual stop times from the
    ``stops_s`` seconds before it (``Pipeline.warm_running``: their running signals only, the
    last reading of every 5 minutes from the summaries), as a snapshot would have kept them:
    otherwise a cold start takes every stop of its first day for a fan trip.

    ``until`` is exclusive: a runtime that will apply readings from some time on (a
    partition's catch-up) passes the earliest of them, so no reading is fed twice."""
    if not shards or horizon_s <= 0:
        return 0
    pipeline = step.pipeline
    lo, hi = int((until - horizon_s) * 1000), int(until * 1000)
    signals = set(pipeline.running_signals()) if stops_s > horizon_s else set()
    fed = learned = 0
    pids: list[int] = []
    async with pool.acquire() as conn:
        for chunk in by_device(pipeline, shards):
            pids += chunk
            mine = [pid for pid in chunk if pid in signals]
            if mine:  # first their usual stop times, up to where the detectors' warm-up begins
                got = await history.summary(conn, mine, int((until - stops_s) * 1000), lo, STOP_STEP_MS)
                learned += pipeline.warm_running(_last_in_time_order(got, lo))
            fed += pipeline.warm(_in_time_order(await history.raw(conn, chunk, lo, hi)))
    if learned:
        log.info("learned the running state of the devices from %d stored summaries of their signals", learned)
    if fed:
        log.info(
            "warmed the detectors of %d point(s) from %d stored reading(s) of the last %.0f s",
            len(pids),
            fed,
            horizon_s,
        )
    return fed


def by_device(pipeline: Pipeline, shards: set[int], size: int = 500):
    """The point ids of ``shards`` in groups of about ``size``, a device's points always in one
    group: its running state follows them all in time order."""
    of: dict[tuple[str, str], list[int]] = {}
    for pid in sorted(pipeline.points):
        if pipeline.shard_of(pid) in shards:
            ref = pipeline.points[pid].ref
            of.setdefault((ref.enterprise, ref.device), []).append(pid)
    chunk: list[int] = []
    for dev in sorted(of):
        chunk += of[dev]
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _last_in_time_order(got: dict, before_ms: int):
    """(point, t, value) of each summary bucket's last reading (a real reading at its own time),
    those before ``before_ms`` (where the raw warm-up takes over), in time order."""
    return _in_time_order(
        {pid: (s.last_ts[s.last_ts < before_ms], s.last[s.last_ts < before_ms]) for pid, s in got.items()}
    )


def _in_time_order(got: dict[int, tuple[np.ndarray, np.ndarray]]):
    parts = [(pid, s) for pid, s in got.items() if s[0].size]
    if not parts:
        return
    ts = np.concatenate([s[0] for _, s in parts])
    val = np.concatenate([s[1] for _, s in parts])
    who = np.concatenate([np.full(s[0].size, pid, np.int64) for pid, s in parts])
    order = np.argsort(ts, kind="stable")
    yield from zip(who[order].tolist(), (ts[order] / 1000.0).tolist(), val[order].tolist(), strict=True)
