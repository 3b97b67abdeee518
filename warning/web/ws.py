"""``/ws``: the dashboard's live feed.

On connect the client gets ``{"type": "snapshot", "seq": N, "alerts": [...]}`` (every open
alert), then ``{"type": "event", "seq": N, "event": {...}}`` per alert event, and
``{"type": "heartbeat"}`` after 15 s without one. A client
that falls behind is closed with code 1013; it reconnects and gets a fresh snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib

import orjson
from starlette.websockets import WebSocket, WebSocketDisconnect


HEARTBEAT_S = 15.0
HEARTBEAT = '{"type":"heartbeat"}'


def make_endpoint(state):
    async def feed(ws: WebSocket) -> None:
        principal = state.auth.principal(ws)
        await ws.accept()  # accept first, so the browser sees the 4401 code rather than a bare 403
        if principal is None:
            await ws.close(code=4401, reason="log in first")
            return
        client = state.hub.subscribe()
        try:
            # Snapshot and subscription in the same step of the loop: no event falls between.
            alerts = [a.to_json() for a in state.runtime.open_alerts()]
            await ws.send_bytes(orjson.dumps({"type": "snapshot", "seq": state.hub.seq, "alerts": alerts,
                                              "me": {"name": principal.name, "role": principal.role}}))
            receiver = asyncio.create_task(_drain_incoming(ws))
            try:
                while True:
                    getter = asyncio.create_task(client.queue.get())
                    done, _ = await asyncio.wait({getter, receiver}, timeout=HEARTBEAT_S,
                                                 return_when=asyncio.FIRST_COMPLETED)
                    if receiver in done:
                        getter.cancel()
                        return
                    if not done:  # idle: a heartbeat lets the page tell a quiet feed from a dead one
                        getter.cancel()
                        await ws.send_text(HEARTBEAT)
                        continue
                    msg = getter.result()
                    if msg is None:  # dropped for being slow
                        await ws.close(code=1013, reason="too slow: reconnect for a fresh snapshot")
                        return
                    await ws.send_text(msg.decode())
            finally:
                receiver.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await receiver
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            state.hub.unsubscribe(client)

    return feed


async def _drain_incoming(ws: WebSocket) -> None:
    """Read (and ignore) what the client sends, so a close is noticed promptly."""
    try:
        while True:
            msg = await ws.receive()
            if msg["type"] == "websocket.disconnect":
                return
    except (WebSocketDisconnect, RuntimeError):
        return
