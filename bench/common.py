"""What the benchmarks share: a free loopback port, the server's command line, waiting for it to
be ready, and a bag filter's points at normal values."""

from __future__ import annotations

import asyncio
import math
import socket
import sys
from pathlib import Path

import aiohttp

#: a bag filter's points at values that raise nothing (loads that must stay quiet)
NORMAL_VALUES = {
    "dp": 1100.0,
    "hopper_temp": 30.0,
    "air_speed": 20.0,
    "spark": 0.0,
    "airlock_fault": 0.0,
    "running": 1.0,
    "vent_open": 0.0,
}


def quantile_interval(xs: list[float], q: float, confidence: float = 0.95) -> tuple[float, float]:
    """A distribution-free ``confidence`` interval for the ``q`` quantile (0 < q < 1) of what
    ``xs`` were drawn from: two of the sorted samples, chosen by the binomial law of how many
    samples fall below the true quantile. The upper end is ``inf`` when there are too few
    samples to bound it at all (a p99 needs at least 368 for 95 %: 0.99**n must be <= 2.5 %)."""
    xs = sorted(xs)
    n, alpha = len(xs), (1 - confidence) / 2
    if n == 0:
        return math.nan, math.nan
    cdf, below = [], 0.0  # cdf[k] = P(K <= k), K ~ Binomial(n, q) samples below the quantile
    lq, lp, ln = math.log(q), math.log1p(-q), math.lgamma(n + 1)
    for k in range(n + 1):  # in logs: comb(n, k) * q**k overflows a float from about 1,100 samples
        below += math.exp(ln - math.lgamma(k + 1) - math.lgamma(n - k + 1) + k * lq + (n - k) * lp)
        cdf.append(below)
    # lower end: the l-th smallest sample with P(K < l) <= alpha; upper: the u-th with P(K >= u) <= alpha
    lo = max((j for j in range(1, n + 1) if cdf[j - 1] <= alpha), default=0)
    hi = min((j for j in range(1, n + 1) if 1 - cdf[j - 1] <= alpha), default=n + 1)
    return (xs[lo - 1] if lo >= 1 else -math.inf), (xs[hi - 1] if hi <= n else math.inf)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def wait_ready(url: str, proc=None, timeout: float = 60.0) -> None:
    """Poll ``url/readyz`` until it answers 200; give up early if ``proc`` (the server) exits."""
    async with aiohttp.ClientSession() as s:
        for _ in range(int(timeout / 0.1)):
            if proc is not None and proc.poll() is not None:
                raise RuntimeError("the server exited during start-up; see its log")
            try:
                async with s.get(url + "/readyz") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not become ready in {timeout:.0f} s")


def run_command(site: Path, port: int, *extra: str, rate: float = 100000, log_level: str = "WARNING") -> list[str]:
    """``warning run`` on ``site`` and ``port``, by default with the rate limit out of the way (the
    benches measure capacity, not the limiter; the isolation bench passes its own) and quiet logs;
    ``extra`` options follow."""
    return [
        sys.executable,
        "-m",
        "warning.cli",
        "run",
        "--site",
        str(site),
        "--port",
        str(port),
        "--rate",
        str(rate),
        "--log-level",
        log_level,
        *extra,
    ]
