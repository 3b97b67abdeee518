"""The embedded runtime: one process, asyncio, moving data in and out of the pure step.

Data flow::

    submit() ──► writer: pending (bounded, by readings) ──► group commit (COPY) ──► 202
                                                               │ Batch (bounded, by batches)
                                                               ▼
    act()/ticker/dead letters/silences ─────────────► loop: Step ──► store events + outbox
                                                                  └─► hub (dashboard)

* A reading is *accepted* once its group's transaction has committed: the HTTP 202 is
  sent after the commit, never before (``writer.py``).
* The loop applies committed batches in order and checkpoints the pipeline with the number
  of the last batch it covers; start-up restores the checkpoint and replays the batches
  after it at their stored arrival times (``recovery.py``), so every accepted reading
  reaches the detectors, and stable event ids keep the replay from notifying twice.
* Every buffer is bounded: ``submit`` raises :class:`Overloaded` (HTTP 503) when the
  pending readings exceed ``max_pending``; the writer waits for room in the loop's inbox,
  so a slow pipeline pushes back to the clients instead of growing memory.
* ``stop`` is bounded: it drains for at most ``drain_timeout`` seconds, then cancels what is
  stuck and answers what still waits with 503. It checkpoints only after a clean drain (a
  state ahead of the store must not be saved: the restart replays instead).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg

from ...alerts import AlertError, AlertNotFound
from ...config import Site, public_labels
from ...ingest import Parsed
from ...labels import Labels
from ...notify.outbox import OutboxWorker
from ...notify.realtime import RealtimePusher
from ...pipeline import SHARDS, Pipeline
from ...platforms.codes import Live
from ...platforms.push import push_codes
from ...policy.silences import Silence
from ...step import Command, DeadLetter, PointsChange, SilenceChange, Step, SystemFinding
from ...store import checkpoints
from ...store import notifications as notify_store
from ...store import silences as silence_store
from ...store.registry import changed_enterprises, devices_of, points_changed, sync_points
from ..errors import Overloaded, Rejected
from ..warmup import warm
from .loop import CHECKPOINT, Loop
from .recovery import recover
from .writer import Writer

__all__ = ["CHECKPOINT", "EmbeddedRuntime", "Options"]
log = logging.getLogger(__name__)


@dataclass
class Options:
    max_pending: int = 200_000  #: readings waiting for their group commit before 503
    group_max: int = 20_000  #: readings per group commit at most
    pipeline_batches: int = 32  #: committed batches waiting for the pipeline at most
    checkpoint_interval: float = 10.0  #: seconds in which every shard of the pipeline is checkpointed once
    tick_interval: float = 0.25  #: seconds between timer ticks (offline devices, escalation, group windows)
    notify: bool = True  #: run the outbox worker
    stall_after: float = 30.0  #: inputs waiting this long without one completed: /readyz fails
    drain_timeout: float = 2.5  #: seconds ``stop`` waits for accepted input to be processed (< the HTTP grace)
    warm_horizon: float = 7200.0  #: seconds of stored history a shard without a checkpoint warms its detectors on
    #: and before that, seconds of its inferred-running devices' history it learns their usual stop
    #: times from (a snapshot keeps them; 8 days: a working week's stops and one day more)
    stop_horizon: float = 8 * 86400.0


class EmbeddedRuntime:
    def __init__(
        self,
        site: Site,
        pool: asyncpg.Pool,
        *,
        metrics,
        hub,
        options: Options | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self.site = site
        self.pool = pool
        self.metrics = metrics
        self.hub = hub
        self.options = options or Options()
        self.clock = clock  #: injectable wall clock (tests); the web edge reads time from it too
        self.pipeline: Pipeline | None = None
        self.step: Step | None = None
        self.devices: dict[str, dict[str, dict[str, int]]] = {}  #: enterprise -> device -> point -> id
        self._labels = Labels()  #: the site's names for notifications (built at start, updated per ledger change)
        self.outbox = OutboxWorker(
            pool, list(site.channels), metrics=metrics, on_dead=self._dead_letter, clock=clock, codes=push_codes(site)
        )
        o = self.options
        self.loop: Loop | None = None
        self.writer = Writer(
            pool, metrics, max_pending=o.max_pending, group_max=o.group_max, deliver=self._deliver, clock=clock
        )
        self.codes = Live(lambda: self.site, lambda: self.devices)  #: the live site's point codes
        self._tasks: list[asyncio.Task] = []
        self.accepting = False  #: False while starting and stopping: submit() refuses
        self.ready = False

    # -- life cycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        async with self.pool.acquire() as conn:
            points = await sync_points(conn, self.site)
            silences = await silence_store.active(conn, self.clock())
        self.devices = devices_of(points)
        policy = self.site.alert_policy()
        self._labels = public_labels(self.site)
        self.pipeline = Pipeline(
            points, self.site.offline_after, policy=policy, channels=self.site.channels, labels=self._labels
        )
        self.step = Step(self.pipeline, dead_letter_severity=policy.dead_letter_severity)
        o = self.options
        self.loop = Loop(
            self.step,
            self.pool,
            metrics=self.metrics,
            hub=self.hub,
            outbox_wake=self.outbox.wake,
            pipeline_batches=o.pipeline_batches,
            checkpoint_interval=o.checkpoint_interval,
            clock=self.clock,
        )
        self.step.apply(SilenceChange(silences, self.clock()))
        out, last, unsaved, cold = await recover(self.step, self.pool)
        await warm(
            self.step, self.pool, cold, self.clock(), o.warm_horizon, o.stop_horizon
        )  # before the first live reading
        self.pipeline.build_chains()  # every point's detectors now, before the server freezes start-up's objects
        self.loop.last_batch, self.loop.unsaved = last, unsaved
        await self.loop.record(out)
        for k in sorted(unsaved):  # every shard has a checkpoint from now on
            await self.loop.checkpoint(k)
        async with self.pool.acquire() as conn:  # a re-shard's old names past SHARDS, now covered
            await checkpoints.delete_beyond(conn, CHECKPOINT, SHARDS)
        now = self.clock()
        self.pipeline.watch_devices(self.site.devices(), now)
        self.pipeline.resume(now)
        self._tasks = [
            asyncio.create_task(self.writer.run(), name="writer"),
            asyncio.create_task(self.loop.run(), name="pipeline"),
            asyncio.create_task(self.loop.ticker(o.tick_interval), name="ticker"),
        ]
        if o.notify:
            released = await self.outbox.release_leases()
            if released:
                log.warning("re-sending %d notifications leased by a crashed predecessor", released)
            self._tasks.append(asyncio.create_task(self.outbox.run(), name="outbox"))
            formats = push_codes(self.site).formats
            for ch in self.site.channels:  # real-time data upward (warning/notify/realtime.py)
                if ch.type == "upstream" and ch.options.get("realtime") is True:
                    pusher = RealtimePusher(
                        self.pool,
                        ch,
                        formats.get(ch.options.get("format", "json")),
                        self.codes.codes,
                        timezone=self.site.timezone,
                        wake=self.outbox.wake,
                    )
                    self._tasks.append(asyncio.create_task(pusher.run(), name=f"realtime-{ch.id}"))
        async with self.pool.acquire() as conn:  # dead letters whose alert a crash prevented
            missed = await notify_store.undelivered_dead(conn)
        for d in missed:
            self.loop.inbox.put_nowait(DeadLetter(d, self.clock()))
        if self.pipeline.orphans():  # the ledger retired points while we were down (or before the apply)
            await self.loop.command(PointsChange(uuid.uuid4().hex, self.pipeline.points, self.clock(), "ledger"))
        self.accepting = self.ready = True

    async def stop(self) -> None:
        """Refuse new input, finish what was accepted (bounded), checkpoint, stop."""
        self.accepting = False
        drained = True
        try:
            await asyncio.wait_for(self._drain(), self.options.drain_timeout)
        except TimeoutError:
            drained = False
            log.error(
                "stopping: accepted input not processed within %.1f s; the restart replays it",
                self.options.drain_timeout,
            )
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            try:
                await asyncio.wait_for(t, 1.0)
            except (asyncio.CancelledError, TimeoutError):
                pass
            except Exception:  # a task that died earlier must not stop the others' shutdown
                log.exception("task %s had failed", t.get_name())
        stopping = Overloaded("stopping; retry", 2)
        self.writer.fail_pending(stopping)
        if self.loop is not None:
            for fut in self.loop.waiting.values():
                if not fut.done():
                    fut.set_exception(stopping)
            with contextlib.suppress(TimeoutError):  # the worker's last checkpoint write, if one is running
                await asyncio.wait_for(self.loop.settle(), 1.0)
            if drained:
                for k in range(SHARDS):
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.loop.checkpoint(k), 1.0)
        self.ready = False

    async def _drain(self) -> None:
        while self.writer.pending:
            await asyncio.sleep(0.01)
        if self.loop is not None:
            await self.loop.inbox.join()

    # -- ingest side ---------------------------------------------------------------------------
    def full(self) -> bool:
        """True when no more readings can wait for a commit: callers answer 503 before parsing."""
        return not self.accepting or self.writer.full()

    async def submit(self, enterprise: str, parsed: Parsed) -> tuple[int, int]:
        """Store a validated request; returns (readings accepted, messages ignored as repeats)
        once they are committed. Raises :class:`Overloaded` when full or the store is down,
        :class:`Rejected` when the store refuses what the request carries."""
        if not self.accepting:
            raise Overloaded("not accepting: starting or stopping", 2)
        return await self.writer.submit(enterprise, parsed)

    async def _deliver(self, batch) -> None:
        assert self.loop is not None
        await self.loop.deliver(batch)

    # -- officers' side ------------------------------------------------------------------------
    async def command(
        self,
        action: str,
        aid: str,
        actor: str,
        note: str | None,
        attachments: list[dict] | None = None,
        verdict: str | None = None,
    ) -> dict:
        """Apply ``acknowledge``, ``handle``, ``feedback`` or ``resolve`` through the pipeline worker,
        in order with the readings; returns the reply once stored. Raises AlertError if it cannot
        apply, :class:`Rejected` if the store refused it."""
        if self.loop is None or not self.ready:
            raise Overloaded("not started", 2)
        r = await self.loop.command(
            Command(uuid.uuid4().hex, action, aid, actor, note, self.clock(), attachments, verdict)
        )
        if not r["ok"]:
            if r.get("invalid"):
                raise Rejected(r["error"])
            raise (AlertNotFound if r.get("not_found") else AlertError)(r["error"])
        return r

    async def act(
        self,
        action: str,
        aid: str,
        actor: str,
        note: str | None,
        attachments: list[dict] | None = None,
        verdict: str | None = None,
    ) -> dict | None:
        """An officer's action; returns the alert as it now is (None: gone from memory)."""
        return (await self.command(action, aid, actor, note, attachments, verdict))["alert"]

    async def reconfigure(self, site: Site, actor: str, version: int) -> None:
        """Run with a new set of enterprises, devices and points (the live ledger, issue 14),
        without a restart: only new points (or points of a new kind) are registered in the
        store; the step takes the new set in order with the readings (:class:`PointsChange`);
        telemetry for the new points is accepted once the pipeline knows them."""
        if self.loop is None or self.pipeline is None:
            raise Overloaded("not started", 2)
        changed = changed_enterprises(self.site, site)
        if not changed:  # streets or users only: no point changed
            self.site = site
            return
        async with self.pool.acquire() as conn:
            points, devices = await points_changed(conn, self.pipeline.points, self.devices, site, changed)
        self._labels = self._labels.updated(site, changed)
        await self.loop.command(PointsChange(uuid.uuid4().hex, points, self.clock(), actor, self._labels))
        self.site, self.devices = site, devices  # telemetry for the new points from here on
        self.outbox.use_codes(push_codes(site))  # pushed items name the new points' codes

    async def reload_silences(self) -> None:
        """Re-read the silences from the store into the router (after the API changed them)."""
        async with self.pool.acquire() as conn:
            silences = await silence_store.active(conn, self.clock())
        assert self.loop is not None
        self.loop.inbox.put_nowait(SilenceChange(silences, self.clock()))

    async def finding(self, f: SystemFinding) -> None:
        if self.loop is None:
            raise Overloaded("not started", 2)
        self.loop.inbox.put_nowait(f)

    async def _dead_letter(self, row: dict) -> None:
        assert self.loop is not None
        self.loop.inbox.put_nowait(DeadLetter(row, self.clock()))

    # -- what the web edge reads (see warning.runtime.api.Runtime) ------------------------------
    def open_alerts(self):
        return self.step.open_alerts() if self.step else []

    def open_alerts_json(self) -> list[dict]:
        return [a.to_json() for a in self.open_alerts()]

    def config_silences(self) -> tuple[Silence, ...]:
        return self.step.config_silences() if self.step else ()

    def suppressed(self) -> dict[str, int]:
        return self.step.suppressed() if self.step else {}

    def problems(self) -> list[str]:
        """Why the runtime cannot make progress now (``/readyz``); empty when it can."""
        if not self.ready:
            return ["runtime not started"]
        out = self.loop.problems(self.clock(), self.options.stall_after) if self.loop else []
        dead = [t.get_name() for t in self._tasks if t.done()]
        if dead:
            out.append(f"runtime tasks stopped: {', '.join(dead)}")
        return out
