"""Helpers shared by tests and benchmarks: real servers on loopback."""

from __future__ import annotations

import asyncio
import time

from aiohttp import web


async def until(probe, within: float, what: str):
    """Poll the coroutine function ``probe`` every 0.3 s until it returns something true
    (returned); fail naming ``what`` after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        got = await probe()
        if got:
            return got
        assert time.monotonic() < deadline, f"{what} not within {within} s"
        await asyncio.sleep(0.3)


async def serve_loopback(handler, route: str = "/{name}") -> tuple[web.AppRunner, str]:
    """An aiohttp server for POSTs to ``route`` on a free 127.0.0.1 port: (runner, base URL).
    Call ``await runner.cleanup()`` to stop it."""
    app = web.Application()
    app.router.add_post(route, handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
