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

from ..i18n import Text, translate
from ..platforms.codes import Live
from ..platforms.crypto import CryptoError
from ..platforms.decode import GatewayKeys, PlatformError, Registry, answer, decode
from ..platforms.settings import Format, Platforms, gateway_cipher
from ..runtime.errors import DB_ERRORS, Overloaded, Rejected
from ..store import dead_letters
from ..store import platforms as alarm_store
from ..textcheck import storable
from .body import BodyError, read_bytes
from .lang import header_locale, request_locale
from .officer import number
from .responses import json_error, json_response
from .scope import principal_of, scope_of

log = logging.getLogger(__name__)


def gateway_keys(platforms: Platforms) -> dict[tuple[str, str], GatewayKeys]:
    """Gateways with their keys from the environment (read once, at start)."""
    gateways = {}
    for g in platforms.gateways:
        fmt = platforms.formats[g.platform]
        secret = (os.environ.get(g.secret_env) or None) if g.secret_env else None
        try:
            keys = GatewayKeys(g.enterprise, gateway_cipher(fmt, g, os.environ), secret)
        except ValueError as exc:  # the gateway is refused, loudly, rather than the server not starting
            why = (
                exc.reason if isinstance(exc, CryptoError) else Text.of("{who}: {problem}", who=g.id, problem=str(exc))
            )
            log.warning("platform gateway %s refused until configured: %s", g.id, why.render("en"))
            keys = GatewayKeys(g.enterprise, None, secret, why)
        if fmt.secret_header is not None and secret is None:
            log.warning(
                "platform gateway %s has no %s (secret_env unset): its requests are refused", g.id, fmt.secret_header
            )
        gateways[(g.platform, g.id)] = keys
    return gateways


class LiveRegistry:
    """The gateways of the site file, and the point and enterprise codes of the live site (the
    ledger: a point added through the admin API is posted without a restart)."""

    def __init__(self, state, platforms: Platforms):
        self.gateways = gateway_keys(platforms)
        self.codes = Live(lambda: state.site, lambda: state.runtime.devices)
        self._made: tuple[int, Registry] | None = None

    def get(self) -> Registry:
        points = self.codes.points()
        if self._made is None or self._made[0] != id(points):
            self._made = (id(points), Registry(self.gateways, self.codes.enterprise_codes(), points))
        return self._made[1]


def routes(state):
    """The read path (declared in ``scope.ROUTES``)."""
    return [("/api/v1/enterprise-alarms", _alarms_endpoint(state), ["GET"])]


def adapter_routes(state):
    """The adapters, at the paths the site's formats name (configuration, so not in
    ``scope.ROUTES``: ``build_app`` guards them like telemetry, the gateway's key being the token)."""
    platforms: Platforms | None = state.site.platforms
    if platforms is None or not platforms.formats:
        return []
    reg = LiveRegistry(state, platforms)
    return [
        (path, _endpoint(state, fmt, kind, reg, platforms.timezone), ["POST"])
        for fmt in platforms.formats.values()
        for kind, path in fmt.paths.items()
    ]


