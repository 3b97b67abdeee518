"""The platform adapters' HTTP edge: the national and provincial upload formats, and
``GET /api/v1/enterprise-alarms`` (the enterprises' own alarms, beside ours).

Same guarantees as ``POST /api/v1/telemetry``: the success answer is sent only after the
readings are committed (through the runtime's ``submit``, exactly as telemetry), a request is
all or nothing, and each reading carries a message id derived from (point code, time), so a
re-sent reading is stored once. Every refused request is kept in ``dead_letters`` with its
reason before the answer goes out; if even that cannot be written, the answer is 503 so the
gateway sends it again. Overload and store outages answer 503 (not a refusal: resend).
"""

from __future__ import annotations

import logging
import os

from starlette.requests import Request
from starlette.responses import Response

from ..platforms.decode import GatewayKeys, PlatformError, Registry, answer, decode
from ..platforms.settings import Format, Platforms, gateway_cipher
from ..runtime.errors import DB_ERRORS, Overloaded, Rejected
from ..store import dead_letters
from ..store import platforms as alarm_store
from .body import BodyError, read_bytes
from .officer import number
from .responses import json_error, json_response
from .scope import scope_of

log = logging.getLogger(__name__)


def registry(platforms: Platforms, site, devices: dict) -> Registry:
    """Gateways with their keys from the environment, and point codes -> store point ids."""
    gateways = {}
    for g in platforms.gateways:
        fmt = platforms.formats[g.platform]
        secret = (os.environ.get(g.secret_env) or None) if g.secret_env else None
        try:
            keys = GatewayKeys(g.enterprise, gateway_cipher(fmt, g, os.environ), secret)
        except ValueError as exc:  # the gateway is refused, loudly, rather than the server not starting
            log.warning("platform gateway %s refused until configured: %s", g.id, exc)
            keys = GatewayKeys(g.enterprise, None, secret, str(exc))
        if fmt.secret_header is not None and secret is None:
            log.warning(
                "platform gateway %s has no %s (secret_env unset): its requests are refused", g.id, fmt.secret_header
            )
        gateways[(g.platform, g.id)] = keys
    points = {}
    for ent, codes in platforms.codes.items():
        mine = devices.get(ent, {})
        points[ent] = {code: mine[d][p] for code, (d, p) in codes.items() if p in mine.get(d, {})}
    return Registry(gateways, {e.id: e.code for e in site.enterprises.values() if e.code}, points)


def routes(state):
    """The read path (declared in ``scope.ROUTES``)."""
    return [("/api/v1/enterprise-alarms", _alarms_endpoint(state), ["GET"])]


def adapter_routes(state):
    """The adapters, at the paths the site's formats name (configuration, so not in
    ``scope.ROUTES``: ``build_app`` guards them like telemetry, the gateway's key being the token)."""
    platforms: Platforms | None = state.site.platforms
    if platforms is None or not platforms.formats:
        return []
    reg = registry(platforms, state.site, state.runtime.devices)
    return [
        (path, _endpoint(state, fmt, kind, reg, platforms.timezone), ["POST"])
        for fmt in platforms.formats.values()
        for kind, path in fmt.paths.items()
    ]


def _endpoint(state, fmt: Format, kind: str, reg: Registry, tz: str):
    rejected = state.metrics.readings_rejected
    source = f"platform:{fmt.name}"

    def reply(code: int, msg: str, headers: dict | None = None) -> Response:
        status, body = answer(fmt, code, msg)
        return json_response(body, status, headers)

    async def refuse(path: str, body: bytes, exc: PlatformError) -> Response:
        rejected.labels(f"platform_{exc.code}").inc()
        reason = f"{exc.code} {exc.reason}" + (f" (gateway {exc.gateway})" if exc.gateway else "")
        try:
            async with state.pool.acquire() as conn:
                await dead_letters.add(conn, source, path, body, reason)
        except DB_ERRORS as err:
            log.error("%s: could not keep a refused request as a dead letter: %s", source, err)
            return reply(503, "存储不可用,请重发 / store unavailable, send again", {"Retry-After": "5"})
        return reply(exc.code, exc.reason)

    async def endpoint(request: Request) -> Response:
        path = request.url.path
        if kind == "rts" and state.runtime.full():  # shed before spending CPU on the cipher
            rejected.labels("overloaded").inc()
            return reply(503, "接收队列已满,请稍后重发 / ingest queue full, send again", {"Retry-After": "1"})
        try:
            body = await read_bytes(request, state.max_body)
        except BodyError as exc:
            if exc.status == 413:  # a platform's oversized post is kept as a dead letter, like other refusals
                return await refuse(path, b"", PlatformError(413, str(exc.message)))
            return reply(exc.status, str(exc.message))
        now = state.runtime.clock()
        try:
            inbound = decode(fmt, kind, body, request.headers, reg, now, tz)
        except PlatformError as exc:
            return await refuse(path, body, exc)
        if inbound.parsed is not None:
            key = f"gateway:{fmt.name}:{inbound.gateway}"
            wait = state.buckets.wait(key, now)
            if not wait:
                state.buckets.debit(key, inbound.parsed.count, now)
            else:
                rejected.labels("rate").inc()
                return reply(
                    429,
                    f"超过速率限制 / rate limit of {state.buckets.rate:g} readings/s exceeded",
                    {"Retry-After": str(max(1, int(wait + 0.999)))},
                )
            try:
                await state.runtime.submit(inbound.enterprise, inbound.parsed)
            except Overloaded as exc:
                rejected.labels("overloaded").inc()
                return reply(503, f"暂不可用,请重发 / {exc}", {"Retry-After": str(exc.retry_after)})
            except Rejected as exc:  # the store refused this post's content: kept as a dead letter, 400
                return await refuse(path, body, PlatformError(400, f"存储拒收 / refused by the store: {exc}"))
        if inbound.alarms:
            try:
                async with state.pool.acquire() as conn:
                    await alarm_store.add_alarms(conn, inbound.enterprise, inbound.gateway, fmt.name, inbound.alarms)
            except DB_ERRORS as exc:
                return reply(503, f"存储不可用,请重发 / store unavailable: {type(exc).__name__}", {"Retry-After": "5"})
        return reply(200, "")

    return endpoint


def _alarms_endpoint(state):
    async def alarms(request: Request) -> Response:
        q = request.query_params
        try:
            since = number(request, "since")
            limit = int(q.get("limit", "200"))
        except ValueError as exc:
            return json_error(400, str(exc) if "since" in str(exc) else "limit must be an integer")
        if not 1 <= limit <= 10_000:
            return json_error(400, "limit must be between 1 and 10000")
        scope = scope_of(request).narrow(q.get("enterprise"), state.site.enterprises)
        if scope is None:  # unknown and not-yours look the same
            return json_error(404, "no such enterprise")
        async with state.pool.acquire() as conn:
            rows = await alarm_store.list_alarms(
                conn,
                enterprises=scope.sql_filter(),
                since_ms=None if since is None else round(since * 1000),
                limit=limit,
            )
        return json_response(rows)

    return alarms
