"""The one JSON body reader of every JSON endpoint.

Checks in order, each refused with a JSON error naming the problem, before anything is
stored:

1. ``Content-Type`` is ``application/json`` (415); an empty body needs none.
2. ``Content-Length`` over the limit: 413 before a byte of the body is read; without a
   length (chunked) the body is read incrementally and refused as soon as it passes the
   limit, so memory never holds more than ``limit`` plus one chunk.
3. The whole body must arrive within ``deadline`` seconds (408): a client trickling its
   body holds a connection, not the server.
4. JSON (400): orjson refuses NaN and Infinity, invalid UTF-8 and lone surrogates, and
   nesting past 1024 levels.
5. ``shape`` ("object" / "any") and, unless the caller checks its own fields, every string
   in the document through :func:`warning.textcheck.first_bad_text` (400 naming the field),
   which also refuses nesting past ``max_depth`` levels.
"""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qsl

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from ..i18n import Text
from ..textcheck import TextError, check_text, first_bad_text, surrogate_in_json
from .responses import json_response

MAX_DEPTH = 32  #: levels of nesting in a JSON body (telemetry needs 3, notes 3)
DEADLINE = 20.0  #: seconds for a whole body to arrive


class BodyError(Exception):
    """A refused body: HTTP ``status``, a message (a catalogue :class:`~warning.i18n.Text`,
    rendered in the reader's locale by :meth:`response`), the ``field`` when one is to blame."""

    def __init__(self, status: int, message: Text, field: str | None = None, headers: dict | None = None):
        super().__init__(str(message))
        self.status = status
        self.message = message
        self.field = field
        self.headers = headers

    def response(self, locale: str | None = None) -> Response:
        """The JSON refusal in ``locale`` (zh-CN when not given)."""
        body: dict = {"error": self.message.render(locale)}
        if self.field is not None:
            body["field"] = self.field
        return json_response(body, self.status, headers=self.headers)


def text_error(exc: TextError) -> BodyError:
    return BodyError(400, Text.of("{field}: {reason}", field=exc.field, reason=exc.reason), exc.field)


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def declared_length(request: Request, limit: int) -> int | None:
    """The Content-Length, or None when absent; BodyError 400/413 when unusable or too large."""
    declared = request.headers.get("content-length")
    if declared is None:
        return None
    if not declared.strip().isdigit():
        raise BodyError(400, Text.of("invalid Content-Length {value}", value=repr(declared[:40])))
    n = int(declared)
    if n > limit:
        raise BodyError(413, Text.of("body of {n} bytes is over the limit of {limit} bytes", n=n, limit=limit))
    return n


def check_media_type(request: Request) -> None:
    ctype = media_type(request)
    if ctype != "application/json":
        raise BodyError(
            415, Text.of("body must be application/json, not {type}", type=repr(ctype[:60]) if ctype else "—")
        )


async def read_bytes(request: Request, limit: int, deadline: float = DEADLINE) -> bytes:
    """The raw body, within ``limit`` bytes and ``deadline`` seconds, else BodyError."""
    declared_length(request, limit)
    chunks, size = [], 0
    try:
        async with asyncio.timeout(deadline):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise BodyError(413, Text.of("body over the limit of {limit} bytes", limit=limit))
                chunks.append(chunk)
    except TimeoutError:
        raise BodyError(
            408,
            Text.of("body not received within {seconds} s", seconds=f"{deadline:g}"),
            headers={"Connection": "close"},
        ) from None
    except ClientDisconnect:
        raise BodyError(400, Text.of("client disconnected")) from None
    return b"".join(chunks)


def parse_json(raw: bytes):
    """A decoded document, or BodyError 400 saying where it is malformed."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        bad = surrogate_in_json(raw) if "surrogate" in str(exc) else None
        if bad is not None:
            raise text_error(bad) from None
        raise BodyError(400, Text.of("malformed JSON: {error}", error=str(exc))) from None


async def read_json(
    request: Request,
    *,
    limit: int = 64 * 1024,
    empty=None,
    shape: str = "object",
    max_text: int | None = 2000,
    max_depth: int = MAX_DEPTH,
    deadline: float = DEADLINE,
):
    """The request's JSON document, checked as the module docstring says, else BodyError.

    ``empty`` is returned for an empty body when not None (``{}`` for optional bodies).
    ``max_text=None`` skips the scan of every string: for callers that check each field
    they store themselves (telemetry checks ids and names with its own limits).
    """
    n = declared_length(request, limit)
    if n == 0 and empty is not None:
        return empty
    if n is not None or "transfer-encoding" in request.headers:
        check_media_type(request)
    raw = await read_bytes(request, limit, deadline)
    if not raw:
        if empty is not None:
            return empty
        raise BodyError(400, Text.of("empty body"))
    check_media_type(request)
    doc = parse_json(raw)
    if shape == "object" and not isinstance(doc, dict):
        raise BodyError(400, Text.of("body must be a JSON object"))
    if max_text is not None:
        bad = first_bad_text(doc, max_len=max_text, max_depth=max_depth)
        if bad is not None:
            raise text_error(bad)
    return doc


async def read_form(request: Request, fields: dict[str, int], *, limit: int = 4096) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body (the login form) with only ``fields``,
    each checked by :func:`warning.textcheck.check_text` against its maximum length; a
    missing field is the empty string. BodyError 413/415/408/400 as for JSON."""
    if media_type(request) != "application/x-www-form-urlencoded":
        ctype = media_type(request)
        raise BodyError(
            415,
            Text.of(
                "body must be application/x-www-form-urlencoded, not {type}", type=repr(ctype[:60]) if ctype else "—"
            ),
        )
    raw = await read_bytes(request, limit)
    try:
        # invalid UTF-8 becomes lone surrogates, which check_text then refuses naming the field
        pairs = parse_qsl(
            raw.decode("ascii"), keep_blank_values=True, max_num_fields=len(fields) * 2, errors="surrogateescape"
        )
    except (UnicodeDecodeError, ValueError):
        raise BodyError(400, Text.of("malformed form body")) from None
    form = {name: "" for name in fields}
    for key, value in pairs:
        if key in fields:
            try:
                form[key] = check_text(value, field=key, max_len=fields[key])
            except TextError as exc:
                raise text_error(exc) from None
    return form
