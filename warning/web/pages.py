"""The dashboard pages, login and logout, ``/api/v1/me``; it also gathers the routes of the
dashboard's own modules (``dash_api``, ``qr``) so the app needs no new registration.

Pages are static HTML; their scripts fetch data from the scoped JSON APIs and ``/ws``.
Enterprise users land on their own enterprise page; the big screen and other
enterprises' pages are not theirs (404, which does not confirm that an id exists).
"""

from __future__ import annotations

import time
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response

from . import dash_api, qr
from .auth import COOKIE
from .body import BodyError, read_form
from .responses import json_error, json_response

STATIC = Path(__file__).resolve().parent / "static"
NO_STORE = {"Cache-Control": "no-store"}
LOGIN_FIELDS = {"username": 200, "password": 1024}  #: the login form's fields and their lengths


def home_of(p) -> str:
    return f"/e/{p.enterprise}" if p.enterprise else "/"


def routes(state):
    auth = state.auth
    site = state.site

    def page(name: str) -> Response:
        return FileResponse(STATIC / name, headers=NO_STORE)

    async def index(request: Request) -> Response:
        p = auth.principal(request)
        if p is None:
            return RedirectResponse("/login", 303)
        if p.enterprise is not None:
            return RedirectResponse(home_of(p), 303)
        return page("index.html")

    async def enterprise_page(request: Request) -> Response:
        p = auth.principal(request)
        if p is None:
            return RedirectResponse("/login", 303)
        eid = request.path_params["id"]
        if eid not in site.enterprises or not p.may_see(eid):
            return Response("no such enterprise", 404, media_type="text/plain")
        return page("enterprise.html")

    async def alert_page(request: Request) -> Response:
        if auth.principal(request) is None:
            return RedirectResponse("/login", 303)
        return page("alert.html")  # the data API answers 404 for alerts the user may not see

    async def login_page(request: Request) -> Response:
        return page("login.html")

    async def login(request: Request) -> Response:
        try:
            form = await read_form(request, LOGIN_FIELDS)
        except BodyError as exc:
            return exc.response()
        name = form["username"]
        address = request.client.host if request.client else "?"
        now = time.time()
        wait = auth.throttle.wait(name, address, now)
        if wait:  # too many failures: refuse before even checking the password
            return json_error(429, f"too many failed logins; try again in {wait:.0f} s",
                              headers={"Retry-After": str(int(wait) + 1)})
        cookie = auth.login(name, form["password"])
        if cookie is None:
            auth.throttle.failed(name, address, now)
            return RedirectResponse("/login?failed=1", 303)
        auth.throttle.succeeded(name)
        user = site.users[name]
        resp = RedirectResponse(f"/e/{user.enterprise}" if user.enterprise else "/", 303)
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
        return json_response({"name": p.name, "role": p.role, "csrf": p.csrf, "enterprise": p.enterprise,
                              "can_act": p.can_act, "session_seconds": auth.max_age}, headers=NO_STORE)

    return [("/", index, ["GET"]), ("/e/{id}", enterprise_page, ["GET"]), ("/alert/{id}", alert_page, ["GET"]),
            ("/login", login_page, ["GET"]), ("/login", login, ["POST"]),
            ("/logout", logout, ["POST"]), ("/api/v1/me", me, ["GET"])] + dash_api.routes(state) + qr.routes(state)
