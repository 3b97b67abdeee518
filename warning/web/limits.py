"""Limits at the edge, below the application: request heads, slow clients, idle connections.

uvicorn's httptools protocol (the fast one, and the one ``uvicorn[standard]`` picks) keeps
a request line and headers of any size and waits for a client for ever while it sends
them; its keep-alive timer only starts after a first response. :class:`EdgeHttpProtocol`
adds, per connection:

* the request head (request line + headers) at most ``max_head`` bytes: 431, closed;
* at most ``max_headers`` header fields: 431, closed;
* the head complete within ``head_timeout`` seconds of its first byte: 408, closed;
* the body complete within ``body_timeout`` seconds of the head (the JSON body reader
  answers 408 sooner, at its own deadline; this catches bodies nobody reads): 408 or closed;
* a new connection that sends nothing is closed after the keep-alive timeout, like an idle
  keep-alive connection;
* more than ``max_connections`` connections, or requests in flight: 503 with Retry-After.

It leans on uvicorn 0.54's protocol internals (``url``, ``headers``, ``cycle``,
``connections``, ``tasks``), which is why uvicorn is pinned with ``==``.

:class:`PathGuard` (ASGI) refuses a path or query string with characters no id may hold
(U+0000 and the other controls that :mod:`warning.textcheck` refuses, or bytes that are not
UTF-8) with 400, so a
``/api/v1/alerts/%00`` never reaches a store query.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ..i18n import Text, negotiate
from ..textcheck import problem


@dataclass(frozen=True)
class EdgeLimits:
    max_head: int = 16 * 1024  #: bytes of request line + headers
    max_headers: int = 100  #: header fields per request
    head_timeout: float = 10.0  #: seconds from a request's first byte to the end of its headers
    body_timeout: float = 30.0  #: seconds from the end of the headers to the end of the body
    idle_timeout: int = 5  #: seconds an idle connection (new or kept alive) stays open
    ws_max_size: int = 64 * 1024  #: bytes of one WebSocket message from a client
    max_connections: int = 4096  #: open connections, or requests in flight; past either: 503 + Retry-After


class _Refused(Exception):
    """Raised from a parser callback to stop parsing; :meth:`send_400_response` answers."""


def _accept_language(headers: list[tuple[bytes, bytes]] | None) -> str | None:
    """The ``Accept-Language`` among the headers parsed so far (a refusal may come mid-head)."""
    for name, value in headers or ():
        if name.lower() == b"accept-language":
            return value.decode("latin-1")
    return None


def _raw_response(status: int, reason: bytes, message: str) -> bytes:
    body = orjson.dumps({"error": message})
    retry = b"retry-after: 1\r\n" if status == 503 else b""
    return b"".join(
        [
            b"HTTP/1.1 %d %s\r\n" % (status, reason),
            b"content-type: application/json\r\n",
            retry,
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n\r\n",
            body,
        ]
    )


class EdgeHttpProtocol(HttpToolsProtocol):
    """httptools' protocol with the limits above; :func:`protocol_with` binds the numbers."""

    limits = EdgeLimits()

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True  #: between requests, or reading a request's head
        self._head_bytes = 0
        self._fields = 0
        self._refusal: tuple[int, bytes, Text] | None = None
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None

    # connection ------------------------------------------------------------------------------
    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive, self.timeout_keep_alive_handler)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel(head=True, body=True)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        # A head still incomplete after this chunk: its bytes so far are held by the parser,
        # so this bounds memory at max_head plus one read (the size of a head that completed
        # within the chunk is checked exactly in on_headers_complete).
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._in_head and self._head_bytes > self.limits.max_head and not self.transport.is_closing():
            self._refuse(*self._too_large())

    def _too_large(self) -> tuple[int, bytes, Text]:
        return (
            431,
            b"Request Header Fields Too Large",
            Text.of("request head over {limit} bytes", limit=self.limits.max_head),
        )

    def send_400_response(self, msg: str) -> None:
        if self._refusal is None:
            return super().send_400_response(msg)
        self._refuse(*self._refusal)

    # parser callbacks ------------------------------------------------------------------------
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._fields = 0
        self._cancel(head=True)
        self._head_timer = self.loop.call_later(self.limits.head_timeout, self._too_slow, "head")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._fields += 1
        if self._fields > self.limits.max_headers:
            self._refusal = (
                431,
                b"Request Header Fields Too Large",
                Text.of("more than {limit} header fields", limit=self.limits.max_headers),
            )
            raise _Refused
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._cancel(head=True)
        if len(self.url) + sum(len(n) + len(v) + 4 for n, v in self.headers) > self.limits.max_head:
            self._refusal = self._too_large()
            raise _Refused
        if len(self.connections) > self.limits.max_connections or len(self.tasks) >= self.limits.max_connections:
            # (uvicorn's own limit_concurrency answers a bare 503 without Retry-After)
            self._refusal = (
                503,
                b"Service Unavailable",
                Text.of("too many connections (over {limit}); retry", limit=self.limits.max_connections),
            )
            raise _Refused
        self._in_head = False
        self._body_timer = self.loop.call_later(self.limits.body_timeout, self._too_slow, "body")
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._cancel(body=True)
        self._in_head, self._head_bytes = True, 0
        super().on_message_complete()

    # refusals --------------------------------------------------------------------------------
    def _cancel(self, head: bool = False, body: bool = False) -> None:
        if head and self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        if body and self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _too_slow(self, part: str) -> None:
        seconds = self.limits.head_timeout if part == "head" else self.limits.body_timeout
        self._refuse(
            408,
            b"Request Timeout",
            Text.of("request head not received within {seconds} s", seconds=f"{seconds:g}")
            if part == "head"
            else Text.of("request body not received within {seconds} s", seconds=f"{seconds:g}"),
        )

    def _refuse(self, status: int, reason: bytes, message: Text) -> None:
        """Answer ``status`` unless a response is under way (then only close), and close."""
        self._cancel(head=True, body=True)
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is None or cycle.response_complete or not cycle.response_started:
            if cycle is not None and not cycle.response_complete:
                cycle.disconnected = True  # the application's answer, if it comes, goes nowhere
                cycle.message_event.set()
            locale = negotiate(_accept_language(self.headers))
            self.transport.write(_raw_response(status, reason, message.render(locale)))
        self.transport.close()


def protocol_with(limits: EdgeLimits) -> type[EdgeHttpProtocol]:
    """The protocol class uvicorn instantiates per connection, bound to these limits."""
    return type("BoundEdgeHttpProtocol", (EdgeHttpProtocol,), {"limits": limits})


class PathGuard:
    """ASGI: 400 for a path or query string holding characters no stored text may hold."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        # decoded with surrogateescape: bytes that are not UTF-8 become lone surrogates, refused too
        raw_path = scope.get("raw_path") or scope.get("path", "").encode("utf-8", "surrogatepass")
        reason = problem(unquote_to_bytes(raw_path).decode("utf-8", "surrogateescape"), 8192)
        if reason is None:
            query = unquote_to_bytes(scope.get("query_string", b"").replace(b"+", b" "))
            reason = problem(query.decode("utf-8", "surrogateescape"), 8192)
        if reason is None:
            return await self.app(scope, receive, send)
        if scope["type"] == "websocket":
            return await send({"type": "websocket.close", "code": 1008})
        headers = scope.get("headers") or []
        text = Text.of("path or query: {reason}", reason=reason).render(negotiate(_accept_language(headers)))
        body = orjson.dumps({"error": text, "field": "path"})
        await send(
            {
                "type": "http.response.start",
                "status": 400,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))],
            }
        )
        await send({"type": "http.response.body", "body": body})
