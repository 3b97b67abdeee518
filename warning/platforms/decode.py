"""Open a platform request: envelope, cipher, items, codes, times. Pure: bytes in, readings out.

``decode`` returns what to store, or raises :class:`PlatformError` with the platform's code and
a reason from the catalogue (a :class:`warning.i18n.Text`, rendered in the gateway's locale by
the answer, zh-CN by default). A request is all or nothing: one bad item refuses the whole
request, and the reason names the first few bad items by index, each a text of its own.

The readings come as one keyed message (``Parsed.keyed``): the store judges a repeat by the
reading's own (point, time), so the same (point code, time) sent again, through either
platform, is stored once, with no message id per reading.
"""

from __future__ import annotations

import hmac
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import orjson

from ..i18n import Joined, Text
from ..ingest import MAX_FUTURE_S, MAX_ITEMS, MAX_PAST_S, Parsed
from ..model import Reading
from ..textcheck import TextError
from ..textcheck import problem as text_problem
from ..times import zone
from .crypto import CipherSpec, CryptoError
from .settings import Format

MAX_TEXT = 500  #: characters of an alarm's content, threshold or value kept
MAX_ANY = 100_000  #: characters of such a text accepted at all (the rest cut to MAX_TEXT)
SHOWN = 5  #: bad items named in a refusal


class PlatformError(Exception):
    """A refused request: ``code`` in the platform's answer (400 bad, 401 who, 403 not yours),
    ``reason`` a catalogue text (``str()``: zh-CN)."""

    def __init__(self, code: int, reason: Text, gateway: str | None = None):
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.gateway = gateway


@dataclass(frozen=True, slots=True)
class GatewayKeys:
    enterprise: str
    cipher: CipherSpec | None  #: None: the environment lacks its key (every request refused)
    secret: str | None  #: national appsecret
    problem: Text | None = None  #: why ``cipher`` is None (a catalogue text: it ends in a 401)


@dataclass(frozen=True, slots=True)
class Registry:
    gateways: Mapping[tuple[str, str], GatewayKeys]  #: (platform, gateway id) -> keys
    enterprise_codes: Mapping[str, str]  #: enterprise id -> code (qybm)
    points: Mapping[str, Mapping[str, int]]  #: enterprise -> point code -> store point id


@dataclass(frozen=True, slots=True)
class Alarm:
    """An enterprise's own alarm (eventsData / videosData), kept and shown beside ours."""

    kind: str  #: events | videos
    code: str
    point_id: int | None  #: None for a video alarm whose code is not a point
    ts: float
    value: str | None
    status: int | None
    threshold: str | None
    content: str | None


@dataclass(frozen=True, slots=True)
class Inbound:
    enterprise: str
    gateway: str
    parsed: Parsed | None  #: real-time readings (rts)
    alarms: tuple[Alarm, ...] = ()


def parse_time(text, fmt: str, tz: str) -> float | None:
    """Epoch seconds on a whole millisecond, reading a zone-less time in the site's zone
    (:func:`warning.times.zone`). The platform's own ``ts_format`` is applied strictly (strptime),
    where ``warning.times.parse_iso`` would also take other ISO-8601 shapes."""
    if not isinstance(text, str) or len(text) > 40:
        return None
    try:
        dt = datetime.strptime(text, fmt)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=zone(tz))
    return round(dt.timestamp() * 1000) / 1000.0


def _number(v) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        f = float(v)
    elif isinstance(v, str) and 0 < len(v) <= 40:
        try:
            f = float(v)
        except ValueError:
            return None
    else:
        return None
    return f if math.isfinite(f) else None


def _text(v, field: str) -> str | None:
    """A client's text kept for people to read, checked by :mod:`warning.textcheck` (the one
    validator of what may reach the store) and cut to ``MAX_TEXT`` characters."""
    if v is None:
        return None
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        v = str(v)
    if not isinstance(v, str):
        raise TextError(field, Text.of("must be a string"))
    why = text_problem(v, MAX_ANY)
    if why is not None:
        raise TextError(field, why)
    return v[:MAX_TEXT]


