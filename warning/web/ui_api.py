"""What the pages need besides alerts: their strings and the risk map's basemap.

* ``GET /api/v1/i18n/ui.json[?lang=en]``: the pages' strings (gettext domain ``ui``,
  ``warning/locale/<locale>/LC_MESSAGES/ui.po``, read with Babel) in the chosen locale:
  ``?lang=``, else the language the user picked on a page (cookie ``warning_lang``), else
  ``Accept-Language``, else zh-CN. Public: the login page needs it before anyone logs in.
* ``GET /api/v1/dash/map``: the basemap named by ``[site] map`` (GeoJSON), or no features;
  any logged-in caller (``scope.ROUTES``: the outline is the same for everyone).

The catalogue loader here is the minimum the pages need (TODO for the lead: one loader,
``warning/i18n.py``, serves this domain and the server's ``warning`` domain).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from babel.messages.pofile import read_po
from starlette.requests import Request
from starlette.responses import Response

from .responses import json_response

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
LOCALES = {"zh-CN": "zh_CN", "en": "en"}  #: what the pages offer -> catalogue folder; the first is the default
LOCALE_NAMES = {"zh-CN": "中文", "en": "English"}
DEFAULT = "zh-CN"
COOKIE = "warning_lang"


@cache
def catalogue(locale: str) -> dict[str, str]:
    """msgid -> text; an empty msgstr falls back to the msgid (the English source)."""
    with open(LOCALE_DIR / LOCALES[locale] / "LC_MESSAGES" / "ui.po", "rb") as fh:
        cat = read_po(fh, locale=LOCALES[locale], domain="ui")
    return {str(m.id): str(m.string or m.id) for m in cat if m.id and isinstance(m.id, str)}


def _match(tag: str) -> str | None:
    tag = tag.strip().lower().replace("_", "-")
    for code in LOCALES:
        c = code.lower()
        if tag == c or tag.split("-")[0] == c.split("-")[0]:
            return code
    return None


def negotiate(accept_language: str, chosen: str | None = None) -> str:
    """The locale to answer in: a supported explicit choice, else the best of
    ``Accept-Language`` (by q), else zh-CN."""
    if chosen and _match(chosen[:20]):
        return _match(chosen[:20]) or DEFAULT
    ranked = []
    for i, part in enumerate(accept_language[:1000].split(",")[:30]):
        tag, _, params = part.partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        if tag.strip() and tag.strip() != "*" and q > 0:
            ranked.append((-q, i, tag))
    for _, _, tag in sorted(ranked):
        code = _match(tag)
        if code:
            return code
    return DEFAULT


def routes(state):
    site = state.site
    basemap = (
        site.basemap.as_json()
        if site.basemap is not None
        else {"type": "FeatureCollection", "name": "", "features": []}
    )

    async def ui_strings(request: Request) -> Response:
        locale = negotiate(
            request.headers.get("accept-language", ""), request.query_params.get("lang") or request.cookies.get(COOKIE)
        )
        return json_response(
            {
                "locale": locale,
                "default": DEFAULT,
                "locales": [{"code": c, "name": LOCALE_NAMES[c]} for c in LOCALES],
                "messages": catalogue(locale),
            },
            headers={"Cache-Control": "no-store", "Vary": "Accept-Language, Cookie"},
        )

    async def map_json(request: Request) -> Response:  # guarded (scope.ROUTES): logged-in callers only
        return json_response(basemap, headers={"Cache-Control": "private, max-age=300"})

    return [("/api/v1/i18n/ui.json", ui_strings, ["GET"]), ("/api/v1/dash/map", map_json, ["GET"])]
