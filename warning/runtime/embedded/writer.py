"""The embedded runtime's writer: requests wait in a bounded queue and are stored by group
commit (one transaction, readings by COPY); each request is answered once its group's
transaction has committed, never before.

A group the store refuses for its data (not because it is away) is split in halves and
stored again, until the request that carries the refused rows stands alone: that request is
answered 400 with the store's reason and the others commit. One tenant's bad text never
fails another tenant's readings.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg

from ...ingest import Parsed
from ...model import Reading
from ...step import Batch, Key, admit, admit_keyed, reading_keys
from ...store import readings as reading_store
from ..errors import DB_ERRORS, Overloaded, Rejected, is_data_error, is_outage, reason

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Request:
    enterprise: str
    parsed: Parsed
    answer: asyncio.Future  #: (readings accepted, messages ignored as repeats), or the refusal


class Writer:
    def __init__(
        self,
        pool: asyncpg.Pool,
        metrics,
        *,
        max_pending: int,
        group_max: int,
        deliver: Callable[[Batch], Awaitable[None]],
        clock: Callable[[], float],
    ):
        self.pool = pool
        self.metrics = metrics
        self.max_pending = max_pending  #: readings waiting for their group commit before 503
        self.group_max = group_max  #: readings per group commit at most
        self.deliver = deliver  #: hands a committed batch to the pipeline (waits for room)
        self.clock = clock
        self.pending: deque[Request] = deque()
        self.pending_readings = 0
        self._wake = asyncio.Event()

    def full(self) -> bool:
        return self.pending_readings >= self.max_pending

    async def submit(self, enterprise: str, parsed: Parsed) -> tuple[int, int]:
        if self.pending_readings + parsed.count > self.max_pending:
            raise Overloaded(f"ingest queue full ({self.pending_readings} readings pending)", 1)
        fut = asyncio.get_running_loop().create_future()
        self.pending.append(Request(enterprise, parsed, fut))
        self.pending_readings += parsed.count
        self.metrics.queue_depth.labels("ingest").set(self.pending_readings)
        self._wake.set()
        return await fut

    def fail_pending(self, exc: Exception) -> None:
        """Answer every waiting request with ``exc`` (shutting down)."""
        while self.pending:
            r = self.pending.popleft()
            if not r.answer.done():
                r.answer.set_exception(exc)
        self.pending_readings = 0

    async def run(self) -> None:
        while True:
            if not self.pending:
                self._wake.clear()
                await self._wake.wait()
            group: list[Request] = []
            n = 0
            while self.pending and n < self.group_max:
                r = self.pending.popleft()
                group.append(r)
                n += r.parsed.count
            self.pending_readings -= n
            self.metrics.queue_depth.labels("ingest").set(self.pending_readings)
            try:
                await self._commit(group)
            except asyncio.CancelledError:
                _fail(group, Overloaded("stopping; retry", 2))
                raise
            except Exception:  # a bug must not leave requests hanging or stop the writer
                log.exception("group commit crashed")
                _fail(group, Overloaded("internal error while storing; retry", 5))

    async def _commit(self, group: list[Request]) -> None:
        started = time.perf_counter()
        at = self.clock()
        try:
            batch, rows, results = await self._store(group, at)
        except DB_ERRORS as exc:
            if is_outage(exc):
                log.error("group commit failed, %d requests refused: %s", len(group), exc)
                _fail(group, Overloaded(f"store unavailable: {type(exc).__name__}", 5))
            elif len(group) == 1 and is_data_error(exc):
                why = reason(exc)
                log.warning("the store refused a request of %s: %s", group[0].enterprise, why)
                self.metrics.readings_rejected.labels("refused").inc()
                _fail(group, Rejected(f"the store refused this request: {why}"))
            elif len(group) == 1:  # not the data's fault: ours (a schema mismatch, a bug); say so, retry later
                log.error("the store failed a request of %s: %s", group[0].enterprise, reason(exc))
                _fail(group, Overloaded(f"store error: {type(exc).__name__}", 5))
            else:  # isolate the request the store refuses: the others commit
                half = len(group) // 2
                await self._commit(group[:half])
                await self._commit(group[half:])
            return
        self.metrics.batch_seconds.observe(time.perf_counter() - started)
        for r, res in zip(group, results):
            self.metrics.readings_accepted.inc(res[0])
            if res[1]:
                self.metrics.duplicates.inc(res[1])
            if not r.answer.done():
                r.answer.set_result(res)
        if rows:
            await self.deliver(Batch([(None, rows)], at, code=batch))

    async def _store(self, group: list[Request], at: float) -> tuple[int, list[Reading], list[tuple[int, int]]]:
        async with self.pool.acquire() as conn, conn.transaction():
            batch = await reading_store.next_batch(conn)
            rows: list[Reading] = []
            results = []
            new_ids: list[tuple[str, str]] = []
            in_group: set[tuple[str, str]] = set()
            # keyed requests: one look-up of every (point, ms) they carry, for the whole group
            keyed = any(r.parsed.keyed for r in group)
            stored: set[Key] = set()
            if keyed:
                stored = await reading_store.stored_keys(
                    conn, [k for r in group if r.parsed.keyed for k in reading_keys(r.parsed.messages)]
                )
            taken: set[Key] = set()  #: (point, ms) taken earlier in this group, by any request
            for r in group:
                if r.parsed.keyed:
                    readings, dups = admit_keyed(r.parsed.messages, stored, taken)
                else:
                    ids = [m for m, _ in r.parsed.messages if m is not None]
                    known = await reading_store.known_ids(conn, r.enterprise, ids) if ids else frozenset()
                    readings, new, dups = admit(r.enterprise, r.parsed.messages, known, in_group)
                    new_ids.extend((r.enterprise, m) for m in new)
                    if keyed:  # a keyed repeat of what a native request stores in this very group
                        taken.update((x[0], round(x[1] * 1000.0)) for x in readings)
                rows.extend(readings)
                results.append((len(readings), dups))
            await reading_store.copy_readings(conn, batch, rows)
            if new_ids:
                await reading_store.record_ids(conn, batch, new_ids)
            if rows:
                await reading_store.record_arrival(conn, batch, at)
        return batch, rows, results


def _fail(group: list[Request], exc: Exception) -> None:
    for r in group:
        if not r.answer.done():
            r.answer.set_exception(exc)
