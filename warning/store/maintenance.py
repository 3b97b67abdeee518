"""The store's upkeep, one pass at a time: partitions ahead, packing, retention.

A pass runs under a PostgreSQL advisory lock taken with ``pg_try_advisory_lock``: with
several processes on one database (gateways and workers of the distributed mode, or a
``warning store`` by hand beside ``warning run``) one packs and the others skip the pass,
so packing and retention run once, not once per process. :func:`keep_up` is the loop both
run (``warning run`` in ``server.py``, ``warning worker`` in ``runtime/faust_app.py``). Each step is safe to kill at any
point (packing: one transaction per hour and group of points; retention: whole
``DROP TABLE`` statements), and the next pass carries on.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg

from ..site import Retention
from . import packing, retention, timeparts

log = logging.getLogger(__name__)


@dataclass(slots=True)
class PassResult:
    ran: bool  #: False: another process holds the lock
    packed: packing.PackStats = field(default_factory=packing.PackStats)
    dropped: list[str] = field(default_factory=list)


async def run_pass(
    conn: asyncpg.Connection,
    policy: Retention,
    *,
    now: float | None = None,
    pack: bool = True,
    retain: bool = True,
    max_hours: int = 48,
) -> PassResult:
    if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", packing.LOCK_ID):
        return PassResult(False)
    try:
        at = time.time() if now is None else now
        when = datetime.fromtimestamp(at, UTC)
        await timeparts.ensure_ahead(conn, when)
        out = PassResult(True)
        if pack:
            out.packed = await packing.pack(conn, int(at * 1000), max_hours=max_hours)
        if retain:
            out.dropped = [p.name for p in await retention.retain(conn, when, policy)]
        summary = f"packed {out.packed.readings} readings into {out.packed.blocks} blocks; dropped {out.dropped}"
        await conn.execute(
            "INSERT INTO store_runs (job, ran_at, summary) VALUES ('maintenance', now(), $1) "
            "ON CONFLICT (job) DO UPDATE SET ran_at = now(), summary = EXCLUDED.summary",
            summary,
        )
        if out.packed.readings or out.dropped:
            log.info("store: %s", summary)
        return out
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", packing.LOCK_ID)


class Packer:
    """The upkeep's own process (spawned; one pass at a time on request): packing is CPU work
    (decode, encode, deflate), and in a thread it would hold the interpreter lock that the
    service's HTTP parsing and detectors need. A pass killed with it is safe (see above); if
    the service dies the child finishes its pass and exits (its end of the pipe closes)."""

    def __init__(self, dsn: str):
        ctx = multiprocessing.get_context("spawn")
        self._pipe, theirs = ctx.Pipe()
        self._proc = ctx.Process(target=_packer_main, args=(dsn, theirs), name="warning-upkeep", daemon=True)
        self._proc.start()
        theirs.close()

    def run_pass(self, policy: Retention, **kw) -> PassResult:
        """Blocking (call through ``asyncio.to_thread``)."""
        self._pipe.send((policy, kw))
        out = self._pipe.recv()
        if isinstance(out, str):
            raise RuntimeError(out)
        return out

    def alive(self) -> bool:
        return self._proc.is_alive()

    def stop(self) -> None:
        self._proc.terminate()
        self._proc.join(2)
        self._pipe.close()


def _packer_main(dsn: str, pipe) -> None:
    while True:
        try:
            policy, kw = pipe.recv()
        except (EOFError, OSError):
            return
        try:
            out: PassResult | str = run_pass_in_thread(dsn, policy, **kw)
        except Exception as exc:  # reported to the service, which logs it and carries on
            out = f"{type(exc).__name__}: {exc}"
        try:
            pipe.send(out)
        except (BrokenPipeError, OSError):
            return


async def keep_up(dsn: str, policy: Callable[[], Retention], interval: float) -> None:
    """The upkeep loop of a process (``warning run`` and ``warning worker`` alike): a pass every
    ``interval`` seconds, every second while packing finds a backlog (an hour of the district
    a pass, so a stop never waits long), in the :class:`Packer` process from the first pass
    that packs anything (before, in a thread: most passes of a short run pack nothing). Every process
    on the database runs it; the advisory lock makes each pass happen in one of them."""
    packer: Packer | None = None
    try:
        while True:
            backlog = False
            try:
                if packer is None:  # until there is packing to do (a short-lived process never spawns)
                    res = await asyncio.to_thread(run_pass_in_thread, dsn, policy(), max_hours=1)
                    if res.packed.readings:
                        packer = Packer(dsn)
                else:
                    if not packer.alive():
                        packer = Packer(dsn)
                    res = await asyncio.to_thread(packer.run_pass, policy(), max_hours=1)
                backlog = res.packed.readings > 0
            except Exception as exc:  # the store may be away: the next pass carries on
                log.warning("store upkeep failed: %s", exc)
            await asyncio.sleep(1.0 if backlog else interval)
    finally:
        if packer is not None:
            packer.stop()


def run_pass_in_thread(dsn: str, policy: Retention, **kw) -> PassResult:
    """One pass on its own connection and event loop (in the :class:`Packer` process, or a
    thread)."""

    async def once() -> PassResult:
        conn = await asyncpg.connect(dsn)
        try:
            return await run_pass(conn, policy, **kw)
        finally:
            await conn.close()

    return asyncio.run(once())
