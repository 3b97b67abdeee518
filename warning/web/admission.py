"""Fair admission per tenant at the edge. Pure bookkeeping: no I/O, no clock.

Every enterprise may have at most ``max_requests`` telemetry requests in flight (from the
moment its headers are accepted until its answer) and at most ``max_readings`` readings
waiting for their commit. Past either, its next request is answered 429 at once, from the
headers, before its body is read: a flooding enterprise, with one token or thirty, spends
its own share and cannot fill the runtime's shared queue (``--max-pending``, the backstop)
with a backlog that every other enterprise would have to wait behind.

A request bigger than ``max_readings`` is still admitted when its enterprise has nothing
else waiting, so a legitimate large upload is slowed, never refused for ever.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Admission:
    max_requests: int = 8  #: telemetry requests in flight per enterprise
    max_readings: int = 20_000  #: readings waiting for their commit per enterprise
    requests: dict[str, int] = field(default_factory=dict)
    readings: dict[str, int] = field(default_factory=dict)

    def enter(self, tenant: str) -> bool:
        """Take a request slot; False (nothing taken) when the tenant has all its slots busy."""
        n = self.requests.get(tenant, 0)
        if n >= self.max_requests:
            return False
        self.requests[tenant] = n + 1
        return True

    def leave(self, tenant: str) -> None:
        n = self.requests.get(tenant, 0) - 1
        if n > 0:
            self.requests[tenant] = n
        else:
            self.requests.pop(tenant, None)

    def reserve(self, tenant: str, count: int) -> bool:
        """Reserve room for ``count`` readings; False (nothing reserved) when over the share."""
        n = self.readings.get(tenant, 0)
        if n and n + count > self.max_readings:
            return False
        self.readings[tenant] = n + count
        return True

    def release(self, tenant: str, count: int) -> None:
        n = self.readings.get(tenant, 0) - count
        if n > 0:
            self.readings[tenant] = n
        else:
            self.readings.pop(tenant, None)
