"""What the pages need besides alerts: their strings and the risk map's basemap.

* ``GET /api/v1/i18n/ui.json[?lang=en]``: the pages' strings (gettext domain ``ui``,
  ``warning/locale/<locale>/LC_MESSAGES/ui.po``, read with Babel) in the chosen locale:
  ``?lang=``, else the language the user picked on a page (cookie ``warning_lang``), else
  ``Accept-Language``, else zh-CN. Public: the login page needs it before anyone logs in.
* ``GET /api/v1/dash/map``: the basemap named by ``[site] map`` (GeoJSON), or no features;
  any logged-in caller (``scope.ROUTES``: the outline is the same for everyone).

The strings, and the choice of locale, come from the one catalogue module,
``warning/i18n.py``.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ..i18n import DEFAULT_LOCALE, LOCALES, messages, negotiate, word
from .lang import LANG_COOKIE
from .responses import json_response


def locale_name(code: str) -> str:
    """The language of ``code`` named in itself (中文, English), for the picker: each locale's
    own catalogue holds its name, so a new locale needs a catalogue, not a change here."""
    return word("language", "this language's own name", code)


def routes(state):
    site = state.site
    basemap = (
        site.basemap.as_json()
        if site.basemap is not None
        else {"type": "FeatureCollection", "name": "", "features": []}
    )

    async def ui_strings(request: Request) -> Response:
        locale = negotiate(
            request.headers.get("accept-language"), request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
        )
        return json_response(
            {
                "locale": locale,
                "default": DEFAULT_LOCALE,
                "locales": [{"code": c, "name": locale_name(c)} for c in LOCALES],
                "messages": messages(locale, "ui"),
            },
            headers={"Cache-Control": "no-store", "Vary": "Accept-Language, Cookie"},
        )

    async def map_json(request: Request) -> Response:  # guarded (scope.ROUTES): logged-in callers only
        return json_response(basemap, headers={"Cache-Control": "private, max-age=300"})

    return [("/api/v1/i18n/ui.json", ui_strings, ["GET"]), ("/api/v1/dash/map", map_json, ["GET"])]
