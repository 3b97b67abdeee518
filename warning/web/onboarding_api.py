"""``GET /api/v1/onboarding[?enterprise=]``: an enterprise's onboarding details (endpoint,
points with their platform codes, an example request) for whoever may see it: its own users,
its street's officers, the district. Scoped like every read; the token is never in it."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ..i18n import translate
from .admin_api import onboarding_of
from .lang import request_locale
from .responses import json_error, json_response
from .scope import principal_of, scope_of


def routes(state):
    async def onboarding(request: Request) -> Response:
        sc = scope_of(request)
        loc = request_locale(request, state.site, principal_of(request))
        wanted = request.query_params.get("enterprise") or sc.only()
        if wanted is None:
            return json_error(400, translate("give ?enterprise=", loc))
        narrowed = sc.narrow(wanted, state.site.enterprises)
        if narrowed is None:
            return json_error(404, translate("no such enterprise", loc))
        base = state.public_url or f"{request.url.scheme}://{request.url.netloc}"
        return json_response(onboarding_of(state.site, wanted, base, loc))

    return [("/api/v1/onboarding", onboarding, ["GET"])]
