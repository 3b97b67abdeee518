"""Risk warnings and hazard reports over HTTP (issue 15, docs/risk.md).

Logged-in callers (scoped): ``GET /api/v1/warnings`` (open first, red first), ``GET
/api/v1/warnings/{id}`` (with its timeline), ``POST .../sign`` and ``.../reply`` (the
enterprise's user, or an officer), ``POST .../review`` (officers: close 审核销号 or
return 退回 with a note), ``POST /api/v1/photos?enterprise=`` (a JPEG/PNG/WebP as the raw
body, type read from its bytes, size capped), ``GET /api/v1/photos/{id}``, dust cleaning
``GET/POST /api/v1/cleaning`` and ``POST /api/v1/cleaning/checkin``.

Public (no login; 一码发现): ``GET /q/{id}`` (the page), ``GET /api/v1/public/{id}`` (name,
street, current colour, a form token and its challenge: :data:`PUBLIC_KEYS` and nothing
else), ``POST /api/v1/public/{id}/report``. A hazard report needs the form token with the
challenge's answer (once), an ``Origin`` of this site, and stays under the per-address limit.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
import time
from pathlib import Path

import orjson
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from ..i18n import Text, say
from ..risk.loop import VERDICTS, LoopError
from ..store import risk as risk_store
from .body import BodyError
from .lang import header_locale, request_locale
from .officer import json_body
from .public_form import AddressLimit, FormGuard
from .responses import json_error, json_response
from .scope import principal_of, scope_of

STATIC = Path(__file__).resolve().parent / "static"
MAX_TEXT = 2000
#: Every key a public answer may carry (tests/test_risk_api.py lists them all).
PUBLIC_KEYS = ("name", "street", "risk", "token", "challenge")
IMAGE_TYPES = {b"\xff\xd8\xff": ("image/jpeg", "jpg"), b"\x89PNG\r\n\x1a\n": ("image/png", "png")}


def image_type(data: bytes) -> tuple[str, str] | None:
    """The image's type from its first bytes (not from what the client says), or None."""
    for magic, kind in IMAGE_TYPES.items():
        if data.startswith(magic):
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp", "webp"
    return None


def _text(body: dict, key: str, *, required: bool = True, limit: int = MAX_TEXT) -> str | None:
    """``body[key]`` when it is a text a person may store, else :class:`BodyError` naming it."""
    v = body.get(key)
    if v is None and not required:
        return None
    if not isinstance(v, str) or (required and not v.strip()) or len(v) > limit:
        why = (
            Text.of("{key}: a text of 1..{limit} characters is required", key=key, limit=limit)
            if required
            else Text.of("{key}: at most {limit} characters", key=key, limit=limit)
        )
        raise BodyError(400, why, key)
    if any(ord(c) < 32 and c not in "\t\n\r" for c in v) or "\x7f" in v:
        raise BodyError(400, Text.of("{key}: control characters are not allowed", key=key), key)
    return v


def _bad(msgid: str, field: str, **params: object) -> BodyError:
    """A 400 naming ``field``, its text from the catalogue."""
    return BodyError(400, Text(msgid, params), field)


