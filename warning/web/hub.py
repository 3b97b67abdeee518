"""The dashboard hub: fans alert events out to WebSocket clients.

Each client has a bounded queue. A client that falls ``max_queue`` messages behind is
dropped (its socket closed with 1013 "try again later"); on reconnect it gets a fresh
snapshot, so a slow phone never grows the server's memory.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import orjson


class Client:
    __slots__ = ("queue", "dropped", "filter")

    def __init__(self, max_queue: int, filter: Callable[[dict], bool] | None):
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue(max_queue)  #: messages waiting to be sent
        self.dropped = False  #: set when the client fell behind and must resync
        self.filter = filter  #: which alerts this client may see (enterprise users)


class Hub:
    def __init__(self, *, max_queue: int = 1000, metrics=None):
        self.clients: set[Client] = set()
        self.max_queue = max_queue
        self.metrics = metrics
        self.seq = 0  #: number of events published so far; clients see it to detect gaps

    def subscribe(self, filter: Callable[[dict], bool] | None = None) -> Client:
        c = Client(self.max_queue, filter)
        self.clients.add(c)
        self._gauge()
        return c

    def unsubscribe(self, c: Client) -> None:
        self.clients.discard(c)
        self._gauge()

    def publish(self, events: list[dict]) -> None:
        """Queue events (AlertEvent JSON) for every client; never blocks."""
        for ev in events:
            self.seq += 1
            msg = orjson.dumps({"type": "event", "seq": self.seq, "event": ev})
            for c in list(self.clients):
                if c.dropped or (c.filter is not None and not c.filter(ev["alert"])):
                    continue
                try:
                    c.queue.put_nowait(msg)
                except asyncio.QueueFull:
                    c.dropped = True
                    c.queue = asyncio.Queue(1)  # release the backlog now
                    c.queue.put_nowait(None)
                    if self.metrics is not None:
                        self.metrics.ws_dropped.inc()

    def _gauge(self) -> None:
        if self.metrics is not None:
            self.metrics.ws_clients.set(len(self.clients))
