"""The worker's operations endpoints: ``/healthz``, ``/readyz`` (not ready while starting, when
a partition stalls, while a chunk waits for the store, or without the store) and ``/metrics``."""

from __future__ import annotations

import contextlib

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


def make_app(worker, pool, metrics) -> Starlette:
    async def healthz(request):
        return JSONResponse({"status": "ok"})

    async def readyz(request):
        problems = worker.problems()
        try:
            async with pool.acquire(timeout=2) as conn:
                await conn.fetchval("SELECT 1")
        except Exception as exc:  # any failure to reach the store means not ready
            problems.append(f"database: {type(exc).__name__}")
        body = {
            "status": "not ready" if problems else "ready",
            "problems": problems,
            "owner": worker.owner,
            "partitions": sorted(worker.states),
        }
        return JSONResponse(body, 503 if problems else 200)

    async def prom(request):
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return Starlette(routes=[Route("/healthz", healthz), Route("/readyz", readyz), Route("/metrics", prom)])


async def serve_ops(host: str, port: int, worker, pool, metrics) -> None:
    server = uvicorn.Server(
        uvicorn.Config(
            make_app(worker, pool, metrics), host=host, port=port, lifespan="off", log_level="warning", access_log=False
        )
    )
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]  # faust owns the signals
    await server.serve()
