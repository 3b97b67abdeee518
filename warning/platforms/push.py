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


def item(payload: Mapping, codes: PushCodes) -> dict:
    a = payload["alert"]
    when = datetime.fromtimestamp(payload["at"], zone(codes.timezone)).strftime("%Y-%m-%d %H:%M:%S")
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
