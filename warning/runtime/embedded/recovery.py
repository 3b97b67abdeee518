"""The embedded runtime's recovery at start-up: restore each shard's checkpoint, re-apply the
officers' actions, replay the batches committed after it, through the same step as the live
run and at the same times (each batch's stored arrival time), so the replay judges and
routes exactly as the run that committed them did."""

from __future__ import annotations

import logging

import asyncpg

from ...model import Reading
from ...pipeline import SHARDS
from ...step import Batch, Command, Effects, Step
from ...store import alerts as alert_store
from ...store import checkpoints
from ...store import readings as reading_store
from .loop import CHECKPOINT

log = logging.getLogger(__name__)


async def recover(step: Step, pool: asyncpg.Pool) -> tuple[Effects, int, set[int]]:
    """Rebuild ``step``'s state; returns (the effects to store, the last batch covered, the
    shards without a checkpoint).

    A shard replays only the batches after its own checkpoint. A shard with no checkpoint
    (first start) starts fresh at the newest batch: history before it is not replayed.
    """
    out = Effects()
    replayed = 0
    pipeline = step.pipeline
    async with pool.acquire() as conn:
        saved = await checkpoints.load_prefix(conn, CHECKPOINT)
        floor = await reading_store.last_batch(conn)
        shard_batch = {}
        for k in range(SHARDS):
            row = saved.get(f"{CHECKPOINT}{k}")
            shard_batch[k] = floor if row is None else row[0]
            if row is not None:
                try:
                    step.restore(row[1])
                except Exception:  # an incompatible snapshot must not keep the service down
                    log.exception("checkpoint of shard %d could not be restored; starting it fresh", k)
        unsaved = {k for k in range(SHARDS) if f"{CHECKPOINT}{k}" not in saved}
        await _reapply_actions(step, conn, out)
        shard_of = {pid: pipeline.shard_of(pid) for pid in pipeline.points}
        last = max(shard_batch.values(), default=0)
        start = min(shard_batch.values(), default=0)
        arrived = await reading_store.arrivals(conn, start)
        async with conn.transaction():
            batch: int | None = None
            readings: list[Reading] = []
            async for r in await reading_store.replay_cursor(conn, start):
                if r["batch"] != batch and readings and batch is not None:
                    replayed += _replay(step, batch, readings, arrived, out)
                    readings = []
                batch = r["batch"]
                pid = r["point_id"]
                if pid in shard_of and batch > shard_batch[shard_of[pid]]:
                    readings.append(Reading(pid, r["ts_ms"] / 1000.0, r["value"]))
            if readings and batch is not None:
                replayed += _replay(step, batch, readings, arrived, out)
            if batch is not None:
                last = max(last, batch)
        # Again after the replay, for alerts raised and signed for since the checkpoint.
        await _reapply_actions(step, conn, out)
    if replayed or out.events:
        log.info("recovered: replayed %d readings after the shards' checkpoints, %d events", replayed, len(out.events))
    return out, last, unsaved


def _replay(step: Step, batch: int, readings: list[Reading], arrived: dict[int, float], out: Effects) -> int:
    # A batch committed before its arrival time was kept (migration 007) is judged at the time
    # of its newest reading, the closest the store knows.
    at = arrived.get(batch, max(r.t for r in readings))
    step.apply(Batch([(None, readings)], at, code=batch), out)
    return len(readings)


async def _reapply_actions(step: Step, conn: asyncpg.Connection, out: Effects) -> None:
    """Officers' actions are input too, but not in the readings log: re-apply the stored ones
    to the restored engine (their event ids are stable, so nothing is doubled)."""
    open_ids = [a.id for a in step.open_alerts()]
    for act in await alert_store.officer_actions(conn, open_ids):
        step.apply(
            Command(
                "recovery",
                act["kind"],
                act["alert_id"],
                act["actor"],
                act["note"],
                act["at"],
                (act["data"] or {}).get("attachments"),
            ),
            out,
        )
    out.replies.clear()  # nobody waits for these answers
