"""The embedded runtime's recovery at start-up: restore each shard's checkpoint, re-apply the
officers' actions, replay the batches committed after it, through the same step as the live
run and at the same times (each batch's stored arrival time), so the replay judges and
routes exactly as the run that committed them did."""

from __future__ import annotations

import logging

import asyncpg

from ...model import Reading
from ...pipeline import SHARDS
from ...pipeline import shard_of as shard_of_enterprise
from ...step import Batch, Command, Effects, Step
from ...store import alerts as alert_store
from ...store import checkpoints
from ...store import readings as reading_store
from .loop import CHECKPOINT

log = logging.getLogger(__name__)


async def recover(step: Step, pool: asyncpg.Pool) -> tuple[Effects, int, set[int], set[int]]:
    """Rebuild ``step``'s state; returns (the effects to store, the last batch covered, the
    shards to checkpoint at once, the shards with no restored state at all).

    An enterprise replays only the batches after the checkpoint that holds it. An enterprise
    with none (first start, or a restored database without checkpoints) starts at the newest
    batch; its detectors warm from stored history instead (:func:`warning.runtime.warmup.warm`).

    Checkpoints taken with another shard count (``SHARDS`` changed) are re-sharded, not
    discarded: each restores the enterprises it holds (its snapshot names its count), each
    enterprise replays from its own checkpoint's batch, and every shard is checkpointed
    again at once in the new layout (the caller then drops the names past ``SHARDS``).
    """
    out = Effects()
    replayed = 0
    pipeline = step.pipeline
    async with pool.acquire() as conn:
        saved = await checkpoints.load_prefix(conn, CHECKPOINT)
        floor = await reading_store.last_batch(conn)
        enterprises = {p.ref.enterprise for p in pipeline.points.values()}
        covered: dict[str, int] = {}  # enterprise -> batch of the checkpoint its state came from
        counts: set[int] = set()
        for name, (b, data) in sorted(saved.items(), key=lambda kv: kv[1][0]):  # newest coverage last
            try:
                shard, count = step.restore(data)
            except Exception:  # an incompatible snapshot must not keep the service down
                log.exception("checkpoint %s could not be restored; its shard starts fresh", name)
                continue
            counts.add(count)
            for e in enterprises:
                if shard is None or shard_of_enterprise(e, count) == shard:
                    covered[e] = b
        resharded = bool(counts - {SHARDS}) or any(
            not n[len(CHECKPOINT) :].isdigit() or int(n[len(CHECKPOINT) :]) >= SHARDS for n in saved
        )
        if resharded:
            log.warning("checkpoints of %s shard(s) re-sharded to %d", sorted(counts), SHARDS)
        unsaved = set(range(SHARDS)) if resharded else {k for k in range(SHARDS) if f"{CHECKPOINT}{k}" not in saved}
        cold = set(range(SHARDS)) - {shard_of_enterprise(e) for e in covered}
        point_batch = {pid: covered.get(p.ref.enterprise, floor) for pid, p in pipeline.points.items()}
        await _reapply_actions(step, conn, out)
        last = max(point_batch.values(), default=floor)
        start = min(point_batch.values(), default=floor)
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
                if pid in point_batch and batch > point_batch[pid]:
                    readings.append(Reading(pid, r["ts_ms"] / 1000.0, r["value"]))
            if readings and batch is not None:
                replayed += _replay(step, batch, readings, arrived, out)
            if batch is not None:
                last = max(last, batch)
        # Again after the replay, for alerts raised and signed for since the checkpoint.
        await _reapply_actions(step, conn, out)
    if replayed or out.events:
        log.info("recovered: replayed %d readings after the shards' checkpoints, %d events", replayed, len(out.events))
    return out, last, unsaved, cold


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
                (act["data"] or {}).get("verdict"),
            ),
            out,
        )
    out.replies.clear()  # nobody waits for these answers
