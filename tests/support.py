"""Helpers shared by tests and benchmarks: real servers on loopback."""

from __future__ import annotations

import os

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


async def kafka_and_producer(bootstrap: str, prefix: str, partitions: int):
    """Topics of their own (``prefix`` and a random suffix) on a running broker, and a started
    producer: (KafkaSettings, producer). Call ``await producer.stop()`` when done."""
    from warning.runtime.kafka import KafkaSettings, ensure_topics, producer

    kafka = KafkaSettings(
        bootstrap=bootstrap, prefix=prefix + os.urandom(3).hex(), partitions=partitions, idempotent=False
    )
    await ensure_topics(kafka)
    prod = producer(kafka)
    await prod.start()
    return kafka, prod