async def _limited_body(request: Request, limit: int) -> bytes | None:
    """The body, or None when it is (or says it is) over ``limit`` bytes: read no further."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def routes(state):
    cfg = state.risk.config if state.risk is not None else None
    guard_ = FormGuard(ttl=cfg.form_ttl if cfg else 1800.0)
    limit = AddressLimit(cfg.reports_per_address if cfg else 5, cfg.report_window if cfg else 600.0)
    photo_max = cfg.photo_max_bytes if cfg else 5 * 1024 * 1024
    text_max = cfg.report_max_text if cfg else MAX_TEXT
    uploads: Path = state.uploads

    def svc():
        return state.risk

    def refusal(
        request: Request,
        status: int,
        msgid: str,
        headers: dict | None = None,
        guest: bool = False,
        **params: object,
    ) -> Response:
        """A JSON error from the catalogue in the caller's language (:func:`locale_of`)."""
        return json_error(status, say(msgid, locale_of(request, guest), params), headers)

    def locale_of(request: Request, guest: bool = False) -> str:
        """The user's language, else the headers'; a ``guest`` (the public pages: nobody
        logged in) is read by the headers alone."""
        return header_locale(request) if guest else request_locale(request, state.site, principal_of(request))

    async def visible(request: Request, item_id: str) -> dict | None:
        async with state.pool.acquire() as conn:
            item = await risk_store.get_item(conn, item_id)
        if item is None or not scope_of(request).sees(item["enterprise"]):
            return None
        return item

    async def list_items(request: Request) -> Response:
        wanted = request.query_params.get("state", "open")
        kind = request.query_params.get("kind")
        if wanted not in ("open", "closed", "all", "signed", "replied", "returned") or kind not in (
            None,
            "warning",
            "report",
        ):
            return refusal(request, 400, "state: open|closed|all|signed|replied|returned; kind: warning|report")
        # ``?enterprise=``: one enterprise's items (its page's badge and panel), within the caller's scope
        scope = scope_of(request).narrow(request.query_params.get("enterprise"), state.site.enterprises)
        if scope is None:
            return refusal(request, 404, "no such enterprise")
        async with state.pool.acquire() as conn:
            return json_response(
                await risk_store.list_items(conn, enterprises=scope.sql_filter(), state=wanted, kind=kind)
            )

    async def get_item(request: Request) -> Response:
        item = await visible(request, request.path_params["id"])
        return json_response(item) if item else refusal(request, 404, "no such warning")

    def acting(request: Request, officers_only: bool):
        p = principal_of(request)
        if not state.auth.csrf_ok(p, request.headers.get("x-csrf-token")):
            return None, refusal(request, 403, "missing or wrong CSRF token (X-CSRF-Token header)")
        if officers_only and not p.can_act:
            return None, refusal(request, 403, "reviewing needs an officer; you are {role}", role=p.role)
        if not officers_only and not (p.can_act or p.role == "enterprise"):
            return None, refusal(
                request, 403, "this needs the enterprise's user or an officer; you are {role}", role=p.role
            )
        return p, None

    def action(name: str):
        async def act(request: Request) -> Response:
            if svc() is None:
                return refusal(request, 503, "the risk service is not running")
            p, err = acting(request, officers_only=name == "review")
            if err:
                return err
            item_id = request.path_params["id"]
            item = await visible(request, item_id)
            if item is None:
                return refusal(request, 404, "no such warning")
            body, err = await json_body(request)
            if err:
                return err
            try:
                kw: dict = {"note": _text(body, "note", required=False)}
                if name == "reply":
                    kw["cause"] = _text(body, "cause")
                    kw["measures"] = _text(body, "measures")
                    if body.get("verdict") not in VERDICTS:
                        raise _bad("verdict: one of {verdicts}", "verdict", verdicts=", ".join(VERDICTS))
                    kw["verdict"] = body["verdict"]
                    ids = body.get("photos") or []
                    if not isinstance(ids, list) or not all(isinstance(x, str) for x in ids) or len(ids) > 6:
                        raise _bad("photos: a list of at most 6 photo ids", "photos")
                    async with state.pool.acquire() as conn:
                        rows = [await risk_store.get_photo(conn, x) for x in ids]
                    if any(r is None or r["enterprise"] != item["enterprise"] for r in rows):
                        raise _bad("photos: unknown photo id (upload to /api/v1/photos first)", "photos")
                    kw["photos"] = [{"id": r["id"], "type": r["mime"], "size": r["size"]} for r in rows]
                elif name == "review":
                    close = body.get("close")
                    if not isinstance(close, bool):
                        raise _bad("close: true (close it) or false (return it, with a note)", "close")
                    kw["close"] = close
                    if not close and not (kw["note"] or "").strip():
                        raise _bad("note: say why it is returned", "note")
                    if item["kind"] == "warning" and p.role == "enterprise":
                        raise _bad("an enterprise cannot review its own reply", "close")
            except BodyError as exc:
                return exc.response(locale_of(request))
            if name == "sign":
                kw.pop("close", None)
            try:
                await svc().act(item_id, name, p.name, **kw)
            except LoopError as exc:
                return json_error(409, exc.message.render(locale_of(request)))
            except risk_store.StaleItems:  # other gateways moved it on every fresh read: busy, not wrong
                return refusal(
                    request, 503, "this item is being changed on another gateway; try again", {"Retry-After": "1"}
                )
            async with state.pool.acquire() as conn:
                return json_response(await risk_store.get_item(conn, item_id))

        return act

    async def upload_photo(request: Request) -> Response:
        p, err = acting(request, officers_only=False)
        if err:
            return err
        ent = request.query_params.get("enterprise") or p.enterprise
        if ent not in state.site.enterprises or not p.scope.sees(ent):
            return refusal(request, 404, "no such enterprise")
        data = await _limited_body(request, photo_max)
        if data is None:
            return refusal(request, 413, "a photo is at most {n} bytes", n=photo_max)
        saved = await save_photo(request, data, ent, None, p.name)
        return saved if isinstance(saved, Response) else json_response(saved, status=201)

    async def save_photo(
        request: Request, data: bytes, enterprise: str, item_id: str | None, who: str, guest: bool = False
    ):
        kind = image_type(data)
        if kind is None:
            return refusal(request, 415, "a photo must be a JPEG, PNG or WebP image", guest=guest)
        pid = "p-" + secrets.token_hex(8)
        uploads.mkdir(parents=True, exist_ok=True)
        path = uploads / f"{pid}.{kind[1]}"
        tmp = path.with_suffix(".part")
        tmp.write_bytes(data)
        tmp.replace(path)  # a whole file or none
        async with state.pool.acquire() as conn:
            return await risk_store.add_photo(
                conn, pid, enterprise, item_id, kind[0], len(data), hashlib.sha256(data).hexdigest(), path.name, who
            )

    async def get_photo(request: Request) -> Response:
        async with state.pool.acquire() as conn:
            row = await risk_store.get_photo(conn, request.path_params["id"])
        if row is None or not scope_of(request).sees(row["enterprise"]):
            return refusal(request, 404, "no such photo")
        return FileResponse(
            uploads / row["path"], media_type=row["mime"], headers={"Cache-Control": "private, max-age=3600"}
        )

    async def cleaning(request: Request) -> Response:
        scope = scope_of(request).narrow(request.query_params.get("enterprise"), state.site.enterprises)
        if scope is None:
            return refusal(request, 404, "no such enterprise")
        async with state.pool.acquire() as conn:
            rows = await risk_store.areas(conn, scope.sql_filter())
        now = time.time()
        for r in rows:
            r["overdue"] = r["last_at"] is None or now - r["last_at"] > r["interval_s"]
        return json_response(rows)

    async def set_area(request: Request) -> Response:
        p, err = acting(request, officers_only=False)
        if err:
            return err
        body, err = await json_body(request)
        if err:
            return err
        try:
            ent = request.query_params.get("enterprise") or body.get("enterprise") or p.enterprise
            if ent not in state.site.enterprises or not p.scope.sees(ent):
                return refusal(request, 404, "no such enterprise")
            area = str(_text(body, "area", limit=100))
            interval = body.get("interval_s", 86400.0)
            if isinstance(interval, bool) or not isinstance(interval, (int, float)) or not 60 <= interval <= 90 * 86400:
                raise _bad("interval_s: seconds between 60 and 90 days", "interval_s")
        except BodyError as exc:
            return exc.response(locale_of(request))
        async with state.pool.acquire() as conn:
            await risk_store.set_area(conn, ent, area, float(interval))
        if svc() is not None:
            svc().last_cleaning = 0.0  # judged on the next tick: a new area never cleaned is overdue
        return json_response({"enterprise": ent, "area": area, "interval_s": float(interval)}, status=201)

    async def check_in(request: Request) -> Response:
        p, err = acting(request, officers_only=False)
        if err:
            return err
        body, err = await json_body(request)
        if err:
            return err
        ent = request.query_params.get("enterprise") or body.get("enterprise") or p.enterprise
        if ent not in state.site.enterprises or not p.scope.sees(ent):
            return refusal(request, 404, "no such enterprise")
        area, photo = body.get("area"), body.get("photo")
        async with state.pool.acquire() as conn:
            known = {r["area"] for r in await risk_store.areas(conn, [ent])}
            if area not in known:
                return refusal(request, 400, "area: not one of the enterprise's cleaning areas")
            if photo is not None:
                row = await risk_store.get_photo(conn, photo) if isinstance(photo, str) else None
                if row is None or row["enterprise"] != ent:
                    return refusal(request, 400, "photo: unknown photo id")
            await risk_store.check_in(conn, ent, area, time.time(), p.name, photo)
        if svc() is not None:
            svc().last_cleaning = 0.0  # re-read the areas on the next tick
        return json_response({"enterprise": ent, "area": area, "ok": True}, status=201)

    # -- public: 一码发现 --------------------------------------------------------------------
    async def public_page(request: Request) -> Response:
        if request.path_params["id"] not in state.site.enterprises:
            return Response(say("no such enterprise", locale_of(request, guest=True), {}), 404, media_type="text/plain")
        return FileResponse(STATIC / "report.html", headers={"Cache-Control": "no-store"})

    async def public_info(request: Request) -> Response:
        eid = request.path_params["id"]
        ent = state.site.enterprises.get(eid)
        if ent is None:
            return refusal(request, 404, "no such enterprise", guest=True)
        w = svc().model.current(eid) if svc() is not None else None
        street_name = ent.street or None  # the basemap's street name (the ledger's Street.name once it lands)
        form = guard_.issue(eid, time.time())
        return json_response(
            {
                "name": ent.name,
                "street": street_name,
                "risk": None if w is None else ["none", "blue", "yellow", "orange", "red"][w.level],
                "token": form["token"],
                "challenge": form["challenge"],
            },
            headers={"Cache-Control": "no-store"},
        )

    async def public_report(request: Request) -> Response:
        eid = request.path_params["id"]
        if eid not in state.site.enterprises:
            return refusal(request, 404, "no such enterprise", guest=True)
        if svc() is None:
            return refusal(request, 503, "the risk service is not running", guest=True)
        if not request.headers.get("origin"):  # a browser form always sends it on a POST
            return refusal(request, 403, "a report must come from this site's page (Origin)", guest=True)
        address = request.client.host if request.client else "?"
        now = time.time()
        wait = limit.wait(address, now)
        if wait:
            return refusal(
                request,
                429,
                "too many reports from this address; try again in {seconds} s",
                guest=True,
                headers={"Retry-After": str(int(wait) + 1)},
                seconds=f"{wait:.0f}",
            )
        raw = await _limited_body(request, photo_max * 4 // 3 + text_max * 4 + 4096)
        if raw is None:
            return refusal(request, 413, "the report is too large", guest=True)
        try:
            body = orjson.loads(raw or b"{}")
            if not isinstance(body, dict):
                raise BodyError(400, Text.of("body must be a JSON object"))
            text = _text(body, "text", limit=text_max)
            contact = _text(body, "contact", required=False, limit=100)
            photo = body.get("photo")
            data = None
            if photo is not None:
                if not isinstance(photo, str):
                    raise _bad("photo: a base64 image", "photo")
                data = base64.b64decode(photo, validate=True)
                if len(data) > photo_max:
                    return refusal(request, 413, "a photo is at most {n} bytes", guest=True, n=photo_max)
                if image_type(data) is None:
                    return refusal(request, 415, "a photo must be a JPEG, PNG or WebP image", guest=True)
        except BodyError as exc:
            return exc.response(locale_of(request, guest=True))
        except orjson.JSONDecodeError as exc:
            return refusal(request, 400, "malformed JSON: {error}", guest=True, error=str(exc))
        except (ValueError, binascii.Error):  # base64 that is not
            return refusal(request, 400, "photo: a base64 image", guest=True)
        # the token is spent and the address counted in one step of the event loop: no race
        why = guard_.check(eid, body.get("token"), body.get("answer"), now)
        if why:
            return refusal(request, 403, why, guest=True)
        limit.take(address, now)
        item_id = "r-" + secrets.token_hex(8)
        meta = await save_photo(request, data, eid, item_id, "public", guest=True) if data is not None else None
        if isinstance(meta, Response):
            return meta
        await svc().report(item_id, eid, text, contact, address, meta)
        return json_response({"ok": True}, status=201)  # nothing internal: not even the item's id

    return [
        ("/api/v1/warnings", list_items, ["GET"]),
        ("/api/v1/warnings/{id}", get_item, ["GET"]),
        ("/api/v1/warnings/{id}/sign", action("sign"), ["POST"]),
        ("/api/v1/warnings/{id}/reply", action("reply"), ["POST"]),
        ("/api/v1/warnings/{id}/review", action("review"), ["POST"]),
        ("/api/v1/photos", upload_photo, ["POST"]),
        ("/api/v1/photos/{id}", get_photo, ["GET"]),
        ("/api/v1/cleaning", cleaning, ["GET"]),
        ("/api/v1/cleaning", set_area, ["POST"]),
        ("/api/v1/cleaning/checkin", check_in, ["POST"]),
        ("/q/{id}", public_page, ["GET"]),
        ("/api/v1/public/{id}", public_info, ["GET"]),
        ("/api/v1/public/{id}/report", public_report, ["POST"]),
    ]
