"""Where each partition of the distributed runtime stands: its snapshot, the offset the
snapshot covers, the offset whose effects are stored, and the epoch that fences old owners."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg


@dataclass(frozen=True, slots=True)
class Claim:
    epoch: int  #: this owner's epoch; writes naming an older one fail
    written: int  #: last offset whose effects are stored (-1: none)
    snap_offset: int  #: last offset the snapshot covers (-1: none)
    state: bytes | None  #: the snapshot


class Fenced(Exception):
    """Another worker has taken the partition since this one claimed it."""

    def __init__(self, partition: int):
        super().__init__(f"partition {partition} was taken over by another worker")
        self.partition = partition


async def claim(conn: asyncpg.Connection, topic: str, partition: int, owner: str) -> Claim:
    """Take a partition: a new epoch, and where the previous owner left it."""
    row = await conn.fetchrow(
        "INSERT INTO partition_state (topic, partition, epoch, owner) VALUES ($1, $2, 1, $3) "
        "ON CONFLICT (topic, partition) DO UPDATE SET epoch = partition_state.epoch + 1, owner = EXCLUDED.owner "
        "RETURNING epoch, written, snap_offset, state",
        topic,
        partition,
        owner,
    )
    return Claim(
        row["epoch"], row["written"], row["snap_offset"], None if row["state"] is None else bytes(row["state"])
    )


async def load(conn: asyncpg.Connection, topic: str, partition: int) -> Claim | None:
    """Where a partition stands, without taking it (a holder reloading its own state)."""
    row = await conn.fetchrow(
        "SELECT epoch, written, snap_offset, state FROM partition_state WHERE topic = $1 AND partition = $2",
        topic,
        partition,
    )
    if row is None:
        return None
    return Claim(
        row["epoch"], row["written"], row["snap_offset"], None if row["state"] is None else bytes(row["state"])
    )


async def advance(
    conn: asyncpg.Connection,
    topic: str,
    partition: int,
    epoch: int,
    written: int,
    snapshot: tuple[int, bytes] | None = None,
) -> None:
    """Record (in the caller's transaction) that effects up to ``written`` are stored, and
    optionally a new snapshot. Raises :class:`Fenced` if the epoch is no longer ours."""
    if snapshot is None:
        done = await conn.execute(
            "UPDATE partition_state SET written = $4 WHERE topic = $1 AND partition = $2 AND epoch = $3",
            topic,
            partition,
            epoch,
            written,
        )
    else:
        done = await conn.execute(
            "UPDATE partition_state SET written = $4, snap_offset = $5, state = $6, saved_at = now() "
            "WHERE topic = $1 AND partition = $2 AND epoch = $3",
            topic,
            partition,
            epoch,
            written,
            *snapshot,
        )
    if done != "UPDATE 1":
        raise Fenced(partition)


async def positions(conn: asyncpg.Connection, topic: str) -> dict[int, tuple[str | None, int]]:
    """partition -> (owner, written offset), for operators and tests."""
    rows = await conn.fetch("SELECT partition, owner, written FROM partition_state WHERE topic = $1", topic)
    return {r["partition"]: (r["owner"], r["written"]) for r in rows}
