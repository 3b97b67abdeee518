"""Telemetry payload parsing and validation. Pure: bytes in, readings or an error out.

The payload (ThingsBoard style) is one object or a JSON array of objects::

    {"device": "DC1", "ts": 1700000000000 | "2023-11-14T22:13:20+08:00",
     "values": {"dp": 1130.5, "vent_open": false}, "id": "optional message id"}

A request is all or nothing: one bad item rejects the whole request, naming every bad
item by index and reason, and nothing is stored. Every text of an item (device, point
names, message id) goes through :mod:`warning.textcheck` first: a NUL or a lone surrogate
is this request's 400, never a store error in someone else's group commit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import orjson

from .model import Reading
from .textcheck import problem as text_problem
from .textcheck import surrogate_in_json
from .times import NoZone, TimeError, parse_iso

MAX_ITEMS = 10_000  #: objects per request
MAX_ID_LEN = 128  #: characters in a message id
MAX_NAME_LEN = 128  #: characters in a device or point name
MAX_PAST_S = 30 * 86400.0  #: oldest accepted timestamp, relative to now (collectors buffer through outages)
MAX_FUTURE_S = 600.0  #: newest accepted timestamp (clock skew)
_FIELDS = frozenset(("device", "ts", "values", "id"))


class IngestError(Exception):
    """A rejected request: HTTP ``status`` and a JSON-able ``body`` naming the problem."""

    def __init__(self, status: int, error: str, items: list[dict] | None = None):
        super().__init__(error)
        self.status = status
        self.body = {"error": error} if items is None else {"error": error, "items": items}


@dataclass(slots=True)
class Parsed:
    """A valid request: its messages, each ``(message id or None, readings)``."""

    messages: list[tuple[str | None, list[Reading]]]
    count: int  #: readings in all messages
    #: repeats are judged by each reading's (point, time) against the stored readings (the
    #: platform adapters), not by message ids: the messages then carry no ids
    keyed: bool = False


# (enterprise's devices) device id -> point name -> point id
DeviceIndex = dict[str, dict[str, int]]


def parse(body: bytes, devices: DeviceIndex, now: float) -> Parsed:
    """Validate a request body against one enterprise's devices."""
    return validate(loads(body), devices, now)


def loads(body: bytes):
    """JSON, or IngestError 400 naming where it is malformed (NaN and Infinity are malformed)."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        bad = surrogate_in_json(body) if "surrogate" in str(exc) else None
        if bad is not None:
            raise IngestError(400, f"invalid telemetry: {bad.field}: {bad.reason}") from None
        raise IngestError(400, f"malformed JSON: {exc}") from None


def validate(doc, devices: DeviceIndex, now: float) -> Parsed:
    """Validate an already-decoded telemetry document (one object or a list of them)."""
    if isinstance(doc, dict):
        doc = [doc]
    elif not isinstance(doc, list):
        raise IngestError(400, "body must be a telemetry object or an array of them")
    if not doc:
        raise IngestError(400, "empty array: nothing to accept")
    if len(doc) > MAX_ITEMS:
        raise IngestError(400, f"too many items: {len(doc)} > {MAX_ITEMS} per request")

    bad: list[dict] = []
    forbidden: list[dict] = []
    messages: list[tuple[str | None, list[Reading]]] = []
    seen_ids: set[str] = set()
    count = 0
    lo, hi = now - MAX_PAST_S, now + MAX_FUTURE_S
    for i, item in enumerate(doc):
        if not isinstance(item, dict):
            bad.append({"index": i, "reason": "item must be an object"})
            continue
        reason = _check_shape(item)
        if reason:
            bad.append({"index": i, "reason": reason})
            continue
        t = _timestamp(item["ts"])
        if isinstance(t, str):
            bad.append({"index": i, "reason": t})
            continue
        if not lo <= t <= hi:
            bad.append(
                {
                    "index": i,
                    "reason": f"ts {item['ts']!r} is outside the accepted range "
                    f"(now - {MAX_PAST_S / 86400:.0f} days .. now + {MAX_FUTURE_S:.0f} s)",
                }
            )
            continue
        points = devices.get(item["device"])
        if points is None:
            forbidden.append({"index": i, "reason": f"device {item['device']!r} is not registered to this enterprise"})
            continue
        readings = []
        for name, value in item["values"].items():
            pid = points.get(name)
            if pid is None:
                forbidden.append(
                    {"index": i, "reason": f"point {name!r} is not registered on device {item['device']!r}"}
                )
                break
            if value is True or value is False:
                value = 1.0 if value else 0.0
            elif type(value) is int or type(value) is float:
                value = float(value)
                if not math.isfinite(value):  # ints beyond float range
                    bad.append({"index": i, "reason": f"value of {name!r} is not a finite number"})
                    break
            else:
                bad.append(
                    {
                        "index": i,
                        "reason": f"value of {name!r} must be a number or a boolean, not {type(value).__name__}",
                    }
                )
                break
            readings.append(Reading(pid, t, value))
        else:
            mid = item.get("id")
            if mid is not None:
                if mid in seen_ids:
                    continue  # repeated within the request: ignored like any repeat
                seen_ids.add(mid)
            messages.append((mid, readings))
            count += len(readings)
    if bad:
        raise IngestError(400, "invalid telemetry", bad + forbidden)
    if forbidden:
        raise IngestError(403, "device or point not registered to this enterprise", forbidden)
    return Parsed(messages, count)


def _check_shape(item: dict) -> str | None:
    extra = item.keys() - _FIELDS
    if extra:
        return f"unknown field(s): {', '.join(sorted(ascii(k)[:80] for k in extra))}"
    device = item.get("device")
    if not isinstance(device, str) or not device:
        return "'device' must be a non-empty string"
    reason = text_problem(device, MAX_NAME_LEN)
    if reason:
        return f"device: {reason}"
    if "ts" not in item:
        return "'ts' is required (epoch milliseconds or ISO-8601 with a time zone)"
    values = item.get("values")
    if not isinstance(values, dict) or not values:
        return "'values' must be a non-empty object of point -> number or boolean"
    for name in values:
        reason = text_problem(name, MAX_NAME_LEN)
        if reason:
            return f"values: point name {reason}"
    mid = item.get("id")
    if mid is not None:
        if not isinstance(mid, str) or not mid:
            return f"'id' must be a non-empty string of at most {MAX_ID_LEN} characters"
        reason = text_problem(mid, MAX_ID_LEN)
        if reason:
            return f"id: {reason}"
    return None


def _timestamp(ts) -> float | str:
    """Epoch seconds on a whole millisecond (what the store keeps, so a replay after a crash
    feeds the detectors exactly the times they saw live), or a reason string."""
    if type(ts) is int or type(ts) is float:
        if not math.isfinite(ts) or abs(ts) > 1e15:
            return "'ts' must be a finite number of epoch milliseconds"
        return round(ts) / 1000.0
    if isinstance(ts, str):
        try:
            seconds = parse_iso(ts, zone_name=None)  # telemetry must say its zone (README)
        except NoZone:
            return "'ts' in ISO-8601 needs a time zone (Z or +08:00)"
        except TimeError:
            return f"'ts' {ts[:40]!r} is not ISO-8601"
        return round(seconds * 1000) / 1000.0
    return "'ts' must be epoch milliseconds (number) or an ISO-8601 string"
