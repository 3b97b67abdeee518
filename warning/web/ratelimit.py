"""Token buckets per bearer token. Pure: time is passed in."""

from __future__ import annotations


class Buckets:
    """``rate`` units per second with bursts up to ``burst``, one bucket per key.

    At most ``max_keys`` buckets are kept (the oldest are forgotten), so an attacker
    cycling keys cannot grow memory; keys are already-authenticated tokens anyway.
    """

    def __init__(self, rate: float, burst: float, max_keys: int = 100_000):
        self.rate = float(rate)
        self.burst = float(burst)
        self.max_keys = max_keys
        self.state: dict[str, tuple[float, float]] = {}  #: key -> (tokens, last time)

    def take(self, key: str, amount: float, now: float) -> float:
        """Take ``amount``; returns 0.0 when allowed, else the seconds to wait before retrying."""
        tokens, last = self.state.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + max(0.0, now - last) * self.rate)
        if amount > tokens:
            self.state[key] = (tokens, now)
            return (amount - tokens) / self.rate if amount <= self.burst else 1.0
        if key not in self.state and len(self.state) >= self.max_keys:
            self.state.pop(next(iter(self.state)))
        self.state[key] = (tokens - amount, now)
        return 0.0
