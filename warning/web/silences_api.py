"""Silences over HTTP: ``GET/POST /api/v1/silences``, ``GET/PUT/DELETE /api/v1/silences/{id}``.

Anyone logged in can read; officers create, change and delete (with CSRF for cookies).
The author is the caller, never a field of the body. After every change the runtime's
router reloads the silences, so a silence takes effect on the next alert.
"""

from __future__ import annotations

import math

from starlette.requests import Request
from starlette.responses import Response

from ..i18n import say, translate
from ..policy.silences import SilenceError, validate
from ..store import silences as store
from ..textcheck import TextError, check_text
from .body import text_error
from .lang import request_locale
from .officer import json_body, who
from .responses import json_error, json_response

MAX_REASON = 2000  #: characters in a silence's reason
MAX_MATCHER = 200  #: characters in a matcher's value (an enterprise, device or point id)


def edge_checks(body: dict) -> None:
    """The texts a silence stores, and its times as finite numbers, checked before the
    silence rules look at them (TextError or SilenceError naming the field)."""
    if isinstance(body.get("reason"), str):
        check_text(body["reason"], field="reason", max_len=MAX_REASON)
    matchers = body.get("matchers")
    if isinstance(matchers, dict):
        for k, v in matchers.items():
            check_text(k, field="matchers", max_len=MAX_MATCHER)
            if isinstance(v, str):
                check_text(v, field=f"matchers.{k}", max_len=MAX_MATCHER)
    if body.get("cron") is not None:
        check_text(str(body["cron"]), field="cron", max_len=100)
    for name in ("starts_at", "ends_at", "duration"):
        v = body.get(name)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)):
            raise SilenceError("{name} must be a finite number (epoch seconds)", name=name)


def routes(state):
    clock = state.runtime.clock

    async def listing(request: Request) -> Response:
        _, err = who(state, request)
        if err:
            return err
        expired = request.query_params.get("expired", "false").lower() in ("1", "true", "yes")
        async with state.pool.acquire() as conn:
            rows = await store.listing(conn, include_expired=expired, now=clock())
        config = [s.to_json() | {"config": True} for s in state.runtime.config_silences()]
        for c in config:
            c["ends_at"] = None  # recurring windows from the configuration do not expire
        return json_response(rows + config)

    async def validated(request: Request):
        """(silence fields, None) from a request's JSON body, or (None, the 400 response)."""
        body, err = await json_body(request, max_text=MAX_REASON)
        if err:
            return None, err
        try:
            edge_checks(body)
            return validate(body, now=clock()), None
        except TextError as exc:
            return None, text_error(exc).response(request_locale(request, state.site))
        except SilenceError as exc:
            return None, json_error(400, say(exc.msgid, request_locale(request, state.site), exc.params))

    async def create(request: Request) -> Response:
        p, err = who(state, request, "officer")
        if err:
            return err
        fields, err = await validated(request)
        if err:
            return err
        async with state.pool.acquire() as conn:
            row = await store.create(conn, fields, p.name)
        await state.runtime.reload_silences()
        return json_response(row, 201)

    async def one(request: Request) -> Response:
        sid = request.path_params["id"]
        if request.method == "GET":
            _, err = who(state, request)
            if err:
                return err
            async with state.pool.acquire() as conn:
                row = await store.get(conn, sid)
            return (
                json_response(row)
                if row
                else json_error(404, translate("no silence {id}", request_locale(request, state.site), id=repr(sid)))
            )
        p, err = who(state, request, "officer")
        if err:
            return err
        async with state.pool.acquire() as conn:
            if request.method == "DELETE":
                row = await store.delete(conn, sid, p.name)
            else:
                fields, err = await validated(request)
                if err:
                    return err
                row = await store.update(conn, sid, fields)
            if row is None:
                known = await store.get(conn, sid)
                if known is None:
                    return json_error(
                        404, translate("no silence {id}", request_locale(request, state.site), id=repr(sid))
                    )
                return json_error(
                    409,
                    translate(
                        "silence {id} was deleted by {who}",
                        request_locale(request, state.site),
                        id=sid,
                        who=known["deleted_by"],
                    ),
                )
        await state.runtime.reload_silences()
        return json_response(row)

    return [
        ("/api/v1/silences", listing, ["GET"]),
        ("/api/v1/silences", create, ["POST"]),
        ("/api/v1/silences/{id}", one, ["GET", "PUT", "DELETE"]),
    ]
