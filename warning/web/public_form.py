"""一码发现's guards: a signed form token carrying a small arithmetic challenge, used once,
and a per-address limit of accepted reports.

The token is ``expiry.nonce.mac`` with ``mac = HMAC(key, enterprise|expiry|nonce|answer)``:
the server keeps no state per form, a script cannot forge a token, a token is good for one
enterprise and one answer, and a nonce used once is refused again until its token expires
(the used set is bounded by the accepted-report limit × addresses within the ttl).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import OrderedDict, deque

from ..i18n import N_

MAX_ADDRESSES = 100_000  #: addresses remembered by the limiter; the oldest are forgotten first
MAX_NONCES = 200_000


class FormGuard:
    def __init__(self, key: bytes | None = None, ttl: float = 1800.0) -> None:
        self.key = key or secrets.token_bytes(32)
        self.ttl = ttl
        self.used: OrderedDict[str, float] = OrderedDict()  #: nonce -> expiry

    def issue(self, enterprise: str, now: float) -> dict:
        a, b = secrets.randbelow(9) + 1, secrets.randbelow(9) + 1
        expiry = int(now + self.ttl)
        nonce = secrets.token_hex(8)
        mac = self._mac(enterprise, expiry, nonce, a + b)
        return {"token": f"{expiry}.{nonce}.{mac}", "challenge": f"{a} + {b} = ?"}

    def check(self, enterprise: str, token: object, answer: object, now: float) -> str | None:
        """None when good (and the token is now spent), else why not (a catalogue message id)."""
        if not isinstance(token, str) or token.count(".") != 2:
            return N_("missing or malformed form token: reload the page")
        exp_s, nonce, mac = token.split(".")
        try:
            expiry, ans = int(exp_s), int(str(answer).strip())
        except ValueError:
            return N_("answer the question with a number")
        if expiry < now:
            return N_("the form has expired: reload the page")
        if not hmac.compare_digest(mac, self._mac(enterprise, expiry, nonce, ans)):
            return N_("wrong answer or a form of another page")
        self._forget(now)
        if nonce in self.used:
            return N_("this form was already sent: reload the page for a new one")
        self.used[nonce] = expiry
        while len(self.used) > MAX_NONCES:
            self.used.popitem(last=False)
        return None

    def _forget(self, now: float) -> None:
        while self.used and next(iter(self.used.values())) < now:
            self.used.popitem(last=False)

    def _mac(self, enterprise: str, expiry: int, nonce: str, answer: int) -> str:
        msg = f"{enterprise}|{expiry}|{nonce}|{answer}".encode()
        return hmac.new(self.key, msg, hashlib.sha256).hexdigest()[:32]


class AddressLimit:
    """At most ``limit`` accepted items per address per ``window`` seconds (sliding)."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self.seen: OrderedDict[str, deque[float]] = OrderedDict()

    def wait(self, address: str, now: float) -> float:
        """0 when one more is allowed now, else the seconds until it is."""
        q = self.seen.get(address)
        if q is None:
            return 0.0
        while q and q[0] <= now - self.window:
            q.popleft()
        return 0.0 if len(q) < self.limit else q[0] + self.window - now

    def take(self, address: str, now: float) -> None:
        q = self.seen.pop(address, None) or deque()
        q.append(now)
        self.seen[address] = q
        while len(self.seen) > MAX_ADDRESSES:
            self.seen.popitem(last=False)
