"""MQTT ingest: the runtime subscribes to an external broker (off unless configured).

Topics are ``telemetry/<enterprise>/<device>``. The payload is the HTTP telemetry body,
wrapped with the enterprise's token, because MQTT 3.1.1 has no per-message headers::

    {"token": "<enterprise token>", "telemetry": [{"ts": ..., "values": {...}, "id": "..."}]}

(MQTT 5 clients may instead send the bare telemetry body with a user property ``token``.)
Items without ``device`` take the topic's; an item naming another device is refused.

Credentials are checked per message, not by the broker: the token must belong to the
enterprise in the topic, so an enterprise can publish only under its own prefix (another
prefix is refused and dead-lettered). That keeps the broker's configuration independent of
the site registry, and works with any broker; the cost is that the broker itself does not
stop a client from publishing garbage on someone else's topic, it only never gets in.

QoS 1 messages are acknowledged (PUBACK) only after their readings are committed, exactly
when HTTP would answer 202, or after a refused message is stored in ``dead_letters``. While
the store is down or the runtime is full, messages stay unacknowledged and are retried here;
the broker stops sending more once its in-flight window is full (back-pressure), and after
a crash it redelivers what was not acknowledged (the session is persistent: fixed client
id, clean_session off). A redelivered message is stored once if its items carry ``id``s.

Nothing is retried for ever: only "try later" (runtime full, store unreachable) is retried.
A message that can never be taken (bad JSON, a NUL or lone surrogate in any text, which
:mod:`warning.textcheck` refuses, a store error about its data, or a bug while handling
it) is dead-lettered with its reason and acknowledged, freeing its in-flight slot.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from urllib.parse import urlparse

import aiomqtt
import orjson

from ..ingest import IngestError, loads, validate
from ..runtime.errors import DATA_ERRORS, OUTAGE, Overloaded, Rejected
from ..store import dead_letters
from ..textcheck import problem as text_problem
from ..textcheck import storable

log = logging.getLogger(__name__)


class Refused(Exception):
    """A message that can never be accepted; the reason goes to the dead-letter table."""


@dataclass
class MqttSettings:
    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None  #: the broker's own credentials for this subscriber
    password: str | None = None
    client_id: str = "warning-ingest"  #: fixed, so the broker keeps our session across restarts
    prefix: str = "telemetry"
    max_inflight: int = 200  #: messages being handled at once (each waits for its commit)

    @classmethod
    def from_url(cls, url: str, **kw) -> MqttSettings:
        u = urlparse(url)
        if u.scheme not in ("mqtt", "tcp"):
            raise ValueError(f"MQTT URL must look like mqtt://host:1883, not {url!r}")
        return cls(host=u.hostname or "127.0.0.1", port=u.port or 1883, username=u.username, password=u.password, **kw)


def unpack(topic: str, payload: bytes, prefix: str, property_token: str | None = None):
    """(enterprise, device, token, telemetry document) from a message, or raise Refused/IngestError."""
    parts = topic.split("/")
    if len(parts) != 3 or parts[0] != prefix or not parts[1] or not parts[2]:
        raise Refused(f"topic must be {prefix}/<enterprise>/<device>")
    _, enterprise, device = parts
    doc = loads(payload)
    if property_token is not None:
        token, telemetry = property_token, doc
    elif isinstance(doc, dict) and "token" in doc and "telemetry" in doc and len(doc) == 2:
        token, telemetry = doc["token"], doc["telemetry"]
    else:
        raise Refused('payload must be {"token": "...", "telemetry": [...]} (or MQTT 5 with a token property)')
    if not isinstance(token, str) or not token:
        raise Refused("token must be a non-empty string")
    reason = text_problem(token, 512)
    if reason:
        raise Refused(f"token: {reason}")
    items = telemetry if isinstance(telemetry, list) else [telemetry]
    for i, item in enumerate(items):
        if isinstance(item, dict):
            if "device" not in item:
                item["device"] = device
            elif item["device"] != device:
                raise Refused(f"item {i}: device {item['device']!r} differs from the topic's {device!r}")
    return enterprise, device, token, telemetry


class MqttSource:
    def __init__(self, settings: MqttSettings, *, runtime, auth, buckets, pool, metrics):
        self.settings = settings
        self.runtime = runtime
        self.auth = auth
        self.buckets = buckets
        self.pool = pool
        self.metrics = metrics
        self.connected = False  #: subscribed and receiving
        self._slots = asyncio.Semaphore(settings.max_inflight)
        self._tasks: set[asyncio.Task] = set()

    async def run(self) -> None:
        """Connect, subscribe, handle; reconnect with backoff whenever the broker goes away."""
        delay = 0.5
        s = self.settings
        while True:
            client = aiomqtt.Client(
                s.host,
                s.port,
                identifier=s.client_id,
                clean_session=False,
                username=s.username,
                password=s.password,
                keepalive=30,
            )
            client._client.manual_ack_set(True)  # paho: PUBACK only when we call ack()
            try:
                async with client:
                    await client.subscribe(f"{s.prefix}/+/+", qos=1)
                    self.connected, delay = True, 0.5
                    log.info("MQTT: subscribed to %s/+/+ on %s:%d", s.prefix, s.host, s.port)
                    async for msg in client.messages:
                        await self._slots.acquire()
                        task = asyncio.create_task(self._handle(client, msg))
                        self._tasks.add(task)
                        task.add_done_callback(self._tasks.discard)
            except aiomqtt.MqttError as exc:
                log.warning("MQTT: %s; reconnecting in %.1f s", exc, delay)
            finally:
                self.connected = False
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)

    async def _handle(self, client: aiomqtt.Client, msg: aiomqtt.Message) -> None:
        try:
            topic, payload = str(msg.topic), bytes(msg.payload or b"")
            delay = 0.2
            while True:
                try:
                    await self._accept(topic, payload, _property_token(msg))
                    break
                except DATA_ERRORS as exc:  # the store refuses this message's data: it never will take it
                    await self._dead_letter(topic, payload, f"store refused the data: {type(exc).__name__}: {exc}")
                    break
                except (Overloaded, *OUTAGE) as exc:  # not refused: keep it unacknowledged and retry
                    wait = exc.retry_after if isinstance(exc, Overloaded) else delay
                    log.debug("MQTT: message on %s waits %.1f s: %s", topic, wait, exc)
                    await asyncio.sleep(min(wait, 10.0))
                    delay = min(delay * 2, 10.0)
                except Exception as exc:  # a bug must not hold the slot and be redelivered for ever
                    log.exception("MQTT: message on %s could not be handled", topic)
                    await self._dead_letter(topic, payload, f"internal error: {type(exc).__name__}")
                    break
            if msg.qos > 0:
                client._client.ack(msg.mid, msg.qos)
        finally:
            self._slots.release()

    async def _accept(self, topic: str, payload: bytes, prop_token: str | None) -> None:
        """Commit the message's readings, or store it as a dead letter; raises to retry later."""
        reason = None
        try:
            enterprise, _, token, telemetry = unpack(topic, payload, self.settings.prefix, prop_token)
            owner = self.auth.enterprise(token)
            if owner is None:
                raise Refused("unknown token")
            if owner != enterprise:
                raise Refused(f"token does not belong to enterprise {enterprise!r} (cross-enterprise topic)")
            now = time.time()
            parsed = validate(telemetry, self.runtime.devices.get(enterprise, {}), now)
            wait = self.buckets.wait(token, now)
            if wait:
                await asyncio.sleep(wait)  # no 429 in MQTT: slow this publisher down instead
            self.buckets.debit(token, parsed.count, time.time())
            await self.runtime.submit(enterprise, parsed)
            self.metrics.mqtt_messages.labels("accepted").inc()
            return
        except (Refused, Rejected) as exc:  # Rejected: the store refused it (retrying cannot help)
            reason = str(exc)
        except IngestError as exc:
            reason = f"{exc.status}: {orjson.dumps(exc.body).decode()}"
        await self._dead_letter(topic, payload, reason)

    async def _dead_letter(self, topic: str, payload: bytes, reason: str) -> None:
        """Store a refused message with its reason (texts made storable: the reason may quote the
        sender's bad input); the caller then acknowledges it, so it is never redelivered."""
        topic, reason = storable(topic, 512), storable(reason, 2000)
        async with self.pool.acquire() as conn:
            await dead_letters.add(conn, "mqtt", topic, payload, reason)
        self.metrics.mqtt_messages.labels("dead_letter").inc()
        log.info("MQTT: dead letter on %s: %s", topic, reason[:200])


def _property_token(msg: aiomqtt.Message) -> str | None:
    props = getattr(msg, "properties", None)
    for key, value in getattr(props, "UserProperty", None) or ():
        if key == "token":
            return value
    return None
