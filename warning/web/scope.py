"""The one scope check: which enterprises a caller may see, and which routes need what.

A :class:`Scope` is either *every* enterprise (district officers, viewers, admins) or a
fixed set of enterprise ids (an enterprise user: one; a street officer, issue 14: the
street's enterprises). Every read path filters by it: lists and counts keep only rows
whose enterprise the scope :meth:`~Scope.sees`, one object outside it answers 404 (which
does not confirm that its id exists), and SQL gets :meth:`~Scope.sql_filter`.

:data:`ROUTES` says, for every path of the application, how it is guarded, and
``build_app`` wraps every endpoint in :func:`guard` by that table. A path missing from the
table makes the application refuse to start, so a new route cannot forget its scope:

* ``PUBLIC``: no caller needed; answers carry no enterprise's data (login page, health,
  metrics, the OpenAPI text, static files).
* ``TOKEN``: an enterprise's bearer token, checked by the handler; the token's own
  enterprise only (telemetry).
* ``SCOPED``: any logged-in caller; the handler reads :func:`scope_of` and filters by it.
* ``DISTRICT``: only callers who see every enterprise (district-wide configuration and
  logs: silences, policies, the notification log); others get 403.
* ``ADMIN``: only the ``admin`` role (the ledger's administration, issue 14); others get 403.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..config import Site, User
from ..store.sessions import UNREACHABLE
from .lang import refusal, store_unavailable


@dataclass(frozen=True, slots=True)
class Scope:
    """The enterprises a caller may see: ``None`` means every one."""

    enterprises: frozenset[str] | None

    @classmethod
    def everything(cls) -> Scope:
        return cls(None)

    @classmethod
    def of(cls, enterprises: Iterable[str]) -> Scope:
        return cls(frozenset(enterprises))

    @property
    def all(self) -> bool:
        return self.enterprises is None

    def sees(self, enterprise: str) -> bool:
        return self.enterprises is None or enterprise in self.enterprises

    def keep(self, rows: Iterable[dict], key: str = "enterprise") -> list[dict]:
        """The rows whose ``key`` names an enterprise in scope."""
        return [r for r in rows if self.sees(r[key])]

    def only(self) -> str | None:
        """The one enterprise of a one-enterprise scope (an enterprise user's home), else None."""
        if self.enterprises is not None and len(self.enterprises) == 1:
            return next(iter(self.enterprises))
        return None

    def narrow(self, wanted: str | None, known: Iterable[str]) -> Scope | None:
        """The scope of a request for ``wanted`` (an ``?enterprise=`` parameter): this scope
        itself when nothing is asked, that one enterprise when it exists and is in scope,
        else None (answer 404: unknown and not-yours look the same)."""
        if wanted is None:
            return self
        if wanted not in known or not self.sees(wanted):
            return None
        return Scope.of((wanted,))

    def sql_filter(self) -> list[str] | None:
        """The parameter for ``($n::text[] IS NULL OR enterprise = ANY($n))``."""
        return None if self.enterprises is None else sorted(self.enterprises)


EVERYTHING = Scope.everything()
NOTHING = Scope.of(())


def scope_for(user: User, site: Site) -> Scope:
    """A user's scope from their role and streets. An officer or viewer with ``streets``
    (街镇, issue 14) sees the enterprises of those streets, as the site has them now: an
    enterprise moved to another street leaves the scope with it."""
    if user.role in ("officer", "viewer") and user.streets:
        return Scope.of(site.in_streets(user.streets))
    if user.role in ("officer", "viewer", "admin"):
        return EVERYTHING
    if user.role == "enterprise" and user.enterprise in site.enterprises:
        return Scope.of((user.enterprise,))
    return NOTHING


class Access(StrEnum):
    PUBLIC = "public"
    TOKEN = "token"
    SCOPED = "scoped"
    DISTRICT = "district"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Rule:
    access: Access
    page: bool = False  #: an HTML page: a caller not logged in is sent to /login instead of a 401


P, T, S, D, A = Access.PUBLIC, Access.TOKEN, Access.SCOPED, Access.DISTRICT, Access.ADMIN

#: Every path of the application (Starlette path templates) and how it is guarded.
ROUTES: dict[str, Rule] = {
    "/api/v1/telemetry": Rule(T),
    "/ws": Rule(S),
    "/api/v1/alerts": Rule(S),
    "/api/v1/alerts/{id}": Rule(S),
    "/api/v1/alerts/{id}/ack": Rule(S),
    "/api/v1/alerts/{id}/handle": Rule(S),
    "/api/v1/alerts/{id}/feedback": Rule(S),
    "/api/v1/alerts/{id}/resolve": Rule(S),
    "/api/v1/silences": Rule(D),
    "/api/v1/silences/{id}": Rule(D),
    "/api/v1/policies": Rule(D),
    "/api/v1/notifications": Rule(D),
    "/notifications": Rule(D, page=True),  #: the outbox's deliveries (issue 18: pushes upward visible)
    "/api/v1/report": Rule(S),
    "/api/v1/enterprise-alarms": Rule(S),  #: the enterprises' own alarms (issue 18), by scope
    "/openapi.json": Rule(P),
    "/metrics": Rule(P),
    "/healthz": Rule(P),
    "/readyz": Rule(P),
    "/": Rule(S, page=True),
    "/e/{id}": Rule(S, page=True),
    "/alert/{id}": Rule(S, page=True),
    "/login": Rule(P),
    "/logout": Rule(P),  #: ends the caller's session if there is one
    "/api/v1/me": Rule(S),
    "/api/v1/dash/site": Rule(S),
    "/api/v1/dash/alerts": Rule(S),
    "/api/v1/dash/alerts/{id}": Rule(S),
    "/api/v1/dash/trend": Rule(S),
    "/api/v1/dash/series": Rule(S),
    "/qr/{id}.svg": Rule(S),
    "/api/v1/dash/map": Rule(S),  #: the district's outline: the same for every caller
    "/api/v1/i18n/ui.json": Rule(P),  #: the pages' strings: the login page needs them first
    "/static": Rule(P),
    # risk warnings and hazard reports (warning.web.risk_api, issue 15)
    "/api/v1/warnings": Rule(S),
    "/api/v1/warnings/{id}": Rule(S),
    "/api/v1/warnings/{id}/sign": Rule(S),
    "/api/v1/warnings/{id}/reply": Rule(S),
    "/api/v1/warnings/{id}/review": Rule(S),
    "/api/v1/photos": Rule(S),
    "/api/v1/photos/{id}": Rule(S),
    "/api/v1/cleaning": Rule(S),
    "/api/v1/cleaning/checkin": Rule(S),
    "/q/{id}": Rule(P),  #: 一码发现: the QR code's public page (name, street, colour, a report form)
    "/api/v1/public/{id}": Rule(P),  #: its data: risk_api.PUBLIC_KEYS only
    "/api/v1/public/{id}/report": Rule(P),  #: token + challenge, Origin, per-address limit
    "/api/v1/onboarding": Rule(S),  #: an enterprise's integration details (no token)
    # the ledger's administration (warning.web.admin_api)
    "/admin": Rule(A, page=True),
    "/api/v1/admin/ledger": Rule(A),
    "/api/v1/admin/audit": Rule(A),
    "/api/v1/admin/streets": Rule(A),
    "/api/v1/admin/streets/{id}": Rule(A),
    "/api/v1/admin/enterprises": Rule(A),
    "/api/v1/admin/enterprises/{id}": Rule(A),
    "/api/v1/admin/enterprises/{id}/devices/{device}": Rule(A),
    "/api/v1/admin/enterprises/{id}/onboarding": Rule(A),
    "/api/v1/admin/enterprises/{id}/token": Rule(A),
    "/api/v1/admin/users": Rule(A),
    "/api/v1/admin/users/{id}": Rule(A),
    "/api/v1/admin/import": Rule(A),
    "/api/v1/admin/export": Rule(A),
}


class UndeclaredRoute(RuntimeError):
    """A route whose path is not in :data:`ROUTES`: the application refuses to start."""


def rule_of(path: str, routes: dict[str, Rule] | None = None) -> Rule:
    table = ROUTES if routes is None else routes
    try:
        return table[path]
    except KeyError:
        raise UndeclaredRoute(f"route {path!r} declares no access: add it to warning.web.scope.ROUTES") from None


Handler = Callable[[Request], Awaitable[Response]]


def guard(rule: Rule, handler: Handler, auth) -> Handler:
    """``handler`` behind ``rule``: the caller is resolved once, here, and kept on the request
    for :func:`principal_of` / :func:`scope_of`."""
    if rule.access in (Access.PUBLIC, Access.TOKEN):
        return handler

    async def guarded(request: Request) -> Response:
        try:
            p = await auth.principal(request)
        except UNREACHABLE as exc:  # sessions live in the store: no store, no answer about the caller
            return store_unavailable(request, exc)
        if p is None:
            if rule.page:
                return RedirectResponse("/login", 303)
            return refusal(request, 401, "log in, or send an officer API token")
        if rule.access is Access.DISTRICT and not p.scope.all:
            return refusal(request, 403, "district-wide data: not for a caller scoped to some enterprises")
        if rule.access is Access.ADMIN and p.role != "admin":
            return refusal(request, 403, "this needs the admin role")
        request.state.principal = p
        return await handler(request)

    return guarded


def principal_of(request: Request):
    """The caller that :func:`guard` resolved for this request."""
    return request.state.principal


def scope_of(request: Request) -> Scope:
    return request.state.principal.scope
