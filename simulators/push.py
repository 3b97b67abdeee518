"""Push a simulated site to the telemetry endpoint over HTTP, as the enterprises would.

Why its own module: this is the only simulator code that does I/O or reads the clock.
Stepping lives in :mod:`simulators.stepper` (pure); here each step's batches are POSTed
to ``{base}/api/v1/telemetry`` with the enterprise's bearer token, one request per
enterprise per step, at most ``concurrency`` in flight. A step is finished (all its
requests answered) before the next starts, so every device's readings arrive in order.

Time. Sim time runs on a grid ``start - backfill + k·interval``. Step ``k`` is due at
real time ``real0 + (t_k - start) / speed``: the back-filled steps are already due and go
out as fast as the server takes them; later ones wait for their moment. With
``speed=1`` and ``start=None`` (now) timestamps are the wall clock; ``speed=0`` never
waits. A pusher that falls behind catches up rather than dropping steps.

Answers. 2xx: the messages count as accepted (or as the response's own ``accepted`` /
``rejected`` counts when it gives them as JSON); 429 and 503: wait ``Retry-After``
(seconds or an HTTP date; 1 s if absent) and resend; a connection error: back off and
resend; after ``max_retries`` the messages count as ``failed``; any other status counts
them as ``rejected``.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import time
from collections.abc import Iterable

import aiohttp

from simulators.faults import Fault
from simulators.plant import Schedule
from simulators.stepper import SiteModel, iter_batches

__all__ = ["SitePusher", "iter_batches"]

RETRY_STATUSES = {429, 503}


def retry_delay(header: str | None, attempt: int, now: float) -> float:
    """Seconds to wait before a resend: ``Retry-After`` if given, else exponential backoff."""
    if header:
        try:
            return min(60.0, max(0.0, float(header)))
        except ValueError:
            try:
                return min(60.0, max(0.0, email.utils.parsedate_to_datetime(header).timestamp() - now))
            except (TypeError, ValueError):
                pass
    return min(10.0, 0.5 * 2**attempt)


class SitePusher:
    """Steps a site's plant models and pushes their readings to a running server.

    ``credentials`` maps enterprise id to token; a parsed credentials.toml (with a
    ``tokens`` table) is accepted as well. Enterprises without a token are skipped.
    """

    def __init__(
        self,
        site: dict,
        credentials: dict,
        base_url: str,
        faults: Iterable[Fault] = (),
        *,
        speed: float = 1.0,
        interval: float = 1.0,
        backfill: float = 0.0,
        seed: int = 0,
        concurrency: int = 8,
        max_retries: int = 5,
        timeout: float = 10.0,
        schedule: Schedule | None = None,
    ) -> None:
        if interval <= 0 or speed < 0:
            raise ValueError("interval must be positive and speed not negative")
        self.tokens: dict[str, str] = dict(credentials.get("tokens", credentials))
        self.url = base_url.rstrip("/") + "/api/v1/telemetry"
        self.model = SiteModel(site, faults, seed=seed, schedule=schedule)
        self.speed, self.interval, self.backfill = speed, interval, backfill
        self.concurrency, self.max_retries, self.timeout = concurrency, max_retries, timeout
        self.stats = {"steps": 0, "requests": 0, "accepted": 0, "rejected": 0, "failed": 0, "retries": 0, "skipped": 0}
        self.last_error: str | None = None

    async def run(
        self, stop_event: asyncio.Event | None = None, *, start: float | None = None, steps: int | None = None
    ) -> dict[str, int]:
        """Push until ``stop_event`` is set (or ``steps`` steps are done); returns the stats.

        ``start`` is the sim time that maps to the moment ``run`` begins (default: now).
        """
        stop = stop_event or asyncio.Event()
        real0 = time.time()
        live0 = real0 if start is None else start
        first = live0 - self.backfill
        sem = asyncio.Semaphore(self.concurrency)
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            k = 0
            while not stop.is_set() and (steps is None or k < steps):
                t = first + k * self.interval
                if self.speed > 0 and await self._wait(stop, real0 + (t - live0) / self.speed - time.time()):
                    break
                batches = self.model.step(t)
                await asyncio.gather(*(self._post(session, sem, eid, body) for eid, body in batches))
                self.stats["steps"] += 1
                k += 1
        return dict(self.stats)

    @staticmethod
    async def _wait(stop: asyncio.Event, delay: float) -> bool:
        """Sleep ``delay`` s unless stopped first; True if stopped."""
        if delay <= 0:
            return stop.is_set()
        try:
            await asyncio.wait_for(stop.wait(), delay)
        except TimeoutError:
            return False
        return True

    async def _post(self, session: aiohttp.ClientSession, sem: asyncio.Semaphore, eid: str, body: list[dict]) -> None:
        token = self.tokens.get(eid)
        if token is None:
            self.stats["skipped"] += len(body)
            return
        data = json.dumps(body, separators=(",", ":"))
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        sent = await self._send(session, sem, eid, data, headers)
        if sent is None:
            self.stats["failed"] += len(body)
        else:
            self._count(eid, sent[0], sent[1], len(body))

    async def _send(
        self, session: aiohttp.ClientSession, sem: asyncio.Semaphore, eid: str, data, headers: dict
    ) -> tuple[int, str | None] | None:
        """POST with retries on refusals worth retrying (429, 503, network): (status, answer) of the
        last answer, or None when every attempt failed."""
        for attempt in range(self.max_retries + 1):
            status, retry_after, answer = None, None, None
            async with sem:
                self.stats["requests"] += 1
                try:
                    async with session.post(self.url, data=data, headers=headers) as resp:
                        status, retry_after = resp.status, resp.headers.get("Retry-After")
                        answer = await resp.text()
                except (aiohttp.ClientError, TimeoutError) as exc:
                    self.last_error = f"{eid}: {type(exc).__name__}: {exc}"
            if status is None or status in RETRY_STATUSES:
                if attempt < self.max_retries:
                    self.stats["retries"] += 1
                    await asyncio.sleep(retry_delay(retry_after, attempt, time.time()))
                continue
            return status, answer
        return None

    def _count(self, eid: str, status: int, answer: str | None, n: int) -> None:
        if not 200 <= status < 300:
            self.stats["rejected"] += n
            self.last_error = f"{eid}: HTTP {status}: {(answer or '')[:200]}"
            return
        try:
            parsed = json.loads(answer or "")
        except ValueError:
            parsed = None
        if isinstance(parsed, dict) and isinstance(parsed.get("accepted"), int):
            self.stats["accepted"] += parsed["accepted"]
            rejected = parsed.get("rejected")
            if isinstance(rejected, list):
                rejected = len(rejected)
            self.stats["rejected"] += rejected if isinstance(rejected, int) else 0
        else:
            self.stats["accepted"] += n
