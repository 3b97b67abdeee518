"""Helpers shared by tests and benchmarks: real servers on loopback."""

from __future__ import annotations

from aiohttp import web


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