def envelope(
    fmt: Format, body: bytes, headers: Mapping[str, str], registry: Registry
) -> tuple[str, GatewayKeys, CipherSpec, str]:
    """(gateway id, its keys, its cipher, cipher text) from the outer JSON, its secret and enterprise checked."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise PlatformError(400, Text.of("body is not valid JSON")) from None
    if not isinstance(doc, dict):
        raise PlatformError(400, Text.of("body must be a JSON object"))
    env = fmt.envelope
    gid, data = doc.get(env["gateway"]), doc.get(env["data"])
    if not isinstance(gid, str) or not gid or len(gid) > 64:
        raise PlatformError(400, Text.of("missing gateway code {field}", field=env["gateway"]))
    keys = registry.gateways.get((fmt.name, gid))
    if keys is None:
        raise PlatformError(401, Text.of("unknown gateway {gateway}", gateway=gid[:64]), gid)
    if fmt.secret_header is not None:
        given = headers.get(fmt.secret_header.lower(), "")
        if keys.secret is None or not hmac.compare_digest(given.encode(), keys.secret.encode()):
            raise PlatformError(401, Text.of("wrong or missing {header} header", header=fmt.secret_header), gid)
    if "enterprise" in env:
        qy = doc.get(env["enterprise"])
        if qy != registry.enterprise_codes.get(keys.enterprise):
            raise PlatformError(
                403, Text.of("{field} does not match the gateway's enterprise", field=env["enterprise"]), gid
            )
    if not isinstance(data, str) or not data:
        raise PlatformError(400, Text.of("missing cipher text {field}", field=env["data"]), gid)
    if keys.cipher is None:
        why = Text.of("the gateway's key is not configured: {problem}", problem=keys.problem or "")
        raise PlatformError(401, why, gid)
    return gid, keys, keys.cipher, data


def items_of(fmt: Format, cipher: CipherSpec, data: str, gid: str) -> list:
    try:
        plain = cipher.open(data)
    except CryptoError as exc:
        raise PlatformError(400, exc.reason, gid) from None
    try:
        doc = orjson.loads(plain)
    except orjson.JSONDecodeError:
        raise PlatformError(400, Text.of("decrypted data is not JSON (wrong key?)"), gid) from None
    if fmt.items_key is not None and isinstance(doc, dict):
        doc = doc.get(fmt.items_key)
    if isinstance(doc, dict):
        doc = [doc]
    if not isinstance(doc, list) or not doc:
        raise PlatformError(400, Text.of("data must be a non-empty array"), gid)
    if len(doc) > MAX_ITEMS:
        raise PlatformError(400, Text.of("too many items: {n} > {limit}", n=len(doc), limit=MAX_ITEMS), gid)
    return doc


def decode(
    fmt: Format, kind: str, body: bytes, headers: Mapping[str, str], registry: Registry, now: float, tz: str
) -> Inbound:
    gid, keys, cipher, data = envelope(fmt, body, headers, registry)
    items = items_of(fmt, cipher, data, gid)
    codes = registry.points.get(keys.enterprise, {})
    lo, hi = now - MAX_PAST_S, now + MAX_FUTURE_S
    bad: list[Text] = []
    unknown: list[Text | str] = []
    f = fmt.items if kind == "rts" else fmt.alarm_items

    times: dict = {}  # a post's items share a few timestamps: parse each text once

    def when(i: int, item: dict) -> float | None:
        text = item.get(f["ts"])
        t = times.get(text, False) if isinstance(text, str) else None
        if t is False:
            t = times[text] = parse_time(text, fmt.ts_format, tz)
        if t is None:
            bad.append(
                Text.of(
                    "#{i}: bad time: {field} must be in the format {format}", i=i, field=f["ts"], format=fmt.ts_format
                )
            )
        elif not lo <= t <= hi:
            days, minutes = round(MAX_PAST_S / 86400), round(MAX_FUTURE_S / 60)
            bad.append(
                Text.of(
                    "#{i}: time out of range ({days} days ago to {minutes} minutes ahead)",
                    i=i,
                    days=days,
                    minutes=minutes,
                )
            )
            return None
        return t

    readings: list[Reading] = []
    alarms: list[Alarm] = []
    seen: set[tuple[int, int]] = set()
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            bad.append(Text.of("#{i}: item must be an object", i=i))
            continue
        code = item.get(f["code"])
        if not isinstance(code, str) or not code or len(code) > 64:
            bad.append(Text.of("#{i}: missing point code {field}", i=i, field=f["code"]))
            continue
        pid = codes.get(code)
        if pid is None:
            if kind != "videos":
                unknown.append(
                    f"#{i}: {code[:64]}"
                )  # an index and a code, no words (made storable for the dead letter)
                continue
            why = text_problem(code, 64)  # a camera's code is kept as it is sent
            if why is not None:
                bad.append(Text.of("#{i}: {field} {reason}", i=i, field=f["code"], reason=why))
                continue
        t = when(i, item)
        if t is None:
            continue
        if kind == "rts" and pid is not None:  # (pid is known here: an rts item's code is a point)
            v = _number(item.get(f["value"]))
            if v is None:
                bad.append(Text.of("#{i}: value {field} is not a finite number", i=i, field=f["value"]))
                continue
            key = (pid, round(t * 1000))
            if key in seen:
                continue  # the same (code, time) twice in one post: stored once, like any repeat
            seen.add(key)
            readings.append(Reading(pid, t, v))
            continue
        status = item.get(f["status"])
        if status is not None:
            status = _number(status)
            if status is None or status != int(status):
                bad.append(Text.of("#{i}: status {field} must be an integer", i=i, field=f["status"]))
                continue
            status = int(status)
        try:
            alarms.append(
                Alarm(
                    kind,
                    code,
                    pid,
                    t,
                    _text(item.get(f["value"]), f["value"]),
                    status,
                    _text(item.get(f["threshold"]), f["threshold"]),
                    _text(item.get(f["content"]), f["content"]),
                )
            )
        except TextError as exc:
            bad.append(Text.of("#{i}: {field} {reason}", i=i, field=exc.field, reason=exc.reason))
    if bad:
        raise PlatformError(400, Text.of("invalid items: {items}", items=_listed(bad)), gid)
    if unknown:
        why = Text.of("point codes not registered to this enterprise: {items}", items=_listed(unknown))
        raise PlatformError(403, why, gid)
    parsed = Parsed([(None, readings)], len(readings), keyed=True) if kind == "rts" else None
    return Inbound(keys.enterprise, gid, parsed, tuple(alarms))


def _listed(items: Sequence[Text | str]) -> Joined:
    """The first ``SHOWN`` items, then how many more, joined when rendered."""
    more = [Text.of("{n} more", n=len(items) - SHOWN)] if len(items) > SHOWN else []
    return Joined((*items[:SHOWN], *more))


def answer(fmt: Format, code: int, msg: str) -> tuple[int, dict]:
    """(HTTP status, body) in the platform's convention."""
    a = fmt.answer
    body = {a.code: a.ok if code == 200 else code, a.msg: a.ok_msg if code == 200 else msg, a.data: None}
    return (200 if a.http_status == "always_200" or code == 200 else code), body
