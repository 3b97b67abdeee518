"""``POST /api/v1/telemetry``: enterprises push readings.

Everything that can be decided from the headers is decided before a byte of the body is
read, so a flood costs the flooder's headers, not the server's CPU. In order, each
answered with a JSON error that changes nothing:

1. 401 token; 415 content type; 413 ``Content-Length`` over the limit.
2. 429 + ``Retry-After`` when the token's bucket is empty, or its enterprise's (all its
   tokens together, :mod:`.ratelimit`), or its enterprise already has its share of requests
   in flight (:mod:`.admission`).
3. 503 + ``Retry-After`` when the runtime's queue is full (the global backstop).
4. The body (:mod:`.body`: 413 past the limit while reading, 408 too slow), then
   400/403 payload (:mod:`warning.ingest`, every text checked by :mod:`warning.textcheck`).
5. The token and its enterprise are debited the real number of readings (into debt if need be); 429 when the
   enterprise's readings waiting for their commit would pass its share; else submitted,
   and 202 once committed.
"""

from __future__ import annotations

import math

from starlette.requests import Request
from starlette.responses import Response

from ..ingest import IngestError, parse
from ..runtime.errors import Overloaded, Rejected
from .body import BodyError, check_media_type, declared_length, read_bytes
from .lang import header_locale, refusal
from .responses import json_error, json_response


def _retry_after(seconds: float) -> dict:
    return {"Retry-After": str(max(1, math.ceil(seconds)))}


def make_endpoint(state):
    """``state`` holds auth, runtime, metrics, buckets, admission and ``max_body``."""
    rejected = state.metrics.readings_rejected
    admission = state.admission

    async def telemetry(request: Request) -> Response:
        token = state.auth.bearer(request)
        enterprise = state.auth.enterprise(token)
        if enterprise is None:
            rejected.labels("unauthorized").inc()
            return refusal(request, 401, "missing or unknown bearer token", headers={"WWW-Authenticate": "Bearer"})
        try:
            check_media_type(request)
            declared_length(request, state.max_body)
        except BodyError as exc:
            rejected.labels("media_type" if exc.status == 415 else "too_large").inc()
            return exc.response(header_locale(request))
        now = state.runtime.clock()
        wait = state.buckets.wait(token, now)
        if wait:
            rejected.labels("rate").inc()
            return refusal(
                request,
                429,
                "rate limit of {rate} readings/s exceeded for this token",
                headers=_retry_after(wait),
                rate=f"{state.buckets.rate:g}",
            )
        per_enterprise = state.enterprise_buckets
        wait = per_enterprise.wait(enterprise, now) if per_enterprise is not None else 0.0
        if wait:
            rejected.labels("rate").inc()
            return refusal(
                request,
                429,
                "rate limit of {rate} readings/s exceeded for this enterprise (all its tokens together)",
                headers=_retry_after(wait),
                rate=f"{per_enterprise.rate:g}",
            )
        if not admission.enter(enterprise):
            rejected.labels("rate").inc()
            return refusal(
                request,
                429,
                "this enterprise already has {n} requests in flight",
                headers=_retry_after(1),
                n=admission.max_requests,
            )
        try:
            return await _admitted(request, token, enterprise)
        finally:
            admission.leave(enterprise)

    async def _admitted(request: Request, token: str, enterprise: str) -> Response:
        if state.runtime.full():  # shed before spending CPU on a body we could not take
            rejected.labels("overloaded").inc()
            return refusal(request, 503, "ingest queue full", headers=_retry_after(1))
        try:
            body = await read_bytes(request, state.max_body)
        except BodyError as exc:
            rejected.labels("too_large" if exc.status == 413 else "invalid").inc()
            return exc.response(header_locale(request))
        now = state.runtime.clock()
        try:
            parsed = parse(body, state.runtime.devices.get(enterprise, {}), now)
        except IngestError as exc:
            rejected.labels("invalid" if exc.status == 400 else "forbidden").inc()
            return json_response(exc.body, exc.status)
        state.buckets.debit(token, parsed.count, now)
        if state.enterprise_buckets is not None:
            state.enterprise_buckets.debit(enterprise, parsed.count, now)
        if not admission.reserve(enterprise, parsed.count):
            rejected.labels("rate").inc()
            return refusal(
                request,
                429,
                "this enterprise already has {n} readings waiting for their commit",
                headers=_retry_after(1),
                n=admission.readings.get(enterprise, 0),
            )
        try:
            accepted, duplicates = await state.runtime.submit(enterprise, parsed)
        except Overloaded as exc:
            rejected.labels("overloaded").inc()
            return json_error(503, str(exc), headers=_retry_after(exc.retry_after))
        except Rejected as exc:  # the store refused what this request carries: it alone fails
            return json_error(400, str(exc))
        finally:
            admission.release(enterprise, parsed.count)
        return json_response({"accepted": accepted, "duplicates": duplicates}, 202)

    return telemetry
