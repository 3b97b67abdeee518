"""Silences over HTTP: ``GET/POST /api/v1/silences``, ``GET/PUT/DELETE /api/v1/silences/{id}``.

Anyone logged in can read; officers create, change and delete (with CSRF for cookies).
The author is the caller, never a field of the body. After every change the runtime's
router reloads the silences, so a silence takes effect on the next alert.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ..policy.silences import SilenceError, validate
from ..store import silences as store
from .officer import json_body, who
from .responses import json_error, json_response


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
        body, err = await json_body(request)
        if err:
            return None, err
        try:
            return validate(body, now=clock()), None
        except SilenceError as exc:
            return None, json_error(400, str(exc))

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
            return json_response(row) if row else json_error(404, f"no silence {sid!r}")
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
                    return json_error(404, f"no silence {sid!r}")
                return json_error(409, f"silence {sid} was deleted by {known['deleted_by']}")
        await state.runtime.reload_silences()
        return json_response(row)

    return [
        ("/api/v1/silences", listing, ["GET"]),
        ("/api/v1/silences", create, ["POST"]),
        ("/api/v1/silences/{id}", one, ["GET", "PUT", "DELETE"]),
    ]
