"""Limits at the edge against a real server over raw sockets: head size and header count,
slow heads and bodies, idle connections, a header flood's memory, WebSocket message size,
and a path holding a NUL. Timeouts are shortened here; README states the defaults."""

from __future__ import annotations

import asyncio
import os
import time

import httpx
import psutil
import pytest
import websockets

from tests.conftest import OFFICER_TOKEN, TOKENS
from warning.server import Server, Settings
from warning.web.limits import EdgeLimits

LIMITS = EdgeLimits(head_timeout=1.0, body_timeout=2.0, idle_timeout=1, ws_max_size=4096)


@pytest.fixture
async def server(site, machine_db):
    srv = Server(site, Settings(port=0, database=machine_db, limits=LIMITS))
    await srv.start()
    yield srv
    await srv.stop()


async def raw(port: int, data: bytes, *, read_timeout: float = 5.0) -> bytes:
    """Send ``data``, then read until the server closes (or ``read_timeout``)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), read_timeout)
    except (ConnectionResetError, BrokenPipeError):
        return b""
    finally:
        writer.close()


def head(*lines: str) -> bytes:
    return ("\r\n".join(("GET /healthz HTTP/1.1", "Host: x") + lines) + "\r\n\r\n").encode()


async def test_head_size_and_header_count(server):
    ok = await raw(server.port, head("Connection: close"))
    assert ok.startswith(b"HTTP/1.1 200"), ok[:100]
    big = await raw(server.port, head("X-Big: " + "a" * 100_000))
    assert big.startswith(b"HTTP/1.1 431") and "请求头超过".encode() in big, big[:200]
    many = await raw(server.port, head(*(f"X-H{i}: v" for i in range(LIMITS.max_headers + 1))))
    assert many.startswith(b"HTTP/1.1 431") and "请求头字段超过".encode() in many, many[:200]
    line = await raw(server.port, b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert line.startswith(b"HTTP/1.1 431"), line[:200]
    near = await raw(server.port, head("Connection: close", *(f"X-H{i}: v" for i in range(LIMITS.max_headers - 3))))
    assert near.startswith(b"HTTP/1.1 200"), near[:200]


async def test_slow_head_slow_body_and_idle_connections_are_cut_off(server):
    port = server.port
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    t0 = time.monotonic()
    answer = b""
    try:
        for part in head("X-Slow: 1").split(b"\n")[:-2]:  # never finishes its head
            writer.write(part + b"\n")
            await writer.drain()
            await asyncio.sleep(0.3)
        answer = await asyncio.wait_for(reader.read(), 5)
    except (ConnectionResetError, BrokenPipeError):
        pass
    finally:
        writer.close()
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert time.monotonic() - t0 < LIMITS.head_timeout + 2

    # a telemetry body promised but trickled: the body reader or the protocol answers 408
    t0 = time.monotonic()
    body_head = (
        b"POST /api/v1/telemetry HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer " + TOKENS["E1"].encode() + b"\r\nContent-Length: 1000\r\n\r\n["
    )
    answer = await raw(port, body_head, read_timeout=LIMITS.body_timeout + 3)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert time.monotonic() - t0 < LIMITS.body_timeout + 2

    # a connection that never sends a byte, and one kept alive after a response, are closed
    for data in (b"", head()):
        t0 = time.monotonic()
        answer = await raw(port, data, read_timeout=LIMITS.idle_timeout + 3)
        assert time.monotonic() - t0 < LIMITS.idle_timeout + 2
        assert answer == b"" if not data else answer.startswith(b"HTTP/1.1 200")


async def test_header_flood_keeps_memory_bounded(server):
    """8 connections each sending a 32 MiB header line (the issue's flood)."""
    me = psutil.Process(os.getpid())
    idle = me.memory_info().rss
    chunk = b"a" * 65536
    peak = idle
    refused = 0

    async def flood():
        nonlocal peak, refused
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nX-Flood: ")
            for _ in range(32 * 1024 * 1024 // len(chunk)):
                writer.write(chunk)
                await writer.drain()
                peak = max(peak, me.memory_info().rss)
            await asyncio.wait_for(reader.read(), 5)
        except (ConnectionResetError, BrokenPipeError):
            refused += 1
        else:
            refused += 1  # the server answered (431) and closed before the 32 MiB were sent
        finally:
            writer.close()

    await asyncio.wait_for(asyncio.gather(*(flood() for _ in range(8))), 60)
    assert refused == 8
    assert (peak - idle) / 2**20 < 50, f"RSS grew {(peak - idle) / 2**20:.0f} MB under the header flood"
    async with httpx.AsyncClient() as c:  # and the server still serves
        assert (await c.get(f"http://127.0.0.1:{server.port}/healthz")).status_code == 200


async def test_path_with_nul_is_refused_and_websocket_messages_are_bounded(server):
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{server.port}", headers={"Authorization": f"Bearer {OFFICER_TOKEN}"}
    ) as c:
        for path in (
            "/api/v1/alerts/a%00b",
            "/api/v1/silences/%00",
            "/api/v1/alerts?state=%00",
            "/api/v1/alerts/%01/ack",
        ):
            r = await c.request("POST" if path.endswith("ack") else "GET", path)
            assert r.status_code == 400 and "U+00" in r.json()["error"], (path, r.text)
    async with websockets.connect(
        f"ws://127.0.0.1:{server.port}/ws", additional_headers={"Authorization": f"Bearer {OFFICER_TOKEN}"}
    ) as ws:
        await ws.send("x" * (LIMITS.ws_max_size + 1))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            for _ in range(20):
                await asyncio.wait_for(ws.recv(), 5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009  # message too big


async def test_body_limits_are_checked_before_and_while_reading(server):
    auth = b"Authorization: Bearer " + TOKENS["E1"].encode() + b"\r\n"
    # declared too large: 413 at once, without waiting for a byte of the body
    t0 = time.monotonic()
    answer = await raw(
        server.port,
        b"POST /api/v1/telemetry HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + auth
        + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % (2 << 20),
        read_timeout=3,
    )
    assert answer.startswith(b"HTTP/1.1 413") and time.monotonic() - t0 < 1.5, answer[:200]
    # chunked, no length: refused as soon as it passes the limit
    chunk = b"%x\r\n%s\r\n" % (65536, b" " * 65536)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(
            b"POST /api/v1/telemetry HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + auth
            + b"Transfer-Encoding: chunked\r\n\r\n"
        )
        for _ in range(20):  # 1.25 MiB, over the 1 MiB limit
            writer.write(chunk)
        await writer.drain()
        answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    finally:
        writer.close()
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    # an officer's action: the 64 KiB limit of other JSON bodies
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{server.port}", headers={"Authorization": f"Bearer {OFFICER_TOKEN}"}
    ) as c:
        r = await c.post(
            "/api/v1/alerts/x/ack",
            content=b'{"note": "' + b"a" * 70_000 + b'"}',
            headers={"Content-Type": "application/json"},
        )
        assert r.status_code == 413 and "上限" in r.json()["error"]


async def test_too_many_connections_get_503_with_retry_after(site, machine_db):
    srv = Server(site, Settings(port=0, database=machine_db, limits=EdgeLimits(max_connections=3, idle_timeout=5)))
    await srv.start()
    held = []
    try:
        for _ in range(3):
            held.append(await asyncio.open_connection("127.0.0.1", srv.port))
        await asyncio.sleep(0.1)
        answer = await raw(srv.port, head("Connection: close"))
        assert answer.startswith(b"HTTP/1.1 503") and b"retry-after: 1" in answer, answer[:200]
        for _, w in held:
            w.close()
        held.clear()
        await asyncio.sleep(0.2)
        assert (await raw(srv.port, head("Connection: close"))).startswith(b"HTTP/1.1 200")
    finally:
        for _, w in held:
            w.close()
        await srv.stop()
