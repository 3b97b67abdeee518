"""The gateways of the distributed runtime: stateless processes beside the workers.

``warning run --role ingest,dashboard,notifier`` (any subset) serves the same web edge as
the embedded runtime, with this class in the runtime's place:

* **ingest**: a validated request becomes one record on the readings topic, keyed by its
  enterprise and placed on the enterprise's partition. *Accepted* (HTTP 202) means the
  broker acknowledged it with ``acks=all``; the owning worker stores and judges it.
  Repeated message ids are dropped by the worker, so the answer always says 0 repeats.
* **dashboard**: consumes ``alert-events`` (every partition, no consumer group: each
  dashboard sees everything), drops repeats by event id, keeps the open alerts for new
  WebSocket clients and feeds the hub. Officers' actions become command records on the
  alert's enterprise's partition; the answer comes back on ``alert-events``.
* **notifier**: delivers the outbox (rows leased in PostgreSQL, so several notifiers never
  send one row twice) and wakes on ``alert-events``; dead letters go back to the workers as
  records.

Sharp edges:

* There is no in-memory queue to bound here; ``max_in_flight`` bounds the readings waiting
  for the broker's acknowledgement, and a full gateway answers 503.
* A request of more than ``RECORD_READINGS`` readings becomes several records. If the broker
  fails between them the request is answered 503 although part of it is in the log; its retry
  is stored once with message ids, and part of it twice without.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable

import asyncpg
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from ..alerts import AlertError, AlertNotFound
from ..config import Site
from ..ingest import Parsed
from ..notify.outbox import OutboxWorker
from ..platforms.push import push_codes
from ..policy.router import Router
from ..policy.silences import Silence
from ..site import PointDef
from ..step import SystemFinding, keyed_as_ids
from ..store import alerts as alert_store
from ..store import notifications as notify_store
from ..store.registry import changed_enterprises, devices_of, points_changed, sync_points
from . import records
from .errors import Overloaded, Rejected
from .kafka import KafkaSettings, ensure_topics, producer

log = logging.getLogger(__name__)
ROLES = ("ingest", "dashboard", "notifier")
#: readings per record at most (~140 kB of JSON): a large request becomes several records, each
#: well under the brokers' default 1 MB message limit
RECORD_READINGS = 5_000
SEEN_EVENTS = 100_000  #: event ids remembered against repeats on alert-events


class KafkaGateway:
    def __init__(
        self,
        site: Site,
        pool: asyncpg.Pool,
        kafka: KafkaSettings,
        *,
        metrics,
        hub,
        roles: set[str],
        max_in_flight: int = 200_000,
        reply_timeout: float = 15.0,
        clock: Callable[[], float] = time.time,
    ):
        unknown = set(roles) - set(ROLES)
        if unknown or not roles:
            raise ValueError(f"roles must be some of {', '.join(ROLES)}; got {sorted(roles)}")
        self.site = site
        self.pool = pool
        self.kafka = kafka
        self.metrics = metrics
        self.hub = hub
        self.roles = set(roles)  #: what this gateway does
        self.max_in_flight = max_in_flight  #: readings produced but not yet acknowledged, at most
        self.reply_timeout = reply_timeout  #: seconds an officer's action waits for its worker
        self.clock = clock
        self.devices: dict[str, dict[str, dict[str, int]]] = {}  #: enterprise -> device -> point -> id
        self._points: dict[int, PointDef] = {}  #: point id -> definition (the ledger's)
        self._router = Router(site.alert_policy(), tuple(site.channels))  #: configuration only (silences listing)
        self.outbox = OutboxWorker(
            pool, list(site.channels), metrics=metrics, on_dead=self._dead_letter, clock=clock, codes=push_codes(site)
        )
        self._producer: AIOKafkaProducer | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._open: dict[str, dict] = {}  #: alert id -> alert, the open ones (dashboard)
        self._seen: OrderedDict[str, None] = OrderedDict()  #: recent event ids (dashboard)
        self._replies: dict[str, asyncio.Future] = {}  #: command id -> its answer
        self._in_flight = 0
        self._tasks: list[asyncio.Task] = []
        self.accepting = False
        self.ready = False

    # -- life cycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        await ensure_topics(self.kafka)
        async with self.pool.acquire() as conn:
            points = await sync_points(conn, self.site)
        self._points = points
        self.devices = devices_of(points)
        self._producer = prod = producer(self.kafka)
        await prod.start()
        if self.roles & {"dashboard", "notifier"}:
            self._consumer = AIOKafkaConsumer(
                bootstrap_servers=self.kafka.bootstrap, group_id=None, enable_auto_commit=False
            )
            await self._consumer.start()
            tps = [TopicPartition(self.kafka.events_topic, k) for k in range(self.kafka.partitions)]
            self._consumer.assign(tps)
            await self._consumer.seek_to_end(*tps)
            for tp in tps:  # resolve the positions now, before reading the store's state
                await self._consumer.position(tp)
            if "dashboard" in self.roles:
                async with self.pool.acquire() as conn:
                    for a in await alert_store.list_alerts(conn, "open", limit=100_000):
                        self._open[a["id"]] = a
            self._tasks.append(asyncio.create_task(self._consume(), name="alert-events"))
        if "notifier" in self.roles:
            released = await self.outbox.release_leases()
            if released:
                log.warning("re-sending %d notifications leased by a crashed notifier", released)
            self._tasks.append(asyncio.create_task(self.outbox.run(), name="outbox"))
            async with self.pool.acquire() as conn:
                for d in await notify_store.undelivered_dead(conn):
                    await self._dead_letter(d)
        self.accepting = self.ready = True

    async def stop(self) -> None:
        self.accepting = False
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        if self._consumer is not None:
            await self._consumer.stop()
        if self._producer is not None:
            await self._producer.stop()
        self.ready = False

    # -- ingest --------------------------------------------------------------------------------
    def full(self) -> bool:
        return not self.accepting or "ingest" not in self.roles or self._in_flight >= self.max_in_flight

    async def submit(self, enterprise: str, parsed: Parsed) -> tuple[int, int]:
        if "ingest" not in self.roles:
            raise Overloaded("this gateway does not take telemetry (no ingest role)", 60)
        if not self.accepting:
            raise Overloaded("not accepting: starting or stopping", 2)
        if self._in_flight + parsed.count > self.max_in_flight:
            raise Overloaded(f"{self._in_flight} readings waiting for the broker", 1)
        now = self.clock()
        values = [
            records.encode_batch(uuid.uuid4().hex, enterprise, part, now)
            for part in split_messages(
                keyed_as_ids(parsed.messages) if parsed.keyed else parsed.messages, RECORD_READINGS
            )
        ]
        self._in_flight += parsed.count
        try:
            for value in values:  # in order: one enterprise's records keep their sequence
                await self._send(value, enterprise)
        except Exception as exc:  # any broker failure: not accepted, the client retries
            log.error("producing to %s failed: %s", self.kafka.readings_topic, exc)
            raise Overloaded(f"broker unavailable: {type(exc).__name__}", 5) from exc
        finally:
            self._in_flight -= parsed.count
        self.metrics.readings_accepted.inc(parsed.count)
        return parsed.count, 0

    async def _send(self, value: bytes, enterprise: str, partition: int | None = None) -> None:
        k = records.partition_of(enterprise, self.kafka.partitions) if partition is None else partition
        if self._producer is None:
            raise Overloaded("not started", 2)
        fut = await self._producer.send(self.kafka.readings_topic, value, key=enterprise.encode(), partition=k)
        await fut

    # -- officers ------------------------------------------------------------------------------
    async def act(
        self,
        action: str,
        aid: str,
        actor: str,
        note: str | None,
        attachments: list[dict] | None = None,
        verdict: str | None = None,
    ) -> dict | None:
        if self._consumer is None:
            raise Overloaded("this gateway has no dashboard role", 60)
        async with self.pool.acquire() as conn:
            alert = await alert_store.get_alert(conn, aid)
        if alert is None:
            raise AlertNotFound(aid)
        cid = uuid.uuid4().hex
        fut = asyncio.get_running_loop().create_future()
        self._replies[cid] = fut
        try:
            await self._send(
                records.encode_command(cid, action, aid, actor, note, attachments, self.clock(), verdict),
                alert["enterprise"],
            )
            reply = await asyncio.wait_for(fut, self.reply_timeout)
        except TimeoutError as exc:
            raise Overloaded("no worker answered in time; the action is queued and will apply", 5) from exc
        finally:
            self._replies.pop(cid, None)
        if not reply["ok"]:
            if reply.get("invalid"):
                raise Rejected(reply["error"])
            raise (AlertNotFound if reply.get("not_found") else AlertError)(
                reply.get("msgid", reply["error"]), **reply.get("params", {})
            )
        return reply.get("alert")

    async def reconfigure(self, site: Site, actor: str, version: int) -> None:
        """Take the ledger at ``version`` (issue 14): register its new points, write ``l
        version`` into every partition (acknowledged), and only then accept telemetry for the
        new points, so that in each partition the change comes before any reading it allows.
        Each owner applies it in order (``worker.py``); a worker that was down reads the ledger
        when it claims the partition."""
        changed = changed_enterprises(self.site, site)
        async with self.pool.acquire() as conn:
            points, devices = await points_changed(conn, self._points, self.devices, site, changed)
        value = records.encode_ledger(version, actor, self.clock())
        if self._producer is None:
            raise Overloaded("not started", 2)
        futs = [
            await self._producer.send(self.kafka.readings_topic, value, partition=k)
            for k in range(self.kafka.partitions)
        ]
        await asyncio.gather(*futs)
        self._points = points
        self.site, self.devices = site, devices

    async def finding(self, f: SystemFinding) -> None:
        """Into the enterprise's own partition: its owner applies it with the enterprise's inputs."""
        await self._send(records.encode_ops(f.to_json(), f.at), f.enterprise)

    async def reload_silences(self) -> None:
        """Tell every partition's owner to re-read the silences."""
        value = records.encode_silences(self.clock())
        for k in range(self.kafka.partitions):
            await self._send(value, "", partition=k)

    def open_alerts_json(self) -> list[dict]:
        return list(self._open.values())

    def config_silences(self) -> tuple[Silence, ...]:
        return self._router.config_silences

    def suppressed(self) -> dict[str, int]:
        """Suppression is counted by the workers that route; a gateway routes nothing."""
        return dict(self._router.suppressed)

    def problems(self) -> list[str]:
        if not self.ready:
            return ["runtime not started"]
        if self._tasks and any(t.done() for t in self._tasks):
            return [f"gateway tasks stopped: {', '.join(t.get_name() for t in self._tasks if t.done())}"]
        return []

    async def _dead_letter(self, row: dict) -> None:
        await self._send(records.encode_dead_letter(dict(row), self.clock()), records.SYSTEM)

    # -- alert-events --------------------------------------------------------------------------
    async def _consume(self) -> None:
        consumer = self._consumer
        assert consumer is not None  # started before this task
        while True:
            try:
                got = await consumer.getmany(timeout_ms=1000, max_records=2000)
                fresh = [d for msgs in got.values() for m in msgs if (d := self._take(m)) is not None]
                if fresh:
                    self._deliver(fresh)
            except asyncio.CancelledError:
                raise
            except Exception:  # the live feed must outlive a broker hiccup or a bad message
                log.exception("reading alert-events failed; going on in 1 s")
                await asyncio.sleep(1.0)

    def _take(self, m) -> dict | None:
        """One alert-events message: answers a command, or is a new event (None otherwise)."""
        try:
            d = orjson.loads(m.value)
            if "reply" in d:
                fut = self._replies.get(d["reply"])
                if fut is not None and not fut.done():
                    fut.set_result(d)
                return None
            eid = d["id"]
            d["alert"]["id"]
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            log.error("alert-events offset %d: not an event (%s)", m.offset, exc)
            return None
        if eid in self._seen:  # republished after a worker's crash
            return None
        self._seen[eid] = None
        if len(self._seen) > SEEN_EVENTS:
            self._seen.popitem(last=False)
        return d

    def _deliver(self, fresh: list[dict]) -> None:
        if "notifier" in self.roles:
            self.outbox.wake.set()
        if "dashboard" in self.roles:
            for d in fresh:
                a = d["alert"]
                if a["state"] == "resolved":
                    self._open.pop(a["id"], None)
                else:
                    self._open[a["id"]] = a
                self.metrics.alerts.labels(d["kind"], a["severity"]).inc()
            self.hub.publish(fresh)


def split_messages(messages: list, limit: int) -> list[list]:
    """Messages grouped in order into parts of at most ``limit`` readings (a message is never
    split: it stays one unit for its id)."""
    parts: list[list] = [[]]
    n = 0
    for mid, readings in messages:
        if n and n + len(readings) > limit:
            parts.append([])
            n = 0
        parts[-1].append((mid, readings))
        n += len(readings)
    return parts
