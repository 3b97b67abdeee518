"""The ledger's administration (issue 14): ``/api/v1/admin/...``, admin role only.

Every write is a batch of :class:`~warning.ledger.plan.Proposal` given to the live ledger
(``warning.live``): checked field by field (an error per field, 422, nothing applied),
written with its audit rows in one transaction, and applied to the running system before
the answer (the runtime takes the new points in order with the readings). Cookie callers
send ``X-CSRF-Token``; the ``Origin`` check is the application's (``web.origin``).

* ``GET /api/v1/admin/ledger``: every live record (streets, enterprises, users without
  password hashes) and the ledger's version.
* A write answers once the running system has the change; if applying it failed (the store
  or the broker away), the change is committed and audited all the same, the answer is 202
  with ``live`` false, and the server applies it within a second or so of the cause going
  away (``warning.live``: the committed version is the truth).
* ``POST /api/v1/admin/{streets,enterprises,users}``: create (a new enterprise's token is in
  the answer, once; only its digest is stored). ``PUT .../{id}``: replace the record.
  ``DELETE .../{id}``: retire it (a retired enterprise's points' open alerts are closed with a
  note). ``PUT/DELETE /api/v1/admin/enterprises/{id}/devices/{device}``: one device.
* ``GET /api/v1/admin/audit?kind=&object=&limit=``: who changed what, when, before and after.
* ``POST /api/v1/admin/import?dry_run=1``: a CSV or XLSX of enterprises (``warning.ledger.table``).
* ``GET /api/v1/admin/export?format=csv|xlsx``: the same columns back.
* ``GET /api/v1/admin/enterprises/{id}/onboarding``: endpoint, points with codes, an example request.
* ``POST /api/v1/admin/enterprises/{id}/token``: issue another token (shown once).
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import FileResponse, Response

from ..i18n import say, translate
from ..ledger import table
from ..ledger.plan import Proposal, Records
from ..live import LiveLedger, Outcome
from ..security import hash_password, new_token, token_digest
from ..site import Site
from ..store import ledger as ledger_store
from ..store import tokens as token_store
from . import spreadsheet
from .body import BodyError, read_bytes, read_json
from .lang import request_locale
from .pages import STATIC
from .responses import json_error, json_response
from .scope import principal_of

MAX_JSON = 1 << 20
MAX_FILE = 32 << 20  #: an imported spreadsheet (5,000 enterprises x 32 points is about 4 MB as CSV)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_PLURAL = {"streets": "street", "enterprises": "enterprise", "users": "user"}


def public(records: Records) -> dict:
    """The ledger for the admin's eyes: users' password hashes are not sent."""
    users = [
        {k: v for k, v in u.items() if k != "password"} | {"has_password": bool(u.get("password"))}
        for u in records.users.values()
    ]
    return {
        "streets": list(records.streets.values()),
        "enterprises": list(records.enterprises.values()),
        "users": users,
    }


def routes(state):
    ledger: LiveLedger = state.ledger

    def locale_of(request: Request) -> str:
        """The admin's language: every text of an answer (the ledger's errors too) is in it."""
        return request_locale(request, state.site, principal_of(request))

    def refusal(request: Request, status: int, msgid: str, **params: object) -> Response:
        """A JSON error from the catalogue in the admin's language."""
        return json_error(status, say(msgid, locale_of(request), params))

    def csrf(request: Request) -> Response | None:
        if request.method in ("GET", "HEAD") or state.auth.csrf_ok(
            principal_of(request), request.headers.get("x-csrf-token")
        ):
            return None
        return refusal(request, 403, "missing or wrong CSRF token (X-CSRF-Token header)")

    async def body_of(request: Request) -> dict | Response:
        """The one JSON body reader (media type, size, deadline, every string's text check);
        each field is then checked by the ledger's own rules."""
        try:
            return await read_json(request, limit=MAX_JSON, empty={})
        except BodyError as exc:
            return exc.response(locale_of(request))

    def answer(request: Request, out: Outcome, ok: int = 200, extra: dict | None = None) -> Response:
        loc = locale_of(request)
        if out.errors:
            return json_response(
                {"error": translate("the ledger refused the change; nothing was applied", loc), **out.to_json(loc)},
                422,
            )
        if out.applied and not out.live:  # committed and audited; the running system takes it at the next sync
            return json_response(
                {
                    **out.to_json(loc),
                    **(extra or {}),
                    "note": translate("saved; being applied to the running system", loc),
                },
                202,
            )
        return json_response({**out.to_json(loc), **(extra or {})}, ok)

    async def run(request: Request, proposals: list[Proposal], ok: int = 200) -> Response:
        if (bad := csrf(request)) is not None:
            return bad
        out = await ledger.propose(proposals, principal_of(request).name)
        return answer(request, out, ok)

    async def whole(request: Request) -> Response:
        return json_response({**public(ledger.records), "version": ledger.version})

    def collection(kind: str):
        async def handler(request: Request) -> Response:
            if request.method == "GET":
                rows = public(ledger.records)[kind + "s"]
                return json_response(rows)
            if (bad := csrf(request)) is not None:
                return bad
            doc = await body_of(request)
            if isinstance(doc, Response):
                return doc
            key = "name" if kind == "user" else "id"
            rid = doc.get(key)
            if not isinstance(rid, str):
                loc = locale_of(request)
                return json_response(
                    {
                        "error": translate("the record needs its id", loc),
                        "errors": [{"kind": kind, "id": "", "field": key, "message": translate("required", loc)}],
                    },
                    422,
                )
            token = None
            if kind == "user":
                doc = await _with_password(doc, None, locale_of(request))
                if isinstance(doc, Response):
                    return doc
            if kind == "enterprise":  # its first token: shown now, once; only the digest is kept
                token = new_token()
                doc = {**doc, "token_sha256": []}
            out = await ledger.propose([Proposal(kind, "create", rid, doc)], principal_of(request).name)
            if out.errors or token is None:
                return answer(request, out, 201)
            async with state.pool.acquire() as conn:
                await token_store.add(conn, token_digest(token), rid, "issued with the enterprise")
                if state.tokens is not None:
                    state.tokens.rebuild(await token_store.rows(conn))
            return answer(request, out, 201, {"token": token, "onboarding": onboarding(request, rid)})

        return handler

    def item(kind: str):
        async def handler(request: Request) -> Response:
            rid = request.path_params["id"]
            current = ledger.records.table(kind).get(rid)
            if request.method == "GET":
                if current is None:
                    return refusal(request, 404, "no live record {id}", id=rid)
                return json_response(public(Records(**{kind + "s": {rid: current}}))[kind + "s"][0])
            if request.method == "DELETE":
                return await run(request, [Proposal(kind, "retire", rid)])
            if (bad := csrf(request)) is not None:
                return bad
            doc = await body_of(request)
            if isinstance(doc, Response):
                return doc
            if kind == "user":
                doc = await _with_password(doc, current, locale_of(request))
                if isinstance(doc, Response):
                    return doc
            return await run(request, [Proposal(kind, "update", rid, doc)])

        return handler

    async def device(request: Request) -> Response:
        eid, did = request.path_params["id"], request.path_params["device"]
        current = ledger.records.enterprises.get(eid)
        if current is None:
            return refusal(request, 404, "no live enterprise {id}", id=eid)
        devices = [d for d in current.get("devices", []) if d["id"] != did]
        if request.method == "DELETE":
            if len(devices) == len(current.get("devices", [])):
                return refusal(request, 404, "no device {device}", device=did)
        else:
            if (bad := csrf(request)) is not None:
                return bad
            doc = await body_of(request)
            if isinstance(doc, Response):
                return doc
            old = [d["id"] for d in current.get("devices", [])]
            new = {**doc, "id": did}
            devices = [new if d == did else next(x for x in current["devices"] if x["id"] == d) for d in old]
            if did not in old:
                devices.append(new)
        return await run(request, [Proposal("enterprise", "update", eid, {**current, "devices": devices})])

    async def audit(request: Request) -> Response:
        q = request.query_params
        try:
            limit = min(max(int(q.get("limit", "100")), 1), 1000)
        except ValueError:
            return refusal(request, 400, "limit must be an integer")
        async with state.pool.acquire() as conn:
            rows = await ledger_store.audit(conn, kind=q.get("kind") or None, obj=q.get("object") or None, limit=limit)
        return json_response(rows)

    async def import_file(request: Request) -> Response:
        if (bad := csrf(request)) is not None:
            return bad
        try:
            raw = await read_bytes(request, MAX_FILE, deadline=120.0)
        except BodyError as exc:
            return exc.response(locale_of(request))
        kind = request.headers.get("content-type", "").split(";")[0].strip()

        def read() -> tuple[list[Proposal], list]:  # a second or so for 5,000 rows: off the event loop
            rows = (
                spreadsheet.read_xlsx(raw) if kind == XLSX or raw[:2] == b"PK" else table.read_csv(raw.decode("utf-8"))
            )
            return table.proposals(rows, ledger.records.enterprises)

        try:
            proposals, cell_errors = await asyncio.to_thread(read)
        except UnicodeDecodeError:
            return refusal(request, 400, "a CSV must be UTF-8")
        except (table.TableError, spreadsheet.SpreadsheetError) as exc:
            return json_error(400, exc.message.render(locale_of(request)))
        dry = request.query_params.get("dry_run") in ("1", "true")
        out = await ledger.propose(
            proposals,
            principal_of(request).name,
            dry_run=dry or bool(cell_errors),
            action="import",
            extra_errors=cell_errors,
        )
        return answer(request, out)

    async def export(request: Request) -> Response:
        fmt = request.query_params.get("format", "csv")
        records = list(ledger.records.enterprises.values())
        if fmt == "csv":
            return Response(
                table.write_csv(records),
                media_type="text/csv; charset=utf-8",
                headers={"content-disposition": 'attachment; filename="ledger.csv"'},
            )
        if fmt == "xlsx":
            return Response(
                spreadsheet.write_xlsx(records, translate("ledger", locale_of(request), context="sheet")),
                media_type=XLSX,
                headers={"content-disposition": 'attachment; filename="ledger.xlsx"'},
            )
        return refusal(request, 400, "format must be csv or xlsx")

    def onboarding(request: Request, eid: str) -> dict:
        return onboarding_of(
            ledger.site, eid, state.public_url or f"{request.url.scheme}://{request.url.netloc}", locale_of(request)
        )

    async def onboarding_info(request: Request) -> Response:
        eid = request.path_params["id"]
        if eid not in ledger.records.enterprises:
            return refusal(request, 404, "no live enterprise {id}", id=eid)
        return json_response(onboarding(request, eid))

    async def issue_token(request: Request) -> Response:
        if (bad := csrf(request)) is not None:
            return bad
        eid = request.path_params["id"]
        if eid not in ledger.records.enterprises:
            return refusal(request, 404, "no live enterprise {id}", id=eid)
        token = new_token()
        async with state.pool.acquire() as conn:
            await token_store.add(conn, token_digest(token), eid, f"issued by {principal_of(request).name}")
            if state.tokens is not None:
                state.tokens.rebuild(await token_store.rows(conn))
        return json_response(
            {"enterprise": eid, "token": token, "note": translate("the token is shown this once", locale_of(request))},
            201,
        )

    async def admin_page(request: Request) -> Response:
        return FileResponse(STATIC / "admin.html", headers={"cache-control": "no-store"})

    return [
        ("/admin", admin_page, ["GET"]),
        ("/api/v1/admin/ledger", whole, ["GET"]),
        ("/api/v1/admin/audit", audit, ["GET"]),
        *[(f"/api/v1/admin/{plural}", collection(kind), ["GET", "POST"]) for plural, kind in _PLURAL.items()],
        *[(f"/api/v1/admin/{plural}/{{id}}", item(kind), ["GET", "PUT", "DELETE"]) for plural, kind in _PLURAL.items()],
        ("/api/v1/admin/enterprises/{id}/devices/{device}", device, ["PUT", "DELETE"]),
        ("/api/v1/admin/enterprises/{id}/onboarding", onboarding_info, ["GET"]),
        ("/api/v1/admin/enterprises/{id}/token", issue_token, ["POST"]),
        ("/api/v1/admin/import", import_file, ["POST"]),
        ("/api/v1/admin/export", export, ["GET"]),
    ]


