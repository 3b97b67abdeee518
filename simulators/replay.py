"""Replay a telemetry CSV through the ingest API with its original timing, scaled.

A reading recorded at ``ts`` is sent at ``real0 + (ts - ts0) / speed`` (``speed`` 0: as
fast as the server takes them). Rows that are due together go out together: one request
per enterprise, at most ``chunk`` messages each; a round of requests is answered before
the next starts, so every device's readings arrive in time order.

Timestamps. ``retime="keep"`` sends the recorded ones (the server accepts readings up
to 30 days old). ``retime="now"`` shifts them so that the replay looks live: the first
reading maps to now, or, when ``speed`` > 1 would push later readings more than the
server's 10 minutes into the future, earlier (see :func:`live_shift`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Iterator

from simulators.csvio import Row
from simulators.poster import Poster


def live_shift(first: float, last: float, now: float, speed: float) -> float:
    """Seconds to add to recorded times so a replay starting at ``now`` never sends a
    timestamp ahead of the wall clock: ``first`` maps to ``now`` at ``speed`` ≤ 1, and
    the ``last`` reading lands at the moment it is sent at any speed (0 = instant)."""
    span = max(0.0, last - first)
    ahead = span * (1.0 if speed <= 0 else max(0.0, 1.0 - 1.0 / speed))
    return now - first - ahead


def messages(rows: Iterable[Row]) -> Iterator[tuple[int, str, str, dict[str, float]]]:
    """Consecutive rows of one (ts, enterprise, device) become one message."""
    key: tuple[int, str, str] | None = None
    values: dict[str, float] = {}
    for r in rows:
        k = (r.ts_ms, r.enterprise, r.device)
        if k != key:
            if key is not None:
                yield key[0], key[1], key[2], values
            key, values = k, {}
        values[r.point] = r.value
    if key is not None:
        yield key[0], key[1], key[2], values


async def _sleep(stop: asyncio.Event, delay: float) -> bool:
    try:
        await asyncio.wait_for(stop.wait(), delay)
        return True
    except TimeoutError:
        return False


async def replay(
    rows: Iterable[Row],
    poster: Poster,
    *,
    speed: float = 1.0,
    shift_s: float = 0.0,
    stop: asyncio.Event | None = None,
    chunk: int = 2000,
    first_ts_ms: int | None = None,
) -> dict:
    """Send ``rows`` (time-ordered); returns the poster's counters plus ``messages``, ``seconds``."""
    stop = stop or asyncio.Event()
    shift_ms = round(shift_s * 1000)
    pending: dict[str, list[dict]] = {}
    count = 0
    real0 = time.time()
    ts0 = first_ts_ms

    async def flush() -> None:
        batches = [(eid, items[i : i + chunk]) for eid, items in pending.items() for i in range(0, len(items), chunk)]
        pending.clear()
        await asyncio.gather(*(poster.post(eid, items) for eid, items in batches))

    for ts, eid, dev, values in messages(rows):
        if stop.is_set():
            break
        if ts0 is None:
            ts0 = ts
        if speed > 0:
            delay = real0 + (ts - ts0) / 1000.0 / speed - time.time()
            if delay > 0.002:
                await flush()
                if delay > 0.002 and await _sleep(stop, real0 + (ts - ts0) / 1000.0 / speed - time.time()):
                    break
        pending.setdefault(eid, []).append({"device": dev, "ts": ts + shift_ms, "values": values})
        count += 1
        if len(pending[eid]) >= chunk:
            await flush()
    await flush()
    return {**poster.stats, "messages": count, "seconds": round(time.time() - real0, 3)}
