"""The dashboard hub: fans alert events out to WebSocket clients.

One shared ring holds the last ``keep`` encoded events; each client only has a cursor
(the last seq it was sent) and a wake-up flag. Memory is therefore bounded by the ring,
whatever the number of clients (200 clients cost 200 cursors, not 200 queues), and a
burst of events (thousands in one pipeline batch) reaches every client that keeps up.

Each event is encoded once, when it is published (``orjson``, bytes), and that same frame
goes to every client whose scope sees it: a client costs a cursor and one send per event,
no JSON encoding, no copy and no compression of its own (``permessage-deflate`` is off, see
``warning.server``); the scope check is a set lookup on the event's enterprise, stored
beside the frame.

Two ways out, one order. A client that is waiting for events (its task parked, its cursor
at the newest event) gets each new one written in :meth:`Hub.publish` itself, through the
connection's non-blocking ``send_now`` (:mod:`warning.web.sendnow`): no task to wake, no
queue behind the rest of the event loop's work. A client that is behind, busy sending, or
whose socket cannot take a frame at once is woken instead, and its task catches up from
its cursor with the ASGI send, which waits. Once a publish has written
:data:`SEND_NOW_BUDGET` frames that way, its remaining events go by the tasks (a burst of
thousands of events must not hold the loop for a second).

A slow client is dropped (its socket closed with 1013 "try again later") and reconnects to
a fresh snapshot, so a slow phone never grows the server's memory and never sees a hole in
its feed. *Slow* is either of:

* its cursor fell off the end of the ring (it is more than ``keep`` events behind);
* one of its sends has waited more than :data:`STALL_S` seconds while events kept coming
  (the socket's buffers are full: uvicorn pauses a send above 64 KiB of unsent data, and
  the kernel holds what it holds), which bounds what a peer that reads nothing costs by
  the time it may stall, not only by the ring.

The same ring answers :meth:`Hub.since` for clients that reconnect with the last seq
they saw. ``boot`` changes with every hub (server start): a seq from another boot means
nothing, and the client is told there is a gap.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import Callable

import orjson

from ..labels import Labels
from .scope import EVERYTHING, Scope

#: Events the ring keeps; a client further behind is dropped. ``WARNING_WS_RING`` overrides
#: (read when a hub is made, not at import).
DEFAULT_KEEP = 5000
STALL_S = 10.0  #: a send that has waited this long while events keep coming: the client is dropped
#: frames after which a publish leaves its remaining events to the clients' tasks (~10 µs a frame)
SEND_NOW_BUDGET = 1000


class Client:
    __slots__ = ("cursor", "scope", "wake", "kicked", "sending_since", "send_now", "idle")

    def __init__(self, cursor: int, scope: Scope, send_now: Callable[[bytes], bool] | None = None):
        self.cursor = cursor  #: seq of the last event sent (or skipped as out of scope)
        self.scope = scope  #: the enterprises whose events this client gets
        #: writes one frame at once (True) or nothing (False); None: the server offers none
        self.send_now = send_now
        #: True while the client's task is parked waiting for events (set by that task):
        #: only then may :meth:`Hub.publish` write to it, so frames never overtake each other
        self.idle = False
        self.wake = asyncio.Event()  #: set when there is something new
        #: set when the client fell off the ring; its sender may be stuck in a send to a
        #: peer that reads nothing, so the endpoint watches this flag and gives up on it
        self.kicked = asyncio.Event()
        #: ``time.monotonic()`` when the send in progress began (0.0: none): see :data:`STALL_S`
        self.sending_since = 0.0


class TooSlow(Exception):
    """The client fell further behind than the ring reaches: drop it; it resyncs."""


class Hub:
    def __init__(self, *, keep: int | None = None, metrics=None, labels: Labels | None = None):
        self.labels = labels  #: names the enterprise (and links the alert) in every event a client gets
        self.keep = keep = keep or int(os.environ.get("WARNING_WS_RING") or DEFAULT_KEEP)
        self.ring: list[tuple[str, bytes] | None] = [None] * keep  #: slot seq % keep: (enterprise, message)
        self.clients: set[Client] = set()
        self.metrics = metrics
        self.seq = 0  #: number of events published so far; clients see it to detect gaps
        self.boot = secrets.token_hex(6)  #: identifies this hub's seq numbering
        #: in-process readers of every event (the risk service): called on publish, must not block
        self.listeners: list[Callable[[list[dict]], None]] = []

    def subscribe(self, scope: Scope = EVERYTHING, send_now: Callable[[bytes], bool] | None = None) -> Client:
        """A client that will get the events published from now on, of ``scope`` only.
        Take the snapshot in the same step of the event loop (no await between), so
        nothing falls between. ``send_now``: the connection's non-blocking send, if the
        server offers one (:mod:`warning.web.sendnow`)."""
        c = Client(self.seq, scope, send_now)
        self.clients.add(c)
        self._gauge()
        return c

    def unsubscribe(self, c: Client) -> None:
        self.clients.discard(c)
        self._gauge()

    def publish(self, events: list[dict]) -> None:
        """Append events (AlertEvent JSON) to the ring and wake every client; never blocks."""
        if not events:
            return
        for listen in self.listeners:
            listen(events)
        labels = self.labels
        budget = SEND_NOW_BUDGET
        for ev in events:
            if labels is not None:
                labels.add_to(ev)
            self.seq += 1
            msg = orjson.dumps({"type": "event", "seq": self.seq, "event": ev})
            enterprise = ev["alert"]["enterprise"]
            self.ring[self.seq % self.keep] = (enterprise, msg)
            if budget > 0:
                budget -= _send_now(self.clients, self.seq, enterprise, msg)
        oldest = self._oldest()
        stalled = time.monotonic() - STALL_S
        for c in self.clients:
            if c.cursor < self.seq:  # not all written above: its task catches up
                c.wake.set()
            if (c.cursor + 1 < oldest or 0.0 < c.sending_since < stalled) and not c.kicked.is_set():
                c.kicked.set()
                if self.metrics is not None:
                    self.metrics.ws_dropped.inc()

    def _oldest(self) -> int:
        return max(1, self.seq - self.keep + 1)

    def take(self, c: Client, max_n: int = 256) -> list[bytes]:
        """Up to ``max_n`` encoded events for ``c`` after its cursor, advancing it.
        Raises :class:`TooSlow` if the ring no longer holds the next event it needs."""
        if c.cursor >= self.seq:
            c.wake.clear()
            return []
        if c.kicked.is_set() or c.cursor + 1 < self._oldest():
            raise TooSlow(c.cursor)
        out: list[bytes] = []
        s = c.cursor
        while s < self.seq and len(out) < max_n:
            s += 1
            slot = self.ring[s % self.keep]
            if slot is not None and c.scope.sees(slot[0]):
                out.append(slot[1])
        c.cursor = s
        if s >= self.seq:
            c.wake.clear()
        return out

    def since(self, seq: int, scope: Scope = EVERYTHING) -> list[dict] | None:
        """Events after ``seq`` (of ``scope`` only), or None if the ring no longer
        reaches back. Decodes the stored messages: rare (reconnects), so the ring stays small."""
        if seq > self.seq or (seq < self.seq and seq + 1 < self._oldest()):
            return None
        out = []
        for s in range(seq + 1, self.seq + 1):
            slot = self.ring[s % self.keep]
            if slot is not None and scope.sees(slot[0]):
                out.append(orjson.loads(slot[1])["event"])
        return out

    def _gauge(self) -> None:
        if self.metrics is not None:
            self.metrics.ws_clients.set(len(self.clients))


def _send_now(clients: set[Client], seq: int, enterprise: str, msg: bytes) -> int:
    """Write event ``seq`` to every idle client that has every event before it; the number
    of frames written. A client out of the event's scope just moves past it. A client whose
    socket refuses the frame keeps its cursor, so its task sends this event and the next ones
    in order (a cursor behind ``seq - 1`` is never written to here)."""
    sent = 0
    for c in clients:
        if c.idle and c.cursor == seq - 1 and c.send_now is not None and not c.kicked.is_set():
            if not c.scope.sees(enterprise):
                c.cursor = seq
                continue
            try:
                written = c.send_now(msg)
            except Exception:  # noqa: BLE001 - one connection's fault must not stop the publish;
                written = False  # its own task sends the frame and meets the fault there
            if written:
                c.cursor = seq
                sent += 1
    return sent
