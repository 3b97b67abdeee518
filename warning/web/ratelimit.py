"""Token buckets per bearer token. Pure: time is passed in.

The decision is made from the headers, before the body is read: :meth:`Buckets.wait` says
whether the token has anything left (a flooding client is answered 429 for the price of
its headers, not of reading, parsing and validating its body). Once the body is parsed,
:meth:`Buckets.debit` takes the real number of readings, and may leave the bucket in debt:
the next requests of that token wait until the debt is paid back at ``rate``.
"""

from __future__ import annotations


class Buckets:
    """``rate`` units per second with bursts up to ``burst``, one bucket per key.

    At most ``max_keys`` buckets are kept (the oldest are forgotten), so an attacker
    cycling keys cannot grow memory; keys are already-authenticated tokens anyway.
    A bucket's debt is capped at ``burst`` (one request can cost at most ``burst / rate``
    seconds of waiting beyond its own refill).
    """

    def __init__(self, rate: float, burst: float, max_keys: int = 100_000):
        self.rate = float(rate)
        self.burst = float(burst)
        self.max_keys = max_keys
        self.state: dict[str, tuple[float, float]] = {}  #: key -> (tokens, last time); tokens < 0 is debt

    def _level(self, key: str, now: float) -> float:
        tokens, last = self.state.get(key, (self.burst, now))
        return min(self.burst, tokens + max(0.0, now - last) * self.rate)

    def wait(self, key: str, now: float) -> float:
        """0.0 when the token may send now (it has something left), else seconds until it has."""
        tokens = self._level(key, now)
        return 0.0 if tokens > 0 else (1.0 - tokens) / self.rate

    def debit(self, key: str, amount: float, now: float) -> None:
        """Take ``amount`` (the parsed request's readings), into debt if need be."""
        tokens = max(-self.burst, self._level(key, now) - amount)
        if key not in self.state and len(self.state) >= self.max_keys:
            self.state.pop(next(iter(self.state)))
        self.state[key] = (tokens, now)
