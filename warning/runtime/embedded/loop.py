"""The embedded runtime's worker loop: one input at a time from the inbox through the step,
then its effects to the store (alert events and outbox rows in one transaction), the
dashboard and the caller; and the pipeline's checkpoints, one shard at a time.

* An outage of the store is waited out (the events derive from committed input and must not
  be lost); while it lasts ``/readyz`` says so.
* A refusal is not retried for ever: the events are stored one by one, the ones the store
  refuses are kept in ``dead_letters`` with the reason, an operations alert
  (``_system/store/alert-events``) is raised, and the loop moves on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence

import asyncpg
import orjson

from ...model import AlertEvent, Severity
from ...pipeline import SHARDS
from ...policy.router import Notification
from ...step import Batch, Command, Effects, Input, PointsChange, Poison, Step, SystemFinding, Tick, reply
from ...store import alerts as alert_store
from ...store import checkpoints
from ...store import dead_letters as dead_letter_store
from ...store import notifications as notify_store
from ..errors import DB_ERRORS, is_outage, reason

log = logging.getLogger(__name__)
CHECKPOINT = "pipeline/"  # + shard number


class Loop:
    def __init__(
        self,
        step: Step,
        pool: asyncpg.Pool,
        *,
        metrics,
        hub,
        outbox_wake: asyncio.Event,
        pipeline_batches: int,
        checkpoint_interval: float,
        clock: Callable[[], float],
    ):
        self.step = step
        self.pool = pool
        self.metrics = metrics
        self.hub = hub
        self.outbox_wake = outbox_wake
        self.checkpoint_interval = checkpoint_interval
        self.clock = clock
        self.inbox: asyncio.Queue[Input] = asyncio.Queue()
        self.room = asyncio.Semaphore(pipeline_batches)  #: bounds batches in the inbox
        self.queued_batches = 0  #: committed batches waiting for the pipeline
        self.tick_queued = False
        self.waiting: dict[str, asyncio.Future] = {}  #: command id -> its caller
        self.last_batch = 0  #: last batch whose effects are stored
        self.unsaved: set[int] = set()  #: shards without a checkpoint yet
        self._last_checkpoint = 0.0
        self._next_shard = 0
        self._saving: asyncio.Task | None = None  #: the checkpoint being written, if any
        self._idle: asyncio.Timeout | None = None  #: the worker's wait for inputs, while it waits
        self.done_at = clock()  #: when the last input was completed
        self.retrying_since: float | None = None  #: the store has been away since (events waiting)
        self.refused = 0  #: alert events the store refused (dead-lettered)

    # -- inputs --------------------------------------------------------------------------------
    async def deliver(self, batch: Batch) -> None:
        """A committed batch for the pipeline: waits while the inbox holds enough of them."""
        await self.room.acquire()
        self.inbox.put_nowait(batch)
        self.queued_batches += 1
        self.metrics.queue_depth.labels("pipeline").set(self.queued_batches)

    async def command(self, c: Command | PointsChange) -> dict:
        """Apply a command (or a change of the point set) in order with the readings; returns its
        reply once the effects are stored."""
        fut = asyncio.get_running_loop().create_future()
        self.waiting[c.id] = fut
        self.inbox.put_nowait(c)
        try:
            return await fut
        finally:
            self.waiting.pop(c.id, None)

    async def ticker(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            if not self.tick_queued:
                self.tick_queued = True
                self.inbox.put_nowait(Tick(self.clock()))

    # -- the loop ------------------------------------------------------------------------------
    async def run(self) -> None:
        while True:
            try:
                # The worker wakes itself when the next shard's checkpoint is due (or a write
                # ends, see _saved), so an idle pipeline (ticks only, 4 a second) still saves
                # every shard once per interval, whatever the shard count.
                async with asyncio.timeout(self._until_due()) as self._idle:
                    item = await self.inbox.get()
            except TimeoutError:  # nothing came (Queue.get keeps an item it is cancelled with)
                self._checkpoint_if_due()
                continue
            finally:
                self._idle = None
            try:
                await self.handle(item)
            except Exception:  # the worker must survive anything one item does
                log.exception("pipeline worker failed on %s", type(item).__name__)
            finally:
                self.inbox.task_done()
                self.done_at = self.clock()
            self._checkpoint_if_due()
            # Yield after every input. Queue.get() does not when the inbox holds more, and an
            # input whose effects need no write awaits nothing, so the worker would run batch
            # after batch in one go while the feed's senders it has just woken (and the HTTP
            # requests) wait: traced at 10,000 readings/s, an alert's first send to a
            # dashboard came 3.6 ms after it was published (p50; 24 ms p99).
            await asyncio.sleep(0)

    def _until_due(self) -> float | None:
        """Seconds until the next shard's checkpoint is due; None while one is being written
        (the worker then waits for inputs alone: the ticker sends one every tick)."""
        if self._saving is not None and not self._saving.done():
            return None
        return max(0.0, self._last_checkpoint + self.checkpoint_interval / SHARDS - self.clock())

    def _checkpoint_if_due(self) -> None:
        if self._until_due() == 0.0:  # due, and no write in progress
            # The shard's state is taken here, in order with the inputs; writing it (tens
            # of ms for a big shard) runs beside the next inputs instead of in front of
            # them, one write at a time, so an alert never waits for a checkpoint's write.
            self._saving = asyncio.create_task(self._save(*self._take()))
            self._saving.add_done_callback(self._saved)

    def _saved(self, _: asyncio.Task) -> None:
        """A checkpoint's write ended: a worker waiting for inputs looks again at what is due."""
        if self._idle is not None:
            self._idle.reschedule(asyncio.get_running_loop().time())

    async def handle(self, item: Input) -> None:
        if isinstance(item, Batch):
            self.room.release()
            self.queued_batches -= 1
        elif isinstance(item, Tick):
            self.tick_queued = False
        try:
            out = self.step.apply(item)
        except Exception as exc:  # a poison input (a bug it meets): keep it, say so, go on
            log.exception("the pipeline failed on a %s; kept in dead_letters", type(item).__name__)
            why = reason(exc)
            out = Effects(
                poison=[Poison("pipeline", type(item).__name__, _bytes(repr(item)), why)],
                ops=[
                    SystemFinding(
                        "pipeline",
                        type(item).__name__.lower(),
                        "poison",
                        Severity.ORANGE,
                        1.0,
                        f"an input the pipeline failed on was kept in dead_letters: {why}",
                        self.clock(),
                    )
                ],
            )
            if isinstance(item, Command):
                out.replies.append(reply(item.id, error=f"the pipeline failed on this action: {why}", invalid=True))
        for f in list(out.ops):  # this process holds _system too: raise them here
            self.step.apply(f, out)
        refused = await self.record(out)
        if isinstance(item, Batch):
            self.last_batch = item.code
            self.metrics.readings_processed.inc(out.readings)
            self.metrics.pipeline_lag.set(self.clock() - item.at)
        for r in out.replies:
            fut = self.waiting.get(r["reply"])
            if fut is None or fut.done():
                continue
            if r["ok"] and refused:
                r = {**r, "ok": False, "error": f"the store refused this action: {refused}", "invalid": True}
            fut.set_result(r)

    async def record(self, out: Effects) -> str | None:
        """Store the effects, then tell the dashboard. Waits out an outage; returns the store's
        reason if it refused some of the events (those are dead-lettered)."""
        if not out.events and not out.notifications and not out.poison and not out.dead_letters:
            return None
        try:
            new = await self._store(out.events, out.notifications, out.poison, out.dead_letters)
            refused = None
        except _Refused as exc:
            new, refused = await self._isolate(out, exc.why)
        if out.notifications:
            self.outbox_wake.set()
        if new:
            self._published(new)
        return refused

    async def _store(
        self,
        events: Sequence[AlertEvent],
        notifications: Sequence[Notification],
        poison: Sequence[Poison] = (),
        dead: Sequence[int] = (),
    ) -> list[AlertEvent]:
        delay = 0.5
        while True:
            try:
                async with self.pool.acquire() as conn, conn.transaction():
                    new = await alert_store.record(conn, events, notifications)
                    for p in poison:
                        await dead_letter_store.add(conn, p.source, p.topic, p.payload, p.reason)
                    if dead:
                        await notify_store.mark_dead_alerted(conn, list(dead))
                self.retrying_since = None
                return new
            except Exception as exc:  # noqa: BLE001 - anything but an outage is a refusal of these rows
                if not is_outage(exc):
                    raise _Refused(reason(exc)) from exc
                if self.retrying_since is None:
                    self.retrying_since = self.clock()
                log.error("storing %d alert events failed (%s); retrying in %.1f s", len(events), exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def _isolate(self, out: Effects, why: str) -> tuple[list[AlertEvent], str]:
        """The store refused the effects together: store each event (with the notifications
        about it alone), dead-letter what it still refuses, raise one operations alert."""
        log.error("the store refused %d alert events (%s): storing them one by one", len(out.events), why)
        new: list[AlertEvent] = []
        kept: list[Poison] = list(out.poison)
        alone = {e.id: [n for n in out.notifications if {i for i, _ in n.items} == {e.id}] for e in out.events}
        rest = [n for n in out.notifications if not any(n in ns for ns in alone.values())]
        for e in out.events:
            try:
                new += await self._store([e], alone[e.id])
            except _Refused as exc:
                kept.append(Poison("pipeline", f"alert-event {e.id}", _bytes(e.to_json()), exc.why))
        for n in rest:
            try:
                await self._store([], [n])
            except _Refused as exc:
                kept.append(Poison("pipeline", f"notification {n.id}", _bytes(n.payload), exc.why))
        refused = [p for p in kept if p not in out.poison]
        self.refused += len(refused)
        finding = SystemFinding(
            "store",
            "alert-events",
            "poison",
            Severity.ORANGE,
            float(len(refused)),
            f"{len(refused)} alert events or notifications refused by the store and kept in dead_letters: {why}",
            self.clock(),
        )  # found now (the events' own time may be the poison)
        ops = self.step.apply(finding)
        try:
            new += await self._store(ops.events, ops.notifications, kept, out.dead_letters)
        except _Refused as exc:  # not even the report could be stored: keep what we can, say so
            log.error("could not store the operations alert about refused events: %s", exc.why)
            try:
                await self._store([], [], kept, out.dead_letters)
            except _Refused:
                log.error("could not keep the refused events in dead_letters either")
        return new, why

    def _published(self, new: list[AlertEvent]) -> None:
        # the screens first: the counts walk every open alert (thousands, while they wait to be signed)
        self.hub.publish([e.to_json() for e in new])
        for e in new:
            self.metrics.alerts.labels(e.kind.value, e.alert.severity.label).inc()
        counts = {s.label: 0 for s in Severity}
        for a in self.step.open_alerts():
            counts[a.severity.label] += 1
        for sev, n in counts.items():
            self.metrics.alerts_open.labels(sev).set(n)

    # -- checkpoints ---------------------------------------------------------------------------
    async def checkpoint(self, shard: int | None = None) -> None:
        """Save one shard (the next in turn by default): a short pause, not a whole-state one.
        Waits for a write the worker started first, so an older state never lands last."""
        await self.settle()
        await self._save(*self._take(shard))

    async def settle(self) -> None:
        """Wait for the checkpoint write in progress, if any."""
        if self._saving is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await self._saving
            self._saving = None

    def _take(self, shard: int | None = None) -> tuple[int, int, bytes]:
        """(shard, the last batch it covers, its state), taken together, between two inputs."""
        self._last_checkpoint = self.clock()
        if shard is None:
            shard, self._next_shard = self._next_shard, (self._next_shard + 1) % SHARDS
        return shard, self.last_batch, self.step.snapshot(shard)

    async def _save(self, shard: int, batch: int, state: bytes) -> None:
        try:
            async with self.pool.acquire() as conn:
                await checkpoints.save(conn, f"{CHECKPOINT}{shard}", batch, state)
            self.unsaved.discard(shard)
        except DB_ERRORS as exc:
            log.error("checkpoint of shard %d failed (%s); will retry", shard, exc)

    # -- readiness -----------------------------------------------------------------------------
    def problems(self, now: float, stall_after: float) -> list[str]:
        """Why the loop cannot make progress now (empty: it can)."""
        out = []
        if self.retrying_since is not None and now - self.retrying_since >= 1.0:
            out.append(f"alert events waiting for the store for {now - self.retrying_since:.0f} s")
        waiting = self.inbox.qsize()
        if waiting and now - self.done_at > stall_after:
            out.append(f"pipeline: no input completed for {now - self.done_at:.0f} s, {waiting} waiting")
        return out


def _bytes(value) -> bytes:
    """JSON of a refused item for ``dead_letters`` (repr when even JSON cannot hold it)."""
    try:
        return orjson.dumps(value, default=repr)
    except TypeError:  # a lone surrogate
        return repr(value).encode("utf-8", "backslashreplace")


class _Refused(Exception):
    def __init__(self, why: str):
        super().__init__(why)
        self.why = why
