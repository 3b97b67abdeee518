"""The reader's language for one request, and alerts' JSON dressed for a person: enterprise
named, point, rule, severity and state titled, the message in that language.

The locale is the user's own (site file user ``locale``), else the pages' language cookie,
else ``Accept-Language``, else zh-CN (warning.i18n.negotiate). Stored messages are zh-CN; structured ones are re-rendered.
"""

from __future__ import annotations

from starlette.requests import Request

from ..i18n import negotiate, translate, word
from ..messages import localise_alert
from .responses import json_error

LANG_COOKIE = "warning_lang"  #: the language chosen on the pages (warning.web.ui_api): what they show


def request_locale(request: Request, site, principal=None) -> str:
    """The user's ``locale`` from the site file, else the pages' language cookie, else
    ``Accept-Language``, else zh-CN."""
    user = site.users.get(principal.name) if principal is not None else None
    chosen = user.locale if user is not None and user.locale else request.cookies.get(LANG_COOKIE)
    return negotiate(request.headers.get("accept-language"), chosen)


def header_locale(request: Request) -> str:
    """The locale of a request whose caller is not known (or not a user): the pages' language
    cookie, else ``Accept-Language``, else zh-CN. Devices, logins and the edge's refusals."""
    return negotiate(request.headers.get("accept-language"), request.cookies.get(LANG_COOKIE))


def refusal(request: Request, status: int, msgid: str, headers: dict | None = None, **params):
    """A JSON error from the catalogue in :func:`header_locale`'s language."""
    return json_error(status, translate(msgid, header_locale(request), **params), headers)


def store_unavailable(request: Request, exc: BaseException):
    """503 when the session store (PostgreSQL) cannot be reached: no store, no answer about the
    caller; the client retries in a moment."""
    return refusal(
        request, 503, "session store unavailable: {error}", headers={"Retry-After": "2"}, error=type(exc).__name__
    )


def error(request: Request, site, status: int, msgid: str, principal=None, headers: dict | None = None, **params):
    """A JSON error whose text comes from the catalogue in the caller's language."""
    return json_error(status, translate(msgid, request_locale(request, site, principal), **params), headers)


def dress(alert: dict, site, locale: str, titles: dict | None = None) -> dict:
    """``alert`` (its store JSON) with names and titles a person reads, in ``locale``."""
    ent = site.enterprises.get(alert["enterprise"])
    alert["enterprise_name"] = ent.name if ent is not None else alert["enterprise"]
    title = (titles or {}).get((alert["enterprise"], alert["device"], alert["point"]))
    alert["point_title"] = word("point", title, locale) if title else alert["point"]
    alert["rule_title"] = word("rule", alert["rule"], locale)
    alert["severity_title"] = word("severity", alert["severity"], locale)
    alert["peak_severity_title"] = word("severity", alert["peak_severity"], locale)
    cleared_unsigned = alert["state"] == "active" and alert["condition_active"] is False
    alert["state_title"] = word("state", "cleared, not signed for" if cleared_unsigned else alert["state"], locale)
    return localise_alert(alert, locale)


def point_titles(site) -> dict:
    return {(p.ref.enterprise, p.ref.device, p.ref.point): p.title for p in site.points}
