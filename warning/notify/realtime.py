"""Real-time data upward: an ``upstream`` channel with ``realtime = true`` hears the committed
readings as the platform's own real-time items (``{"tnm", "ts", "val"}``), batched, through the
durable outbox like every other push (at least once, retried with back-off, dead-lettered).

Every ``realtime_interval`` seconds the pusher takes the group commits after its cursor (a row
``upstream-rt/<channel>`` in ``checkpoints``), in order, and queues one outbox message per
enterprise and at most ``realtime_batch`` readings; the messages and the cursor's advance are
one transaction, and a message's id is ``rt-<batch>-<enterprise>-<k>``, the same however often
it is built, so a crash between the two neither loses nor doubles a message.

Bounded: while ``realtime_backlog`` messages of the channel wait unsent (the upstream is
away), the pusher queues nothing more and its cursor waits; the readings wait in the store.
Sharp edge: readings are read raw, so those an upstream outage keeps waiting until their hour
is packed (an hour and ten minutes or more after they were taken) are not pushed as real-time
data (counted in the log when the cursor has to jump); the alerts and warnings are never
dropped. Only points with a platform code go up. The embedded runtime only (the distributed
workers write their readings under negative batch codes, not read here).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping

import asyncpg
import orjson

from ..platforms.push import readings_items
from ..platforms.settings import Format
from ..site import Channel

log = logging.getLogger(__name__)

CURSOR = "upstream-rt/"  #: checkpoints name prefix of a channel's cursor
BATCHES = 50  #: group commits read a step at most

# point id -> (enterprise, point code), read afresh each step (the live site's codes)
CodeMap = Mapping[int, tuple[str, str]]


class RealtimePusher:
    def __init__(
        self,
        pool: asyncpg.Pool,
        channel: Channel,
        fmt: Format | None,
        codes: Callable[[], CodeMap],
        *,
        timezone: str,
        wake: asyncio.Event | None = None,
    ):
        o = channel.options
        self.pool = pool
        self.channel = channel
        self.fmt = fmt
        self.codes = codes
        self.timezone = timezone
        self.wake = wake  #: the outbox worker's: set after queueing
        self.interval = float(o.get("realtime_interval", 10.0))
        self.batch = int(o.get("realtime_batch", 500))
        self.backlog = int(o.get("realtime_backlog", 1000))
        self.only = set(o.get("enterprises") or ())
        self.name = CURSOR + channel.id

    async def run(self) -> None:
        while True:
            try:
                while await self.step():
                    pass
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
                log.warning("real-time push to %s: store unavailable (%s); retrying", self.channel.id, exc)
            await asyncio.sleep(self.interval)

    async def step(self) -> int:
        """Queue the next group commits' readings; returns the messages queued (0: caught up or
        the backlog is full)."""
        codes = self.codes()
        async with self.pool.acquire() as conn, conn.transaction():
            cur = await conn.fetchval("SELECT batch FROM checkpoints WHERE name = $1 FOR UPDATE", self.name)
            if cur is None:  # first start: from now on, not the whole history
                last = await conn.fetchval("SELECT coalesce(max(batch), 0) FROM batch_times")
                await conn.execute(
                    "INSERT INTO checkpoints (name, batch, state) VALUES ($1, $2, '') ON CONFLICT (name) DO NOTHING",
                    self.name,
                    last,
                )
                return 0
            waiting = await conn.fetchval(
                "SELECT count(*) FROM outbox WHERE channel = $1 AND state = 'pending' AND kind = 'upstream:realtime'",
                self.channel.id,
            )
            if waiting >= self.backlog:
                return 0
            batches = [
                r["batch"]
                for r in await conn.fetch(
                    "SELECT batch FROM batch_times WHERE batch > $1 ORDER BY batch LIMIT $2", cur, BATCHES
                )
            ]
            if not batches:
                return 0
            rows = await conn.fetch(
                "SELECT batch, point_id, ts_ms, value FROM readings WHERE batch = ANY($1::bigint[]) "
                "ORDER BY batch, point_id, ts_ms",
                batches,
            )
            msgs = self.messages(rows, codes)
            room = self.backlog - waiting
            taken: list = []
            upto = cur
            for b in batches:  # whole group commits only, within the room left (the first one always)
                mine = [m for m in msgs if m[1] == b]
                if mine and len(taken) + len(mine) > room and (taken or waiting):
                    break
                taken += mine
                upto = b
            msgs = taken
            if upto == cur:
                return 0
            await conn.executemany(
                "INSERT INTO outbox (event_id, channel, alert_id, kind, payload, items) "
                "VALUES ($1, $2, $3, 'upstream:realtime', $4, $5) ON CONFLICT (event_id, channel) DO NOTHING",
                [(mid, self.channel.id, f"realtime:{ent}", orjson.dumps(p).decode(), n) for mid, _, ent, p, n in msgs],
            )
            await conn.execute("UPDATE checkpoints SET batch = $2, saved_at = now() WHERE name = $1", self.name, upto)
        if msgs and self.wake is not None:
            self.wake.set()
        return max(1, len(msgs))

    def messages(self, rows, codes: CodeMap) -> list[tuple[str, int, str, dict, int]]:
        """(id, batch, enterprise, payload, readings) per (batch, enterprise, chunk), in order."""
        per: dict[tuple[int, str], list[tuple[str, float, float]]] = {}
        for batch, pid, ts_ms, value in rows:
            c = codes.get(pid)
            if c is None or (self.only and c[0] not in self.only):
                continue
            per.setdefault((batch, c[0]), []).append((c[1], ts_ms / 1000.0, value))
        out = []
        for (batch, ent), rs in per.items():
            for k in range(0, len(rs), self.batch):
                part = rs[k : k + self.batch]
                mid = f"rt-{batch}-{ent}-{k // self.batch}"
                payload = {
                    "id": mid,
                    "kind": "realtime",
                    "enterprise": ent,
                    "readings": readings_items(self.fmt, part, self.timezone),
                }
                out.append((mid, batch, ent, payload, len(part)))
        return out
