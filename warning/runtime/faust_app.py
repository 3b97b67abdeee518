"""``warning worker``: the faust-streaming app around :class:`~warning.runtime.worker.Worker`.

faust gives us the consumer group (partitions spread over workers and moved when one
dies), the agent loop and offset commits. State does not live in faust tables: each
partition's snapshot is kept in PostgreSQL with the offsets it covers (see ``worker.py``),
because the effects (readings, alert events, outbox) are stored there too and one
transaction can then cover both; faust's changelog recovery also misreads the log end on
the test broker.

Sharp edges:

* The agent takes records with ``noack_take`` and acknowledges only those whose effects
  committed; ``stream_wait_empty`` is off so a rebalance never waits on records of a
  partition this worker no longer owns.
* faust can hand over a partition after a rebalance starting past records nobody stored,
  without a word (one way: a fetch that spanned the rebalance leaves a read offset behind,
  set after the seek to the committed offset): the worker notices the hole in the offsets it
  is handed and reads those records back itself (``Worker._fill_gaps``).
* Every worker runs the store's upkeep (``warning.store.maintenance.keep_up``: packing,
  partitions ahead, retention) beside its partitions; the advisory lock makes each pass
  happen in one process on the database, worker or gateway.
* ``broker_session_timeout`` is how long a killed worker's partitions stay unowned
  (10 s by default here; faust's own default is 60 s).
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
import uuid
from dataclasses import dataclass, field

from ..config import Site
from ..metrics import Metrics
from .kafka import KafkaSettings, ensure_topics, producer
from .worker import Worker, WorkerOptions

log = logging.getLogger(__name__)


@dataclass
class WorkerSettings:
    database: str  #: PostgreSQL DSN (the distributed mode has no embedded server)
    kafka: KafkaSettings = field(default_factory=KafkaSettings)
    options: WorkerOptions = field(default_factory=WorkerOptions)
    host: str = "127.0.0.1"  #: operations endpoints (/healthz, /readyz, /metrics)
    port: int = 6066
    chunk_records: int = 256  #: records applied and stored per transaction at most
    chunk_within: float = 0.05  #: seconds to wait for a chunk to fill
    owner: str | None = None  #: this worker's name in partition_state (default: random)
    frozen_after: float = 5.0  #: seconds a transaction may sit idle before the server ends it
    store_interval: float = 300.0  #: seconds between store upkeep passes (packing, partitions, retention); 0: none


def build(site: Site, s: WorkerSettings):
    """The faust app and our worker inside it (not started)."""
    import faust

    from ..store import maintenance
    from ..store.db import connect_pool
    from .ops_http import serve_ops

    k = s.kafka
    os.makedirs(os.path.join(tempfile.gettempdir(), "warning-faust"), exist_ok=True)
    app = faust.App(
        f"{k.prefix}-workers",
        broker=f"kafka://{k.bootstrap}",
        store="memory://",
        web_enabled=False,
        topic_partitions=k.partitions,
        topic_replication_factor=k.replication,
        key_serializer="raw",
        value_serializer="raw",
        broker_session_timeout=k.session_timeout,
        broker_heartbeat_interval=max(1.0, k.session_timeout / 5),
        broker_commit_interval=1.0,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        stream_wait_empty=False,
        stream_buffer_maxsize=4096,
        broker_max_poll_records=500,
        # faust makes a data folder even with the memory store: keep it out of the working directory
        datadir=os.path.join(tempfile.gettempdir(), "warning-faust", f"{k.prefix}-{os.getpid()}"),
    )
    topic = app.topic(k.readings_topic, partitions=k.partitions, key_serializer="raw", value_serializer="raw")
    metrics = Metrics()
    holder: dict = {}
    started = asyncio.Event()

    @app.task
    async def boot() -> None:
        # A worker frozen inside a transaction (SIGSTOP, a paused VM) would hold its partitions'
        # rows locked, and the worker taking them over would wait for it forever: the server ends
        # such sessions instead, and the frozen worker finds itself fenced when it wakes.
        owner = s.owner or f"worker-{uuid.uuid4().hex[:8]}"
        pool = await connect_pool(
            s.database,
            max_size=4,
            server_settings={
                "idle_in_transaction_session_timeout": str(int(s.frozen_after * 1000)),
                "statement_timeout": str(int(s.frozen_after * 2000)),
                # pg_stat_activity names the worker behind a session (who holds which lock)
                "application_name": f"warning worker {owner}",
            },
        )
        prod = producer(k)
        await prod.start()
        w = Worker(site, pool, k, producer=prod, metrics=metrics, options=s.options, owner=owner)
        await w.start()
        holder["worker"] = w
        holder["ops"] = asyncio.ensure_future(serve_ops(s.host, s.port, w, pool, metrics))
        if s.store_interval > 0:  # once per pass across workers and gateways: the upkeep's advisory lock
            holder["upkeep"] = asyncio.ensure_future(
                maintenance.keep_up(s.database, lambda: w.site.retention, s.store_interval)
            )
        started.set()
        log.info(
            "worker %s started: %d partitions of %s, ops on %s:%d",
            w.owner,
            k.partitions,
            k.readings_topic,
            s.host,
            s.port,
        )

    def mine(tps) -> set[int]:
        return {tp.partition for tp in tps if tp.topic == k.readings_topic}

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]  # faust awaits coroutine receivers
    async def on_revoked(sender, revoked, **kwargs) -> None:
        if started.is_set():
            holder["worker"].revoke(mine(revoked))

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]  # faust awaits coroutine receivers
    async def on_assigned(sender, assigned, **kwargs) -> None:
        await started.wait()
        w: Worker = holder["worker"]
        now_mine = mine(assigned)
        w.revoke(set(w.states) - now_mine)
        await w.assign(now_mine)
        log.info("owning partitions %s", sorted(w.states))

    @app.agent(topic, name="pipeline")
    async def pipeline(stream) -> None:
        async for events in stream.noack_take(s.chunk_records, within=s.chunk_within):
            await started.wait()
            w: Worker = holder["worker"]
            with metrics.chunk_seconds.time():
                done = await w.handle([(e.message.partition, e.message.offset, e.value) for e in events])
            for e in events:
                if (e.message.partition, e.message.offset) in done:
                    await stream.ack(e)

    @app.timer(interval=s.options.tick_interval)
    async def ticks() -> None:
        if started.is_set():
            try:
                await holder["worker"].tick()
            except Exception:  # a broker hiccup must not stop the timer
                log.exception("writing ticks failed")

    return app, holder


def run_worker(site: Site, s: WorkerSettings, loglevel: str = "info") -> int:
    """Create the topics if needed, then run the faust worker until a signal stops it."""
    import faust

    asyncio.run(ensure_topics(s.kafka))
    app, _ = build(site, s)
    worker = faust.Worker(app, loglevel=loglevel, quiet=True)
    worker.execute_from_commandline()
    return 0
