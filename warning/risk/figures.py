"""The loop's figures for the shift and monthly reports (issue 15): risk warnings by level and
street, the enterprise's sign and reply times against the limits of the level, overdue items,
returns (退回), and hazard reports (隐患举报) received and closed. Pure: the rows come in as
dicts (warning.report and warning.monthly read them from ``risk_items`` and ``risk_steps``).

Rules, so that the figures agree with the loop itself (warning.risk.loop):

* an item *counts in* the span it was opened in (received); steps (returns, escalations,
  closes) count in the span they were taken in, whenever their item was opened;
* a warning is counted at its **peak** level; its street is the enterprise's;
* **signed / replied in time** means before the loop escalated it for that step (an
  ``escalate`` step with ``overdue`` = ``sign`` or ``reply``): the loop's own judgement against
  ``sign_within`` / ``reply_within`` of the level, so a report never re-derives the limit
  differently; the limit of the peak level is shown beside the times;
* **overdue** items are those the loop escalated within the span (per step awaited);
* the state at the end of the span is read from the steps taken before it.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping

from .config import LEVELS, RiskConfig

KINDS = ("warning", "report")


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return s[max(0, math.ceil(q / 100 * len(s)) - 1)]


def _state_at(steps: list[dict], end: float) -> str:
    state = "open"
    for s in steps:
        if s["at"] >= end:
            break
        state = {"sign": "signed", "reply": "replied", "return": "returned", "close": "closed"}.get(s["action"], state)
    return state


def item_rows(
    items: list[dict],
    steps: Mapping[str, list[dict]],
    end: float,
    config: RiskConfig,
    names: Mapping[str, str] | None = None,
    streets: Mapping[str, str] | None = None,
) -> list[dict]:
    """One row per item: when it was signed and replied, against which limits, late or not,
    returns and escalations taken before ``end``, and its state then."""
    names, streets = names or {}, streets or {}
    out = []
    for it in items:
        st = [s for s in steps.get(it["id"], ()) if s["at"] < end]
        first = {a: next((s["at"] for s in st if s["action"] == a), None) for a in ("sign", "reply", "close")}
        esc = [s for s in st if s["action"] == "escalate"]
        late = {w: any((s.get("data") or {}).get("overdue") == w for s in esc) for w in ("sign", "reply")}
        level = "report" if it["kind"] == "report" else it["peak"]
        out.append(
            {
                "id": it["id"],
                "kind": it["kind"],
                "enterprise": it["enterprise"],
                "enterprise_name": names.get(it["enterprise"], it["enterprise"]),
                "street": it["street"] or "",
                "street_name": streets.get(it["street"] or "", it["street"] or ""),
                "level": level,
                "opened_at": it["opened_at"],
                "sign_s": None if first["sign"] is None else first["sign"] - it["opened_at"],
                "sign_limit_s": config.sign_within[level],
                "signed_late": late["sign"],
                "reply_s": None if first["reply"] is None else first["reply"] - it["opened_at"],
                "reply_limit_s": config.reply_within[level],
                "replied_late": late["reply"],
                "returns": sum(1 for s in st if s["action"] == "return"),
                "escalations": len(esc),
                "top_tier": max(esc, key=lambda s: (s.get("data") or {}).get("tier", -1))["data"]["tier_name"]
                if esc
                else "",
                "state": _state_at(st, end),
                "closed_at": first["close"],
            }
        )
    return out


def summarise(
    items: list[dict],
    steps: Mapping[str, list[dict]],
    start: float,
    end: float,
    config: RiskConfig,
    names: Mapping[str, str] | None = None,
    streets: Mapping[str, str] | None = None,
) -> dict:
    """The loop's figures of ``[start, end)``: ``items`` are every item opened before ``end`` and
    not closed before ``start``; ``steps`` their steps by item id, in order."""
    rows = item_rows(items, steps, end, config, names, streets)
    received = [r for r in rows if start <= r["opened_at"] < end]
    warnings = [r for r in received if r["kind"] == "warning"]
    reports = [r for r in received if r["kind"] == "report"]
    in_span = [(it, s) for it in items for s in steps.get(it["id"], ()) if start <= s["at"] < end]

    def taken(action: str, kind: str | None = None) -> int:
        return sum(1 for it, s in in_span if s["action"] == action and (kind is None or it["kind"] == kind))

    overdue = {
        w: len(
            {it["id"] for it, s in in_span if s["action"] == "escalate" and (s.get("data") or {}).get("overdue") == w}
        )
        for w in ("sign", "reply")
    }
    by_street: dict[str, dict] = {}
    for r in warnings + reports:
        b = by_street.setdefault(
            r["street"],
            {
                "street": r["street"],
                "street_name": r["street_name"],
                **{lv: 0 for lv in LEVELS},
                "warnings": 0,
                "reports": 0,
            },
        )
        if r["kind"] == "warning":
            b[r["level"]] += 1
            b["warnings"] += 1
        else:
            b["reports"] += 1
    for sid, b in by_street.items():
        b["returns"] = sum(1 for it, s in in_span if s["action"] == "return" and (it["street"] or "") == sid)
        b["overdue"] = len({it["id"] for it, s in in_span if s["action"] == "escalate" and (it["street"] or "") == sid})
    signed = [r for r in received if r["sign_s"] is not None]
    replied = [r for r in received if r["reply_s"] is not None]
    tiers = Counter((s.get("data") or {}).get("tier_name", "") for it, s in in_span if s["action"] == "escalate")
    return {
        "warnings": len(warnings),
        "by_level": {lv: sum(1 for r in warnings if r["level"] == lv) for lv in reversed(LEVELS)},
        "by_street": sorted(by_street.values(), key=lambda b: (-b["red"], -b["orange"], -b["warnings"], b["street"])),
        "signed": len(signed),
        "signed_in_time": sum(1 for r in signed if not r["signed_late"]),
        "signed_late": sum(1 for r in signed if r["signed_late"]),
        "replied": len(replied),
        "replied_in_time": sum(1 for r in replied if not r["replied_late"]),
        "replied_late": sum(1 for r in replied if r["replied_late"]),
        "sign_p50": _pct([r["sign_s"] for r in signed], 50),
        "sign_p90": _pct([r["sign_s"] for r in signed], 90),
        "reply_p50": _pct([r["reply_s"] for r in replied], 50),
        "reply_p90": _pct([r["reply_s"] for r in replied], 90),
        "overdue_sign": overdue["sign"],
        "overdue_reply": overdue["reply"],
        "escalations_by_tier": dict(tiers),
        "returns": taken("return"),
        "warnings_closed": taken("close", "warning"),
        "reports_received": len(reports),
        "reports_closed": taken("close", "report"),
        "open_at_end": sum(1 for r in rows if r["state"] != "closed" and r["opened_at"] < end),
        "items": sorted(received, key=lambda r: r["opened_at"]),
    }