def _endpoint(state, fmt: Format, kind: str, reg: LiveRegistry, tz: str):
    rejected = state.metrics.readings_rejected
    source = f"platform:{fmt.name}"
    admission = state.admission

    def _rate(enterprise: str, key: str, count: int, now: float, loc: str) -> tuple[str, int] | None:
        """The gateway's own rate, then its enterprise's (all its gateways and tokens together):
        (why in ``loc``, retry after seconds) when over, else both debited."""
        wait = state.buckets.wait(key, now)
        if wait:
            why = translate(
                "rate limit of {rate} readings/s exceeded for this gateway", loc, rate=f"{state.buckets.rate:g}"
            )
            return why, max(1, int(wait + 0.999))
        per = state.enterprise_buckets
        wait = per.wait(enterprise, now) if per is not None else 0.0
        if wait:
            return (
                translate(
                    "rate limit of {rate} readings/s exceeded for this enterprise (all its gateways and tokens together)",
                    loc,
                    rate=f"{per.rate:g}",
                ),
                max(1, int(wait + 0.999)),
            )
        state.buckets.debit(key, count, now)
        if per is not None:
            per.debit(enterprise, count, now)
        return None

    def reply(code: int, msg: str, headers: dict | None = None) -> Response:
        status, body = answer(fmt, code, msg)
        return json_response(body, status, headers)

    async def refuse(path: str, body: bytes, exc: PlatformError, loc: str) -> Response:
        rejected.labels(f"platform_{exc.code}").inc()
        why = Text.of("{code} {reason}", code=exc.code, reason=exc.reason)
        if exc.gateway:
            why = Text.of("{code} {reason} (gateway {gateway})", code=exc.code, reason=exc.reason, gateway=exc.gateway)
        reason = storable(str(why), 2000)  # kept in zh-CN (``str()`` of a text), like the other dead letters
        try:
            async with state.pool.acquire() as conn:
                await dead_letters.add(conn, source, path, body, reason)
        except DB_ERRORS as err:
            log.error("%s: could not keep a refused request as a dead letter: %s", source, err)
            return reply(503, translate("store unavailable, send again", loc), {"Retry-After": "5"})
        return reply(exc.code, exc.reason.render(loc))

    async def endpoint(request: Request) -> Response:
        path = request.url.path
        loc = header_locale(request)  # a gateway is no user: its headers choose
        if kind == "rts" and state.runtime.full():  # shed before spending CPU on the cipher
            rejected.labels("overloaded").inc()
            return reply(503, translate("ingest queue full, send again", loc), {"Retry-After": "1"})
        try:
            body = await read_bytes(request, state.max_body)
        except BodyError as exc:
            if exc.status == 413:  # a platform's oversized post is kept as a dead letter, like other refusals
                return await refuse(path, b"", PlatformError(413, exc.message), loc)
            return reply(exc.status, exc.message.render(loc))
        now = state.runtime.clock()
        try:
            inbound = decode(fmt, kind, body, request.headers, reg.get(), now, tz)
        except PlatformError as exc:
            return await refuse(path, body, exc, loc)
        if inbound.parsed is not None:
            busy = _rate(inbound.enterprise, f"gateway:{fmt.name}:{inbound.gateway}", inbound.parsed.count, now, loc)
            if busy is not None:
                rejected.labels("rate").inc()
                return reply(429, busy[0], {"Retry-After": str(busy[1])})
            # the edge's per-enterprise fair share, as for telemetry (warning/web/admission.py); the
            # enterprise is known only once the envelope is opened, so it is taken after the body
            ent, n = inbound.enterprise, inbound.parsed.count
            if not admission.enter(ent):
                rejected.labels("rate").inc()
                return reply(
                    429,
                    translate("this enterprise already has {n} requests in flight", loc, n=admission.max_requests),
                    {"Retry-After": "1"},
                )
            try:
                if not admission.reserve(ent, n):
                    rejected.labels("rate").inc()
                    return reply(
                        429,
                        translate(
                            "this enterprise already has {n} readings waiting for their commit",
                            loc,
                            n=admission.readings.get(ent, 0),
                        ),
                        {"Retry-After": "1"},
                    )
                try:
                    await state.runtime.submit(ent, inbound.parsed)
                except Overloaded as exc:
                    rejected.labels("overloaded").inc()
                    return reply(
                        503,
                        translate("unavailable, send again: {error}", loc, error=str(exc)),
                        {"Retry-After": str(exc.retry_after)},
                    )
                except Rejected as exc:  # the store refused this post's content: kept as a dead letter, 400
                    refused = Text.of("refused by the store: {error}", error=str(exc))
                    return await refuse(path, body, PlatformError(400, refused), loc)
                finally:
                    admission.release(ent, n)
            finally:
                admission.leave(ent)
        if inbound.alarms:
            try:
                async with state.pool.acquire() as conn:
                    await alarm_store.add_alarms(conn, inbound.enterprise, inbound.gateway, fmt.name, inbound.alarms)
            except DB_ERRORS as exc:
                why = translate("store unavailable, send again: {error}", loc, error=type(exc).__name__)
                return reply(503, why, {"Retry-After": "5"})
        return reply(200, "")

    return endpoint


def _alarms_endpoint(state):
    async def alarms(request: Request) -> Response:
        q = request.query_params
        loc = request_locale(request, state.site, principal_of(request))
        try:
            since = number(request, "since")
            limit = int(q.get("limit", "200"))
        except ValueError as exc:
            return json_error(400, str(exc) if "since" in str(exc) else translate("limit must be an integer", loc))
        if not 1 <= limit <= 10_000:
            return json_error(400, translate("limit must be between 1 and 10000", loc))
        scope = scope_of(request).narrow(q.get("enterprise"), state.site.enterprises)
        if scope is None:  # unknown and not-yours look the same
            return json_error(404, translate("no such enterprise", loc))
        async with state.pool.acquire() as conn:
            rows = await alarm_store.list_alarms(
                conn,
                enterprises=scope.sql_filter(),
                since_ms=None if since is None else round(since * 1000),
                limit=limit,
            )
        return json_response(rows)

    return alarms
