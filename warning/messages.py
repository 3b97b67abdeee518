"""Alert messages built from structured data, in the reader's language. Pure.

A detector's :class:`~detectors.base.Finding` says which rule changed its verdict, to which
severity, at which value; the point's definition says what the point is (its kind's title),
its unit and precision, and the rule's limits. From these :func:`describe` builds a message
``{"id": template, "params": {...}}`` (kept with the alert, so it can be shown in any
locale) and :func:`render` turns it into text, e.g. ``料斗温度 72.0 °C，超过红色限值 70 °C``
or ``hopper temperature 72.0 °C, above the red limit 70 °C``.

The templates are msgids of the ``warning`` catalogue (warning/locale/*/LC_MESSAGES/warning.po);
:data:`TEMPLATES` lists them so the tests can check every one is translated.
"""

from __future__ import annotations

from collections.abc import Mapping

from detectors.base import Finding, Severity

from .i18n import DEFAULT_LOCALE, N_, translate, word
from .model import PointRef

#: Decimal places per unit when the kind does not say (``precision`` in config/kinds.toml).
UNIT_PRECISION = {
    "°C": 1,
    "Pa": 0,
    "m/s": 1,
    "count": 0,
    "flag": 0,
    "vol %": 1,
    "%": 0,
    "m³/h": 1,
    "%LEL": 1,
    "mg/m³": 1,
}
#: Units that are words (translated by context ``unit``); symbols are shown as they are.
UNIT_WORDS = ("count",)
ANOMALY_TYPES = ("anomaly", "breakout", "hotelling", "multivariate", "robust_z", "holt", "likelihood", "drift")

T_ABOVE = N_("{title} {value}, above the {severity} limit {limit}")
T_BELOW = N_("{title} {value}, below the {severity} limit {limit}")
T_FLAG = N_("{title}: signal on ({severity})")
T_RISE = N_("{title} {value}, rising faster than the {severity} limit {limit} {unit}/min")
T_FALL = N_("{title} {value}, falling faster than the {severity} limit {limit} {unit}/min")
T_STUCK = N_("{title} stuck at {value} for {minutes} min (sensor fault?)")
T_BASELINE = N_("{title} {value}, more than {pct} % off its recorded baseline")
T_DROP = N_("{title} dropped suddenly to {value}")
T_ANOMALY = N_("{title} {value}: unusual for this point ({rule})")
T_OFFLINE = N_("device {device}: no data for {seconds} s")
T_NODATA = N_("{title}: no data for {seconds} s")
T_DEAD = N_("channel {channel}: a notification could not be delivered after {attempts} attempts")
T_STALLED = N_("{point}: no progress for {seconds} s")
T_STALLED_BACK = N_("{point}: progressing again")
T_BACK = N_("{title} back to normal ({value})")
T_CLEARED = N_("{title}: the condition has cleared")
T_OFFLINE_BACK = N_("device {device} reporting again")
T_NODATA_BACK = N_("{title}: data again")
TEMPLATES = (
    T_ABOVE,
    T_BELOW,
    T_FLAG,
    T_RISE,
    T_FALL,
    T_STUCK,
    T_BASELINE,
    T_DROP,
    T_ANOMALY,
    T_OFFLINE,
    T_NODATA,
    T_DEAD,
    T_STALLED,
    T_STALLED_BACK,
    T_BACK,
    T_CLEARED,
    T_OFFLINE_BACK,
    T_NODATA_BACK,
)


def precision_of(unit: str, precision: int | None = None) -> int:
    return precision if precision is not None else UNIT_PRECISION.get(unit, 1)


def number(x: float, places: int) -> str:
    """``x`` with ``places`` decimals (no ``-0``)."""
    text = f"{x:.{max(0, places)}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def limit_text(x: float) -> str:
    """A configured limit as written (70, 17.5, 0.8)."""
    return f"{x:g}"


def _spec(point, rule: str) -> dict | None:
    for spec in point.detectors:
        if spec.get("id", spec.get("type")) == rule:
            return spec
    return None


