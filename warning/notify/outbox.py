"""The outbox worker: delivers the duty-officer channel's messages from the ``outbox`` table.

Delivery is at least once: a row is leased (its ``next_attempt_at`` pushed ahead) before
sending, so if the process dies mid-send the row comes due again after the lease and
is re-sent. Every message carries the event id for receivers that dedupe. Failures
back off exponentially with full jitter; after ``max_attempts`` the row is ``failed``
(the dead letter) and stays for an operator to see.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random

import aiohttp
import asyncpg
import orjson

from ..config import Channel
from . import formats

log = logging.getLogger(__name__)
LEASE_S = 60


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
    def __init__(self, pool: asyncpg.Pool, channels: list[Channel], *, metrics=None, max_attempts: int = 8,
                 poll_interval: float = 1.0, timeout: float = 10.0):
        self.pool = pool
        self.channels = {c.id: c for c in channels}  #: channel id -> definition
        self.metrics = metrics
        self.max_attempts = max_attempts
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.wake = asyncio.Event()  #: set by the runtime after it commits new outbox rows
        self._session: aiohttp.ClientSession | None = None

    async def run(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        try:
            while True:
                sent = await self.drain_once()
                if sent:
                    continue
                self.wake.clear()
                try:
                    await asyncio.wait_for(self.wake.wait(), self.poll_interval)
                except TimeoutError:
                    pass
        finally:
            await self._session.close()

    async def drain_once(self, limit: int = 50) -> int:
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = now() + make_interval(secs => $2) "
                "WHERE id IN (SELECT id FROM outbox WHERE state = 'pending' AND next_attempt_at <= now() "
                "ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED) RETURNING id, channel, payload, attempts",
                limit, LEASE_S)
        if not rows:
            return 0
        results = await asyncio.gather(*(self._deliver(r) for r in rows))
        async with self.pool.acquire() as conn:
            for row, error in zip(rows, results):
                if error is None:
                    await conn.execute("UPDATE outbox SET state = 'sent', sent_at = now(), last_error = NULL "
                                       "WHERE id = $1", row["id"])
                elif row["attempts"] >= self.max_attempts:
                    await conn.execute("UPDATE outbox SET state = 'failed', last_error = $2 WHERE id = $1",
                                       row["id"], error)
                else:
                    await conn.execute("UPDATE outbox SET next_attempt_at = now() + make_interval(secs => $2), "
                                       "last_error = $3 WHERE id = $1", row["id"], backoff(row["attempts"]), error)
        return len(rows)

    async def _deliver(self, row) -> str | None:
        """Send one message; None on success, else the reason."""
        ch = self.channels.get(row["channel"])
        outcome = "failed"
        try:
            if ch is None:
                return f"channel {row['channel']!r} is no longer configured"
            payload = orjson.loads(row["payload"]) if isinstance(row["payload"], (str, bytes)) else row["payload"]
            error = await self._send(ch, payload)
            if error is None:
                outcome = "sent"
            return error
        finally:
            if self.metrics is not None:
                self.metrics.notifications.labels(row["channel"], outcome).inc()

    async def _send(self, ch: Channel, payload: dict) -> str | None:
        if ch.type == "log":
            a = payload["alert"]
            log.warning("[%s] %s %s %s/%s/%s %s: %s", ch.id, payload["kind"], a["severity"], a["enterprise"],
                        a["device"], a["point"], a["rule"], a["message"])
            return None
        url = channel_url(ch)
        if not url:
            return f"channel {ch.id!r} has no url (set url or the environment variable in url_env)"
        body = formats.wecom_markdown(payload) if ch.type == "wecom" else formats.webhook(payload)
        try:
            async with self._session.post(url, data=orjson.dumps(body),
                                          headers={"Content-Type": "application/json"}) as resp:
                text = await resp.text()
                if resp.status >= 300:
                    return f"HTTP {resp.status}: {text[:200]}"
                if ch.type == "wecom":  # WeCom answers 200 with an errcode
                    try:
                        code = orjson.loads(text).get("errcode", 0)
                    except (orjson.JSONDecodeError, AttributeError):
                        code = 0
                    if code:
                        return f"wecom errcode {code}: {text[:200]}"
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return f"{type(exc).__name__}: {exc}"
        return None
