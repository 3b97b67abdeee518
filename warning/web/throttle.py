"""Login throttling. Pure: time is passed in.

Failures are counted per user name and per client address. After ``free`` failures, each
further attempt on that key must wait ``base * 2**(extra)`` seconds (capped at ``cap``); a
success clears the user's count. Counts fade after ``forget`` quiet seconds. At most
``max_keys`` keys are kept (the oldest go first), so a flood of made-up names cannot grow
memory.
"""

from __future__ import annotations

from collections import OrderedDict


class LoginThrottle:
    def __init__(self, *, free: int = 5, base: float = 1.0, cap: float = 300.0, forget: float = 3600.0,
                 max_keys: int = 10_000):
        self.free = free
        self.base = base
        self.cap = cap
        self.forget = forget
        self.max_keys = max_keys
        self.fails: OrderedDict[str, tuple[int, float]] = OrderedDict()  #: key -> (failures, last failure time)

    def wait(self, user: str, address: str, now: float) -> float:
        """Seconds before this attempt may be made (0.0: go ahead)."""
        return max(self._wait("u:" + user, now), self._wait("a:" + address, now))

    def failed(self, user: str, address: str, now: float) -> None:
        for key in ("u:" + user, "a:" + address):
            n, last = self.fails.pop(key, (0, now))
            if now - last > self.forget:
                n = 0
            self.fails[key] = (n + 1, now)
        while len(self.fails) > self.max_keys:
            self.fails.popitem(last=False)

    def succeeded(self, user: str) -> None:
        self.fails.pop("u:" + user, None)

    def _wait(self, key: str, now: float) -> float:
        n, last = self.fails.get(key, (0, now))
        if n < self.free or now - last > self.forget:
            return 0.0
        delay = min(self.cap, self.base * 2 ** (n - self.free))
        return max(0.0, last + delay - now)
