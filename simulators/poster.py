"""POST telemetry bodies to ``/api/v1/telemetry`` with an enterprise's token, and count
what the server did with them.

Shared by ``warning replay`` and ``warning simulate --load`` (the scenario pusher,
:class:`simulators.push.SitePusher`, keeps its own older loop). Two modes:

* ``retry=True`` (replay): 429 and 503 are waited out (``Retry-After``) and resent, up to
  ``max_retries``; the readings count once, as accepted, rejected or failed.
* ``retry=False`` (load test): nothing is resent, so the offered load stays what was
  asked for; a 429 counts its readings as ``throttled``, a 503 as ``unavailable``.

Sharp edge: without message ids a resend after a lost answer can store readings twice
(see the README's guarantees); the replay sends no ids, because replaying a recording
into the server it came from would otherwise be ignored as duplicates.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp
import orjson

from simulators.push import RETRY_STATUSES, retry_delay

COUNTERS = (
    "requests",
    "accepted",
    "duplicates",
    "rejected",
    "throttled",
    "unavailable",
    "failed",
    "retries",
    "skipped",
)


class Poster:
    def __init__(
        self,
        base_url: str,
        tokens: dict[str, str],
        *,
        concurrency: int = 16,
        retry: bool = True,
        max_retries: int = 5,
        timeout: float = 30.0,
    ) -> None:
        self.url = base_url.rstrip("/") + "/api/v1/telemetry"
        nested = tokens.get("tokens")  # a credentials file's [tokens] table, or the table itself
        self.tokens: dict[str, str] = dict(nested) if isinstance(nested, dict) else dict(tokens)
        self.sem = asyncio.Semaphore(concurrency)
        self.retry, self.max_retries, self.timeout = retry, max_retries, timeout
        self.stats = dict.fromkeys(COUNTERS, 0)
        self.errors: dict[str, int] = {}
        self.last_error: str | None = None
        self.session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Poster:
        conn = aiohttp.TCPConnector(limit=0)
        self.session = aiohttp.ClientSession(connector=conn, timeout=aiohttp.ClientTimeout(total=self.timeout))
        return self

    async def __aexit__(self, *exc) -> None:
        if self.session is not None:
            await self.session.close()

    def _error(self, text: str) -> None:
        self.last_error = text
        key = text.split(":", 2)[1].strip() if ":" in text else text
        self.errors[key] = self.errors.get(key, 0) + 1

    async def post(self, enterprise: str, items: list[dict], n_readings: int | None = None) -> None:
        """Send one enterprise's messages as one request (the caller keeps it ≤ 10,000 items, ≤ 1 MiB)."""
        n = n_readings if n_readings is not None else sum(len(m["values"]) for m in items)
        token = self.tokens.get(enterprise)
        if token is None:
            self.stats["skipped"] += n
            return
        if self.session is None:
            raise RuntimeError("use Poster in `async with`")
        session = self.session
        data = orjson.dumps(items)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        for attempt in range(self.max_retries + 1):
            status = retry_after = answer = None
            async with self.sem:
                self.stats["requests"] += 1
                try:
                    async with session.post(self.url, data=data, headers=headers) as resp:
                        status, retry_after = resp.status, resp.headers.get("Retry-After")
                        answer = await resp.read()
                except (aiohttp.ClientError, TimeoutError) as exc:
                    self._error(f"{enterprise}: {type(exc).__name__}: {exc}")
            if status is not None and 200 <= status < 300:
                try:
                    body = orjson.loads(answer or b"")
                    self.stats["accepted"] += int(body.get("accepted", n))
                    self.stats["duplicates"] += int(body.get("duplicates", 0))
                except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
                    self.stats["accepted"] += n
                return
            if status is not None and status not in RETRY_STATUSES:
                self.stats["rejected"] += n
                self._error(f"{enterprise}: HTTP {status}: {(answer or b'')[:200].decode(errors='replace')}")
                return
            if not self.retry:
                self.stats["throttled" if status == 429 else "unavailable" if status == 503 else "failed"] += n
                return
            if attempt < self.max_retries:
                self.stats["retries"] += 1
                await asyncio.sleep(retry_delay(retry_after, attempt, time.time()))
        self.stats["failed"] += n
