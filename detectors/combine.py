"""The combiner: scores and rule findings of one point (or device) -> one Finding with a
severity.

Scores in [0, 1] map to a severity through ``levels`` (default: 0.5 blue, 0.8 yellow,
0.95 orange: an anomaly score alone never reaches red, a rule must say so). Rule findings
keep their own severity while active (until they clear). The combined severity is the
highest of both; a Finding is reported only when it changes, so a steady condition is
one finding, not one per sample.

Sharp edge: rules are tracked by their ``rule`` id; two rules sharing an id overwrite
each other.
"""

from __future__ import annotations

import pickle

from .base import Finding, Severity


class Combiner:
    __slots__ = ("levels", "active", "current", "rule")

    def __init__(self, levels=((0.5, "blue"), (0.8, "yellow"), (0.95, "orange")), *, rule: str = "combined"):
        self.levels = tuple(sorted((float(s), Severity.parse(v)) for s, v in levels))
        self.active: dict[str, int] = {}  #: rule id -> severity value while the rule is raised
        self.current: Severity | None = None
        self.rule = rule

    def severity_of(self, score: float) -> Severity | None:
        out = None
        for limit, sev in self.levels:
            if score >= limit:
                out = sev
        return out

    def update(self, t: float, scores: dict | None = None, findings=()) -> Finding | None:
        for f in findings:
            if f.severity is None:
                self.active.pop(f.rule, None)
            else:
                self.active[f.rule] = int(f.severity)
        best_score, best_name = 0.0, None
        for name, s in (scores or {}).items():
            if s == s and s > best_score:
                best_score, best_name = s, name
        sev = self.severity_of(best_score)
        reason = f"anomaly score {best_score:.2f} ({best_name})" if sev is not None else ""
        if self.active:
            rule, level = max(self.active.items(), key=lambda kv: kv[1])
            if sev is None or level > sev:
                sev, reason = Severity(level), f"rule {rule}"
        if sev == self.current:
            return None
        self.current = sev
        if sev is None:
            return Finding(self.rule, None, t, best_score, "back to normal")
        return Finding(self.rule, sev, t, best_score, f"{sev.label}: {reason}")

    def snapshot(self) -> bytes:
        return pickle.dumps((dict(self.active), self.current), protocol=pickle.HIGHEST_PROTOCOL)

    def restore(self, data: bytes) -> None:
        active, self.current = pickle.loads(data)
        self.active = dict(active)
