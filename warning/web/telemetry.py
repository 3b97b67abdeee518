"""``POST /api/v1/telemetry``: enterprises push readings.

Checks in order, each answered with a JSON error that changes nothing:
401 token, 415 content type, 413 size, 400/403 payload, 429 rate (in readings), 503 queues full.
"""

from __future__ import annotations

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from ..ingest import IngestError, parse
from ..runtime.errors import Overloaded, Rejected
from .responses import json_error, json_response


class _TooLarge(Exception):
    pass


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise _TooLarge
        except ValueError:
            raise _TooLarge from None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def make_endpoint(state):
    """``state`` holds auth, runtime, metrics, buckets and ``max_body``."""
    rejected = state.metrics.readings_rejected

    async def telemetry(request: Request) -> Response:
        token = state.auth.bearer(request)
        enterprise = state.auth.enterprise(token)
        if enterprise is None:
            rejected.labels("unauthorized").inc()
            return json_error(401, "missing or unknown bearer token", headers={"WWW-Authenticate": "Bearer"})
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/json":
            rejected.labels("media_type").inc()
            return json_error(415, f"body must be application/json, not {ctype or 'unspecified'!r}")
        if state.runtime.full():  # shed before spending CPU on a body we could not take
            rejected.labels("overloaded").inc()
            return json_error(503, "ingest queue full", headers={"Retry-After": "1"})
        try:
            body = await read_body(request, state.max_body)
        except _TooLarge:
            rejected.labels("too_large").inc()
            return json_error(413, f"body over the limit of {state.max_body} bytes")
        except ClientDisconnect:
            return json_error(400, "client disconnected")
        now = state.runtime.clock()
        try:
            parsed = parse(body, state.runtime.devices.get(enterprise, {}), now)
        except IngestError as exc:
            rejected.labels("invalid" if exc.status == 400 else "forbidden").inc()
            return json_response(exc.body, exc.status)
        wait = state.buckets.take(token, parsed.count, now)
        if wait:
            rejected.labels("rate").inc()
            return json_error(429, f"rate limit of {state.buckets.rate:g} readings/s exceeded for this token",
                              headers={"Retry-After": str(max(1, int(wait + 0.999)))})
        try:
            accepted, duplicates = await state.runtime.submit(enterprise, parsed)
        except Overloaded as exc:
            rejected.labels("overloaded").inc()
            return json_error(503, str(exc), headers={"Retry-After": str(exc.retry_after)})
        except Rejected as exc:  # the store refused what this request carries: it alone fails
            return json_error(400, str(exc))
        return json_response({"accepted": accepted, "duplicates": duplicates}, 202)

    return telemetry