def describe_finding(ref: PointRef, finding: Finding, point=None) -> dict | None:
    """The structured message of a finding on ``ref`` (``point``: its PointDef, if it has one);
    None when nothing structured is known (the finding's own text is used)."""
    rule, sev = finding.rule, finding.severity
    if ref.enterprise == "_system":
        if rule == "dead_letter" and sev is not None:
            return {"id": T_DEAD, "params": {"channel": ref.point, "attempts": int(finding.value)}}
        if rule == "stalled":
            if sev is None:
                return {"id": T_STALLED_BACK, "params": {"point": ref.point}}
            return {"id": T_STALLED, "params": {"point": ref.point, "seconds": round(finding.value)}}
        return None
    if rule == "offline":
        if sev is None:
            return {"id": T_OFFLINE_BACK, "params": {"device": ref.device}}
        return {"id": T_OFFLINE, "params": {"device": ref.device, "seconds": round(finding.value)}}
    if point is None:
        return None
    unit = point.unit
    base = {
        "title": point.title,
        "unit": unit,
        "precision": precision_of(unit, point.precision),
        "value": finding.value,
    }
    if rule == "nodata":
        if sev is None:
            return {"id": T_NODATA_BACK, "params": {"title": point.title}}
        return {"id": T_NODATA, "params": {"title": point.title, "seconds": round(finding.value)}}
    spec = _spec(point, rule) or {}
    kind = spec.get("type")
    if sev is None:
        return {"id": T_BACK if kind == "threshold" and unit != "flag" else T_CLEARED, "params": base}
    if kind == "threshold":
        if unit == "flag":
            return {"id": T_FLAG, "params": {**base, "severity": sev.label}}
        limit = next((float(lim) for lim, s in spec.get("levels", ()) if Severity.parse(s) == sev), None)
        if limit is None:
            return None
        low = spec.get("direction", "high") == "low"
        return {"id": T_BELOW if low else T_ABOVE, "params": {**base, "severity": sev.label, "limit": limit}}
    if kind == "rate":
        fall = spec.get("direction", "rise") == "fall"
        return {
            "id": T_FALL if fall else T_RISE,
            "params": {**base, "severity": sev.label, "limit": float(spec.get("limit", 0))},
        }
    if kind == "stuck":
        return {"id": T_STUCK, "params": {**base, "minutes": round(float(spec.get("window", 600)) / 60)}}
    if kind == "baseline":
        return {"id": T_BASELINE, "params": {**base, "pct": float(spec.get("pct", 20))}}
    if kind == "drop":
        return {"id": T_DROP, "params": base}
    if kind in ANOMALY_TYPES:
        return {"id": T_ANOMALY, "params": {**base, "rule": rule}}
    return None


def unit_text(unit: str, locale: str | None) -> str:
    return word("unit", unit, locale) if unit in UNIT_WORDS else unit


def render(message: Mapping, locale: str | None = None) -> str:
    """The text of a structured message in ``locale`` (default zh-CN)."""
    p = dict(message.get("params") or {})
    unit = str(p.get("unit", ""))
    places = int(p.get("precision", 1))
    shown_unit = unit_text(unit, locale)
    if "title" in p:
        p["title"] = word("point", str(p["title"]), locale)
    if "severity" in p:
        p["severity"] = word("severity", str(p["severity"]), locale)
    if "rule" in p:
        p["rule"] = word("rule", str(p["rule"]), locale)
    sep = "" if not shown_unit or shown_unit in ("次",) else " "
    if "value" in p:
        v = number(float(p["value"]), places)
        p["value"] = v if unit in ("flag", "") else f"{v}{sep}{shown_unit}"
    if "limit" in p:
        lim = limit_text(float(p["limit"]))
        rate = message.get("id") in (T_RISE, T_FALL)
        p["limit"] = lim if rate or unit in ("flag", "") else f"{lim}{sep}{shown_unit}"
    if "pct" in p:
        p["pct"] = limit_text(float(p["pct"]))
    p["unit"] = shown_unit
    return translate(str(message["id"]), locale, **p)


class Describer:
    """The engine's ``describe`` hook for one site's points: (ref, finding) -> (zh-CN text, data)."""

    def __init__(self, points: Mapping[tuple[str, str, str], object], locale: str = DEFAULT_LOCALE):
        self.points = dict(points)  #: (enterprise, device, point) -> PointDef
        self.locale = locale

    def __call__(self, ref: PointRef, finding: Finding) -> tuple[str, dict] | None:
        msg = describe_finding(ref, finding, self.points.get((ref.enterprise, ref.device, ref.point)))
        if msg is None:
            return None
        return render(msg, self.locale), msg

    @classmethod
    def of(cls, point_defs) -> Describer:
        return cls({(p.ref.enterprise, p.ref.device, p.ref.point): p for p in point_defs})


def localise_alert(alert: dict, locale: str | None) -> dict:
    """An alert's JSON with its message (and its events' messages, when they are structured)
    in ``locale``; stored texts are zh-CN."""
    data = alert.get("message_data")
    stored = alert.get("message")
    if data:
        alert["message"] = render(data, locale)
    for e in alert.get("events") or ():
        own = (e.get("data") or {}).get("message_data")
        if own:
            e["message"] = render(own, locale)
        elif data and e.get("message") == stored:  # the event carries the alert's (current) message
            e["message"] = alert["message"]
    return alert
