"""``GET /api/v1/report?from=&to=&format=json|csv|html[&table=summary|open]``: the shift report
(warning.report) for the dashboard; times are ISO-8601 (the site's ``timezone`` if no zone) or epoch seconds.
Of the caller's scope only (an enterprise user: their enterprise's alerts and notifications)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from .. import report
from .responses import json_error, json_response
from .scope import scope_of

MAX_SPAN = 92 * 86400


def routes(state):
    async def get(request: Request) -> Response:
        q = request.query_params
        try:
            tz = state.site.timezone  # a time without a zone is the site's
            end = report.parse_time(q["to"], tz) if "to" in q else state.runtime.clock()
            start = report.parse_time(q["from"], tz) if "from" in q else end - 8 * 3600
        except ValueError as exc:
            return json_error(400, str(exc))
        if not 0 < end - start <= MAX_SPAN:
            return json_error(400, "from must be before to, at most 92 days apart")
        fmt = q.get("format", "json")
        if fmt not in ("json", "csv", "html"):
            return json_error(400, "format must be json, csv or html")
        async with state.pool.acquire() as conn:
            data = await report.gather(conn, start, end, scope_of(request).sql_filter())
        if fmt == "csv":
            table = q.get("table", "summary")
            if table not in ("summary", "open"):
                return json_error(400, "table must be summary or open")
            return Response(report.to_csv(data, table), media_type="text/csv; charset=utf-8",
                            headers={"Content-Disposition": f'attachment; filename="report-{table}.csv"'})
        if fmt == "html":
            return HTMLResponse(report.to_html(data, state.site.name))
        return json_response(data)

    return [("/api/v1/report", get, ["GET"])]
