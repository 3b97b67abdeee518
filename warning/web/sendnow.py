"""uvicorn's sans-I/O WebSocket protocol plus one thing: a send that never waits.

The protocol offers the application, as the ASGI extension :data:`EXTENSION` in the
connection's scope (``scope["extensions"][EXTENSION]["send"]``), a plain function
``send_now(data) -> bool``: it writes ``data`` as one
binary frame and returns True, or writes nothing and returns False when the frame cannot go
out at once. The ASGI ``send`` is a coroutine, so the hub could only reach a client by
waking the client's own task; 200 woken tasks queue behind whatever the event loop holds
already (publish → first send p50 3.6 ms, p99 24 ms at 10,000 readings/s) and each costs a
task step more. With ``send_now`` the hub writes an event to every client that is waiting
for one in the same step in which the event is published (:meth:`warning.web.hub.Hub.publish`).

``send_now`` refuses (False, nothing written) when the transport's buffer is above its
high-water mark (uvicorn paused the writer: this is the flow control a slow client meets),
when the close handshake has begun or the peer is gone. The caller then takes the ordinary
path: the client's task and the ASGI ``send``, which waits.

Sharp edge: it reads uvicorn's protocol attributes (``conn``, ``transport``, ``writable``,
``close_sent``, ``disconnected``, ``scope``), which is one more reason uvicorn is pinned with
``==`` (see also :mod:`warning.web.limits`); tests/test_dashboard_api.py checks the extension
on a real server, so an upgrade that breaks it fails there.
"""

from __future__ import annotations

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState
from websockets.http11 import Request

#: the scope's ``extensions`` key under which the connection's ``send_now`` is found
EXTENSION = "warning.send_now"


class SendNowProtocol(WebSocketsSansIOProtocol):
    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        if self.response.status_code == 101:  # upgraded: the scope exists, the app has not run yet
            self.scope["extensions"][EXTENSION] = {"send": self.send_now}  # ASGI: an extension is a dict

    def send_now(self, data: bytes) -> bool:
        """Write ``data`` as one binary frame now (True), or nothing at all (False)."""
        if (
            not self.handshake_complete
            or self.initial_response is not None  # the application answered with HTTP instead
            or self.close_sent
            or self.disconnected
            or not self.writable.is_set()
            or self.transport.is_closing()
        ):
            return False
        try:
            self.conn.send_binary(data)
        except InvalidState:  # the peer began closing
            return False
        self.transport.write(b"".join(self.conn.data_to_send()))
        return True
