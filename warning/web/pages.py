"""The dashboard pages, login and logout, ``/api/v1/me``; it also gathers the routes of the
dashboard's own modules (``dash_api``, ``qr``, ``ui_api``) so the app needs no new registration.

Pages are static HTML; their scripts fetch data from the scoped JSON APIs and ``/ws``.
Enterprise users land on their own enterprise page; the big screen and other
enterprises' pages are not theirs (404, which does not confirm that an id exists).
Login and logout: see ``warning.web.auth`` (server-side sessions, equal-time checks) and
``warning.web.throttle`` (per user and address, with a per-address ceiling).
"""

from __future__ import annotations

import time
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response

from ..i18n import translate
from ..store import alerts as alert_store
from ..store.sessions import UNREACHABLE
from . import dash_api, qr, ui_api
from .auth import COOKIE
from .body import BodyError, read_form
from .lang import header_locale, refusal, store_unavailable
from .responses import json_response
from .scope import principal_of

STATIC = Path(__file__).resolve().parent / "static"
NO_STORE = {"Cache-Control": "no-store"}
LOGIN_FIELDS = {"username": 200, "password": 1024}  #: the login form's fields and their lengths


def home_of(p) -> str:
    """An enterprise user's own page, else the screen (a street officer's shows their streets,
    even a street of one enterprise: the scope filters it, the page is the same)."""
    only = p.scope.only()
    return f"/e/{only}" if p.role == "enterprise" and only is not None else "/"


def routes(state):
    auth = state.auth

    def page(name: str) -> Response:
        return FileResponse(STATIC / name, headers=NO_STORE)

    async def index(request: Request) -> Response:
        p = principal_of(request)
        if home_of(p) != "/":
            return RedirectResponse(home_of(p), 303)
        return page("index.html")

    async def enterprise_page(request: Request) -> Response:
        eid = request.path_params["id"]
        if eid not in state.site.enterprises or not principal_of(request).scope.sees(eid):
            return Response(translate("no such enterprise", header_locale(request)), 404, media_type="text/plain")
        return page("enterprise.html")

    async def alert_page(request: Request) -> Response:
        async with state.pool.acquire() as conn:
            alert = await alert_store.get_alert(conn, request.path_params["id"])
        if alert is None or not principal_of(request).scope.sees(alert["enterprise"]):
            return Response(translate("no such alert", header_locale(request)), 404, media_type="text/plain")
        return page("alert.html")

    async def login_page(request: Request) -> Response:
        return page("login.html")

    async def login(request: Request) -> Response:
        try:
            form = await read_form(request, LOGIN_FIELDS)
        except BodyError as exc:
            return exc.response(header_locale(request))
        name = form["username"]
        address = request.client.host if request.client else "?"  # after trusted proxies only
        now = time.time()
        wait = auth.throttle.wait(name, address, now)
        if wait:  # too many failures: refuse before even checking the password
            return refusal(
                request,
                429,
                "too many failed logins; try again in {seconds} s",
                headers={"Retry-After": str(int(wait) + 1)},
                seconds=f"{wait:.0f}",
            )
        try:
            done = await auth.login(name, form["password"], address)
        except UNREACHABLE as exc:
            return store_unavailable(request, exc)
        if done is None:
            auth.throttle.failed(name, address, now)
            return RedirectResponse("/login?failed=1", 303)
        auth.throttle.succeeded(name, address)
        cookie, user = done
        resp = RedirectResponse(f"/e/{user.enterprise}" if user.enterprise else "/", 303)
        resp.set_cookie(
            COOKIE,
            cookie,
            max_age=int(auth.max_age),
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return resp

    async def logout(request: Request) -> Response:
        try:
            await auth.logout(request)  # ends the session on the server: a copied cookie stops working
        except UNREACHABLE as exc:  # not ended: say so rather than pretend
            return refusal(
                request,
                503,
                "session store unavailable, not logged out: {error}",
                headers={"Retry-After": "2"},
                error=type(exc).__name__,
            )
        resp = RedirectResponse("/login", 303)
        resp.delete_cookie(COOKIE)
        return resp

    async def me(request: Request) -> Response:
        p = principal_of(request)
        sc = p.scope
        return json_response(
            {
                "name": p.name,
                "role": p.role,
                "csrf": p.csrf,
                "enterprise": p.enterprise,
                "scope": "all" if sc.all else sc.sql_filter(),
                "can_act": p.can_act,
                "session_seconds": auth.max_age,
            },
            headers=NO_STORE,
        )

    return (
        [
            ("/", index, ["GET"]),
            ("/e/{id}", enterprise_page, ["GET"]),
            ("/alert/{id}", alert_page, ["GET"]),
            ("/login", login_page, ["GET"]),
            ("/login", login, ["POST"]),
            ("/logout", logout, ["POST"]),
            ("/api/v1/me", me, ["GET"]),
        ]
        + dash_api.routes(state)
        + qr.routes(state)
        + ui_api.routes(state)
    )
