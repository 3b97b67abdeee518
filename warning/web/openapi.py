"""``GET /openapi.json``: the HTTP API described as OpenAPI 3.1 (written here, kept beside the
handlers it describes; tests fuzz the API from it)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..ingest import MAX_ID_LEN, MAX_ITEMS
from .responses import json_response

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {"type": "string"},
        "items": {
            "type": "array",
            "items": {"type": "object", "properties": {"index": {"type": "integer"}, "reason": {"type": "string"}}},
        },
    },
}
_ITEM = {
    "type": "object",
    "additionalProperties": False,
    "required": ["device", "ts", "values"],
    "properties": {
        "device": {"type": "string", "minLength": 1},
        "ts": {
            "oneOf": [
                {"type": "number", "description": "epoch milliseconds"},
                {"type": "string", "format": "date-time", "description": "ISO-8601 with a time zone"},
            ]
        },
        "values": {
            "type": "object",
            "minProperties": 1,
            "additionalProperties": {"oneOf": [{"type": "number"}, {"type": "boolean"}]},
        },
        "id": {"type": "string", "minLength": 1, "maxLength": MAX_ID_LEN},
    },
}


def _errors(*codes: int) -> dict:
    return {
        str(c): {"description": desc, "content": {"application/json": {"schema": _ERROR}}}
        for c, desc in (
            (400, "malformed JSON or schema"),
            (401, "missing or unknown credentials"),
            (403, "not yours / wrong role / CSRF"),
            (404, "unknown"),
            (409, "not applicable now"),
            (413, "body over its limit"),
            (415, "not application/json"),
            (429, "rate exceeded (Retry-After)"),
            (503, "queues full or store down (Retry-After)"),
        )
        if c in codes
    }


SPEC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "warning",
        "version": "1",
        "description": "Telemetry ingest and alert API of the dust-hazard early-warning processor.",
    },
    "components": {
        "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"},
            "session": {"type": "apiKey", "in": "cookie", "name": "warning_session"},
        }
    },
    "paths": {
        "/api/v1/telemetry": {
            "post": {
                "summary": "Push readings (one object or an array)",
                "security": [{"bearer": []}],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "oneOf": [
                                    _ITEM,
                                    {"type": "array", "minItems": 1, "maxItems": MAX_ITEMS, "items": _ITEM},
                                ]
                            }
                        }
                    },
                },
                "responses": {
                    "202": {
                        "description": "committed in PostgreSQL",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {"accepted": {"type": "integer"}, "duplicates": {"type": "integer"}},
                                }
                            }
                        },
                    },
                    **_errors(400, 401, 403, 413, 415, 429, 503),
                },
            }
        },
        "/api/v1/alerts": {
            "get": {
                "summary": "List alerts",
                "security": [{"bearer": []}, {"session": []}],
                "parameters": [
                    {
                        "name": "state",
                        "in": "query",
                        "schema": {"type": "string", "enum": ["active", "acknowledged", "resolved", "all"]},
                    },
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": 10000}},
                ],
                "responses": {"200": {"description": "alerts, most severe and newest first"}, **_errors(400, 401)},
            }
        },
        "/api/v1/alerts/{id}": {
            "get": {
                "summary": "One alert with its events",
                "security": [{"bearer": []}, {"session": []}],
                "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "the alert and its history"}, **_errors(401, 404)},
            }
        },
        **{
            f"/api/v1/alerts/{{id}}/{verb}": {
                "post": {
                    "summary": summary,
                    "security": [{"bearer": []}, {"session": []}],
                    "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "requestBody": {
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {"note": {"type": "string", "maxLength": 2000}},
                                }
                            }
                        }
                    },
                    "responses": {
                        "200": {"description": "the alert after the action"},
                        **_errors(400, 401, 403, 404, 409),
                    },
                }
            }
            for verb, summary in (("ack", "Sign for an alert"), ("resolve", "Lift an alert (a reason while active)"))
        },
        "/api/v1/enterprise-alarms": {
            "get": {
                "summary": "The enterprises' own alarms from their gateways (eventsData, videosData), newest first",
                "security": [{"bearer": []}, {"session": []}],
                "parameters": [
                    {"name": "since", "in": "query", "schema": {"type": "number"}},
                    {"name": "enterprise", "in": "query", "schema": {"type": "string"}},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": 10000}},
                ],
                "responses": {
                    "200": {
                        "description": "alarms; the platform adapters (README) are not described here: "
                        "their paths and fields are configuration"
                    },
                    **_errors(400, 401),
                },
            }
        },
        "/healthz": {"get": {"summary": "Alive", "responses": {"200": {"description": "ok"}}}},
        "/readyz": {
            "get": {
                "summary": "Ready",
                "responses": {"200": {"description": "ready"}, "503": {"description": "not ready"}},
            }
        },
        "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "text"}}}},
    },
}


def routes(state):
    async def openapi(request: Request) -> Response:
        return json_response(SPEC)

    return [("/openapi.json", openapi, ["GET"])]
