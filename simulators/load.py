"""``warning simulate --load N``: hold N readings/s against a running server.

Why a separate generator: a load test needs a steady offered load whatever the server
answers, so nothing is resent (a 429 counts as throttled, a 503 as unavailable; see
:class:`simulators.poster.Poster`), and the values are the site's plant models at the
wall-clock time, so the detectors see normal telemetry, not constants.

Every ``tick`` (0.1 s) the generator owes ``N · tick`` readings. It pays them in rounds:
a round samples every device of the site once (all its points). Rounds of one tick get
timestamps spread over the tick, so a device's readings are in order and distinct to the
millisecond up to 1,000 rounds a second. Requests are what costs a client, so each
enterprise's readings are buffered and sent every ``period`` seconds (about ``chunk``
readings a request, at most 2 s apart), with the enterprises' phases staggered so the
requests spread evenly; at most ``concurrency`` requests are in flight. If the server
falls behind and all are busy, the generator waits, and the *offered* rate it reports
drops below N. The report says what was offered and what the server did.

Sharp edge: a device's readings arrive up to ``period`` late, in one request; fine for a
load test, not a latency test (bench/ingest_bench.py measures latency).
"""

from __future__ import annotations

import asyncio
import time

from simulators.poster import Poster
from simulators.stepper import SiteModel


async def run_load(
    site: dict,
    tokens: dict[str, str],
    url: str,
    rate: float,
    seconds: float,
    *,
    stop: asyncio.Event | None = None,
    seed: int = 0,
    tick: float = 0.1,
    concurrency: int = 32,
    chunk: int = 1000,
) -> dict:
    stop = stop or asyncio.Event()
    model = SiteModel(site, seed=seed)
    per_round = sum(len(model.values(key, time.time()) or {}) for key in model.devices)
    if per_round == 0:
        raise ValueError("the site has no points to load")
    enterprises = sorted({key[0] for key in model.devices})
    # Each enterprise sends every ``period`` s (about ``chunk`` readings a request, at most
    # 2 s apart); their phases are staggered so the requests spread evenly over time.
    period = min(2.0, max(tick, chunk / (rate / len(enterprises))))
    offered = 0
    owed = 0.0
    buffers: dict[str, list[dict]] = {e: [] for e in enterprises}
    inflight: set[asyncio.Task] = set()
    slots = asyncio.Semaphore(concurrency * 2)  # requests waiting or in flight
    async with Poster(url, tokens, concurrency=concurrency, retry=False) as poster:

        async def send(eid: str, items: list[dict], n: int) -> None:
            try:
                await poster.post(eid, items, n)
            finally:
                slots.release()

        async def flush(eid: str) -> None:
            items, buffers[eid] = buffers[eid], []
            if items:
                await slots.acquire()
                task = asyncio.create_task(send(eid, items, sum(len(m["values"]) for m in items)))
                inflight.add(task)
                task.add_done_callback(inflight.discard)

        t_start = time.perf_counter()
        next_tick = t_start
        due = {e: t_start + period * (i + 1) / len(enterprises) for i, e in enumerate(enterprises)}
        while not stop.is_set() and time.perf_counter() - t_start < seconds:
            owed += rate * tick
            rounds = int(owed // per_round)
            if rounds:
                owed -= rounds * per_round
                now = time.time()
                for j in range(rounds):
                    t = now - tick + (j + 1) * tick / rounds
                    ts = int(t * 1000)
                    for key in model.devices:
                        values = model.values(key, t)
                        if values:
                            buffers[key[0]].append({"device": key[1], "ts": ts, "values": values})
                offered += rounds * per_round
            clock = time.perf_counter()
            for eid in enterprises:
                if due[eid] <= clock or len(buffers[eid]) >= 10 * chunk:
                    await flush(eid)
                    due[eid] += period
            next_tick += tick
            delay = next_tick - time.perf_counter()
            if delay > 0:
                try:
                    await asyncio.wait_for(stop.wait(), delay)
                except TimeoutError:
                    pass
            elif delay < -1.0:
                next_tick = time.perf_counter()  # fell behind by more than a second: do not burst to catch up
        for eid in enterprises:
            await flush(eid)
        elapsed_gen = time.perf_counter() - t_start
        if inflight:
            await asyncio.gather(*inflight, return_exceptions=True)
        elapsed = time.perf_counter() - t_start
        stats = dict(poster.stats)
        errors = dict(poster.errors)
    return {
        **stats,
        "offered": offered,
        "seconds": round(elapsed, 3),
        "offered_per_s": round(offered / elapsed_gen) if elapsed_gen > 0 else 0,
        "accepted_per_s": round(stats["accepted"] / elapsed) if elapsed > 0 else 0,
        "target_per_s": rate,
        "request_period_s": round(period, 3),
        "errors": errors,
    }
