"""Shared checks of the alerting APIs: who is calling, with which role, and a JSON body.

The caller was resolved by the route's guard (``warning.web.scope``); acting needs the
officer role and, for a cookie session, the CSRF token in ``X-CSRF-Token`` (API tokens
carry no cookie, so no CSRF).
"""

from __future__ import annotations

from starlette.requests import Request

from ..i18n import translate
from .body import BodyError, read_json
from .lang import header_locale, request_locale
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
    if (
        role is not None
        and request.method not in ("GET", "HEAD")
        and not state.auth.csrf_ok(p, request.headers.get("x-csrf-token"))
    ):
        return None, json_error(403, translate("missing or wrong CSRF token (X-CSRF-Token header)", loc))
    return p, None


async def json_body(request: Request, limit: int = 64 * 1024, max_text: int = 2000):
    """(dict, None) or (None, error response), through the one body reader (:mod:`.body`):
    every string in it is checked, so no NUL or lone surrogate gets past this point."""
    try:
        return await read_json(request, limit=limit, empty={}, max_text=max_text), None
    except BodyError as exc:
        return None, exc.response(header_locale(request))


def number(request: Request, name: str, default=None):
    """A float query parameter, or raise ValueError with a message naming it."""
    v = request.query_params.get(name)
    if v is None:
        return default
    try:
        return float(v)
    except ValueError:
        raise ValueError(f"{name} must be a number (epoch seconds)") from None
