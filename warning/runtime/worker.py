"""A distributed worker's partitions: claim, restore, catch up, apply, store, publish.

The faust agent (``faust_app.py``) only hands records over and acknowledges what this
module returns; everything that makes "nothing lost, nothing doubled" true is here:

* **Claim.** Taking a partition bumps its epoch in ``partition_state``; every later store
  of its effects names the epoch, so a worker that lost the partition without noticing
  (paused, partitioned from the group) can no longer write (:class:`~warning.store.partitions.Fenced`).
* **Restore and catch up.** The snapshot covers offset S; effects are stored up to W ≥ S.
  Records S+1..W are read back from Kafka and applied to rebuild state only, so the
  pipeline resumes exactly where its previous owner was, without storing anything twice.
  Without a snapshot it can restore, the partition first warms its detectors from the store
  (``warmup.warm``, as an embedded shard without a checkpoint does), up to the catch-up's
  first reading, so no reading is fed twice.
* **One transaction per chunk.** Readings (COPY), message ids, alert events, outbox rows,
  the new ``written`` offsets and any due snapshots commit together. Events are published to
  ``alert-events`` before the commit: a crash in between republishes them later with the
  same ids (consumers drop repeats), while publishing after could lose them.
* **Acks after the commit.** Records are acknowledged to faust (which commits the group's
  offsets) only once their effects are stored, so a group offset never passes ``written``.
* **Watchdog.** The owner writes a tick record into each of its partitions every second and
  knows its offset; a tick not applied within ``stall_after`` means the partition is stuck.
  Its finding is a record of the ``_system`` partition, applied by that partition's step like
  any other input: the alert escalates, survives a takeover and can be signed for.
* **The ledger, live (issue 14).** The worker's site is the store's ledger (the site file seeds
  it, as for a gateway). A gateway that takes a new ledger version writes ``l version`` into
  every partition before it accepts telemetry for the new points; applying it, the owner
  reads the committed ledger (once per chunk, rebuilding only the changed enterprises) and
  gives its partition's new point set to the step (``PointsChange``), in order with the
  records around it. A claim reads the committed ledger first, so a worker that was down
  starts from the current one; alerts a restored snapshot holds for points retired meanwhile
  are closed then (once: the store is asked which are closed already).
* **Refusals are not outages.** A chunk the store refuses for its data (not because it is
  away) is stored again record by record; the record it refuses is kept in ``dead_letters``,
  skipped (now and on every later catch-up), and reported as an operations alert.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg
import orjson
from aiokafka.errors import KafkaError

from ..config import Site, load_kinds, public_labels
from ..labels import Labels
from ..live import LiveLedger
from ..model import AlertEvent, Severity
from ..pipeline import SHARDS, Pipeline
from ..site import PointDef
from ..step import Effects, PointsChange, Poison, SilenceChange, SystemFinding, reply
from ..store import alerts as alert_store
from ..store import dead_letters as dead_letter_store
from ..store import ledger as ledger_store
from ..store import notifications as notify_store
from ..store import partitions as part_store
from ..store import readings as reading_store
from ..store import silences as silence_store
from ..store.registry import changed_enterprises, devices_of, points_changed, ref_of, sync_points
from . import records
from .errors import DB_ERRORS, is_outage, reason
from .kafka import KafkaSettings, read_range
from .partition import PartitionState
from .warmup import warm

log = logging.getLogger(__name__)
#: failures worth retrying: the store or the broker is away for a while
RETRYABLE = (*DB_ERRORS, KafkaError)


@dataclass
class WorkerOptions:
    checkpoint_interval: float = 10.0  #: seconds between snapshots of one partition
    tick_interval: float = 1.0  #: seconds between the tick records an owner writes
    stall_after: float = 30.0  #: a tick not applied for this long marks its partition stalled
    #: seconds of stored history a partition without a snapshot it can restore warms its
    #: detectors on, before its catch-up (as the embedded runtime's shards without a checkpoint)
    warm_horizon: float = 7200.0
    #: and before that, seconds of its inferred-running devices' history it learns their usual
    #: stop times from (8 days: a working week's stops and one day more)
    stop_horizon: float = 8 * 86400.0


class Worker:
    """The partitions this process owns and everything it does with them."""

    def __init__(
        self,
        site: Site,
        pool: asyncpg.Pool,
        kafka: KafkaSettings,
        *,
        producer,
        metrics=None,
        options: WorkerOptions | None = None,
        owner: str | None = None,
        clock: Callable[[], float] = time.time,
        kinds: dict[str, dict] | None = None,
    ):
        self.site = site  #: the site file at first; the ledger's site once started
        self.ledger = LiveLedger(site, kinds if kinds is not None else load_kinds(), pool)
        self._labels: Labels | None = None  #: the ledger's names for notifications, once it changed
        self._announced: dict[int, int] = {}  #: partition -> the ledger version this worker wrote into it
        self.pool = pool
        self.kafka = kafka
        self.producer = producer  #: started AIOKafkaProducer: ticks and alert events
        self.metrics = metrics
        self.options = options or WorkerOptions()
        self.owner = owner or f"worker-{uuid.uuid4().hex[:8]}"  #: written into partition_state
        self.clock = clock
        self.points: dict[int, dict] = {}  #: partition -> {point id: PointDef}
        self._devmap: dict[
            int, dict[str, dict[str, dict[str, int]]]
        ] = {}  #: partition -> enterprise -> device -> point -> id
        self.devices: dict[int, list[tuple[str, str]]] = {}  #: partition -> configured devices
        self.states: dict[int, PartitionState] = {}  #: the partitions owned now
        self._loading: dict[int, asyncio.Task] = {}  #: claims in progress
        self._parked: dict[int, PartitionState] = {}  #: revoked partitions' states, until the next assignment
        self._assigned_at: dict[int, float] = {}  #: partitions assigned but not loaded yet -> since when
        self._snapped: dict[int, float] = {}  #: partition -> when its snapshot was last stored
        self._ticks: dict[
            int, tuple[int, float]
        ] = {}  #: partition -> (offset, written at) of the oldest unapplied tick
        self.stalled: set[int] = set()  #: partitions the watchdog finds stuck
        self._fresh: set[int] = set()  #: claimed since: a clear finding is due once a tick is applied
        self._progressed: set[int] = set()  #: partitions that applied a tick since they were claimed
        self._reported: set[int] = set()  #: partitions whose "stalled" finding was written
        self._silences: list = []
        self.refused = 0  #: records dead-lettered because the store refused their effects
        self.retrying_since: float | None = None  #: a chunk has waited for the store (or broker) since
        self.ready = False

    # -- start and ownership -------------------------------------------------------------------
    async def start(self) -> None:
        self.site = await self.ledger.start()
        async with self.pool.acquire() as conn:
            points = await sync_points(conn, self.site)
            self._silences = await silence_store.active(conn, self.clock())
        self._place(points)
        self.ready = True

    def _place(self, points: dict[int, PointDef]) -> None:
        """Each partition's points and devices, from every point of the ledger."""
        n = self.kafka.partitions
        self.points = {k: {} for k in range(n)}
        for pid, p in points.items():
            self.points[records.partition_of(p.ref.enterprise, n)][pid] = p
        self._devmap = {k: devices_of(pts) for k, pts in self.points.items()}
        self.devices = {k: [] for k in range(n)}
        for dev in self.site.devices():
            self.devices[records.partition_of(dev[0], n)].append(dev)

    async def _take_ledger(self) -> None:
        """Read the committed ledger if it is newer than ours (one query when it is not), and
        re-place only the enterprises it changed."""
        before, old = self.ledger.version, self.site
        await self.ledger.sync()
        if self.ledger.version == before:
            return
        site, n = self.ledger.site, self.kafka.partitions
        changed = changed_enterprises(old, site)
        parts = {records.partition_of(e, n) for e in changed}
        current = {pid: p for k in parts for pid, p in self.points[k].items()}
        devmap = {e: v for k in parts for e, v in self._devmap[k].items()}
        async with self.pool.acquire() as conn:
            points, devices = await points_changed(conn, current, devmap, site, changed)
        for k in parts:
            self.points[k], self._devmap[k] = {}, {}
            self.devices[k] = [d for d in self.devices[k] if d[0] not in changed]
        for pid, p in points.items():
            self.points[records.partition_of(p.ref.enterprise, n)][pid] = p
        for e, v in devices.items():
            self._devmap[records.partition_of(e, n)][e] = v
        for e in changed & site.enterprises.keys():
            self.devices[records.partition_of(e, n)].extend((e, d) for d in site.enterprises[e].devices)
        self._labels = (self._labels or public_labels(old)).updated(site, changed)
        self.site = site
        log.info("ledger version %d taken: %d enterprises changed", self.ledger.version, len(changed))

    async def _settle(self, state: PartitionState) -> None:
        """Close the open alerts of points the ledger retired while the partition was not
        applying it: those a restored snapshot holds, and those the store holds and the replay
        did not rebuild (their readings were skipped: the point is gone). An alert the store has
        closed already (the previous owner stored its closure) is closed in memory only."""
        k, n = state.partition, self.kafka.partitions
        pipe = state.pipeline
        refs = {ref_of(p) for p in pipe.points.values()}
        devices = {(e, d) for e, d, _ in refs}
        async with self.pool.acquire() as conn:
            rows = [
                r
                for r in await alert_store.open_alerts_rows(conn)
                if r["enterprise"] != records.SYSTEM and records.partition_of(r["enterprise"], n) == k
            ]
        stored_open = {r["id"] for r in rows}
        for r in rows:
            gone = (
                (r["enterprise"], r["device"]) not in devices
                if r["point"] == ""
                else (r["enterprise"], r["device"], r["point"]) not in refs
            )
            if gone and state.step.alert(r["id"]) is None:
                pipe.engine.adopt(alert_store.alert_of_row(r))
        orphans = pipe.orphans()
        if not orphans:
            return
        done = {a.id for a in orphans if a.id not in stored_open}
        out = Effects()
        state.step.apply(PointsChange(uuid.uuid4().hex, pipe.points, self.clock(), "ledger"), out)
        events = [e for e in out.events if e.alert.id not in done]
        notes = [x for x in out.notifications if x.alert_id not in done]
        async with self.pool.acquire() as conn, conn.transaction():
            new = await alert_store.record(conn, events, notes) if events or notes else []
            await part_store.advance(conn, self.kafka.readings_topic, k, state.epoch, state.written)
            await self._publish(new, [])
        log.info("partition %d: %d alerts of retired points closed", k, len(events))

    async def assign(self, partitions: set[int]) -> None:
        """Claim newly assigned partitions (restore + catch up). Idempotent."""
        for k in set(self._parked) - set(partitions):
            del self._parked[k]
        now = self.clock()
        for k in partitions:
            if k not in self.states and k not in self._loading:
                self._assigned_at.setdefault(k, now)
                self._loading[k] = asyncio.create_task(self._claim(k))
        await asyncio.gather(*(self._loading[k] for k in partitions if k in self._loading), return_exceptions=True)

    def revoke(self, partitions: set[int]) -> None:
        """Stop working on these partitions. Their state is parked, not dropped: a rebalance
        revokes everything and usually hands most partitions straight back (see ``_claim_once``)."""
        for k in partitions:
            st = self.states.pop(k, None)
            self._drop(k)
            if st is not None:
                self._parked[k] = st

    def _drop(self, k: int) -> None:
        self.states.pop(k, None)
        self._assigned_at.pop(k, None)
        self._snapped.pop(k, None)
        self._ticks.pop(k, None)
        task = self._loading.pop(k, None)
        if task is not None and not task.done():
            task.cancel()

    async def _claim(self, k: int) -> None:
        try:
            delay = 0.5
            while True:
                try:
                    await self._claim_once(k)
                    self._assigned_at.pop(k, None)
                    return
                except RETRYABLE as exc:
                    log.error("claiming partition %d failed (%s); retrying in %.1f s", k, exc, delay)
                except Exception:  # a bug: keep trying, loudly; the watchdog reports the partition
                    log.exception("claiming partition %d failed; retrying in %.1f s", k, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
        finally:
            self._loading.pop(k, None)

    async def _claim_once(self, k: int) -> None:
        async with self.pool.acquire() as conn:
            c = await part_store.claim(conn, self.kafka.readings_topic, k, self.owner)
        parked = self._parked.pop(k, None)
        if (
            parked is not None
            and c.epoch == parked.epoch + 1
            and c.written == parked.written
            and parked.processed == parked.written
        ):
            # Nobody claimed it since we had it and memory holds nothing unstored: no restore.
            parked.epoch = c.epoch
            self.states[k] = parked
            self._snapped.setdefault(k, self.clock())
            return
        await self._rebuild(k, c)

    async def _rebuild(self, k: int, c: part_store.Claim) -> None:
        """The partition's state from its snapshot (or, without one, warmed from the store's
        history before them), then the records after it up to ``written`` (their effects are
        stored: applied to rebuild memory only)."""
        started = time.perf_counter()
        await self._take_ledger()
        policy = self.site.alert_policy()
        pipe = Pipeline(
            self.points[k],
            self.site.offline_after,
            policy=policy,
            channels=self.site.channels,
            labels=public_labels(self.site),
        )
        state = PartitionState(
            k,
            pipe,
            epoch=c.epoch,
            written=c.written,
            processed=c.snap_offset,
            dead_letter_severity=policy.dead_letter_severity,
            ledger_version=self.ledger.version,
        )
        state.step.apply(SilenceChange(self._silences, self.clock()))
        restored = False
        if c.state is not None:
            try:
                state.restore(c.state)
                restored = True
            except Exception:  # an incompatible snapshot (an upgrade) must not keep the partition down
                log.exception("snapshot of partition %d could not be restored; its detectors start fresh", k)
        pipe.watch_devices(self.devices[k], self.clock())
        caught = await read_range(self.kafka, self.kafka.readings_topic, k, c.snap_offset + 1, c.written)
        if not restored:  # the history before the catch-up's own readings, from the store
            o = self.options
            await warm(
                state.step,
                self.pool,
                set(range(SHARDS)),
                _earliest(caught, self.clock()),
                o.warm_horizon,
                o.stop_horizon,
            )
        if caught:
            async with self.pool.acquire() as conn:  # records whose effects the store refused stay skipped
                refused = await dead_letter_store.kafka_offsets(conn, self._position(k), c.snap_offset)
            await self._apply(state, [(off, v) for off, v in caught if off not in refused], Effects())
        state.processed = max(state.processed, c.written)  # past the records it refused, too
        pipe.resume(self.clock())
        await self._settle(state)
        self.states[k] = state
        self._snapped[k] = self.clock()
        self._fresh.add(k)
        log.info(
            "partition %d taken (epoch %d): snapshot at %d, %d records caught up to %d in %.2f s",
            k,
            c.epoch,
            c.snap_offset,
            len(caught),
            c.written,
            time.perf_counter() - started,
        )

    # -- the hot path --------------------------------------------------------------------------
    async def handle(self, chunk: list[tuple[int, int, bytes]]) -> set[tuple[int, int]]:
        """Apply and store a chunk of ``(partition, offset, value)``; returns the records whose
        effects are stored (acknowledge those). Records of partitions not owned are left out."""
        by_part: dict[int, list[tuple[int, bytes]]] = {}
        for k, off, value in chunk:
            by_part.setdefault(k, []).append((off, value))
        loading = [self._loading[k] for k in by_part if k in self._loading]
        if loading:  # a claim in progress: its records wait for it (a failed claim raises nothing here)
            await asyncio.wait(loading)
        delay = 0.5
        while True:
            mine = {k: recs for k, recs in by_part.items() if k in self.states}
            if not mine:
                return set()
            held = {k: self.states[k] for k in mine}  # a rebalance may park or replace them meanwhile
            try:
                await self._fill_gaps(mine, held)
                await self._store_chunk(mine, held)
                self.retrying_since = None
                return {(k, off) for k, recs in mine.items() for off, _ in recs}
            except part_store.Fenced as exc:
                self._fenced(exc)
                lost = {k: st for k, st in held.items() if self.states.get(k) is not st and k != exc.partition}
                await self._reload({k: st for k, st in held.items() if self.states.get(k) is st}, exc.partition)
                await self._taken_meanwhile(lost)
            except RETRYABLE as exc:
                refused = not isinstance(exc, KafkaError) and not is_outage(exc)
                if not refused:
                    if self.retrying_since is None:
                        self.retrying_since = self.clock()
                    log.error("storing a chunk failed (%s); retrying in %.1f s", exc, delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 10.0)
                lost = {k: st for k, st in held.items() if self.states.get(k) is not st}
                await self._reload({k: st for k, st in held.items() if self.states.get(k) is st})
                await self._taken_meanwhile(lost)
                if refused:
                    log.error("the store refused a chunk (%s): storing it record by record", reason(exc))
                    await self._isolate(mine)
                    return {
                        (k, off)
                        for k, recs in mine.items()
                        if k in self.states
                        for off, _ in recs
                        if off <= self.states[k].written
                    }

    async def _fill_gaps(self, mine: dict[int, list[tuple[int, bytes]]], held: dict[int, PartitionState]) -> None:
        """Read back from the log the records faust skipped, so a partition applies every record
        in order. Offsets in the readings topic have no holes (no transactional producer writes
        it), so a record beyond ``processed + 1`` means the ones before it were not delivered.
        faust does skip them after a rebalance, without a word (seen after a pause of the
        previous owner; one way: a fetch spanning the rebalance leaves a read offset behind the
        seek to the committed offset, and faust drops the records below it). Applying what
        follows would lose them."""
        for k, recs in mine.items():
            expected = held[k].processed + 1
            filled: list[tuple[int, bytes]] = []
            for off, value in recs:
                if off > expected:
                    log.warning(
                        "partition %d: records %d..%d were not delivered; reading them back from the log",
                        k,
                        expected,
                        off - 1,
                    )
                    filled += await read_range(self.kafka, self.kafka.readings_topic, k, expected, off - 1)
                    if self.metrics is not None:
                        self.metrics.records_refetched.inc(off - expected)
                filled.append((off, value))
                expected = max(expected, off + 1)
            mine[k] = filled

    async def _isolate(self, mine: dict[int, list[tuple[int, bytes]]]) -> None:
        """Store a refused chunk one record per transaction. A record the store refuses on its
        own is dead-lettered and passed over (its partition moves past it), and raises an
        operations alert; an outage meanwhile is waited out as usual."""
        for k, recs in mine.items():
            for off, value in recs:
                delay = 0.5
                while (st := self.states.get(k)) is not None and off > st.processed:
                    try:
                        await self._store_chunk({k: [(off, value)]}, {k: st})
                        break
                    except part_store.Fenced as exc:
                        self._fenced(exc)
                        await self._reload({k: st}, exc.partition)
                        return
                    except RETRYABLE as exc:
                        await self._reload({k: st} if self.states.get(k) is st else {})
                        if isinstance(exc, KafkaError) or is_outage(exc):
                            await asyncio.sleep(delay)
                            delay = min(delay * 2, 10.0)
                            continue
                        await self._refuse(k, off, value, reason(exc))
                        break

    async def _refuse(self, k: int, off: int, value: bytes, why: str) -> None:
        """Keep a record the store refused in ``dead_letters`` and move its partition past it."""
        st = self.states.get(k)
        if st is None:
            return
        log.error("partition %d offset %d: the store refused its effects (%s); kept in dead_letters", k, off, why)
        finding = SystemFinding(
            "store",
            f"partition-{k}",
            "poison",
            Severity.ORANGE,
            float(off),
            f"record {off} of partition {k} refused by the store: {why}",
            self.clock(),
        )
        delay = 0.5
        while self.states.get(k) is st:
            try:
                await self._publish_ops([finding])
                async with self.pool.acquire() as conn, conn.transaction():
                    await dead_letter_store.add(conn, "kafka", self._position(k, off), value, f"store refused: {why}")
                    await part_store.advance(conn, self.kafka.readings_topic, k, st.epoch, off, None)
                st.processed = off
                st.committed()
                self.refused += 1
                return
            except part_store.Fenced as exc:
                self._fenced(exc)
                await self._reload({k: st}, exc.partition)
                return
            except RETRYABLE as exc:
                log.error("dead-lettering partition %d offset %d failed (%s); retrying", k, off, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    def _position(self, k: int, off: int | None = None) -> str:
        """Where a record is, as ``dead_letters.topic`` names it: ``topic[k]@offset``."""
        return f"{self.kafka.readings_topic}[{k}]@" + ("" if off is None else str(off))

    async def _taken_meanwhile(self, lost: dict[int, PartitionState]) -> None:
        """Partitions of a failed write that a rebalance took away meanwhile (a worker frozen
        inside the transaction wakes to find them revoked, its session ended by the server): if
        another worker has claimed one since, the write was fenced off; say so and count it.
        Best effort: the store may be away, and nothing depends on the answer."""
        gone = {k: st for k, st in lost.items() if k not in self.states and k not in self._loading}
        if not gone:
            return
        try:
            async with self.pool.acquire() as conn:
                for k, st in gone.items():
                    c = await part_store.load(conn, self.kafka.readings_topic, k)
                    if c is not None and c.epoch != st.epoch:
                        log.warning(
                            "partition %d belongs to another worker now (epoch %d, ours %d)", k, c.epoch, st.epoch
                        )
                        if self.metrics is not None:
                            self.metrics.fenced.inc()
        except RETRYABLE as exc:
            log.info("could not tell who owns the partitions of a failed write (%s)", exc)

    def _fenced(self, exc: part_store.Fenced) -> None:
        log.warning("%s: dropping it", exc)
        if self.metrics is not None:
            self.metrics.fenced.inc()

    async def _reload(self, held: dict[int, PartitionState], fenced: int | None = None) -> None:
        """Memory ran ahead of a transaction that did not commit: rebuild these partitions from
        the store and the log, keeping our epoch. A partition whose epoch moved on belongs to
        another worker now: it is dropped, never claimed back (that would fence the rightful
        owner; faust hands it back through a rebalance if it is ours). ``fenced``: the partition
        whose refused write was counted already."""
        for k, st in held.items():
            self.states.pop(k, None)
            self._parked.pop(k, None)
            self._drop(k)
            while True:
                try:
                    async with self.pool.acquire() as conn:
                        c = await part_store.load(conn, self.kafka.readings_topic, k)
                    if c is None or c.epoch != st.epoch:
                        log.warning(
                            "partition %d belongs to another worker now (epoch %s, ours %d)", k, c and c.epoch, st.epoch
                        )
                        if self.metrics is not None and k != fenced:
                            self.metrics.fenced.inc()
                        break
                    await self._rebuild(k, c)
                    break
                except RETRYABLE as exc:
                    log.error("reloading partition %d failed (%s); retrying", k, exc)
                    await asyncio.sleep(1.0)

    async def _store_chunk(self, mine: dict[int, list[tuple[int, bytes]]], held: dict[int, PartitionState]) -> None:
        out = Effects()
        for k, recs in mine.items():
            await self._apply(held[k], recs, out)
        now = self.clock()
        due = {k for k in mine if now - self._snapped.get(k, 0.0) >= self.options.checkpoint_interval}
        async with self.pool.acquire() as conn, conn.transaction():
            await reading_store.copy_rows(conn, out.rows, out.ids)
            new = (
                await alert_store.record(conn, out.events, out.notifications)
                if (out.events or out.notifications)
                else []
            )
            if out.dead_letters:
                await notify_store.mark_dead_alerted(conn, out.dead_letters)
            for p in out.poison:
                await dead_letter_store.add(conn, p.source, p.topic, p.payload, p.reason)
            for k, st in held.items():
                snap = (st.processed, st.snapshot()) if k in due else None
                await part_store.advance(conn, self.kafka.readings_topic, k, st.epoch, st.processed, snap)
            await self._publish(new, out.replies)
            await self._publish_ops(out.ops)
        for k, st in held.items():
            st.committed()
            if k in due:
                self._snapped[k] = now
            if self.states.get(k) is st:
                self._tick_applied(k)
        if self.metrics is not None:
            self.metrics.readings_processed.inc(len(out.rows))

    async def _apply(self, state: PartitionState, recs: list[tuple[int, bytes]], out: Effects) -> None:
        decoded = []
        ids: dict[str, list[str]] = {}
        silences = ledger = False
        for off, value in recs:
            if off <= state.processed:
                continue
            try:
                v = records.decode(value)
            except ValueError as exc:  # not from a gateway: skip it, loudly, rather than stall the partition
                log.error("partition %d offset %d: %s", state.partition, off, exc)
                state.processed = off  # passed over, like an applied record
                if off > state.written:
                    out.poison.append(Poison("kafka", self._position(state.partition, off), value, str(exc)))
                continue
            decoded.append((off, v))
            if isinstance(v, dict) and v["k"] == records.SILENCES:
                silences = True
            if isinstance(v, dict) and v["k"] == records.LEDGER and v["v"] > state.ledger_version:
                ledger = True
            mids = state.message_ids(v)
            if mids and isinstance(v, records.Batch):
                ids.setdefault(v.enterprise, []).extend(mids)
        known: dict[str, dict[str, int]] = {}
        if ids or silences:
            async with self.pool.acquire() as conn:
                for ent, mids in ids.items():
                    known[ent] = await reading_store.known_id_batches(conn, ent, mids)
                if silences:  # read once, applied in order with the records around them
                    self._silences = await silence_store.active(conn, self.clock())
        if ledger:  # read once, applied in order with the records around it
            await self._take_ledger()
        for off, v in decoded:
            try:
                state.apply(
                    off,
                    v,
                    known.get(v.enterprise, {}) if isinstance(v, records.Batch) else {},
                    out,
                    self._silences,
                    (self.ledger.version, self.points[state.partition], self._labels),
                )
            except Exception as exc:  # a poison record must not stall the partition, nor crash each owner in turn
                log.exception("partition %d offset %d could not be applied; kept in dead_letters", state.partition, off)
                if off > state.written:
                    why = reason(exc)
                    out.poison.append(Poison("kafka", self._position(state.partition, off), value_of(recs, off), why))
                    out.ops.append(
                        SystemFinding(
                            "pipeline",
                            f"partition-{state.partition}",
                            "poison",
                            Severity.ORANGE,
                            float(off),
                            f"record {off} of partition {state.partition} could not "
                            f"be applied; kept in dead_letters: {why}",
                            self.clock(),
                        )
                    )
                    if isinstance(v, dict) and v["k"] == records.COMMAND:  # its caller waits for an answer
                        out.replies.append(
                            reply(v["id"], error=f"the pipeline failed on this action: {why}", invalid=True)
                        )

    async def _publish(self, events: list[AlertEvent], replies: list[dict]) -> None:
        if not events and not replies:
            return
        n = self.kafka.partitions
        topic = self.kafka.events_topic
        futs = [
            await self.producer.send(
                topic,
                orjson.dumps(e.to_json()),
                key=e.alert.enterprise.encode(),
                partition=records.partition_of(e.alert.enterprise, n),
            )
            for e in events
        ]
        futs += [await self.producer.send(topic, orjson.dumps(r), key=b"_reply") for r in replies]
        await asyncio.gather(*futs)

    async def _publish_ops(self, findings: list[SystemFinding]) -> None:
        """Operations findings go to the ``_system`` partition, whose owner applies them."""
        if not findings:
            return
        k = records.partition_of(records.SYSTEM, self.kafka.partitions)
        futs = [
            await self.producer.send(
                self.kafka.readings_topic,
                records.encode_ops(f.to_json(), f.at),
                key=records.SYSTEM.encode(),
                partition=k,
            )
            for f in findings
        ]
        await asyncio.gather(*futs)

    # -- ticks and the watchdog ----------------------------------------------------------------
    async def tick(self) -> None:
        """Write a tick into every owned partition; check that earlier ones were applied."""
        now = self.clock()
        owned = list(self.states)
        futs = [
            (k, await self.producer.send(self.kafka.readings_topic, records.encode_tick(now), partition=k))
            for k in owned
        ]
        for k, fut in futs:
            meta = await fut
            if k not in self._ticks:
                self._ticks[k] = (meta.offset, now)
        await self._watch(now)
        await self._announce_ledger(now)

    async def _announce_ledger(self, now: float) -> None:
        """The safety net under the gateways' announcements: a version committed but announced
        by nobody (its gateway died between the commit and the records, and no other gateway
        runs) is written into the owned partitions that lack it, by their owner, so it is
        still applied in order. A gateway accepts telemetry for new points only after its own
        announcement, so nothing that needs the change can precede it."""
        async with self.pool.acquire() as conn:
            committed = await ledger_store.version(conn)
        behind = [
            k
            for k, st in self.states.items()
            if st.ledger_version < committed and self._announced.get(k, -1) < committed
        ]
        if not behind:
            return
        value = records.encode_ledger(committed, "ledger", now)
        futs = [await self.producer.send(self.kafka.readings_topic, value, partition=k) for k in behind]
        await asyncio.gather(*futs)
        for k in behind:
            self._announced[k] = committed

    def problems(self) -> list[str]:
        """Why this worker cannot make progress now (``/readyz``); empty when it can."""
        out = []
        if not self.ready:
            out.append("worker not started")
        if self.stalled:
            out.append(f"partitions not advancing: {sorted(self.stalled)}")
        if self.retrying_since is not None and self.clock() - self.retrying_since >= 1.0:
            out.append(f"a chunk has waited for the store for {self.clock() - self.retrying_since:.0f} s")
        return out

    def _tick_applied(self, k: int) -> None:
        pending = self._ticks.get(k)
        if pending is not None and self.states[k].processed >= pending[0]:
            del self._ticks[k]
            self._progressed.add(k)

    async def _watch(self, now: float) -> None:
        since = {k: at for k, (_, at) in self._ticks.items()} | self._assigned_at  # unapplied tick, or not loaded
        stalled = {k for k, at in since.items() if now - at > self.options.stall_after}
        findings: list[SystemFinding] = []
        for k in sorted(stalled - self._reported):
            behind = now - since[k]
            log.error("partition %d has not advanced for %.0f s", k, behind)
            findings.append(
                SystemFinding(
                    "watchdog",
                    f"partition-{k}",
                    "stalled",
                    Severity.ORANGE,
                    behind,
                    f"partition {k} on {self.owner}: no progress for {behind:.0f} s",
                    now,
                )
            )
        # lifted when it moves again, or once a new owner sees it move (the old owner may be gone)
        cleared = (self._reported - stalled) | {k for k in self._fresh & self._progressed if k not in stalled}
        for k in sorted(cleared):
            findings.append(
                SystemFinding(
                    "watchdog",
                    f"partition-{k}",
                    "stalled",
                    None,
                    0.0,
                    f"partition {k} on {self.owner}: progressing again",
                    now,
                )
            )
        self.stalled = stalled
        if self.metrics is not None:
            self.metrics.stalled_partitions.set(len(stalled))
            self.metrics.owned_partitions.set(len(self.states))
        try:
            await self._publish_ops(findings)
            self._reported = set(stalled)
            self._fresh -= cleared
            self._progressed -= cleared
        except KafkaError as exc:  # the next change of state writes a finding again
            log.error("could not write the watchdog's finding: %s", exc)


def _earliest(recs: list[tuple[int, bytes]], now: float) -> float:
    """The earliest reading time in ``recs`` (``now`` if they hold none): a cold partition's
    warm-up stops there, so no reading is fed both from the store and from the log."""
    first = now
    for _, value in recs:
        try:
            v = records.decode(value)
        except ValueError:  # skipped by the catch-up too, loudly
            continue
        if isinstance(v, records.Batch):
            first = min([first, *(t for _, rs in v.messages for _, t, _ in rs)])
    return first


def value_of(recs: list[tuple[int, bytes]], offset: int) -> bytes:
    return next((v for off, v in recs if off == offset), b"")
