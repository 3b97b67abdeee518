"""The ASGI application: routes of every edge module, security headers, static files."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
from starlette.applications import Starlette
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from ..config import Site
from ..metrics import Metrics
from . import alerts_api, notify_api, openapi, ops, pages, platform_api, report_api, silences_api, telemetry, ws
from .auth import Auth
from .hub import Hub
from .ratelimit import Buckets

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"content-security-policy",
     b"default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'"),
]


@dataclass
class AppState:
    """Everything the edge modules need, in one place they all receive."""

    site: Site
    pool: asyncpg.Pool
    runtime: object  #: EmbeddedRuntime, or the distributed runtime's KafkaGateway (same interface)
    hub: Hub
    metrics: Metrics
    auth: Auth
    buckets: Buckets
    max_body: int
    mqtt: object | None = None  #: the MQTT source when configured (readiness)


class SecureHeaders:
    """Adds the security headers to every HTTP response."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + SECURITY_HEADERS
            await send(message)

        return await self.app(scope, receive, send_with_headers)


def build_app(state: AppState, *, lifespan=None) -> Starlette:
    routes = [Route("/api/v1/telemetry", telemetry.make_endpoint(state), methods=["POST"]),
              WebSocketRoute("/ws", ws.make_endpoint(state))]
    for module in (alerts_api, silences_api, notify_api, report_api, platform_api, openapi, ops, pages):
        routes += [Route(path, fn, methods=methods) for path, fn, methods in module.routes(state)]
    routes.append(Mount("/static", StaticFiles(directory=str(pages.STATIC)), name="static"))
    app = Starlette(routes=routes, lifespan=lifespan)
    app.add_middleware(SecureHeaders)
    app.state.warning = state
    return app
