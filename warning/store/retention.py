"""Retention: drop whole time partitions past their table's horizon; never delete rows.

A partition is dropped when its last day ends before ``now - keep``. Defaults (per site,
``[retention]`` in the site file): packed raw readings a year, rollups for ever, message
ids 7 days (the de-duplication horizon: a message id repeated later than that is stored
again), dead letters 90 days, group commits' arrival times (``batch_times``) 7 days and
never while a shard's checkpoint is older than a batch in the day (the embedded replay
reads the arrival times of the batches after the checkpoints). A DEFAULT partition is
never dropped.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg

from ..site import Retention
from . import packing, timeparts

Policy = Retention  #: the site's retention, read here


def expired(parts: list[timeparts.Part], now: datetime, policy: Policy) -> list[timeparts.Part]:
    today = now.date()
    out = []
    for p in parts:
        keep = policy.keep_days(p.table)
        if keep is None or p.name.endswith("_default"):
            continue
        if p.hi <= today - timedelta(days=keep):
            out.append(p)
    return out


async def retain(
    conn: asyncpg.Connection, now: datetime, policy: Policy, *, dry_run: bool = False
) -> list[timeparts.Part]:
    """Drop the expired partitions (each ``DROP TABLE`` its own statement: a kill between two
    leaves whole partitions either way). Returns what was (or would be) dropped."""
    gone = expired(await timeparts.parts(conn), now, policy)
    if any(p.table == "batch_times" for p in gone):
        safe = await packing.safe_batch(conn)
        keep = set()
        for p in gone:
            if p.table == "batch_times":
                newest = await conn.fetchval(f"SELECT max(batch) FROM {p.name}")
                if newest is not None and newest > safe:
                    keep.add(p.name)
        gone = [p for p in gone if p.name not in keep]
    if not dry_run:
        for p in gone:
            await timeparts.drop(conn, p)
    return gone
