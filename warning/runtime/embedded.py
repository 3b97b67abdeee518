"""The embedded runtime: one process, asyncio, moving data in and out of the pure pipeline.

Data flow::

    submit() ──► pending (bounded, by readings) ──► writer: group commit (COPY) ──► 202
                                                        │
                                                        ▼ (bounded, by batches)
    command()/tick ───────────────────────────────► worker: Pipeline ──► store events + outbox
                                                                      └─► hub (dashboard)

* A reading is *accepted* once its group's transaction has committed: the HTTP 202 is
  sent after the commit, never before.
* The worker processes committed batches in order and checkpoints the pipeline with the
  number of the last batch it covers; start-up restores the checkpoint and replays the
  batches after it, so every accepted reading reaches the detectors, and stable event
  ids keep the replay from notifying twice.
* Every buffer is bounded: ``submit`` raises :class:`Overloaded` (HTTP 503) when the
  pending readings exceed ``max_pending``; the writer waits for room in the worker's
  queue, so a slow pipeline pushes back to the clients instead of growing memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg

from ..alerts import AlertError
from ..config import PointDef, Site
from ..ingest import Parsed
from ..model import AlertEvent, Reading, Severity
from ..notify.outbox import OutboxWorker
from ..pipeline import SHARDS, Pipeline
from ..store import alerts as alert_store
from ..store import checkpoints
from ..store import notifications as notify_store
from ..store import readings as reading_store
from ..store import silences as silence_store
from ..store.registry import register, sync_points
from .actions import apply_action, dead_letter
from .errors import DB_ERRORS, Overloaded

log = logging.getLogger(__name__)
CHECKPOINT = "pipeline/"  # + shard number


@dataclass
class Options:
    max_pending: int = 200_000  #: readings waiting for their group commit before 503
    group_max: int = 20_000  #: readings per group commit at most
    pipeline_batches: int = 32  #: committed batches waiting for the pipeline at most
    checkpoint_interval: float = 10.0  #: seconds in which every shard of the pipeline is checkpointed once
    tick_interval: float = 0.25  #: seconds between timer ticks (offline devices, escalation, group windows)
    notify: bool = True  #: run the outbox worker


class EmbeddedRuntime:
    def __init__(self, site: Site, pool: asyncpg.Pool, *, metrics, hub, options: Options | None = None,
                 clock: Callable[[], float] = time.time):
        self.site = site
        self.pool = pool
        self.metrics = metrics
        self.hub = hub
        self.options = options or Options()
        self.clock = clock  #: injectable wall clock (tests)
        self.pipeline: Pipeline | None = None
        self.devices: dict[str, dict[str, dict[str, int]]] = {}  #: enterprise -> device -> point -> id
        self.outbox = OutboxWorker(pool, list(site.channels), metrics=metrics, on_dead=self._dead_letter,
                                   clock=clock)
        self._pending: deque = deque()  #: (enterprise, Parsed, future) waiting for the writer
        self._pending_readings = 0
        self._pending_wake = asyncio.Event()
        self._inbox: asyncio.Queue = asyncio.Queue()  #: batches, commands, ticks for the worker
        self._room = asyncio.Semaphore(self.options.pipeline_batches)  #: bounds batches in the inbox
        self._tick_queued = False
        self._queued_batches = 0  #: committed batches waiting for the pipeline
        self._last_batch = 0  #: last batch the pipeline has processed
        self._last_checkpoint = 0.0
        self._next_shard = 0  #: the shard to checkpoint next
        self._unsaved: set[int] = set()  #: shards without a checkpoint yet
        self._tasks: list[asyncio.Task] = []
        self.accepting = False  #: False while starting and stopping: submit() refuses
        self.ready = False

    # -- life cycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        async with self.pool.acquire() as conn:
            points = await sync_points(conn, self.site)
        for pid, p in points.items():
            self.devices.setdefault(p.ref.enterprise, {}).setdefault(p.ref.device, {})[p.ref.point] = pid
        self.pipeline = Pipeline(points, self.site.offline_after, policy=self.site.alert_policy(),
                                 channels=self.site.channels)
        async with self.pool.acquire() as conn:
            self.pipeline.router.set_silences(await silence_store.active(conn, self.clock()))
        await self._recover()
        now = self.clock()
        self.pipeline.watch_devices(self.site.devices(), now)
        self.pipeline.resume(now)
        self._tasks = [asyncio.create_task(self._writer(), name="writer"),
                       asyncio.create_task(self._worker(), name="pipeline"),
                       asyncio.create_task(self._ticker(), name="ticker")]
        if self.options.notify:
            released = await self.outbox.release_leases()
            if released:
                log.warning("re-sending %d notifications leased by a crashed predecessor", released)
            self._tasks.append(asyncio.create_task(self.outbox.run(), name="outbox"))
        async with self.pool.acquire() as conn:  # dead letters whose alert a crash prevented
            missed = await notify_store.undelivered_dead(conn)
        for d in missed:
            self._inbox.put_nowait(("dead_letter", d))
        self.accepting = self.ready = True

    async def stop(self) -> None:
        """Refuse new input, finish what was accepted, checkpoint, stop."""
        self.accepting = False
        while self._pending:
            await asyncio.sleep(0.01)
        await self._inbox.join()
        for k in range(SHARDS):
            await self._checkpoint(k)
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            try:
                await t
            except asyncio.CancelledError:
                pass
            except Exception:  # a task that died earlier must not stop the others' shutdown
                log.exception("task %s had failed", t.get_name())
        self.ready = False

    async def _recover(self) -> None:
        """Restore each shard's checkpoint, re-apply officers' actions, replay later batches.

        A shard replays only the batches after its own checkpoint. A shard with no checkpoint
        (first start) starts fresh at the newest batch: history before it is not replayed.
        """
        replayed = 0
        async with self.pool.acquire() as conn:
            saved = await checkpoints.load_prefix(conn, CHECKPOINT)
            floor = await reading_store.last_batch(conn)
            shard_batch = {}
            for k in range(SHARDS):
                row = saved.get(f"{CHECKPOINT}{k}")
                shard_batch[k] = floor if row is None else row[0]
                if row is not None:
                    try:
                        self.pipeline.restore(row[1])
                    except Exception:  # an incompatible snapshot must not keep the service down
                        log.exception("checkpoint of shard %d could not be restored; starting it fresh", k)
            self._unsaved = {k for k in range(SHARDS) if f"{CHECKPOINT}{k}" not in saved}
            events: list[AlertEvent] = await self._reapply_actions(conn)
            shard_of = {pid: self.pipeline.shard_of(pid) for pid in self.pipeline.points}
            self._last_batch = max(shard_batch.values(), default=0)
            async with conn.transaction():
                batch, readings = None, []
                async for r in await reading_store.replay_cursor(conn, min(shard_batch.values(), default=0)):
                    if r["batch"] != batch and readings:
                        events += self.pipeline.process(readings, readings[-1].t)
                        replayed += len(readings)
                        readings = []
                    batch = r["batch"]
                    pid = r["point_id"]
                    if pid in shard_of and batch > shard_batch[shard_of[pid]]:
                        readings.append(Reading(pid, r["ts_ms"] / 1000.0, r["value"]))
                if readings:
                    events += self.pipeline.process(readings, readings[-1].t)
                    replayed += len(readings)
                if batch is not None:
                    self._last_batch = max(self._last_batch, batch)
            # Again after the replay, for alerts raised and signed for since the checkpoint.
            events += await self._reapply_actions(conn)
        if replayed or events:
            log.info("recovered: replayed %d readings after the shards' checkpoints, %d events", replayed,
                     len(events))
        await self._record(events)
        for k in sorted(self._unsaved):  # every shard has a checkpoint from now on
            await self._checkpoint(k)

    async def _reapply_actions(self, conn) -> list[AlertEvent]:
        """Officers' actions are input too, but not in the readings log: re-apply the stored
        ones to the restored engine (their event ids are stable, so nothing is doubled)."""
        events: list[AlertEvent] = []
        open_ids = [a.id for a in self.pipeline.engine.open_alerts()]
        for act in await alert_store.officer_actions(conn, open_ids):
            with contextlib.suppress(AlertError):
                events += self._apply(act["kind"], act["alert_id"], act["actor"], act["note"], act["at"],
                                      (act["data"] or {}).get("attachments"))
        return events

    def _apply(self, kind: str, aid: str, actor: str, note: str | None, at: float, attachments=None):
        return apply_action(self.pipeline, kind, aid, actor, note, at, attachments)

    # -- ingest side ---------------------------------------------------------------------------
    def full(self) -> bool:
        """True when no more readings can wait for a commit: callers answer 503 before parsing."""
        return not self.accepting or self._pending_readings >= self.options.max_pending

    async def submit(self, enterprise: str, parsed: Parsed) -> tuple[int, int]:
        """Store a validated request; returns (readings accepted, messages ignored as repeats)
        once they are committed. Raises :class:`Overloaded` when full or the store is down."""
        if not self.accepting:
            raise Overloaded("not accepting: starting or stopping", 2)
        if self._pending_readings + parsed.count > self.options.max_pending:
            raise Overloaded(f"ingest queue full ({self._pending_readings} readings pending)", 1)
        fut = asyncio.get_running_loop().create_future()
        self._pending.append((enterprise, parsed, fut))
        self._pending_readings += parsed.count
        self.metrics.queue_depth.labels("ingest").set(self._pending_readings)
        self._pending_wake.set()
        return await fut

    async def _writer(self) -> None:
        while True:
            if not self._pending:
                self._pending_wake.clear()
                await self._pending_wake.wait()
            group, n = [], 0
            while self._pending and n < self.options.group_max:
                item = self._pending.popleft()
                group.append(item)
                n += item[1].count
            self._pending_readings -= n
            self.metrics.queue_depth.labels("ingest").set(self._pending_readings)
            try:
                await self._commit(group)
            except Exception:  # a bug must not leave requests hanging or stop the writer
                log.exception("group commit crashed")
                _fail(group, Overloaded("internal error while storing; retry", 5))

    async def _commit(self, group: list) -> None:
        started = time.perf_counter()
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                batch = await reading_store.next_batch(conn)
                rows: list[Reading] = []
                results = []
                new_ids: list[tuple[str, str]] = []
                in_group: set[tuple[str, str]] = set()
                for enterprise, parsed, _ in group:
                    ids = [m for m, _ in parsed.messages if m is not None]
                    known = await reading_store.known_ids(conn, enterprise, ids) if ids else ()
                    accepted = dups = 0
                    for mid, readings in parsed.messages:
                        if mid is not None:
                            key = (enterprise, mid)
                            if mid in known or key in in_group:  # stored before, or sent twice at once
                                dups += 1
                                continue
                            in_group.add(key)
                            new_ids.append(key)
                        rows.extend(readings)
                        accepted += len(readings)
                    results.append((accepted, dups))
                await reading_store.copy_readings(conn, batch, rows)
                if new_ids:
                    await reading_store.record_ids(conn, batch, new_ids)
        except DB_ERRORS as exc:
            log.error("group commit failed, %d requests refused: %s", len(group), exc)
            _fail(group, Overloaded(f"store unavailable: {type(exc).__name__}", 5))
            return
        self.metrics.batch_seconds.observe(time.perf_counter() - started)
        for (_, _, fut), res in zip(group, results):
            self.metrics.readings_accepted.inc(res[0])
            if res[1]:
                self.metrics.duplicates.inc(res[1])
            if not fut.done():
                fut.set_result(res)
        if rows:
            await self._room.acquire()
            self._inbox.put_nowait(("batch", batch, rows, self.clock()))
            self._queued_batches += 1
            self.metrics.queue_depth.labels("pipeline").set(self._queued_batches)

    # -- officers' side ------------------------------------------------------------------------
    async def command(self, action: str, aid: str, actor: str, note: str | None,
                      attachments: list[dict] | None = None) -> list[AlertEvent]:
        """Apply ``acknowledge``, ``handle``, ``feedback`` or ``resolve`` through the pipeline worker,
        in order with the readings; returns the events once stored. Raises AlertError if it cannot apply."""
        fut = asyncio.get_running_loop().create_future()
        self._inbox.put_nowait(("command", action, aid, actor, note, fut, attachments))
        return await fut

    async def reload_silences(self) -> None:
        """Re-read the silences from the store into the router (after the API changed them)."""
        async with self.pool.acquire() as conn:
            silences = await silence_store.active(conn, self.clock())
        self._inbox.put_nowait(("silences", silences))

    async def reconfigure(self, site: Site, actor: str = "ledger") -> list[AlertEvent]:
        """Run with a new set of enterprises, devices and points (the live ledger, issue 14),
        without a restart: new points are registered in the store, the pipeline takes the new
        set in order with the readings (unchanged points keep their detectors' state), and
        telemetry for the new points is accepted once the pipeline knows them. Returns the
        events of closing retired points' alerts, once stored."""
        known = {(p.ref.enterprise, p.ref.device, p.ref.point): (pid, p.kind)
                 for pid, p in (self.pipeline.points.items() if self.pipeline else ())}
        fresh = [p for p in site.points if known.get(_ref(p), (0, None))[1] != p.kind]  # new, or a new kind
        async with self.pool.acquire() as conn:
            ids = await register(conn, fresh)
        ids.update({k: v[0] for k, v in known.items() if k not in ids})
        points = {ids[_ref(p)]: p for p in site.points}
        fut = asyncio.get_running_loop().create_future()
        self._inbox.put_nowait(("site", site, points, actor, fut))
        return await fut

    async def _dead_letter(self, row: dict) -> None:
        self._inbox.put_nowait(("dead_letter", row))

    def open_alerts(self):
        return self.pipeline.engine.open_alerts() if self.pipeline else []

    # The runtime interface the web edge uses (the Kafka gateway has the same).
    def open_alerts_json(self) -> list[dict]:
        return [a.to_json() for a in self.open_alerts()]

    @property
    def router(self):
        return self.pipeline.router

    async def act(self, action: str, aid: str, actor: str, note: str | None,
                  attachments: list[dict] | None = None) -> dict | None:
        """An officer's action; returns the alert as it now is (None: gone from memory)."""
        events = await self.command(action, aid, actor, note, attachments)
        if events:
            return events[-1].alert.to_json()
        current = self.pipeline.engine.get(aid)
        return None if current is None else current.to_json()

    # -- the pipeline worker -------------------------------------------------------------------
    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(self.options.tick_interval)
            if not self._tick_queued:
                self._tick_queued = True
                self._inbox.put_nowait(("tick",))

    async def _worker(self) -> None:
        while True:
            item = await self._inbox.get()
            try:
                await self._handle(item)
            except Exception:  # the worker must survive anything one item does
                log.exception("pipeline worker failed on %s", item[0])
            finally:
                self._inbox.task_done()
            if self.clock() - self._last_checkpoint >= self.options.checkpoint_interval / SHARDS:
                await self._checkpoint()

    async def _handle(self, item: tuple) -> None:
        kind = item[0]
        if kind == "batch":
            _, batch, rows, arrived = item
            self._room.release()
            self._queued_batches -= 1
            rows.sort(key=_order)
            events = self.pipeline.process(rows, arrived)
            self._last_batch = batch
            self.metrics.readings_processed.inc(len(rows))
            await self._record(events)
            self.metrics.pipeline_lag.set(self.clock() - arrived)
        elif kind == "tick":
            self._tick_queued = False
            now = self.clock()
            events = self.pipeline.tick(now)
            await self._record(events, self.pipeline.router.tick(now))  # _record routes the events
        elif kind == "command":
            _, action, aid, actor, note, fut, attachments = item
            try:
                events = self._apply(action, aid, actor, note, self.clock(), attachments)
            except AlertError as exc:
                fut.set_exception(exc)
                return
            await self._record(events)
            if not fut.done():
                fut.set_result(events)
        elif kind == "site":
            _, site, points, actor, fut = item
            try:
                events = self.pipeline.reconfigure(points, self.clock(), actor)
                devices: dict[str, dict[str, dict[str, int]]] = {}
                for pid, p in points.items():
                    devices.setdefault(p.ref.enterprise, {}).setdefault(p.ref.device, {})[p.ref.point] = pid
                self.site, self.devices = site, devices  # telemetry for new points from here on
                await self._record(events)
            except Exception as exc:
                fut.set_exception(exc)
                raise
            if not fut.done():
                fut.set_result(events)
        elif kind == "silences":
            self.pipeline.router.set_silences(item[1])
        elif kind == "dead_letter":
            d = item[1]
            await self._record(dead_letter(self.pipeline, self.site.alert_policy().dead_letter_severity, d,
                                           self.clock()))
            async with self.pool.acquire() as conn:
                await notify_store.mark_dead_alerted(conn, [d["id"]])

    async def _record(self, events: list[AlertEvent], extra: list | None = None) -> None:
        """Store events and their notifications, then tell the dashboard. Retries while the
        store is down: the events are derived from committed input and must not be lost.
        ``extra``: notifications already routed (the router's timers)."""
        outbox = self.pipeline.router.route(events, self.clock()) if events else []
        if extra:
            outbox += extra
        if not events and not outbox:
            return
        delay = 0.5
        while True:
            try:
                async with self.pool.acquire() as conn:
                    new = await alert_store.record(conn, events, outbox)
                break
            except DB_ERRORS as exc:
                log.error("storing %d alert events failed (%s); retrying in %.1f s", len(events), exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
        if outbox:
            self.outbox.wake.set()
        if not new:
            return
        for e in new:
            self.metrics.alerts.labels(e.kind.value, e.alert.severity.label).inc()
        counts = {s.label: 0 for s in Severity}
        for a in self.pipeline.engine.open_alerts():
            counts[a.severity.label] += 1
        for sev, n in counts.items():
            self.metrics.alerts_open.labels(sev).set(n)
        self.hub.publish([e.to_json() for e in new])

    async def _checkpoint(self, shard: int | None = None) -> None:
        """Save one shard (the next in turn by default): a short pause, not a whole-state one."""
        self._last_checkpoint = self.clock()
        if self.pipeline is None:
            return
        if shard is None:
            shard, self._next_shard = self._next_shard, (self._next_shard + 1) % SHARDS
        state = self.pipeline.snapshot(shard)
        try:
            async with self.pool.acquire() as conn:
                await checkpoints.save(conn, f"{CHECKPOINT}{shard}", self._last_batch, state)
            self._unsaved.discard(shard)
        except DB_ERRORS as exc:
            log.error("checkpoint of shard %d failed (%s); will retry", shard, exc)


def _fail(group: list, exc: Exception) -> None:
    for _, _, fut in group:
        if not fut.done():
            fut.set_exception(exc)


def _ref(p: PointDef) -> tuple[str, str, str]:
    return (p.ref.enterprise, p.ref.device, p.ref.point)


def _order(r: Reading):
    return (r.t, r.point_id)
