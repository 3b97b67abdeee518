"""Shared checks of the alerting APIs: who is calling, with which role, and a JSON body.

The caller was resolved by the route's guard (``warning.web.scope``); acting needs the
officer role and, for a cookie session, the CSRF token in ``X-CSRF-Token`` (API tokens
carry no cookie, so no CSRF).
"""

from __future__ import annotations

import orjson
from starlette.requests import Request

from ..i18n import translate
from .lang import request_locale
from .responses import json_error
from .scope import principal_of


def acts(p) -> bool:
    """Whether the principal may act on alerts (officer or admin)."""
    return bool(p.can_act)


def who(state, request: Request, role: str | None = None):
    """(principal, None) or (None, error response). ``role="officer"`` means any acting role."""
    p = principal_of(request)
    loc = request_locale(request, state.site, p)
    if role is not None and not acts(p):
        return None, json_error(403, translate("this needs the {role} role; you are {you}", loc, role=role, you=p.role))
    if role is not None and request.method not in ("GET", "HEAD") and not state.auth.csrf_ok(
            p, request.headers.get("x-csrf-token")):
        return None, json_error(403, translate("missing or wrong CSRF token (X-CSRF-Token header)", loc))
    return p, None


async def json_body(request: Request, limit: int = 64 * 1024):
    """(dict, None) or (None, error response)."""
    raw = await request.body()
    if len(raw) > limit:
        return None, json_error(413, f"body over {limit} bytes")
    try:
        body = orjson.loads(raw or b"{}")
    except orjson.JSONDecodeError as exc:
        return None, json_error(400, f"malformed JSON: {exc}")
    if not isinstance(body, dict):
        return None, json_error(400, "body must be a JSON object")
    return body, None


def number(request: Request, name: str, default=None):
    """A float query parameter, or raise ValueError with a message naming it."""
    v = request.query_params.get(name)
    if v is None:
        return default
    try:
        return float(v)
    except ValueError:
        raise ValueError(f"{name} must be a number (epoch seconds)") from None
