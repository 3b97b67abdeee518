"""Operations endpoints: ``/metrics`` (Prometheus), ``/healthz`` (alive), ``/readyz`` (serving)."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import Response

from .responses import json_response


def routes(state):
    async def metrics(request: Request) -> Response:
        return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def healthz(request: Request) -> Response:
        return json_response({"status": "ok"})

    async def readyz(request: Request) -> Response:
        problems = state.runtime.problems()
        if state.mqtt is not None and not state.mqtt.connected:
            problems.append("MQTT broker not connected")
        try:
            async with state.pool.acquire(timeout=2) as conn:
                await conn.fetchval("SELECT 1")
        except Exception as exc:  # any failure to reach the store means not ready
            problems.append(f"database: {type(exc).__name__}")
        body = {"status": "ready" if not problems else "not ready", "problems": problems}
        return json_response(body, 200 if not problems else 503)

    return [("/metrics", metrics, ["GET"]), ("/healthz", healthz, ["GET"]), ("/readyz", readyz, ["GET"])]
