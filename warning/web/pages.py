"""The dashboard page, login and logout, and ``/api/v1/me``."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response

from .auth import COOKIE
from .responses import json_error, json_response

STATIC = Path(__file__).resolve().parent / "static"


def routes(state):
    auth = state.auth

    async def index(request: Request) -> Response:
        if auth.principal(request) is None:
            return RedirectResponse("/login", 303)
        return FileResponse(STATIC / "index.html")

    async def login_page(request: Request) -> Response:
        return FileResponse(STATIC / "login.html")

    async def login(request: Request) -> Response:
        form = await request.form()
        cookie = auth.login(str(form.get("username", "")), str(form.get("password", "")))
        if cookie is None:
            return RedirectResponse("/login?failed=1", 303)
        resp = RedirectResponse("/", 303)
        resp.set_cookie(COOKIE, cookie, max_age=auth.max_age, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")
        return resp

    async def logout(request: Request) -> Response:
        resp = RedirectResponse("/login", 303)
        resp.delete_cookie(COOKIE)
        return resp

    async def me(request: Request) -> Response:
        p = auth.principal(request)
        if p is None:
            return json_error(401, "not logged in")
        return json_response({"name": p.name, "role": p.role, "csrf": p.csrf})

    return [("/", index, ["GET"]), ("/login", login_page, ["GET"]), ("/login", login, ["POST"]),
            ("/logout", logout, ["POST"]), ("/api/v1/me", me, ["GET"])]
