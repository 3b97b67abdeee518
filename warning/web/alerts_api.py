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
from ..runtime.errors import Overloaded, Rejected
from ..store import alerts as alert_store
from ..textcheck import TextError, check_text
from ..textcheck import problem as text_problem
from .body import text_error
from .officer import json_body, who
from .responses import json_error, json_response
from .scope import Scope, scope_of

STATES = ("active", "acknowledged", "handling", "feedback", "resolved", "open", "all")
MAX_NOTE = 2000  #: characters in an officer's note
MAX_BODY = 64 * 1024  #: bytes in an action's body (a note and 20 attachments' metadata)
ATTACHMENT_FIELDS = {"name": str, "type": str, "size": int, "url": str, "sha256": str}


def check_attachments(items) -> str | None:
    """Attachments are metadata only (the file lives elsewhere): name required, known fields only."""
    if items is None:
        return None
    if not isinstance(items, list) or len(items) > 20:
        return "attachments must be a list of at most 20 objects"
    for i, a in enumerate(items):
        if not isinstance(a, dict) or not isinstance(a.get("name"), str) or not a["name"].strip():
            return f"attachments[{i}] needs a name"
        for k, v in a.items():
            kind = ATTACHMENT_FIELDS.get(k)
            if kind is None:
                return f"attachments[{i}]: unknown field {k!r} (use {', '.join(ATTACHMENT_FIELDS)})"
            if not isinstance(v, kind) or isinstance(v, bool):
                return f"attachments[{i}].{k} must be a {kind.__name__}"
            if isinstance(v, str):
                reason = text_problem(v, 2000)
                if reason is not None:
                    return f"attachments[{i}].{k}: {reason}"
    return None


async def alert_listing(pool, request: Request, scope: Scope, *, default_limit: int = 1000) -> Response:
    """``?state=&limit=`` over the alerts table, the scope's only (both APIs)."""
    wanted = request.query_params.get("state", "active")
    if wanted not in STATES:
        return json_error(400, f"state must be one of {', '.join(STATES)}")
    try:
        limit = max(1, min(int(request.query_params.get("limit", str(default_limit))), 10_000))
    except ValueError:
        return json_error(400, "limit must be an integer")
    async with pool.acquire() as conn:
        return json_response(await alert_store.list_alerts(conn, wanted, enterprises=scope.sql_filter(), limit=limit))


async def alert_with_events(pool, aid: str, scope: Scope) -> dict | None:
    """An alert with its events, or None when there is none this caller may see."""
    async with pool.acquire() as conn:
        alert = await alert_store.get_alert(conn, aid)
        if alert is None or not scope.sees(alert["enterprise"]):
            return None
        alert["events"] = await alert_store.alert_events(conn, aid)
    return alert


def routes(state):
    async def list_alerts(request: Request) -> Response:
        return await alert_listing(state.pool, request, scope_of(request))

    async def get_alert(request: Request) -> Response:
        aid = request.path_params["id"]
        alert = await alert_with_events(state.pool, aid, scope_of(request))
        return json_response(alert) if alert is not None else json_error(404, f"no alert with id {aid!r}")

    def action(name: str):
        async def act(request: Request) -> Response:
            p, err = who(state, request, "officer")
            if err:
                return err
            body, err = await json_body(request, limit=MAX_BODY, max_text=MAX_NOTE)
            if err:
                return err
            note = body.get("note")
            if note is not None:
                try:
                    check_text(note, field="note", max_len=MAX_NOTE)
                except TextError as exc:
                    return text_error(exc).response()
            attachments = body.get("attachments")
            problem = check_attachments(attachments) if name == "feedback" else (
                "attachments go with feedback only" if attachments is not None else None)
            if problem:
                return json_error(400, problem, field="attachments")
            aid = request.path_params["id"]
            if not p.scope.all:  # a scoped officer acts on alerts in scope only; others look unknown
                async with state.pool.acquire() as conn:
                    known = await alert_store.get_alert(conn, aid)
                if known is None or not p.scope.sees(known["enterprise"]):
                    return json_error(404, f"no alert with id {aid!r}")
            try:
                current = await state.runtime.act(name, aid, p.name, note, attachments)
            except AlertNotFound:
                async with state.pool.acquire() as conn:
                    known = await alert_store.get_alert(conn, aid)
                if known is None:
                    return json_error(404, f"no alert with id {aid!r}")
                return json_error(409, f"alert {aid} is {known['state']}: nothing to {name}")
            except AlertError as exc:
                return json_error(409, str(exc))
            except Rejected as exc:
                return json_error(400, str(exc))
            except Overloaded as exc:  # starting, stopping, or no worker answered in time
                return json_error(503, str(exc), headers={"Retry-After": str(exc.retry_after)})
            if current is not None:
                return json_response(current)
            async with state.pool.acquire() as conn:
                return json_response(await alert_store.get_alert(conn, aid))
        return act

    return [
        ("/api/v1/alerts", list_alerts, ["GET"]),
        ("/api/v1/alerts/{id}", get_alert, ["GET"]),
        ("/api/v1/alerts/{id}/ack", action("acknowledge"), ["POST"]),
        ("/api/v1/alerts/{id}/handle", action("handle"), ["POST"]),
        ("/api/v1/alerts/{id}/feedback", action("feedback"), ["POST"]),
        ("/api/v1/alerts/{id}/resolve", action("resolve"), ["POST"]),
    ]
