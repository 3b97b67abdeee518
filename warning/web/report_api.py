"""``GET /api/v1/report?from=&to=&format=json|csv|html[&table=summary|open]``: the shift report
(warning.report) for the dashboard; times are ISO-8601 (the site's ``timezone`` if no zone) or epoch seconds.
Of the caller's scope only (an enterprise user: their enterprise's alerts and notifications).
Headers and errors in the caller's language (warning.web.lang)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from .. import report
from ..i18n import translate
from .lang import request_locale
from .responses import json_error, json_response
from .scope import principal_of, scope_of

MAX_SPAN = 92 * 86400


def routes(state):
    async def get(request: Request) -> Response:
        q = request.query_params
        site = state.site
        tz, loc = site.timezone, request_locale(request, site, principal_of(request))  # a zoneless time is the site's
        try:
            end = report.parse_time(q["to"], tz) if "to" in q else state.runtime.clock()
            start = report.parse_time(q["from"], tz) if "from" in q else end - 8 * 3600
        except ValueError:
            return json_error(
                400,
                translate("from and to must be ISO-8601 times (the site's time zone if none) or epoch seconds", loc),
            )
        if not 0 < end - start <= MAX_SPAN:
            return json_error(400, translate("from must be before to, at most 92 days apart", loc))
        fmt = q.get("format", "json")
        if fmt not in ("json", "csv", "html"):
            return json_error(400, translate("format must be json, csv or html", loc))
        async with state.pool.acquire() as conn:
            data = await report.gather(
                conn,
                start,
                end,
                {e.id: e.name for e in site.enterprises.values()},
                scope_of(request).sql_filter(),
                risk=state.risk.config if state.risk is not None else None,
                streets={s.id: s.name for s in site.streets.values()},
            )
        if fmt == "csv":
            table = q.get("table", "summary")
            if table not in report.CSV_TABLES:
                return json_error(400, translate("table must be summary, open, warnings or warning-streets", loc))
            return Response(
                report.to_csv(data, table, loc, tz),
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": f'attachment; filename="report-{table}.csv"'},
            )
        if fmt == "html":
            return HTMLResponse(report.to_html(data, site.name, loc, tz))
        return json_response(data)

    return [("/api/v1/report", get, ["GET"])]