MIN_PASSWORD = 8


def onboarding_of(site: Site, eid: str, base: str, locale: str | None = None) -> dict:
    """What an enterprise's integrator needs: the endpoint, the points with their platform
    codes, and an example request (never the token: that is shown once, when issued), in ``locale``."""
    mine = [p for p in site.points if p.ref.enterprise == eid]
    pts = [{"device": p.ref.device, "point": p.ref.point, "kind": p.kind, "unit": p.unit, "code": p.code} for p in mine]
    first: dict[str, dict] = {}
    for p in mine:
        first.setdefault(p.ref.device, {})[p.ref.point] = 0.0
    example = [{"device": d, "ts": "2026-01-01T08:00:00+08:00", "values": v} for d, v in list(first.items())[:2]]
    return {
        "enterprise": eid,
        "endpoint": f"{base}/api/v1/telemetry",
        "method": "POST",
        "headers": {
            "Authorization": "Bearer " + translate("<the enterprise's token>", locale),
            "Content-Type": "application/json",
        },
        "points": pts,
        "example": example,
    }


async def _with_password(doc: dict, current: dict | None, locale: str) -> dict | Response:
    """A user record with ``password`` (plain, from the admin) replaced by its scrypt hash
    (a refusal in ``locale``)."""
    doc = dict(doc)
    pw = doc.pop("password", None)
    doc.pop("api_token_sha256", None)  # API tokens are issued with the CLI, not typed in
    if current is not None and current.get("api_token_sha256"):
        doc["api_token_sha256"] = current["api_token_sha256"]
    if pw is not None and not (isinstance(pw, str) and MIN_PASSWORD <= len(pw) <= 200):
        return json_response(
            {
                "error": translate("the ledger refused the change; nothing was applied", locale),
                "errors": [
                    {
                        "kind": "user",
                        "id": str(doc.get("name", "")),
                        "field": "password",
                        "message": translate("a password is {min} to 200 characters", locale, min=MIN_PASSWORD),
                    }
                ],
            },
            422,
        )
    if pw:
        doc["password"] = await asyncio.to_thread(hash_password, pw)
    return doc
