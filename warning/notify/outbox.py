"""The outbox worker: delivers the duty-officer channel's messages from the ``outbox`` table.

Delivery is at least once: a row is leased (its ``next_attempt_at`` pushed ahead) before
sending, so if the process dies mid-send the row comes due again after the lease and
is re-sent. Every message carries the event id for receivers that dedupe. Failures
back off exponentially with full jitter; after ``max_attempts`` the row is ``failed``
(the dead letter), stays for an operator to see, and ``on_dead`` is called so that the
runtime raises a dead-letter alert of its own (through the other channels).

Leases carry the worker's ``owner`` id. The embedded runtime is the only worker on its
database, so at start-up :meth:`release_leases` makes rows leased by a dead predecessor
due at once instead of after the lease: a crash mid-send re-sends within a second.
Sharp edge: with several workers on one database, do not release leases at start-up.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import secrets
import time

import aiohttp
import asyncpg
import orjson

from ..site import Channel
from .channels import Sender

log = logging.getLogger(__name__)
LEASE_S = 60
UPSTREAM_ATTEMPTS = 20  #: tries of an upstream (platform) message before it is a dead letter


def backoff(attempt: int, *, base: float = 2.0, cap: float = 300.0, rng: random.Random | None = None) -> float:
    """Seconds before retry ``attempt`` (1-based): full jitter over ``base * 2**(attempt-1)``, capped."""
    ceiling = min(cap, base * (2 ** (attempt - 1)))
    return (rng or random).uniform(ceiling / 2, ceiling)


def channel_url(ch: Channel) -> str | None:
    """URL from ``url``, or from the environment variable named by ``url_env`` (secrets stay out of files)."""
    if "url_env" in ch.options:
        return os.environ.get(ch.options["url_env"])
    return ch.options.get("url")


class OutboxWorker:
    def __init__(
        self,
        pool: asyncpg.Pool,
        channels: list[Channel],
        *,
        metrics=None,
        max_attempts: int = 8,
        poll_interval: float = 1.0,
        timeout: float = 10.0,
        on_dead=None,
        clock=time.time,
        codes=None,
    ):
        self.pool = pool
        self.owner = secrets.token_hex(6)  #: this worker's lease id
        self.on_dead = on_dead  #: async (row) -> None, for the dead-letter alert
        self.clock = clock
        self.codes = codes  #: warning.platforms.push.PushCodes, for upstream channels
        self.channels = {c.id: c for c in channels}  #: channel id -> definition
        self.metrics = metrics
        self.max_attempts = max_attempts
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.wake = asyncio.Event()  #: set by the runtime after it commits new outbox rows
        self.max_in_flight = 64  #: deliveries at once
        self._in_flight: set[asyncio.Task] = set()
        self._session: aiohttp.ClientSession | None = None
        self._sender: Sender | None = None

    async def run(self) -> None:
        """Lease due rows and deliver each in its own task (at most ``max_in_flight`` at once), so a
        slow channel (an SMTP server timing out) never holds up the robots' messages."""
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        self._sender = Sender(self._session, self.clock, self.timeout, self.codes)
        delay = 0.5
        try:
            while True:
                room = self.max_in_flight - len(self._in_flight)
                leased = 0
                if room > 0:
                    try:
                        rows = await self._lease(min(room, 50))
                        delay = 0.5
                    except (
                        asyncpg.PostgresError,
                        asyncpg.InterfaceError,
                        OSError,
                        ConnectionError,
                        TimeoutError,
                    ) as exc:  # the store is down: the rows wait durably
                        log.error("outbox: store unavailable (%s); retrying in %.1f s", exc, delay)
                        await asyncio.sleep(delay)
                        delay = min(delay * 2, 10.0)
                        continue
                    for row in rows:
                        task = asyncio.create_task(self._finish(row))
                        self._in_flight.add(task)
                        task.add_done_callback(self._done)
                    leased = len(rows)
                if leased:
                    continue
                self.wake.clear()
                try:
                    await asyncio.wait_for(self.wake.wait(), self.poll_interval)
                except TimeoutError:
                    pass
        finally:
            for t in list(self._in_flight):  # interrupted sends stay leased; the next start re-sends them
                t.cancel()
            await asyncio.gather(*self._in_flight, return_exceptions=True)
            await self._session.close()

    def _done(self, task: asyncio.Task) -> None:
        self._in_flight.discard(task)
        self.wake.set()  # room again: look for more due rows
        if not task.cancelled() and task.exception() is not None:
            log.error("outbox: delivery task failed", exc_info=task.exception())

    async def _lease(self, limit: int) -> list:
        async with self.pool.acquire() as conn:
            return await conn.fetch(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = now() + make_interval(secs => $2), "
                "lease_owner = $3 "
                "WHERE id IN (SELECT id FROM outbox WHERE state = 'pending' AND next_attempt_at <= now() "
                "ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED) RETURNING id, channel, payload, attempts, event_id",
                limit,
                LEASE_S,
                self.owner,
            )

    async def _finish(self, row) -> None:
        """Deliver one leased row and record the outcome (sent, retry later, or dead letter)."""
        error = await self._deliver(row)
        delay = 0.5
        while True:
            try:
                async with self.pool.acquire() as conn:
                    if error is None:
                        await conn.execute(
                            "UPDATE outbox SET state = 'sent', sent_at = now(), last_error = NULL, "
                            "lease_owner = NULL WHERE id = $1",
                            row["id"],
                        )
                    elif row["attempts"] >= self._attempts(row["channel"]):
                        await conn.execute(
                            "UPDATE outbox SET state = 'failed', last_error = $2, lease_owner = NULL WHERE id = $1",
                            row["id"],
                            error,
                        )
                    else:
                        await conn.execute(
                            "UPDATE outbox SET next_attempt_at = now() + make_interval(secs => $2), "
                            "last_error = $3, lease_owner = NULL WHERE id = $1",
                            row["id"],
                            self._backoff(row["channel"], row["attempts"]),
                            error,
                        )
                break
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, ConnectionError, TimeoutError) as exc:
                if delay > LEASE_S / 2:  # give up: the lease expires and the row is sent again
                    log.error("outbox: could not record delivery of %s: %s", row["event_id"], exc)
                    return
                await asyncio.sleep(delay)
                delay *= 2
        if error is not None and row["attempts"] >= self._attempts(row["channel"]) and self.on_dead is not None:
            log.error(
                "notification %s on %s is a dead letter after %d attempts: %s",
                row["event_id"],
                row["channel"],
                row["attempts"],
                error,
            )
            await self.on_dead(
                {
                    "id": row["id"],
                    "channel": row["channel"],
                    "event_id": row["event_id"],
                    "last_error": error,
                    "attempts": row["attempts"],
                }
            )

    def _attempts(self, channel: str) -> int:
        """A channel's ``max_attempts`` option, else the worker's (upstream channels default to
        20: with the 300 s cap that rides out an outage of more than an hour)."""
        ch = self.channels.get(channel)
        if ch is None:
            return self.max_attempts
        default = UPSTREAM_ATTEMPTS if ch.type == "upstream" else self.max_attempts
        return int(ch.options.get("max_attempts", default))

    def _backoff(self, channel: str, attempt: int) -> float:
        ch = self.channels.get(channel)
        opts = ch.options if ch is not None else {}
        return backoff(attempt, base=float(opts.get("backoff_base", 2.0)), cap=float(opts.get("backoff_cap", 300.0)))

    def use_codes(self, codes) -> None:
        """The site changed (the live ledger): items built from now on use its codes."""
        self.codes = codes
        if self._sender is not None:
            self._sender.codes = codes

    async def release_leases(self) -> int:
        """Make rows leased by an earlier (crashed) process due now; returns how many."""
        async with self.pool.acquire() as conn:
            done = await conn.execute(
                "UPDATE outbox SET next_attempt_at = now() WHERE state = 'pending' AND lease_owner IS NOT NULL "
                "AND lease_owner <> $1 AND next_attempt_at > now()",
                self.owner,
            )
        return int(done.split()[-1])

    async def _deliver(self, row) -> str | None:
        """Send one message; None on success, else the reason."""
        ch = self.channels.get(row["channel"])
        outcome = "failed"
        try:
            if ch is None:
                return f"channel {row['channel']!r} is no longer configured"
            payload = orjson.loads(row["payload"]) if isinstance(row["payload"], (str, bytes)) else row["payload"]
            error = await self._send(ch, payload, row["event_id"])
            if error is None:
                outcome = "sent"
            return error
        finally:
            if self.metrics is not None:
                self.metrics.notifications.labels(row["channel"], outcome).inc()

    async def _send(self, ch: Channel, payload: dict, key: str = "") -> str | None:
        if self._sender is None:
            raise RuntimeError("the outbox worker is not started")
        return await self._sender.send(ch, payload, key or payload.get("id", ""))
