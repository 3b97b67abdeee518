"""What goes up to a platform: one item per alert event (raised, updated, signed for, handled,
feedback, lifted), in a configured format. Pure: the event's JSON in, a request body out.

The item (our own shape; the platforms' pushed-warning format is not published first-hand)::

    {"id": "<event id, stable: the receiver drops repeats>", "alarmId": "<alert id>",
     "kind": "raised", "kindZh": "发布", "qybm": "<enterprise code>", "tnm": "<point code>",
     "enterprise": "E001", "device": "DC1", "point": "hopper_temp", "level": 1, "severity": "red",
     "ts": "2026-12-01 15:04:05", "val": 72.5, "content": "...", "actor": null, "note": null}

``level`` is 1 red, 2 orange, 3 yellow, 4 blue (the national four-colour scale). ``format`` on
the channel: ``json`` sends the item as it is; ``national`` and ``provincial`` wrap a one-item
array in that platform's envelope and cipher (keys from the environment, as for inbound).

A risk warning's step is one item too (:func:`warning_item`: ``"type": "risk"``, ``warningId``,
``kind`` opened | level | sign | reply | return | escalate | cleared | close). Real-time data
goes up as the format's own real-time items (``{"tnm", "ts", "val"}``), many to a message, one
enterprise a message (:func:`readings_items`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import orjson

from ..times import zone
from .crypto import CipherSpec
from .settings import DEFAULTS, Format

FORMATS = ("json", "national", "provincial")
LEVEL = {"red": 1, "orange": 2, "yellow": 3, "blue": 4}
KIND_ZH = {
    "raised": "发布",
    "updated": "更新",
    "escalated": "升级",
    "acknowledged": "签收",
    "handling": "处置",
    "feedback": "反馈",
    "resolved": "解除",
}


@dataclass(frozen=True, slots=True)
class PushCodes:
    """The site's codes and formats, for building items (from :func:`push_codes`)."""

    enterprises: Mapping[str, str]  #: enterprise id -> code
    points: Mapping[tuple[str, str, str], str]  #: (enterprise, device, point) -> code
    formats: Mapping[str, Format]
    timezone: str = "Asia/Shanghai"


def push_codes(site) -> PushCodes:
    plats = site.platforms
    return PushCodes(
        {e.id: e.code for e in site.enterprises.values() if e.code},
        {(p.ref.enterprise, p.ref.device, p.ref.point): p.code for p in site.points if p.code},
        {**DEFAULTS, **(plats.formats if plats else {})},
        site.timezone,
    )


RISK_ZH = {
    "opened": "发布",
    "level": "等级变化",
    "sign": "签收",
    "reply": "反馈",
    "return": "退回",
    "close": "解除",
    "escalate": "升级",
    "cleared": "条件消除",
}


def items_of(payload: Mapping, codes: PushCodes) -> tuple[str | None, list]:
    """(enterprise code, the items to send) for one outbox payload: an alert event, a risk
    warning's step (``warning``) or a batch of real-time readings (``readings``, built already)."""
    if "readings" in payload:
        return codes.enterprises.get(payload["enterprise"]), list(payload["readings"])
    one = warning_item(payload, codes) if "warning" in payload else item(payload, codes)
    return one["qybm"], [one]


def _local(at: float, codes: PushCodes) -> str:
    return datetime.fromtimestamp(at, zone(codes.timezone)).strftime("%Y-%m-%d %H:%M:%S")


def warning_item(payload: Mapping, codes: PushCodes) -> dict:
    """A risk warning's step (issued, level, signed, replied, returned, escalated, closed)."""
    w = payload["warning"]
    return {
        "id": payload["id"],
        "warningId": w["item"],
        "type": "risk",
        "kind": w["action"],
        "kindZh": RISK_ZH.get(w["action"], w["action"]),
        "qybm": codes.enterprises.get(w["enterprise"]),
        "enterprise": w["enterprise"],
        "street": w.get("street"),
        "level": LEVEL.get(w["level"]),
        "severity": w["level"],
        "state": w["state"],
        "ts": _local(payload["at"], codes),
        "content": w.get("message"),
        "actor": w.get("actor"),
        "note": w.get("note"),
        "data": w.get("data"),
    }


def readings_items(fmt: Format | None, rows: list[tuple[str, float, float]], tz: str) -> list[dict]:
    """Real-time readings ``(point code, t, value)`` as the format's real-time items."""
    f = (fmt or DEFAULTS["provincial"]).items
    z = zone(tz)
    return [
        {f["code"]: c, f["ts"]: datetime.fromtimestamp(t, z).strftime("%Y-%m-%d %H:%M:%S"), f["value"]: f"{v:g}"}
        for c, t, v in rows
    ]


def item(payload: Mapping, codes: PushCodes) -> dict:
    a = payload["alert"]
    when = _local(payload["at"], codes)
    return {
        "id": payload["id"],
        "alarmId": a["id"],
        "kind": payload["kind"],
        "kindZh": KIND_ZH.get(payload["kind"], payload["kind"]),
        "qybm": codes.enterprises.get(a["enterprise"]),
        "tnm": codes.points.get((a["enterprise"], a["device"], a["point"])),
        "enterprise": a["enterprise"],
        "device": a["device"],
        "point": a["point"],
        "level": LEVEL.get(a["severity"]),
        "severity": a["severity"],
        "ts": when,
        "val": a.get("value"),
        "content": a.get("message"),
        "actor": payload.get("actor"),
        "note": payload.get("note"),
    }


def envelope(fmt: Format, cipher: CipherSpec, gateway: str, enterprise_code: str | None, items: list) -> dict:
    """The platform's outer body around the encrypted items."""
    body: dict[str, str | None] = {
        fmt.envelope["gateway"]: gateway,
        fmt.envelope["data"]: cipher.seal(orjson.dumps(items)),
    }
    if "enterprise" in fmt.envelope:
        body[fmt.envelope["enterprise"]] = enterprise_code
    return body


def accepted(fmt: Format | None, status: int, text: str) -> str | None:
    """None when the upstream took it; else why not. Platforms may answer HTTP 200 with an error code."""
    if not 200 <= status < 300:
        return f"HTTP {status}: {text[:200]}"
    if fmt is None:
        return None
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError:
        return f"answer is not JSON: {text[:200]}"
    if isinstance(doc, dict) and doc.get(fmt.answer.code) == fmt.answer.ok:
        return None
    return f"upstream refused: {text[:200]}"
