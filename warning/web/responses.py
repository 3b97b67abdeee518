"""JSON responses through orjson (fast, and it refuses NaN rather than emitting invalid JSON)."""

from __future__ import annotations

import orjson
from starlette.responses import Response


def json_response(data, status: int = 200, headers: dict | None = None) -> Response:
    return Response(orjson.dumps(data), status, headers=headers, media_type="application/json")


def json_error(status: int, message: str, headers: dict | None = None, field: str | None = None) -> Response:
    """``{"error": message}``, with ``"field"`` naming the field to blame when there is one."""
    body = {"error": message} if field is None else {"error": message, "field": field}
    return json_response(body, status, headers)
