"""``/ws``: the dashboard's live feed.

On connect the client gets ``{"type": "snapshot", "seq": N, "boot": B, "alerts": [...]}``
(every open alert it may see), then ``{"type": "event", "seq": N, "event": {...}}`` per
alert event, and ``{"type": "heartbeat"}`` after 15 s without one. Events and snapshots
are binary frames holding UTF-8 JSON (the hub encodes each event once, for every client);
heartbeats are text. A client that falls further behind than the hub's ring (5,000
events), or whose send has been stuck for 10 s while events keep coming, is closed with
code 1013; it reconnects and gets a fresh snapshot. Sends wait while the socket's buffer
is full (uvicorn's flow control), so a slow client costs a cursor, never a growing buffer.

Resync: a client that reconnects with ``/ws?since=N&boot=B`` (the last seq and boot it
saw) gets, right after the snapshot, ``{"type": "missed", "events": [...]}`` with the
events it missed, or ``{"type": "missed", "gap": true}`` when the server restarted or the
hub's ring no longer reaches back (then the client reloads its history over HTTP).

Every caller gets only its scope's alerts (``warning.web.scope``), in the snapshot, the
missed events and the live feed (the hub skips events out of scope for its cursor). A
cross-origin handshake is refused with 403 before this endpoint runs
(``warning.web.origin``). When the caller's session ends (logout, password change) the
feed is closed with 4401: the session is checked again every ``RECHECK_S`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import orjson
from starlette.websockets import WebSocket, WebSocketDisconnect

from ..store.sessions import UNREACHABLE
from .hub import TooSlow
from .sendnow import EXTENSION as SEND_NOW

HEARTBEAT_S = 15.0
HEARTBEAT = '{"type":"heartbeat"}'
CLOSE_WAIT_S = 1.0  #: how long a dropped client's close frame may take to go out
SNAPSHOT_WAIT_S = 30.0  #: how long the snapshot may take to go out before we give up on the client
RECHECK_S = 5.0  #: how often an open feed checks that its session still stands


def make_endpoint(state):
    async def feed(ws: WebSocket) -> None:
        try:
            principal = await state.auth.principal(ws)
        except UNREACHABLE:
            await ws.accept()
            await ws.close(code=1013, reason="session store unavailable: try again")
            return
        await ws.accept()  # accept first, so the browser sees the 4401 code rather than a bare 403
        if principal is None:
            await ws.close(code=4401, reason="log in first")
            return
        scope = principal.scope
        send_now = (ws.scope.get("extensions") or {}).get(SEND_NOW, {}).get("send")
        client = state.hub.subscribe(scope, send_now)
        try:
            # Snapshot and subscription in the same step of the loop: no event falls between.
            alerts = scope.keep(state.runtime.open_alerts_json())
            if state.hub.labels is not None:  # named, as in every event after it
                names = state.hub.labels.enterprises
                for a in alerts:
                    a["enterprise_name"] = names.get(a["enterprise"], a["enterprise"])
            hub = state.hub
            missed = _missed(hub, ws.query_params, scope)
            snapshot = orjson.dumps(
                {
                    "type": "snapshot",
                    "seq": hub.seq,
                    "boot": hub.boot,
                    "alerts": alerts,
                    "me": {
                        "name": principal.name,
                        "role": principal.role,
                        "enterprise": principal.enterprise,
                        "can_act": principal.can_act,
                    },
                }
            )
            del alerts
            # A peer that reads nothing must not hold a snapshot here for ever.
            await asyncio.wait_for(ws.send_bytes(snapshot), SNAPSHOT_WAIT_S)
            del snapshot
            if missed is not None:
                await asyncio.wait_for(ws.send_bytes(orjson.dumps(missed)), SNAPSHOT_WAIT_S)
            receiver = asyncio.create_task(_drain_incoming(ws))
            sender = asyncio.create_task(_send_loop(ws, hub, client))
            kicked = asyncio.create_task(client.kicked.wait())
            ended = asyncio.create_task(_session_ends(state.auth, ws, principal))
            try:
                done, _ = await asyncio.wait({receiver, sender, kicked, ended}, return_when=asyncio.FIRST_COMPLETED)
                if ended in done:
                    sender.cancel()
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(ws.close(code=4401, reason="session ended"), CLOSE_WAIT_S)
                elif kicked in done or (sender in done and isinstance(sender.exception(), TooSlow)):
                    sender.cancel()
                    # The peer may read nothing: do not wait for the close frame to drain.
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(
                            ws.close(code=1013, reason="too slow: reconnect for a fresh snapshot"), CLOSE_WAIT_S
                        )
            finally:
                for t in (receiver, sender, kicked, ended):
                    t.cancel()
                for t in (receiver, sender, kicked, ended):
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await t
        except (WebSocketDisconnect, RuntimeError, TimeoutError):
            pass
        finally:
            state.hub.unsubscribe(client)

    return feed


async def _send_loop(ws: WebSocket, hub, client) -> None:
    """Send what the client has not had yet, a heartbeat when quiet; raises TooSlow."""
    clock = time.monotonic
    while True:
        batch = hub.take(client)
        if batch:
            for msg in batch:  # each send waits while the socket's buffer is full
                client.sending_since = clock()  # the hub drops a client stuck in a send (hub.STALL_S)
                await ws.send_bytes(msg)  # the hub's frame as it is: no copy, no encoding per client
            client.sending_since = 0.0
            continue
        parked_at = client.cursor
        client.idle = True  # from here the hub may write events to this client itself
        try:
            # asyncio.timeout, not wait_for: wait_for wraps the wait in a task of its own,
            # created and torn down per event and per client (~1.1 ms more per event for 200)
            async with asyncio.timeout(HEARTBEAT_S):
                await client.wake.wait()
            quiet = False
        except TimeoutError:
            quiet = client.cursor == parked_at  # the hub wrote nothing meanwhile either
        finally:
            client.idle = False
        if quiet:  # a heartbeat lets the page tell a quiet feed from a dead one
            await ws.send_text(HEARTBEAT)


async def _session_ends(auth, ws: WebSocket, principal) -> None:
    """Returns when the feed's session no longer stands (API-token callers: never)."""
    if principal.session is None:
        await asyncio.Event().wait()
    while True:
        await asyncio.sleep(RECHECK_S)
        try:
            now = await auth.principal(ws)
        except Exception:  # the store is away: keep the feed, check again later
            continue
        if now is None or now.session != principal.session:
            return


def _missed(hub, params, scope) -> dict | None:
    """What a reconnecting client missed, computed before any await (see the snapshot)."""
    since = params.get("since")
    if since is None:
        return None
    try:
        seq = int(since)
    except ValueError:
        return {"type": "missed", "gap": True}
    events = hub.since(seq, scope) if params.get("boot") == hub.boot else None
    return {"type": "missed", "gap": True} if events is None else {"type": "missed", "events": events}


async def _drain_incoming(ws: WebSocket) -> None:
    """Read (and ignore) what the client sends, so a close is noticed promptly."""
    try:
        while True:
            msg = await ws.receive()
            if msg["type"] == "websocket.disconnect":
                return
    except (WebSocketDisconnect, RuntimeError):
        return
