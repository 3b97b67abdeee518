"""The ASGI application: routes of every edge module, security headers, static files."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
from starlette.applications import Starlette
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from ..config import Site
from ..live import LiveLedger
from ..metrics import Metrics
from ..runtime.api import Runtime
from ..tokens import TokenRegistry
from . import (
    admin_api,
    alerts_api,
    notify_api,
    onboarding_api,
    openapi,
    ops,
    pages,
    platform_api,
    report_api,
    risk_api,
    silences_api,
    telemetry,
    ws,
)
from .admission import Admission
from .auth import Auth
from .hub import Hub
from .limits import PathGuard
from .origin import SameOrigin
from .proxies import ForwardedFrom, TrustedProxies
from .ratelimit import Buckets
from .scope import ROUTES, Access, Rule, guard, rule_of

if TYPE_CHECKING:  # the service is a shell of its own; the web only calls it
    from ..runtime.risk import RiskService

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (
        b"content-security-policy",
        b"default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'",
    ),
]


@dataclass
class AppState:
    """Everything the edge modules need, in one place they all receive."""

    site: Site
    pool: asyncpg.Pool
    runtime: Runtime  #: EmbeddedRuntime, or the distributed runtime's KafkaGateway
    hub: Hub
    metrics: Metrics
    auth: Auth
    buckets: Buckets
    max_body: int
    mqtt: object | None = None  #: the MQTT source when configured (readiness)
    proxies: TrustedProxies = field(default_factory=TrustedProxies)  #: whose forwarded headers count
    public_url: str | None = None  #: WARNING_PUBLIC_URL: an origin accepted beside the request's own
    ledger: LiveLedger | None = None  #: the admin API changes the site through it (None: no admin API)
    tokens: TokenRegistry | None = None  #: the token registry in force (the admin API issues tokens)
    admission: Admission = field(default_factory=Admission)  #: per-enterprise fair share at the edge
    enterprise_buckets: Buckets | None = None  #: rate per enterprise, all its tokens together (None: off)
    risk: RiskService | None = None  #: risk warnings and their loop (warning.runtime.risk); None: not running
    uploads: Path = Path("data/uploads")  #: where photos of replies, reports and cleaning are kept


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


def build_app(state: AppState, *, lifespan=None, extra=(), access: dict[str, Rule] | None = None) -> Starlette:
    """The application. Every endpoint is wrapped by the guard its path declares in
    ``scope.ROUTES`` (``access``: that table, extended by a test); a path it does not
    declare raises :class:`~warning.web.scope.UndeclaredRoute`. ``extra``: more
    (path, endpoint, methods) routes, for tests."""
    table = ROUTES if access is None else access
    rule_of("/api/v1/telemetry", table)
    rule_of("/ws", table)  # the feed resolves its caller itself (a WebSocket is not a Request)
    routes: list = [
        Route("/api/v1/telemetry", telemetry.make_endpoint(state), methods=["POST"]),
        WebSocketRoute("/ws", ws.make_endpoint(state)),
    ]
    declared = list(extra)
    for module in (
        alerts_api,
        silences_api,
        notify_api,
        report_api,
        platform_api,
        risk_api,
        openapi,
        ops,
        pages,
        onboarding_api,
    ):
        declared += module.routes(state)
    if state.ledger is not None:
        declared += admin_api.routes(state)
    routes += [
        Route(path, guard(rule_of(path, table), fn, state.auth), methods=methods) for path, fn, methods in declared
    ]
    # The platform adapters' paths are site configuration, so they cannot be in ROUTES; each is
    # guarded like telemetry (Access.TOKEN): the handler authenticates the gateway by its key.
    routes += [
        Route(path, guard(Rule(Access.TOKEN), fn, state.auth), methods=methods)
        for path, fn, methods in platform_api.adapter_routes(state)
    ]
    rule_of("/static", table)
    routes.append(Mount("/static", StaticFiles(directory=str(pages.STATIC)), name="static"))
    app = Starlette(routes=routes, lifespan=lifespan)
    app.add_middleware(SameOrigin, public_url=state.public_url)
    app.add_middleware(PathGuard)
    app.add_middleware(ForwardedFrom, proxies=state.proxies)
    app.add_middleware(SecureHeaders)
    app.state.warning = state
    return app
