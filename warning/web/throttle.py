"""Login throttling. Pure: time is passed in.

Failures are counted per (user name, client address) pair and, with a higher allowance,
per address. After ``free`` failures of a pair, each further attempt of that pair must
wait ``base * 2**extra`` seconds (capped at ``cap``); the same for an address after
``address_free`` failures of any names. So one person's typos at a control room's
shared NAT address hold up only that person's name from there, while someone trying many
names from one address still meets the address's ceiling. A success clears its pair.
Counts fade after ``forget`` quiet seconds.

No per-user count across addresses: it would let anyone lock a known officer out from
anywhere. A guesser spread over many addresses meets each address's ceiling.

At most ``max_keys`` keys are kept, least recently failed first out: a flood of made-up
names costs a bounded table, and a flooding address keeps its own address key fresh (it
is touched by every failure), so the flood cannot evict the ceiling it is counted by.
"""

from __future__ import annotations

from collections import OrderedDict


class LoginThrottle:
    def __init__(
        self,
        *,
        free: int = 5,
        address_free: int = 50,
        base: float = 1.0,
        cap: float = 300.0,
        forget: float = 3600.0,
        max_keys: int = 10_000,
    ):
        self.free = free
        self.address_free = address_free
        self.base = base
        self.cap = cap
        self.forget = forget
        self.max_keys = max_keys
        self.fails: OrderedDict[str, tuple[int, float]] = OrderedDict()  #: key -> (failures, last failure time)

    @staticmethod
    def _keys(user: str, address: str) -> tuple[str, str]:
        return "p:" + address + "\0" + user, "a:" + address

    def wait(self, user: str, address: str, now: float) -> float:
        """Seconds before this attempt may be made (0.0: go ahead)."""
        pair, addr = self._keys(user, address)
        return max(self._wait(pair, self.free, now), self._wait(addr, self.address_free, now))

    def failed(self, user: str, address: str, now: float) -> None:
        for key in self._keys(user, address):
            n, last = self.fails.pop(key, (0, now))
            if now - last > self.forget:
                n = 0
            self.fails[key] = (n + 1, now)  # re-inserted: now the most recent
        while len(self.fails) > self.max_keys:
            self.fails.popitem(last=False)

    def succeeded(self, user: str, address: str) -> None:
        self.fails.pop(self._keys(user, address)[0], None)

    def _wait(self, key: str, free: int, now: float) -> float:
        n, last = self.fails.get(key, (0, now))
        if n < free or now - last > self.forget:
            return 0.0
        delay = min(self.cap, self.base * 2.0 ** min(n - free, 60))  # 2**n overflows a float past 1023
        return max(0.0, last + delay - now)
