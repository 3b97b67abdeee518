"""Alert list and officers' actions: ``GET /api/v1/alerts``, ``GET /api/v1/alerts/{id}``,
``POST /api/v1/alerts/{id}/ack``, ``/handle``, ``/feedback`` and ``/resolve`` (docs/alerting.md).

Reading needs a logged-in caller (session cookie or officer API token) and shows the
caller's scope only (another scope's alert answers 404); acting needs an officer, on an
alert in scope, and a cookie-authenticated action needs the session's CSRF token.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ..alerts import AlertError, AlertNotFound
from ..i18n import N_, say, translate
from ..runtime.errors import Overloaded, Rejected
from ..store import alerts as alert_store
from ..textcheck import TextError, check_text
from ..textcheck import problem as text_problem
from .body import text_error
from .lang import dress, point_titles, request_locale
from .officer import json_body, who
from .responses import json_error, json_response
from .scope import Scope, principal_of, scope_of

STATES = ("active", "acknowledged", "handling", "feedback", "resolved", "open", "all")
MAX_NOTE = 2000  #: characters in an officer's note
MAX_BODY = 64 * 1024  #: bytes in an action's body (a note and 20 attachments' metadata)
ATTACHMENT_FIELDS = {"name": str, "type": str, "size": int, "url": str, "sha256": str}


def check_attachments(items) -> tuple[str, dict] | None:
    """Attachments are metadata only (the file lives elsewhere): name required, known fields only.
    A problem is (catalogue msgid, parameters)."""
    if items is None:
        return None
    if not isinstance(items, list) or len(items) > 20:
        return N_("attachments must be a list of at most 20 objects"), {}
    for i, a in enumerate(items):
        if not isinstance(a, dict) or not isinstance(a.get("name"), str) or not a["name"].strip():
            return N_("attachments[{i}] needs a name"), {"i": i}
        for k, v in a.items():
            kind = ATTACHMENT_FIELDS.get(k)
            if kind is None:
                return N_("attachments[{i}]: unknown field {field} (use {known})"), {
                    "i": i,
                    "field": repr(k),
                    "known": ", ".join(ATTACHMENT_FIELDS),
                }
            if not isinstance(v, kind) or isinstance(v, bool) or (isinstance(v, str) and len(v) > 2000):
                return N_("attachments[{i}].{field} must be a {kind}"), {"i": i, "field": k, "kind": kind.__name__}
            if isinstance(v, str):
                reason = text_problem(v, 2000)
                if reason is not None:
                    return N_("attachments[{i}].{field}: {reason}"), {"i": i, "field": k, "reason": reason}
    return None


VERDICTS = ("confirmed", "false_alarm", "maintenance")  #: 属实 / 误报 / 检修 (feedback's ``verdict``)


async def alert_listing(
    pool, request: Request, scope: Scope, *, default_limit: int = 1000, site=None, locale: str = "zh-CN"
) -> Response:
    """``?state=&limit=`` over the alerts table, the scope's only (both APIs); with ``site``, every
    alert is dressed for a person (enterprise name, titles, message in ``locale``)."""
    wanted = request.query_params.get("state", "active")
    if wanted not in STATES:
        return json_error(400, translate("state must be one of {states}", locale, states=", ".join(STATES)))
    try:
        limit = max(1, min(int(request.query_params.get("limit", str(default_limit))), 10_000))
    except ValueError:
        return json_error(400, translate("limit must be an integer", locale))
    async with pool.acquire() as conn:
        rows = await alert_store.list_alerts(conn, wanted, enterprises=scope.sql_filter(), limit=limit)
    if site is not None:
        titles = point_titles(site)
        rows = [dress(a, site, locale, titles) for a in rows]
    return json_response(rows)


async def alert_with_events(pool, aid: str, scope: Scope, site=None, locale: str = "zh-CN") -> dict | None:
    """An alert with its events, or None when there is none this caller may see."""
    async with pool.acquire() as conn:
        alert = await alert_store.get_alert(conn, aid)
        if alert is None or not scope.sees(alert["enterprise"]):
            return None
        alert["events"] = await alert_store.alert_events(conn, aid)
    if site is not None:
        dress(alert, site, locale, point_titles(site))
    return alert


def routes(state):
    # the site is read per request: the live ledger replaces it (issue 14)

    def locale_of(request: Request) -> str:
        return request_locale(request, state.site, principal_of(request))

    async def list_alerts(request: Request) -> Response:
        return await alert_listing(state.pool, request, scope_of(request), site=state.site, locale=locale_of(request))

    async def get_alert(request: Request) -> Response:
        aid = request.path_params["id"]
        loc = locale_of(request)
        alert = await alert_with_events(state.pool, aid, scope_of(request), state.site, loc)
        return (
            json_response(alert)
            if alert is not None
            else json_error(404, translate("no alert with id {id}", loc, id=repr(aid)))
        )

    def action(name: str):
        async def act(request: Request) -> Response:
            p, err = who(state, request, "officer")
            if err:
                return err
            loc = locale_of(request)

            def fail(status: int, msgid: str, **params) -> Response:
                return json_error(status, translate(msgid, loc, **params))

            body, err = await json_body(request, limit=MAX_BODY, max_text=MAX_NOTE)
            if err:
                return err
            note = body.get("note")
            if note is not None:
                try:
                    check_text(note, field="note", max_len=MAX_NOTE)
                except TextError as exc:
                    return text_error(exc).response(loc)
            attachments = body.get("attachments")
            problem = (
                check_attachments(attachments)
                if name == "feedback"
                else ((N_("attachments go with feedback only"), {}) if attachments is not None else None)
            )
            if problem:
                return json_error(400, say(problem[0], loc, problem[1]), field="attachments")
            verdict = body.get("verdict")
            if verdict is not None and (name != "feedback" or verdict not in VERDICTS):
                return fail(400, "verdict goes with feedback and is one of {verdicts}", verdicts=", ".join(VERDICTS))
            aid = request.path_params["id"]
            if not p.scope.all:  # a scoped officer acts on alerts in scope only; others look unknown
                async with state.pool.acquire() as conn:
                    known = await alert_store.get_alert(conn, aid)
                if known is None or not p.scope.sees(known["enterprise"]):
                    return fail(404, "no alert with id {id}", id=repr(aid))
            try:
                current = await state.runtime.act(name, aid, p.name, note, attachments, verdict)
            except AlertNotFound:
                async with state.pool.acquire() as conn:
                    known = await alert_store.get_alert(conn, aid)
                if known is None:
                    return fail(404, "no alert with id {id}", id=repr(aid))
                return fail(
                    409,
                    "alert {id} is {state}: nothing to {action}",
                    id=aid,
                    state=translate(known["state"], loc, context="state"),
                    action=translate(name, loc, context="action"),
                )
            except AlertError as exc:
                return json_error(409, say(exc.msgid, loc, exc.params))
            except Rejected as exc:
                return json_error(400, str(exc))
            except Overloaded as exc:  # starting, stopping, or no worker answered in time
                return json_error(503, str(exc), headers={"Retry-After": str(exc.retry_after)})
            if current is not None:
                return json_response(dress(current, state.site, loc, point_titles(state.site)))
            async with state.pool.acquire() as conn:
                stored = await alert_store.get_alert(conn, aid)
            if stored is None:
                return fail(404, "no alert with id {id}", id=repr(aid))
            return json_response(dress(stored, state.site, loc, point_titles(state.site)))

        return act

    return [
        ("/api/v1/alerts", list_alerts, ["GET"]),
        ("/api/v1/alerts/{id}", get_alert, ["GET"]),
        ("/api/v1/alerts/{id}/ack", action("acknowledge"), ["POST"]),
        ("/api/v1/alerts/{id}/handle", action("handle"), ["POST"]),
        ("/api/v1/alerts/{id}/feedback", action("feedback"), ["POST"]),
        ("/api/v1/alerts/{id}/resolve", action("resolve"), ["POST"]),
    ]
