"""The policy in force and the notification log: ``GET /api/v1/policies``,
``GET /api/v1/notifications`` (delivery state per notification), and the page that shows the
log (``/notifications``: the outbox's deliveries, the platform above's included). Read-only."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response

from ..i18n import translate
from ..policy.policies import describe
from ..store import notifications as store
from .lang import request_locale
from .officer import number, who
from .responses import json_error, json_response

STATES = ("pending", "sent", "failed", "cancelled")
STATIC = Path(__file__).resolve().parent / "static"


def routes(state):
    async def policies(request: Request) -> Response:
        _, err = who(state, request)
        if err:
            return err
        chans = [
            {
                "id": c.id,
                "type": c.type,
                "min_severity": c.min_severity,
                **{k: v for k, v in c.options.items() if k not in ("url", "secret", "password", "token")},
            }
            for c in state.site.channels
        ]
        return json_response(
            {**describe(state.site.alert_policy()), "channels": chans, "suppressed": state.runtime.suppressed()}
        )

    async def log(request: Request) -> Response:
        _, err = who(state, request)
        if err:
            return err
        q = request.query_params
        loc = request_locale(request, state.site)
        st = q.get("state")
        if st is not None and st not in STATES:
            return json_error(400, translate("state must be one of {states}", loc, states=", ".join(STATES)))
        try:
            since = number(request, "since")
        except ValueError:
            return json_error(400, translate("since must be epoch seconds", loc))
        try:
            limit = int(q.get("limit", "200"))
        except ValueError:
            return json_error(400, translate("limit must be an integer", loc))
        if not 1 <= limit <= 10_000:
            return json_error(400, translate("limit must be between 1 and 10000", loc))
        async with state.pool.acquire() as conn:
            rows = await store.log(
                conn, state=st, channel=q.get("channel"), alert_id=q.get("alert"), since=since, limit=limit
            )
        return json_response(rows)

    async def page(request: Request) -> Response:
        return FileResponse(STATIC / "notifications.html", headers={"Cache-Control": "no-store"})

    return [
        ("/api/v1/policies", policies, ["GET"]),
        ("/api/v1/notifications", log, ["GET"]),
        ("/notifications", page, ["GET"]),
    ]
