"""JSON responses through orjson (fast, and it refuses NaN rather than emitting invalid JSON)."""

from __future__ import annotations

import orjson
from starlette.responses import Response


def json_response(data, status: int = 200, headers: dict | None = None) -> Response:
    return Response(orjson.dumps(data), status, headers=headers, media_type="application/json")


def json_error(status: int, message: str, headers: dict | None = None) -> Response:
    return json_response({"error": message}, status, headers)
