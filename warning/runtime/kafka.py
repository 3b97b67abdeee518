"""Kafka plumbing shared by the workers and the gateways (aiokafka): settings, topics,
producers, and reading a partition's range back.

Sharp edges:

* The test broker (tansu 0.6) answers ListOffsets(latest) wrongly and refuses idempotent
  producers, so nothing here asks the broker for end offsets, and ``idempotent`` is a
  setting (on for Apache Kafka). Without it a producer retry can write a record twice; the
  records carry ids and the partitions drop repeats (see ``partition.py``).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

log = logging.getLogger(__name__)


@dataclass
class KafkaSettings:
    """Where the distributed runtime's topics live; ``WARNING_KAFKA_*`` variables set them."""

    bootstrap: str = "127.0.0.1:9092"  #: broker list, host:port[,host:port]
    prefix: str = "warning"  #: topic and consumer-group prefix: one prefix per deployment
    partitions: int = 16  #: partitions of both topics; fixed once the topics exist
    replication: int = 1  #: replication factor when the runtime creates the topics (3 in production)
    idempotent: bool = True  #: idempotent producers (Apache Kafka); off for brokers without it
    session_timeout: float = 10.0  #: consumer-group session: a dead worker's partitions move after it
    compression: str | None = None  #: producer compression (gzip needs nothing more; readings JSON shrinks ~5x)

    @property
    def readings_topic(self) -> str:
        return f"{self.prefix}-readings"

    @property
    def events_topic(self) -> str:
        return f"{self.prefix}-alert-events"

    @classmethod
    def from_env(cls, **overrides) -> KafkaSettings:
        env = os.environ
        s = cls(
            bootstrap=env.get("WARNING_KAFKA", cls.bootstrap),
            prefix=env.get("WARNING_KAFKA_PREFIX", cls.prefix),
            partitions=int(env.get("WARNING_KAFKA_PARTITIONS", cls.partitions)),
            replication=int(env.get("WARNING_KAFKA_REPLICATION", cls.replication)),
            idempotent=env.get("WARNING_KAFKA_IDEMPOTENT", "1") not in ("0", "false", "no"),
            session_timeout=float(env.get("WARNING_KAFKA_SESSION_TIMEOUT", cls.session_timeout)),
            compression=env.get("WARNING_KAFKA_COMPRESSION") or None,
        )
        for k, v in overrides.items():
            if v is not None:
                setattr(s, k, v)
        return s


async def ensure_topics(s: KafkaSettings) -> int:
    """Create both topics if missing; returns the readings topic's partition count, which
    every process must agree on (enterprises are placed by it)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=s.bootstrap)
    await admin.start()
    try:
        for name in (s.readings_topic, s.events_topic):
            try:
                resp = await admin.create_topics([NewTopic(name, s.partitions, s.replication)])
                code = resp.topic_errors[0][1]
                if code not in (0, TopicAlreadyExistsError.errno):
                    raise RuntimeError(f"creating topic {name}: error {code}")
            except TopicAlreadyExistsError:
                pass
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=s.bootstrap)
    await producer.start()
    try:
        found = len(await producer.partitions_for(s.readings_topic))
    finally:
        await producer.stop()
    if found != s.partitions:
        raise RuntimeError(
            f"topic {s.readings_topic} has {found} partitions, configured {s.partitions}: "
            "set WARNING_KAFKA_PARTITIONS to the topic's"
        )
    return found


def producer(s: KafkaSettings, **kw) -> AIOKafkaProducer:
    """acks=all: a record is acknowledged once the in-sync replicas have it."""
    return AIOKafkaProducer(
        bootstrap_servers=s.bootstrap,
        acks="all",
        enable_idempotence=s.idempotent,
        linger_ms=kw.pop("linger_ms", 2),
        max_request_size=kw.pop("max_request_size", 4 << 20),
        compression_type=s.compression,
        **kw,
    )


async def read_range(
    s: KafkaSettings, topic: str, partition: int, first: int, last: int, timeout: float = 30.0
) -> list[tuple[int, bytes]]:
    """Records ``first..last`` (inclusive) of one partition, without joining any group."""
    if last < first:
        return []
    consumer = AIOKafkaConsumer(
        bootstrap_servers=s.bootstrap, group_id=None, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    out: list[tuple[int, bytes]] = []
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        consumer.seek(tp, first)
        loop_deadline = timeout
        while not out or out[-1][0] < last:
            got = await consumer.getmany(tp, timeout_ms=1000, max_records=5000)
            batch = got.get(tp, [])
            if not batch:
                loop_deadline -= 1.0
                if loop_deadline <= 0:
                    raise TimeoutError(f"{topic}[{partition}]: read {len(out)} of records {first}..{last}")
                continue
            out.extend((m.offset, m.value) for m in batch if m.offset <= last)
    finally:
        await consumer.stop()
    return out
